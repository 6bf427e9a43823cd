//! The probe against a real emulator (HTTP and HTTPS) and against fake servers that refuse,
//! stall or answer something else.

use std::path::PathBuf;

use tokio::{io::AsyncWriteExt, net::TcpListener, sync::oneshot};

use super::*;
use crate::{
    config::{Config, TlsSource},
    startup::Application,
};

fn probe(listen: String, tls: bool) -> Probe {
    Probe {
        listen,
        tls,
        timeout: Duration::from_millis(1500),
    }
}

/// A real emulator on a free port (HTTPS with a CA in a fresh folder when `tls`): its
/// address, a stop handle and the folder to remove.
async fn server(tls: bool) -> (String, oneshot::Sender<()>, Option<PathBuf>) {
    let dir = tls.then(|| std::env::temp_dir().join(format!("dm-health-{}", uuid::Uuid::new_v4())));
    let config = Config {
        tls: dir.clone().map(TlsSource::Ca),
        ..Config::for_tests()
    };
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    (addr, tx, dir)
}

/// A TCP server that answers every connection with `answer` (none: never answers).
async fn fake(answer: Option<&'static [u8]>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            match answer {
                Some(a) => {
                    let _ = s.write_all(a).await;
                }
                None => held.push(s),
            }
        }
    });
    addr
}

#[tokio::test]
async fn an_https_server_is_healthy_over_https() {
    let (addr, stop, dir) = server(true).await;
    probe(addr.clone(), true).run().await.unwrap();
    // Probed as 0.0.0.0, as the image's DEFENDER_MOCK_LISTEN says.
    let port = addr.rsplit(':').next().unwrap();
    probe(format!("0.0.0.0:{port}"), true).run().await.unwrap();
    // Without --tls the probe says why it fails.
    let e = probe(addr, false).run().await.unwrap_err();
    assert!(e.contains("DEFENDER_MOCK_TLS=true"), "{e}");
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(dir.unwrap());
}

#[tokio::test]
async fn a_plain_server_is_healthy_over_http_and_tls_says_why_not() {
    let (addr, stop, _) = server(false).await;
    probe(addr.clone(), false).run().await.unwrap();
    let e = probe(addr, true).run().await.unwrap_err();
    assert!(
        e.contains("TLS handshake") && e.contains("plain HTTP"),
        "{e}"
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let e = probe(addr.clone(), false).run().await.unwrap_err();
    assert!(e.starts_with(&format!("cannot connect to {addr}")), "{e}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = fake(None).await;
    let e = probe(addr.clone(), false).run().await.unwrap_err();
    assert!(e.contains("no answer") && e.contains("within 1.5 s"), "{e}");
    let e = probe(addr, true).run().await.unwrap_err();
    assert!(e.contains("did not finish within 1.5 s"), "{e}");
}

#[tokio::test]
async fn a_status_other_than_200_is_unhealthy_and_named() {
    let addr = fake(Some(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let e = probe(addr.clone(), false).run().await.unwrap_err();
    assert_eq!(
        e,
        format!("http://{addr}/_mock/health answered HTTP/1.1 503 Service Unavailable")
    );
    let addr = fake(Some(b"SSH-2.0-OpenSSH_9.2\r\n")).await;
    let e = probe(addr, false).run().await.unwrap_err();
    assert!(e.contains("did not answer HTTP"), "{e}");
}
