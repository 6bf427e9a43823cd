//! Bounds on what one request can cost (issue 12 #1, #7): `$filter` size and node count, lists
//! that page before they build the response, and comment sizes.

use serde_json::{json, Value};

use defender_mock::{DuplicatePolicy, StoreOptions};

use crate::helpers::*;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An app whose machines take any number of actions in flight (duplicate policy `allow`).
async fn spawn_allowing_duplicates() -> TestApp {
    let options = StoreOptions {
        duplicate_policy: DuplicatePolicy::Allow,
        ..StoreOptions::default()
    };
    spawn_with(options, fleet()).await
}

async fn get_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status(), 200, "{path}: {}", r.text());
    r.json()
}

/// `n` string comparisons joined by `or`: the attack's shape.
fn or_chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("requestor eq 'attacker{i}@contoso.com'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[tokio::test]
async fn an_odata_bomb_is_refused_before_it_is_evaluated() {
    let app = spawn_app().await;
    let t = app.admin_token();
    // The reported attack's shape: thousands of clauses, a URL of tens of KB.
    let bomb = format!("/api/machineactions?$filter={}", enc(&or_chain(1_200)));
    assert!(bomb.len() > 50_000, "{}", bomb.len());
    assert_error_containing(app.get(&bomb, &t).await, 400, "ODataError", "at most 16384");
    // Under the length bound but over the node bound.
    let nodes = format!("/api/machineactions?$filter={}", enc(&or_chain(300)));
    assert!(nodes.len() < 16_384, "{}", nodes.len());
    assert_error_containing(
        app.get(&nodes, &t).await,
        400,
        "ODataError",
        "The node count limit of '500' has been exceeded",
    );
    let ids = (0..600)
        .map(|i| format!("'{i:040x}'"))
        .collect::<Vec<_>>()
        .join(",");
    let list = format!("/api/machines?$filter={}", enc(&format!("id in ({ids})")));
    assert_error(app.get(&list, &t).await, 400, "ODataError");
}

#[tokio::test]
async fn the_largest_allowed_filter_is_answered_over_many_actions() {
    let app = spawn_allowing_duplicates().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    for i in 0..200 {
        if i % 90 == 89 {
            app.advance(61.0).await; // past the 100-per-minute limit
        }
        app.act_ok(&t, &id, "isolate", json!({})).await;
    }
    // 250 comparisons (499 nodes) × 200 actions: 100,000 comparisons, over the inline budget,
    // so it runs on the blocking pool; the answer is the same.
    let mut filter = or_chain(249);
    filter.push_str(" or type eq 'Isolate'");
    let r = app
        .get(
            &format!("/api/machineactions?$filter={}&$count=true", enc(&filter)),
            &t,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let body: Value = r.json();
    assert_eq!(body["@odata.count"], 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 200);
}

#[tokio::test]
async fn top_one_returns_one_row_and_paging_is_unchanged() {
    let app = spawn_allowing_duplicates().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    let comment = "x".repeat(4_096);
    for _ in 0..5 {
        app.act_ok(&t, &id, "isolate", json!({"Comment": comment}))
            .await;
    }
    let body = get_ok(&app, "/api/machineactions?$top=1", &t).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert!(body.get("@odata.nextLink").is_none());
    let body = get_ok(&app, "/api/machineactions?$skip=3", &t).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    assert_eq!(body["value"][0]["requestorComment"], comment);
}

#[tokio::test]
async fn comments_over_4096_characters_are_refused_on_actions_and_cancels() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    let long = "é".repeat(4_097);
    assert_error_message(
        app.act(&t, &id, "isolate", json!({"Comment": long})).await,
        400,
        "InvalidRequestBody",
        "Parameter Comment is 4097 characters long; at most 4096 are allowed",
    );
    let view = app.machine_view(&id, None).await;
    assert_eq!(view["inFlightActions"], json!([]), "nothing was created");
    let action = app
        .act_ok(&t, &id, "isolate", json!({"Comment": "é".repeat(4_096)}))
        .await;
    let aid = action["id"].as_str().unwrap();
    assert_error(
        app.cancel(&t, aid, Some(&json!({"Comment": long}))).await,
        400,
        "InvalidRequestBody",
    );
    assert_eq!(
        app.action(&t, aid).await["status"],
        "Pending",
        "not cancelled"
    );
}
