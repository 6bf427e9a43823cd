//! Testing a Defender client with the embedded `MockServer`: the client under test (here a small
//! reqwest-based one, `isolate_with_retry`) runs against a real emulator on a free port; the test
//! moves the emulator clock instead of sleeping, reads the live state stream, checks a narrower
//! token is refused, makes the API fail on demand to exercise the client's retries, counts what
//! the client sent in the request journal, and resets the state.
//!
//! Run: `cargo run --example mock_server`. `cargo test` runs it too (as the test `runs`).

use std::time::Duration;

use defender_mock::{FaultRule, MockServer, RequestFilter};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// The client under test: `POST /api/machines/{id}/isolate`, retried (at most 3 times) on a 503
/// or 429, after the `Retry-After` the server asks for.
async fn isolate_with_retry(
    client: &Client,
    base_url: &str,
    token: &str,
    machine_id: &str,
) -> Result<Value, String> {
    let url = format!("{base_url}/api/machines/{machine_id}/isolate");
    let body = json!({"Comment": "isolated by the playbook", "IsolationType": "Full"});
    for attempt in 1..=3 {
        let res = client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            let wait = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            println!("attempt {attempt}: {status}, retrying after {wait} ms (scaled down)");
            tokio::time::sleep(Duration::from_millis(wait)).await;
            continue;
        }
        let json: Value = res.json().await.map_err(|e| e.to_string())?;
        return if status == StatusCode::CREATED {
            Ok(json)
        } else {
            Err(format!("{status}: {}", json["error"]["message"]))
        };
    }
    Err("gave up after 3 attempts".into())
}

async fn run() {
    let server = MockServer::start().await;
    let (base, token) = (server.base_url(), server.token());
    let client = Client::new();

    // A machine of the embedded fleet, listed as any client would.
    let machines: Value = client
        .get(format!("{base}/api/machines?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list machines")
        .json()
        .await
        .expect("a JSON page");
    let machine = machines["value"][0]["id"].as_str().expect("a machine id");

    // Subscribe before acting: every later change of the tenant arrives, in order.
    let mut events = server.events(&["action.updated"]).await;

    let action = isolate_with_retry(&client, base, &token, machine)
        .await
        .expect("isolate accepted");
    assert_eq!(action["status"], "Pending");

    // No sleeping: an hour of emulator time passes at once and the device does its work.
    server.advance(Duration::from_secs(3600)).await;
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("Succeeded") {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next_event())
            .await
            .expect("the advance publishes each transition")
            .expect("the stream is open");
        seen.push(event["status"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen, ["InProgress", "Succeeded"]);
    let (_, state) = server
        .control("GET", &format!("/_mock/machines/{machine}"), None)
        .await;
    assert_eq!(state["isolated"], true, "{state}");

    // A token without Machine.Isolate is refused as the real API refuses it.
    let reader = server.token_with(["Machine.Read.All"]);
    let refused = isolate_with_retry(&client, base, &reader, machine).await;
    assert!(refused.is_err_and(|e| e.starts_with("403")));

    // Back to the fixtures: the machine is no longer isolated.
    server.reset().await;
    let (_, state) = server
        .control("GET", &format!("/_mock/machines/{machine}"), None)
        .await;
    assert_eq!(state["isolated"], false, "{state}");

    // Retry logic: two 503s, then normal service; the journal shows three attempts.
    server.clear_requests().await;
    let outage = server
        .fault(
            FaultRule::error(503)
                .retry_after(1)
                .route("/api/machines/{id}/isolate")
                .times(2),
        )
        .await;
    isolate_with_retry(&client, base, &token, machine)
        .await
        .expect("isolated on the third attempt");
    assert_eq!(outage.hits().await, 2);
    let isolates = RequestFilter::new()
        .method("POST")
        .path("/api/machines/*/isolate")
        .machine(machine);
    let statuses: Vec<u16> = server
        .requests(&isolates)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 201]);
    println!("isolated {machine} after two injected 503s");
}

#[tokio::main]
async fn main() {
    run().await;
    println!("ok");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs() {
        super::run().await;
    }
}
