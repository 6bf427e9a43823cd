//! Issue 12 item 3 beyond the 401 of src/regression.rs: a call refused with 403 or 429 whose body
//! arrives in a second write leaves the keep-alive connection usable for the next request.

use std::time::Duration;

use defender_mock::Config;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// Reads what the server has sent within five seconds (one response: the tests wait for it).
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_call_refused_with_403_or_429_keeps_its_connection_alive() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let tenant = fresh_tenant();
    let limits = json!({"mode": "documented", "perMinute": 1});
    let path = format!("/_mock/tenants/{tenant}/rate-limits");
    assert_eq!(app.send(Req::put(&path).json(&limits)).await.status(), 200);
    let throttled = app.tenant_token(&tenant);
    let id = machine_id("fin-lt-0187");
    let first = app.unisolate(&throttled, &id).await;
    assert_eq!(first.status(), 201, "{}", first.text());
    let read_only = app.token(&["Machine.Read.All"]);
    let addr = app.url.trim_start_matches("http://").to_owned();
    for (status, token) in [("403", read_only), ("429", throttled)] {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let body = r#"{"Comment": "late"}"#;
        let head = format!(
            "POST /api/machines/{id}/unisolate HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        // The body in a later write, as a pooled client's may arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.write_all(body.as_bytes()).await.expect("body");
        let refused = read_response(&mut s).await;
        assert!(
            refused.starts_with(&format!("HTTP/1.1 {status}")),
            "{status}: {refused}"
        );
        assert!(
            !refused.to_ascii_lowercase().contains("connection: close"),
            "{status}: {refused}"
        );
        s.write_all(format!("GET /_mock/health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("second request");
        let next = read_response(&mut s).await;
        assert!(
            next.starts_with("HTTP/1.1 200"),
            "{status}: the connection was dropped: {next:?}"
        );
    }
}
