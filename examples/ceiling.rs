//! The benchmark ceiling: a bare axum server (same axum, tokio runtime and release profile as the
//! emulator) answering every request, on any route and method, with one fixed JSON body the size
//! of a Machine entity as `GET /api/machines/{id}` returns it. No routing table, auth, store or
//! serialization: what HTTP on this machine costs, so `bench/run.sh` can report the emulator's
//! throughput as a ratio of it.
//!
//! Run: `cargo run --release --example ceiling [-- --listen 127.0.0.1:0]`; prints
//! `ceiling listening on http://ADDR` on stdout once bound, like the emulator's ready line.

use axum::{
    body::Bytes,
    http::{header, HeaderValue},
    response::IntoResponse,
    Router,
};
use serde_json::Value;

/// The first machine of the embedded fleet, shaped as the single-entity response.
fn machine_body() -> Bytes {
    let fleet: Value = serde_json::from_str(defender_mock::DEFAULT_MACHINES).expect("fleet");
    let mut machine = fleet[0].as_object().cloned().unwrap_or_default();
    for emulator_only in ["isolation", "restricted", "simulation"] {
        machine.remove(emulator_only);
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        "https://api.security.microsoft.com/api/$metadata#Machines/$entity".into(),
    );
    body.extend(machine);
    Bytes::from(serde_json::to_vec(&body).expect("json"))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR"),
            other => panic!("unknown argument {other} (only --listen ADDR)"),
        }
    }
    let body = machine_body();
    let app = Router::new().fallback(move |request_body: Bytes| {
        let body = body.clone();
        async move {
            drop(request_body); // read, as the emulator reads it
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    println!("ceiling listening on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}
