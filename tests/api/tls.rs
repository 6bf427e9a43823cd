//! HTTPS with the emulator's CA, reused across restarts, and transparent mode: a rustls client
//! reaching the hard-coded Microsoft host names resolved to 127.0.0.1 and trusting only that CA.

use std::{net::SocketAddr, path::Path, time::Duration};

use reqwest::{Certificate, Client, RequestBuilder};
use serde_json::Value;

use crate::{
    cli::{mint, start},
    helpers::{machine_id, DOC_BODY},
};

/// A client that trusts only the certificate(s) in `ca` and resolves each of `hosts` to
/// 127.0.0.1 (the port is the URL's): what `curl --resolve host:port:127.0.0.1 --cacert` did.
fn client(ca: &Path, hosts: &[&str]) -> Client {
    let pem = std::fs::read(ca).unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    hosts
        .iter()
        .fold(Client::builder(), |b, host| b.resolve(host, loopback))
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Sends `req` (the TLS handshake must succeed): (status, body).
async fn call(req: RequestBuilder) -> (u16, String) {
    let r = req
        .send()
        .await
        .expect("an HTTPS exchange the CA vouches for");
    (r.status().as_u16(), r.text().await.unwrap())
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap()
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn tls_serves_the_hard_coded_microsoft_hosts_with_a_ca_reused_across_restarts() {
    let dir = temp_dir();
    let tls_dir = dir.join("tls");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "--tls-dir",
        tls_dir.to_str().unwrap(),
    ];
    let server = start(&args, &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let port = port_of(&server.url).to_owned();
    let ca = tls_dir.join("ca.pem");
    let ca_first = std::fs::read_to_string(&ca).unwrap();
    let (login, api, regional) = (
        "login.microsoftonline.com",
        "api.security.microsoft.com",
        "api-eu.securitycenter.microsoft.com",
    );
    let https = client(&ca, &[login, api, regional]);

    // Token from the hard-coded Entra host, then the documented unisolate on the API host.
    let (code, body) = call(
        https
            .post(format!(
                "https://{login}:{port}/contoso.onmicrosoft.com/oauth2/v2.0/token"
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "d3fe0d3f-0000-4000-8000-00000000a991"),
                ("client_secret", "defender-mock-development-secret"),
                ("scope", "https://api.securitycenter.microsoft.com/.default"),
            ]),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = machine_id("fin-lt-0187");
    let (code, body) = call(
        https
            .post(format!("https://{api}:{port}/api/machines/{id}/unisolate"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(DOC_BODY),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let action: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        action["@odata.context"],
        format!("https://{api}:{port}/api/$metadata#MachineActions/$entity")
    );
    let health = format!("https://{regional}:{port}/_mock/health");
    let (code, _) = call(https.get(health)).await;
    assert_eq!(code, 200);
    drop(server);

    // Restarted on the same folder: the same CA, so the client keeps trusting it.
    let again = start(&args, &[]);
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), ca_first);
    let port = port_of(&again.url);
    let https = client(&ca, &["localhost"]);
    let (code, _) = call(https.get(format!("https://localhost:{port}/_mock/health"))).await;
    assert_eq!(code, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_cert_and_key_serve_a_given_pair() {
    let dir = temp_dir();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let server = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            dir.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            dir.join("key.pem").to_str().unwrap(),
        ],
        &[],
    );
    assert!(server.url.starts_with("https://"));
    let port = port_of(&server.url);
    let token = mint(&["--roles", "Machine.Read.All"]);
    let https = client(&dir.join("cert.pem"), &["localhost"]);
    let url = format!(
        "https://localhost:{port}/api/machines/{}",
        machine_id("dc01")
    );
    let (code, body) = call(https.get(url).bearer_auth(&token)).await;
    assert_eq!(code, 200, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
