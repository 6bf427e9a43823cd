//! HTTPS with the emulator's CA, reused across restarts, and transparent mode: curl reaching the
//! hard-coded Microsoft host names through `--resolve` and trusting only that CA.

use std::{path::Path, process::Command};

use serde_json::Value;

use crate::{
    cli::{mint, start},
    helpers::machine_id,
};

/// `curl` through `--resolve host:port:127.0.0.1` with `--cacert ca`: (status, body).
fn curl(host: &str, port: &str, ca: &Path, path: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
            "--cacert",
        ])
        .arg(ca)
        .args(extra)
        .args([
            "-w",
            "\n%{http_code}",
            &format!("https://{host}:{port}{path}"),
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl failed: {} {text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tls_serves_the_hard_coded_microsoft_hosts_with_a_ca_reused_across_restarts() {
    let dir = temp_dir();
    let tls_dir = dir.join("tls");
    let server = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--tls-dir",
            tls_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let ca = tls_dir.join("ca.pem");
    let ca_first = std::fs::read_to_string(&ca).unwrap();

    // Token from the hard-coded Entra host, then the documented unisolate on the API host.
    let (code, body) = curl(
        "login.microsoftonline.com",
        &port,
        &ca,
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        &[
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=d3fe0d3f-0000-4000-8000-00000000a991",
            "-d",
            "client_secret=defender-mock-development-secret",
            "--data-urlencode",
            "scope=https://api.securitycenter.microsoft.com/.default",
        ],
    );
    assert_eq!(code, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = machine_id("fin-lt-0187");
    let (code, body) = curl(
        "api.security.microsoft.com",
        &port,
        &ca,
        &format!("/api/machines/{id}/unisolate"),
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{ "Comment": "Unisolate machine since it was clean and validated" }"#,
        ],
    );
    assert_eq!(code, 201, "{body}");
    let action: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        action["@odata.context"],
        format!("https://api.security.microsoft.com:{port}/api/$metadata#MachineActions/$entity")
    );
    let (code, _) = curl(
        "api-eu.securitycenter.microsoft.com",
        &port,
        &ca,
        "/_mock/health",
        &[],
    );
    assert_eq!(code, 200);
    drop(server);

    // Restarted on the same folder: the same CA, so the client keeps trusting it.
    let again = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--tls-dir",
            tls_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), ca_first);
    let port = again.url.rsplit(':').next().unwrap().to_owned();
    let (code, _) = curl("localhost", &port, &ca, "/_mock/health", &[]);
    assert_eq!(code, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_cert_and_key_serve_a_given_pair() {
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
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let token = mint(&["--roles", "Machine.Read.All"]);
    let (code, body) = curl(
        "localhost",
        &port,
        &dir.join("cert.pem"),
        &format!("/api/machines/{}", machine_id("dc01")),
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    assert_eq!(code, 200, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
