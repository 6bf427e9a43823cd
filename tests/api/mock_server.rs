//! The embeddable `MockServer`: started on a free port of the test's runtime, reached over real
//! sockets with reqwest as a client under test would, tokens on the emulator's clock (every role
//! by default, narrower on demand), the clock, reset, the live state stream, builder options,
//! stop on drop; the journal, fault and seeding helpers against the control-plane contract.

use std::{net::SocketAddr, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use defender_mock::{
    ClockMode, Config, DropMode, DuplicatePolicy, FaultRule, Fleet, MockServer, RequestFilter,
    TlsSource,
};
use reqwest::{Certificate, Client};
use serde_json::{json, Value};

use crate::helpers::{fleet, fresh_tenant, machine_id, DOC_BODY};

/// `GET {base}{path}` with `token`: (status, JSON body or Null).
async fn get(server: &MockServer, token: &str, path: &str) -> (u16, Value) {
    let r = Client::new()
        .get(format!("{}{path}", server.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// `POST {base}/api/machines/{id}/isolate` with `token`: (status, JSON body).
async fn isolate(server: &MockServer, token: &str, id: &str) -> (u16, Value) {
    let r = Client::new()
        .post(format!("{}/api/machines/{id}/isolate", server.base_url()))
        .bearer_auth(token)
        .json(&json!({"Comment": "isolated by test", "IsolationType": "Full"}))
        .send()
        .await
        .expect("the server answers");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The claims of a JWT, unverified.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn start_serves_on_a_free_port_and_its_token_has_every_role() {
    let server = MockServer::start().await;
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert_ne!(server.address().port(), 0);
    let token = server.token();
    let roles = claims(&token)["roles"].clone();
    for role in [
        "Machine.CollectForensics",
        "Machine.Isolate",
        "Machine.RestrictExecution",
        "Machine.Scan",
        "Machine.Offboard",
        "Machine.StopAndQuarantine",
        "Machine.LiveResponse",
        "Machine.Read.All",
        "Machine.ReadWrite.All",
        "Ti.ReadWrite",
        "Ti.ReadWrite.All",
        "Alert.Read.All",
        "Alert.ReadWrite.All",
    ] {
        assert!(roles.as_array().unwrap().contains(&json!(role)), "{role}");
    }
    assert_eq!(claims(&token)["tid"], server.tenant());
    let (status, list) = get(&server, &token, "/api/machines").await;
    assert_eq!(status, 200, "{list}");
    let id = machine_id("fin-lt-0142");
    let (status, action) = isolate(&server, &token, &id).await;
    assert_eq!(status, 201, "{action}");
    for path in ["/api/indicators", "/api/alerts"] {
        let (status, body) = get(&server, &token, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn token_with_narrows_the_roles_and_the_builder_makes_user_tokens() {
    let server = MockServer::start().await;
    let id = machine_id("fin-lt-0142");
    let reader = server.token_with(["Machine.Read.All"]);
    assert_eq!(claims(&reader)["roles"], json!(["Machine.Read.All"]));
    assert_eq!(get(&server, &reader, "/api/machines").await.0, 200);
    let (status, body) = isolate(&server, &reader, &id).await;
    assert_eq!(status, 403, "{body}");

    let user = server
        .token_builder()
        .user(
            "someone@contoso.example",
            ["Machine.Read", "Machine.Isolate"],
        )
        .mint();
    assert_eq!(claims(&user)["upn"], "someone@contoso.example");
    assert_eq!(claims(&user)["scp"], "Machine.Read Machine.Isolate");
    assert_eq!(isolate(&server, &user, &id).await.0, 201);
}

#[tokio::test]
async fn tokens_are_minted_on_the_emulator_clock_and_age_with_it() {
    let server = MockServer::start().await;
    let short = server.token_builder().ttl(Duration::from_secs(3600)).mint();
    assert_eq!(
        claims(&short)["exp"].as_i64().unwrap(),
        server.now().unix_timestamp() + 3600
    );
    server.advance_secs(3 * 86_400).await;
    let (status, body) = get(&server, &short, "/api/machines").await;
    assert_eq!(
        status, 401,
        "an hour-long token is expired 3 days later: {body}"
    );
    // Minted now, on the advanced clock: valid, although wall time did not move.
    let fresh = server.token_builder().ttl(Duration::from_secs(3600)).mint();
    assert_eq!(get(&server, &fresh, "/api/machines").await.0, 200);
}

#[tokio::test]
async fn advance_moves_actions_on_and_the_event_stream_shows_each_step() {
    let server = MockServer::start().await;
    let token = server.token();
    let id = machine_id("fin-lt-0142");
    let mut events = server.events(&["action.updated"]).await;
    let (_, action) = isolate(&server, &token, &id).await;
    let action_id = action["id"].as_str().unwrap().to_owned();
    assert_eq!(action["status"], "Pending");

    let before = server.now();
    let after = server.advance(Duration::from_secs(3600)).await;
    assert_eq!((after - before).whole_seconds(), 3600);
    assert_eq!(server.now(), after);
    for want in ["InProgress", "Succeeded"] {
        // A bound, not a wait: the events are published by the advance itself.
        let e = tokio::time::timeout(Duration::from_secs(10), events.next_event())
            .await
            .expect("the advance published the transition")
            .unwrap();
        assert_eq!(
            (
                e["type"].as_str(),
                e["actionId"].as_str(),
                e["status"].as_str()
            ),
            (Some("action.updated"), Some(action_id.as_str()), Some(want)),
            "{e}"
        );
    }
    let (_, read) = get(&server, &token, &format!("/api/machineactions/{action_id}")).await;
    assert_eq!(read["status"], "Succeeded");
}

/// Whether the control plane shows machine `id` of the server's tenant isolated.
async fn isolated(server: &MockServer, id: &str) -> bool {
    let path = format!("/_mock/machines/{id}");
    let (status, state) = server.control("GET", &path, None).await;
    assert_eq!(status, 200, "{state}");
    state["isolated"].as_bool().expect("an isolation state")
}

#[tokio::test]
async fn reset_puts_the_machines_back_to_the_fixtures() {
    let server = MockServer::start().await;
    let id = machine_id("fin-lt-0142");
    isolate(&server, &server.token(), &id).await;
    server.advance_secs(3600).await;
    assert!(isolated(&server, &id).await);
    server.reset().await;
    assert!(!isolated(&server, &id).await);
    // One tenant only.
    isolate(&server, &server.token(), &id).await;
    server.advance_secs(3600).await;
    server.reset_tenant(&fresh_tenant()).await;
    assert!(isolated(&server, &id).await);
    server.reset_tenant(server.tenant()).await;
    assert!(!isolated(&server, &id).await);
}

#[tokio::test]
async fn builder_options_reach_the_server() {
    // A tenant of the test's own, a one-machine fleet, another duplicate policy and clock.
    let tenant = fresh_tenant();
    let mut one = fleet();
    one.truncate(1);
    let only = one[0]["id"].as_str().unwrap().to_owned();
    let server = MockServer::builder()
        .tenant(&tenant)
        .fleet(Fleet::from_json(&Value::from(one).to_string()).unwrap())
        .duplicate_policy(DuplicatePolicy::Allow)
        .clock(ClockMode::System)
        .configure(|c: &mut Config| c.page_size = 1)
        .start()
        .await;
    assert_eq!(server.tenant(), tenant);
    let token = server.token();
    assert_eq!(claims(&token)["tid"], tenant.as_str());
    let (_, list) = get(&server, &token, "/api/machines").await;
    let ids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, [only.as_str()]);
    assert_eq!(isolate(&server, &token, &only).await.0, 201);
    assert_eq!(
        isolate(&server, &token, &only).await.0,
        201,
        "allow: a second one"
    );
    let (_, clock) = server.control("GET", "/_mock/clock", None).await;
    assert_eq!(clock["mode"], "system");
}

#[tokio::test]
async fn https_when_asked_with_the_ca_to_trust() {
    let dir = std::env::temp_dir().join(format!("dm-facade-{}", uuid::Uuid::new_v4()));
    let server = MockServer::builder()
        .tls(TlsSource::Ca(dir.clone()))
        .start()
        .await;
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let ca = std::fs::read(server.ca_path().expect("the CA it issued")).unwrap();
    let client = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/api/machines", server.base_url()))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("an HTTPS exchange the CA vouches for");
    assert_eq!(r.status(), 200);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_bad_option_is_an_error_from_try_start() {
    let missing = std::env::temp_dir().join(format!("dm-none-{}", uuid::Uuid::new_v4()));
    let err = MockServer::builder()
        .fixtures(&missing)
        .try_start()
        .await
        .expect_err("no such fixture folder");
    assert!(
        err.to_string().contains(&*missing.to_string_lossy()),
        "{err}"
    );
}

/// Whether a TCP connection to `addr` is accepted (and answered) within a second.
async fn answers(addr: SocketAddr) -> bool {
    let client = Client::builder()
        .timeout(Duration::from_secs(1))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client
        .get(format!("http://{addr}/_mock/health"))
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn the_server_stops_when_dropped() {
    let server = MockServer::start().await;
    let addr = server.address();
    assert!(answers(addr).await);
    drop(server);
    // The accept loop ends on the next turn of the runtime; give it a few (bounded) turns.
    let mut stopped = false;
    for _ in 0..50 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "{addr} still accepts connections after the drop");
    assert!(!answers(addr).await);
}

// The journal and fault helpers follow the control-plane contract the journal branch implements.

#[tokio::test]
async fn requests_and_request_count_read_the_journal() {
    let server = MockServer::start().await;
    let token = server.token();
    let (a, b) = (machine_id("fin-lt-0142"), machine_id("fin-lt-0187"));
    let client = Client::new();
    for id in [&a, &b, &a] {
        client
            .post(format!("{}/api/machines/{id}/unisolate", server.base_url()))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(DOC_BODY)
            .send()
            .await
            .unwrap();
    }
    let unisolates = RequestFilter::new()
        .method("POST")
        .path("/api/machines/*/unisolate");
    assert_eq!(server.request_count(&unisolates).await, 3);
    let of_a = unisolates.clone().machine(&a);
    assert_eq!(server.request_count(&of_a).await, 2);
    let entries = server.requests(&of_a).await;
    assert_eq!(entries.len(), 2);
    let first = &entries[0];
    assert_eq!(
        (first.method.as_str(), first.route.as_deref(), first.status),
        ("POST", Some("/api/machines/{id}/unisolate"), 201)
    );
    assert_eq!(first.machine_id.as_deref(), Some(a.as_str()));
    assert_eq!(first.tenant.as_deref(), Some(server.tenant()));
    assert!(first.permissions.contains(&"Machine.Isolate".to_owned()));
    assert_eq!(
        first.body_json().unwrap()["Comment"],
        "Unisolate machine since it was clean and validated"
    );
    assert!(entries[0].id < entries[1].id);
    // The second unisolate of A came while the first was in flight: refused as a duplicate.
    let statuses: Vec<u16> = entries.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [201, 400]);
    let refused = RequestFilter::new().status("4xx");
    assert_eq!(server.request_count(&refused).await, 1);
    let newest = server.requests(&unisolates.clone().limit(1)).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].id, entries[1].id);
    server.clear_requests().await;
    assert_eq!(server.request_count(&RequestFilter::new()).await, 0);
}

#[tokio::test]
async fn an_error_fault_answers_its_status_for_its_count_then_stops() {
    let server = MockServer::start().await;
    let token = server.token();
    let id = machine_id("fin-lt-0142");
    let rule = FaultRule::error(503)
        .retry_after(7)
        .route("/api/machines/{id}/isolate")
        .times(2);
    let handle = server.fault(rule).await;
    for _ in 0..2 {
        let (status, body) = isolate(&server, &token, &id).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "ServiceUnavailable");
    }
    assert_eq!(isolate(&server, &token, &id).await.0, 201);
    assert_eq!(handle.hits().await, 2);
    let faulted = server.requests(&RequestFilter::new().status(503)).await;
    assert_eq!(faulted.len(), 2);
    assert_eq!(faulted[0].fault_rule.as_deref(), Some(handle.id()));
    assert!(handle.remove().await);
}

#[tokio::test]
async fn a_drop_fault_is_a_broken_connection_and_remove_ends_it() {
    let server = MockServer::start().await;
    let token = server.token();
    let handle = server
        .fault(FaultRule::drop_connection(DropMode::Reset).route("/api/machines"))
        .await;
    let r = Client::new()
        .get(format!("{}/api/machines", server.base_url()))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(r.is_err(), "the connection was dropped: {r:?}");
    assert!(handle.clone().remove().await);
    assert!(!handle.remove().await, "already gone");
    assert_eq!(get(&server, &token, "/api/machines").await.0, 200);
}

#[tokio::test]
async fn put_machine_seeds_one_machine_the_api_then_serves() {
    let server = MockServer::start().await;
    let mut machine = fleet()[0].clone();
    let id = "1111111111111111111111111111111111111111";
    machine["id"] = json!(id);
    machine["computerDnsName"] = json!("seeded-01.contoso.example");
    assert_eq!(server.put_machine(&machine).await, 201);
    assert_eq!(server.put_machine(&machine).await, 200);
    let token = server.token();
    let (status, read) = get(&server, &token, &format!("/api/machines/{id}")).await;
    assert_eq!(
        (status, read["computerDnsName"].as_str()),
        (200, Some("seeded-01.contoso.example"))
    );
    assert_eq!(isolate(&server, &token, id).await.0, 201);
}

/// With an admin token, the control plane refuses a client without it, while the facade's own
/// control-plane calls (advance, requests, reset) present it and work.
#[tokio::test]
async fn the_facade_sends_the_admin_token_it_was_built_with() {
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let r = reqwest::Client::new()
        .get(format!("{}/_mock/clock", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.advance_secs(60).await;
    assert_eq!(server.request_count(&RequestFilter::new()).await, 0);
    server.reset().await;
}
