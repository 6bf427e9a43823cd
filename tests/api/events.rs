//! The live state stream (`GET /_mock/events`, Server-Sent Events): an action's transitions in
//! order after clock advances, the machine change it makes, and the tenant and kind filters.

use std::time::Duration;

use defender_mock::Config;
use serde_json::{json, Value};

use crate::helpers::*;

/// An open SSE stream read event by event.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, query: &str) -> Stream {
        let res = app
            .tcp_client()
            .get(format!("{}/_mock/events{query}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut s = Stream {
            res,
            buf: String::new(),
        };
        assert_eq!(s.next().await.0, "ready");
        s
    }

    /// The next event's name and data (fails after 5 s without one).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.res.chunk())
                .await
                .expect("an event within 5 s")
                .unwrap()
                .expect("the stream stays open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn an_action_s_transitions_arrive_in_order_after_clock_advances() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let tenant = fresh_tenant();
    let other = fresh_tenant();
    let mut events = Stream::open(&app, &format!("?tenant={tenant}")).await;
    let id = machine_id("exec-lt-0001");
    // Another tenant's action is not in this tenant's stream.
    let r = app.isolate(&app.tenant_token(&other), &id).await;
    assert_eq!(r.status(), 201);
    let r = app.isolate(&app.tenant_token(&tenant), &id).await;
    assert_eq!(r.status(), 201);
    let action: Value = r.json();

    let (kind, created) = events.next().await;
    assert_eq!(kind, "action.created");
    assert_eq!(created["type"], "action.created");
    assert_eq!(created["tenant"], tenant);
    assert_eq!(created["actionId"], action["id"]);
    assert_eq!(created["machineId"], id);
    assert_eq!(created["actionType"], "Isolate");
    assert_eq!(created["status"], "Pending");

    // One advance past the whole lifecycle: both transitions, each at the time it fell due.
    app.advance(3600.0).await;
    let mut seen = Vec::new();
    let mut last_time = created["time"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (kind, e) = events.next().await;
        let time = e["time"].as_str().unwrap().to_owned();
        assert!(time >= last_time, "{time} before {last_time}");
        last_time = time;
        seen.push((kind, e["status"].clone(), e["isolation"].clone()));
    }
    assert_eq!(
        seen,
        vec![
            ("action.updated".into(), json!("InProgress"), Value::Null),
            ("action.updated".into(), json!("Succeeded"), Value::Null),
            ("machine.changed".into(), Value::Null, json!("Full")),
        ]
    );
}

#[tokio::test]
async fn the_kind_filter_and_a_cancel() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let tenant = fresh_tenant();
    let mut events = Stream::open(&app, &format!("?tenant={tenant}&types=action.updated")).await;
    let t = app.tenant_token(&tenant);
    let action: Value = app.isolate(&t, &machine_id("exec-lt-0001")).await.json();
    let r = app
        .cancel(
            &t,
            action["id"].as_str().unwrap(),
            Some(&json!({"Comment": "x"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    // `action.created` was filtered out: the first event is the cancel.
    let (kind, e) = events.next().await;
    assert_eq!(kind, "action.updated");
    assert_eq!(e["status"], "Cancelled");
    assert_eq!(e["actionId"], action["id"]);
}

#[tokio::test]
async fn a_bad_tenant_is_a_defender_error() {
    let app = spawn_app().await;
    let r = app
        .send(Req::get("/_mock/events?tenant=not%20a%20tenant"))
        .await;
    assert_error_containing(r, 400, "InvalidInput", "tenant");
}
