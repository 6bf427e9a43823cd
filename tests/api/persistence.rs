//! `--state-file`, black box: the real binary is started, used, stopped (SIGTERM or `kill -9`)
//! and started again on the same file.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use serde_json::{json, Value};

use crate::{
    cli::{start, terminate, Server},
    helpers::machine_id,
};

const BIN: &str = env!("CARGO_BIN_EXE_defender-mock");
const SEEDED: &str = "00112233445566778899aabbccddeeff00112233";

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-state-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(state: &Path) -> Server {
    let state = state.to_str().unwrap();
    start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--clock",
            "frozen",
            "--state-file",
            state,
        ],
        &[],
    )
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    /// A client of `server` with a token minted by the server itself (`POST /_mock/token`).
    async fn new(server: &Server) -> Self {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{}/_mock/token", server.url))
            .json(&json!({"ttlSeconds": 30 * 86_400}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            http,
            url: server.url.clone(),
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

fn seeded_machine() -> Value {
    json!({
        "computerDnsName": "seed-ws-0001.contoso.com",
        "firstSeen": "2025-01-01T00:00:00Z",
        "lastSeen": "2026-11-01T00:00:00Z",
        "osPlatform": "Windows11",
        "isolation": "Full",
    })
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    let mut server = serve(&file);
    let c = Client::new(&server).await;
    let tenant = "6b1c0a2e-9f3d-4e8a-b7c6-5d4e3f2a1b0c";
    // Machines: one seeded (isolated), one removed.
    let (s, _) = c
        .send(
            reqwest::Method::PUT,
            &format!("/_mock/machines/{SEEDED}"),
            Some(seeded_machine()),
        )
        .await;
    assert_eq!(s, 201);
    let gone = machine_id("fin-lt-0187");
    let (s, _) = c
        .send(
            reqwest::Method::DELETE,
            &format!("/_mock/machines/{gone}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // Actions: one that completes, one left pending.
    let isolate = json!({"Comment": "c", "IsolationType": "Full"});
    let (s, done) = c
        .post(
            &format!("/api/machines/{}/isolate", machine_id("fin-lt-0142")),
            isolate.clone(),
        )
        .await;
    assert_eq!(s, 201);
    c.post("/_mock/clock/advance", json!({"seconds": 3 * 86_400}))
        .await;
    let (s, pending) = c
        .post(
            &format!("/api/machines/{SEEDED}/unisolate"),
            json!({"Comment": "c"}),
        )
        .await;
    assert_eq!(s, 201, "{pending}");
    // Overrides.
    let (s, _) = c
        .send(
            reqwest::Method::PUT,
            &format!("/_mock/tenants/{tenant}/rate-limits"),
            Some(json!({"perMinute": 7})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = c
        .send(
            reqwest::Method::PUT,
            "/_mock/tenants/8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b/duplicate-policy",
            Some(json!({"policy": "allow"})),
        )
        .await;
    assert_eq!(s, 200);
    let clock = c.get("/_mock/clock").await;
    let (status, _) = terminate(&mut server, Duration::from_secs(10));
    assert!(status.success());
    drop(server);

    let server = serve(&file);
    let c = Client::new(&server).await;
    assert_eq!(c.get("/_mock/clock").await, clock, "the clock offset");
    let done = c
        .get(&format!(
            "/api/machineactions/{}",
            done["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(done["status"], "Succeeded");
    let pending_id = pending["id"].as_str().unwrap();
    assert_eq!(
        c.get(&format!("/api/machineactions/{pending_id}")).await["status"],
        "Pending"
    );
    let view = c.get(&format!("/_mock/machines/{SEEDED}")).await;
    assert_eq!(view["isolated"], true);
    assert_eq!(view["inFlightActions"], json!([pending_id]));
    let (s, _) = c
        .send(reqwest::Method::GET, &format!("/api/machines/{gone}"), None)
        .await;
    assert_eq!(s, 404, "the removed machine stays removed");
    let limits = c.get(&format!("/_mock/tenants/{tenant}/rate-limits")).await;
    assert_eq!(limits["perMinute"], 7);
    // `allow` kept: a second isolate of a machine with one in flight is a new action.
    let target = format!("/api/machines/{}/isolate", machine_id("fin-lt-0142"));
    assert_eq!(c.post(&target, isolate.clone()).await.0, 201);
    assert_eq!(c.post(&target, isolate).await.0, 201);
    // The pending action carries on from where it was.
    c.post("/_mock/clock/advance", json!({"seconds": 120}))
        .await;
    assert_eq!(
        c.get(&format!("/api/machineactions/{pending_id}")).await["status"],
        "Succeeded"
    );
    assert_eq!(
        c.get(&format!("/_mock/machines/{SEEDED}")).await["isolated"],
        false
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn serve_expecting_failure(file: &Path) -> String {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--state-file"])
        .arg(file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no ready line");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_corrupt_state_file_refuses_start_and_is_left_byte_for_byte() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    let cases: [&[u8]; 4] = [
        b"{ not json",
        br#"{"format": "something-else", "version": 1}"#,
        br#"{"format": "defender-mock-state", "version": 99}"#,
        b"\xff\xfe\x00garbage",
    ];
    for bytes in cases {
        std::fs::write(&file, bytes).unwrap();
        let err = serve_expecting_failure(&file);
        assert!(
            err.contains("state file") && err.contains("state.json"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "left untouched");
    }
    let err = serve_expecting_failure(&dir.join("state.json").join("below-a-file"));
    assert!(err.contains("cannot read"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn kill_9_during_writes_never_leaves_an_unloadable_file() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    // A big state, so each write takes a while and the kills land inside writes.
    {
        let mut server = serve(&file);
        let c = Client::new(&server).await;
        let (s, _) = c
            .post("/_mock/fleet/generate", json!({"count": 5_000, "seed": 3}))
            .await;
        assert_eq!(s, 201);
        let (status, _) = terminate(&mut server, Duration::from_secs(20));
        assert!(status.success());
    }
    for round in 0..6u64 {
        // Each start loads the file the previous kill left: a torn file would stop it.
        let server = serve(&file);
        let c = Client::new(&server).await;
        let url = c.url.clone();
        let writer = tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"policy": if i % 2 == 0 { "allow" } else { "reject" }});
                let r = c
                    .http
                    .put(format!(
                        "{url}/_mock/tenants/contoso.example.com/duplicate-policy"
                    ))
                    .json(&body)
                    .send()
                    .await;
                if r.is_err() {
                    break;
                }
            }
        });
        // Spread over the writer's cycle (200 ms debounce, then the write).
        tokio::time::sleep(Duration::from_millis(150 + round * 90)).await;
        let pid = Pid::from_raw(i32::try_from(server.child.id()).unwrap());
        kill(pid, Signal::SIGKILL).unwrap();
        let _ = writer.await;
        drop(server);
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            serde_json::from_slice::<Value>(&bytes).is_ok(),
            "round {round}: a torn state file ({} bytes)",
            bytes.len()
        );
    }
    let server = serve(&file);
    // Temporary files of writes cut short were cleared at start (before any request).
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"]);
    let c = Client::new(&server).await;
    let list = c.get("/api/machines?$top=1&$count=true").await;
    assert_eq!(
        list["@odata.count"], 5_000,
        "the generated fleet survived every kill"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The two alerts, the indicators and the investigations, without the (port-bearing) contexts.
async fn read_all(c: &Client, fixture: &str, raised: &Value) -> Vec<Value> {
    let mut out = vec![
        c.get(&format!("/api/alerts/{fixture}")).await,
        c.get(&format!("/api/alerts/{}", raised["id"].as_str().unwrap()))
            .await,
        c.get("/api/indicators").await,
        c.get("/api/investigations").await,
    ];
    for v in &mut out {
        v.as_object_mut().unwrap().remove("@odata.context");
    }
    out
}

/// Alerts (a fixture alert updated, one raised), indicators and investigations (one finished,
/// one still running) come back after a restart, and the running one carries on.
#[tokio::test]
async fn alerts_indicators_and_investigations_survive_a_restart() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    let mut server = serve(&file);
    let c = Client::new(&server).await;
    let (s, raised) = c
        .post(
            "/_mock/alerts",
            json!({"machineId": "dc01", "title": "kept across restarts"}),
        )
        .await;
    assert_eq!(s, 201, "{raised}");
    // The newest fixture alert (the list is newest first: the raised one leads).
    let list = c.get("/api/alerts?$top=2").await;
    let fixture = list["value"][1]["id"].as_str().unwrap().to_owned();
    assert_ne!(fixture, raised["id"].as_str().unwrap());
    let (s, patched) = c
        .send(
            reqwest::Method::PATCH,
            &format!("/api/alerts/{fixture}"),
            Some(json!({"status": "Resolved", "comment": "closed before the restart"})),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    let (s, indicator) = c
        .post(
            "/api/indicators",
            json!({"indicatorValue": "evil.example", "indicatorType": "DomainName",
                   "action": "Block", "title": "t", "description": "d"}),
        )
        .await;
    assert_eq!(s, 200, "{indicator}");
    let start = |name: &str| format!("/api/machines/{}/startInvestigation", machine_id(name));
    let (s, finished) = c
        .post(&start("exec-lt-0001"), json!({"Comment": "c"}))
        .await;
    assert_eq!(s, 201, "{finished}");
    c.post("/_mock/clock/advance", json!({"seconds": 3600}))
        .await;
    let (s, running) = c.post(&start("dc01"), json!({"Comment": "c"})).await;
    assert_eq!(s, 201, "{running}");
    let before = read_all(&c, &fixture, &raised).await;
    assert_eq!(before[0]["status"], "Resolved");
    let comments = before[0]["comments"].as_array().unwrap();
    assert_eq!(
        comments.last().unwrap()["comment"],
        "closed before the restart"
    );
    let (status, _) = terminate(&mut server, Duration::from_secs(10));
    assert!(status.success());
    drop(server);

    let server = serve(&file);
    let c = Client::new(&server).await;
    let after = read_all(&c, &fixture, &raised).await;
    assert_eq!(after, before);
    // The running investigation carries on; a new indicator takes the next id.
    c.post("/_mock/clock/advance", json!({"seconds": 3600}))
        .await;
    let id = running["id"].as_str().unwrap();
    let now = c.get(&format!("/api/investigations/{id}")).await;
    assert_ne!(now["state"], running["state"], "{now}");
    let (s, next) = c
        .post(
            "/api/indicators",
            json!({"indicatorValue": "worse.example", "indicatorType": "DomainName",
                   "action": "Block", "title": "t", "description": "d"}),
        )
        .await;
    assert_eq!(s, 200, "{next}");
    assert_ne!(next["id"], indicator["id"]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
