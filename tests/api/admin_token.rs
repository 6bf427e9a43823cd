//! The admin token (issue 10, item 7): with `--admin-token`, every control-plane route but
//! `/_mock/health` answers 401 (Defender body) without it; without the flag the ready output
//! and the README say the control plane is open.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use axum::http::Method;
use defender_mock::{AdminToken, Config};
use serde_json::Value;

use crate::helpers::*;

const TOKEN: &str = "admin-secret-for-tests";

async fn protected_app() -> TestApp {
    let config = Config {
        admin_token: AdminToken::new(TOKEN),
        ..Config::for_tests()
    };
    spawn_config(config, fleet()).await
}

/// Every control-plane operation the OpenAPI document lists, path parameters filled in.
fn control_plane_operations(doc: &Value) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/_mock/") {
            continue;
        }
        let concrete = path
            .replace("{id}", &machine_id("fin-lt-0187"))
            .replace("{tid}", &fresh_tenant())
            .replace("{tenant}", &fresh_tenant())
            .replace("{file}", "x.zip");
        for method in item.as_object().unwrap().keys() {
            if let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                ops.push((m, concrete.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_control_plane_route_but_health_needs_the_admin_token() {
    let app = protected_app().await;
    let r = app
        .send(Req::get("/_mock/openapi.json").bearer(TOKEN))
        .await;
    assert_eq!(r.status(), 200);
    let ops = control_plane_operations(&r.json());
    assert!(ops.len() >= 15, "{ops:?}");
    for (method, path) in ops {
        // Health (probes carry no token) and the console's page and assets (a browser cannot
        // send one when it navigates; they hold no data) stay open.
        if [
            "/_mock/health",
            "/",
            "/_mock/ui",
            "/_mock/ui/console.js",
            "/_mock/ui/console.css",
        ]
        .contains(&path.as_str())
        {
            let r = app.send(Req::new(method, &path)).await;
            assert_eq!(r.status(), 200, "{path} stays open");
            continue;
        }
        for req in [
            Req::new(method.clone(), &path),
            Req::new(method.clone(), &path).bearer("not-the-token"),
            Req::new(method.clone(), &path).basic("admin", TOKEN),
        ] {
            let r = app.send(req).await;
            let body = assert_error(r, 401, "Unauthorized");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("admin token"),
                "{method} {path}: {message}"
            );
            assert!(!message.contains(TOKEN));
        }
    }
    // With the token, the control plane works as before.
    let r = app.send(Req::get("/_mock/clock").bearer(TOKEN)).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = app
        .send(Req::new(Method::DELETE, "/_mock/faults").bearer(TOKEN))
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .send(Req::get("/_mock/requests/count").bearer(TOKEN))
        .await;
    assert_eq!(r.status(), 200);
    // The API is not behind it: it takes its own bearer tokens.
    let r = app
        .get_machine(&app.admin_token(), &machine_id("fin-lt-0187"))
        .await;
    assert_eq!(r.status(), 200);
    // Unknown control-plane paths still get the JSON 404.
    assert_error(
        app.send(Req::get("/_mock/nothing-here")).await,
        404,
        "NotFound",
    );
}

#[tokio::test]
async fn without_the_flag_the_control_plane_stays_open() {
    let app = spawn_app().await;
    let r = app.send(Req::get("/_mock/clock")).await;
    assert_eq!(r.status(), 200);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary's first two stdout lines with `args`.
fn ready_output(args: &[&str]) -> (Server, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_defender-mock"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let lines = (0..2)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("ready output")
        })
        .collect();
    (Server(child), lines)
}

#[tokio::test]
async fn the_ready_output_says_whether_the_control_plane_is_open() {
    let (_open, lines) = ready_output(&[]);
    assert!(
        lines[0].starts_with("defender-mock listening on http://127.0.0.1:"),
        "{lines:?}"
    );
    assert!(lines[1].contains("/_mock/ is OPEN"), "{lines:?}");
    assert!(lines[1].contains("--admin-token"), "{lines:?}");

    let (_closed, lines) = ready_output(&["--admin-token", TOKEN]);
    let url = lines[0]
        .strip_prefix("defender-mock listening on ")
        .unwrap()
        .to_owned();
    assert!(lines[1].contains("requires the admin token"), "{lines:?}");
    assert!(
        !lines.concat().contains(TOKEN),
        "the token is never printed"
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{url}/_mock/clock"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(format!("{url}/_mock/clock"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{url}/_mock/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn the_readme_says_the_control_plane_is_open_without_the_flag() {
    let readme = include_str!("../../README.md");
    assert!(readme.contains("--admin-token"));
    assert!(
        readme.contains("the control plane is open"),
        "the README must say the control plane is open without --admin-token"
    );
}
