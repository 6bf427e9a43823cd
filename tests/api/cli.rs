//! The real binary: ready line, env twins, `token` accepted by `serve`, fixture errors, signals.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use serde_json::{json, Value};

use crate::helpers::machine_id;

const BIN: &str = env!("CARGO_BIN_EXE_defender-mock");

/// A running `defender-mock serve`, killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("ready line");
    let url = line
        .strip_prefix("defender-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_owned();
    Server { child, url }
}

/// Sends SIGTERM and waits up to `limit` for the exit: the exit status and how long it took from
/// just before the signal was sent.
pub(crate) fn terminate(
    server: &mut Server,
    limit: Duration,
) -> (std::process::ExitStatus, Duration) {
    let pid = Pid::from_raw(i32::try_from(server.child.id()).unwrap());
    let started = Instant::now();
    kill(pid, Signal::SIGTERM).expect("SIGTERM sent");
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return (status, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "still running {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn mint(args: &[&str]) -> String {
    let out = Command::new(BIN).arg("token").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.lines().count(), 1, "the JWT alone on stdout");
    token.trim().to_owned()
}

#[tokio::test]
async fn serve_prints_one_ready_line_with_the_bound_port_and_token_output_is_accepted() {
    let server = start(
        &["serve", "--listen", "127.0.0.1:0", "--clock", "frozen"],
        &[],
    );
    assert!(server.url.starts_with("http://127.0.0.1:"));
    assert!(!server.url.ends_with(":0"));
    let token = mint(&["--roles", "Machine.Isolate,Machine.Read.All"]);
    let client = reqwest::Client::new();
    let id = machine_id("fin-lt-0187");
    let r = client
        .post(format!("{}/api/machines/{id}/unisolate", server.url))
        .bearer_auth(&token)
        .json(&json!({"Comment": "Unisolate machine since it was clean and validated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let action: Value = r.json().await.unwrap();
    let r = client
        .post(format!("{}/_mock/clock/advance", server.url))
        .json(&json!({"seconds": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let polled: Value = client
        .get(format!(
            "{}/api/machineactions/{}",
            server.url,
            action["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(polled["status"], "Succeeded");
}

#[tokio::test]
async fn serve_is_the_default_subcommand_and_flags_have_env_twins() {
    let server = start(
        &[],
        &[
            ("DEFENDER_MOCK_LISTEN", "127.0.0.1:0"),
            ("DEFENDER_MOCK_CLOCK", "frozen"),
        ],
    );
    let clock: Value = reqwest::get(format!("{}/_mock/clock", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["mode"], "frozen");
}

#[test]
fn a_token_from_another_tenant_and_a_delegated_token_carry_their_claims() {
    let token = mint(&[
        "--tenant",
        "11111111-2222-3333-4444-555555555555",
        "--upn",
        "a@b.c",
        "--v2",
    ]);
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tid"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(claims["preferred_username"], "a@b.c");
    assert_eq!(claims["ver"], "2.0");
    assert!(claims["scp"].as_str().unwrap().contains("Machine.Isolate"));
}

fn run_serve_expecting_failure(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--fixtures"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no ready line");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_bad_fixture_stops_start_up_naming_the_file_and_the_field() {
    let dir = std::env::temp_dir().join(format!("dm-fixtures-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fleet.json");
    std::fs::write(
        &file,
        r#"[{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","computerDnsName":"a","firstSeen":"2024-01-01T00:00:00Z","lastSeen":"2024-01-01T00:00:00Z","osPlatform":"Windows11","osBuild":"twenty"}]"#,
    )
    .unwrap();
    let err = run_serve_expecting_failure(&dir);
    assert!(
        err.contains("fleet.json") && err.contains("osBuild"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    std::fs::write(&file, "{ not json").unwrap();
    let err = run_serve_expecting_failure(&dir);
    assert!(
        err.contains("fleet.json") && err.contains("not valid JSON"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_fixtures_folder_replaces_the_embedded_fleet() {
    let dir = std::env::temp_dir().join(format!("dm-fixtures-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("one.json"),
        r#"{"machines":[{"id":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","computerDnsName":"solo.test","firstSeen":"2024-01-01T00:00:00Z","lastSeen":"2024-01-01T00:00:00Z","osPlatform":"Windows11","isolation":"Full"}]}"#,
    )
    .unwrap();
    let server = start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--fixtures",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    let view: Value = reqwest::get(format!("{}/_mock/machines/solo.test", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["isolated"], true);
    let r = reqwest::get(format!(
        "{}/_mock/machines/{}",
        server.url,
        machine_id("dc01")
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_the_server_cleanly_and_health_reports_it() {
    let mut server = start(&["serve", "--listen", "127.0.0.1:0"], &[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let health = |addr: &str| {
        Command::new(BIN)
            .args(["health", "--listen", addr])
            .status()
            .unwrap()
            .success()
    };
    assert!(health(&addr));
    let (status, _) = terminate(&mut server, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(!health(&addr));
}

#[tokio::test]
async fn rate_limit_flags_reach_the_server() {
    let server = start(
        &["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "2"],
        &[],
    );
    let token = mint(&[]);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client
            .get(format!(
                "{}/api/machines/{}",
                server.url,
                machine_id("dc01")
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    let off = start(
        &["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "2"],
        &[("DEFENDER_MOCK_RATE_LIMITS", "off")],
    );
    for _ in 0..3 {
        let r = client
            .get(format!("{}/api/machines/{}", off.url, machine_id("dc01")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn sigterm_exits_within_the_grace_period_even_with_a_client_holding_a_request_open() {
    use std::io::Write;
    let grace = Duration::from_millis(300);
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--shutdown-grace",
        "0.3",
    ];
    let mut server = start(&args, &[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    // A request whose body never arrives: the handler waits for it until shutdown gives up.
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stalled,
        "POST /_mock/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Exits 0 once the grace has run out, plus a margin for a busy machine.
    let (status, took) = terminate(&mut server, grace + Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    assert!(
        took >= grace,
        "it waited for the in-flight request: {took:?}"
    );
    drop(stalled);
}

#[tokio::test]
async fn the_offline_flag_makes_devices_start_offline() {
    let server = start(&["--listen", "127.0.0.1:0", "--offline"], &[]);
    let view: Value = reqwest::get(format!(
        "{}/_mock/machines/{}",
        server.url,
        machine_id("dc01")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(view["simulation"]["online"], false);
}

#[tokio::test]
async fn boolean_env_twins_accept_the_usual_spellings() {
    let server = start(
        &["--listen", "127.0.0.1:0"],
        &[("DEFENDER_MOCK_STRICT_STATE", "1")],
    );
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/machines/{}/unisolate",
            server.url,
            machine_id("fin-lt-0142")
        ))
        .bearer_auth(mint(&[]))
        .json(&json!({"Comment": "released already"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "strict state is on");
}

#[test]
fn a_bad_identity_fixture_stops_start_up_naming_the_file_and_the_field() {
    let dir = std::env::temp_dir().join(format!("dm-fixtures-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("machines.json"),
        include_str!("../../fixtures/machines.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("users.json"),
        r#"[{"upn": "a@b.c", "password": "p", "portalRoles": ["Superuser"]}]"#,
    )
    .unwrap();
    let err = run_serve_expecting_failure(&dir);
    assert!(
        err.contains("users.json") && err.contains("portalRoles"),
        "{err}"
    );
    std::fs::remove_file(dir.join("users.json")).unwrap();
    std::fs::write(
        dir.join("apps.json"),
        r#"[{"clientId": "x", "displayName": "y", "secrets": "not-a-list"}]"#,
    )
    .unwrap();
    let err = run_serve_expecting_failure(&dir);
    assert!(
        err.contains("apps.json") && err.contains("secrets"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_token_from_server_is_valid_after_a_three_day_advance() {
    let server = start(
        &["serve", "--listen", "127.0.0.1:0", "--clock", "frozen"],
        &[],
    );
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/_mock/clock/advance", server.url))
        .json(&json!({"seconds": 3 * 86_400}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = machine_id("fin-lt-0187");
    let get = |token: String| {
        let client = client.clone();
        let url = format!("{}/api/machines/{id}", server.url);
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Minted on wall time: expired at the emulator's clock.
    assert_eq!(get(mint(&[])).await, 401);
    // Minted by the server: at its clock, with every Machine.* role by default.
    let token = mint(&["--server", &server.url]);
    assert_eq!(get(token.clone()).await, 200);
    let claims = claims_of(&token);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        claims["iat"].as_i64().unwrap() > now + 3 * 86_400 - 600,
        "{claims}"
    );
    assert!(claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "Machine.Isolate"));
    // Flags still apply, and a server that is not there is a clear error.
    let narrow = mint(&["--server", &server.url, "--roles", "Machine.Scan"]);
    assert_eq!(get(narrow).await, 403);
    let out = Command::new(BIN)
        .args(["token", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http://127.0.0.1:9") && err.contains("cannot connect"),
        "{err}"
    );
}

/// The claims of a JWT (not verified).
fn claims_of(token: &str) -> Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
