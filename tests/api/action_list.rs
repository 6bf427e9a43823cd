//! `GET /api/machineactions` with OData, cancel, and GetPackageUri.

use serde_json::{json, Value};

use defender_mock::TokenSpec;

use crate::helpers::*;

async fn list(app: &TestApp, query: &str) -> Value {
    let r = app
        .get(&format!("/api/machineactions?{query}"), &app.admin_token())
        .await;
    assert_eq!(r.status(), 200, "{query}: {}", r.text());
    r.json()
}

fn enc(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

/// Kibana's isolation-state query for one machine (spec §4.3).
async fn kibana_isolated(app: &TestApp, machine: &str) -> Option<bool> {
    let filter = format!(
        "status eq 'Succeeded' AND type in ('Isolate','Unisolate') AND machineId eq '{machine}'"
    );
    let b = list(
        app,
        &format!(
            "$filter={}&$orderby=lastUpdateDateTimeUtc%20desc&$top=1&$count=true",
            enc(&filter)
        ),
    )
    .await;
    b["value"]
        .as_array()
        .unwrap()
        .first()
        .map(|a| a["type"] == "Isolate")
}

#[tokio::test]
async fn kibanas_isolation_query_follows_isolate_unisolate_isolate_cycles() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    let mut previous = None;
    assert_eq!(kibana_isolated(&app, &id).await, previous);
    for (action, isolated) in [("isolate", true), ("unisolate", false), ("isolate", true)] {
        app.act_ok(&t, &id, action, json!({})).await;
        // Not yet: the answer changes only when the action has succeeded.
        app.advance(59.0).await;
        assert_eq!(
            kibana_isolated(&app, &id).await,
            previous,
            "before {action} succeeded"
        );
        app.advance(1.0).await;
        assert_eq!(
            kibana_isolated(&app, &id).await,
            Some(isolated),
            "after {action}"
        );
        previous = Some(isolated);
    }
    let filter = format!("machineId eq '{id}'");
    let b = list(&app, &format!("$filter={}&$count=true", enc(&filter))).await;
    assert_eq!(b["@odata.count"], 3);
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#MachineActions", app.url)
    );
}

#[tokio::test]
async fn every_filterable_action_field_filters() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let user = app.token_with(TokenSpec {
        scp: Some("Machine.Isolate".into()),
        upn: Some("alice@contoso.com".into()),
        ttl_secs: 86_400,
        ..TokenSpec::default()
    });
    let a1: Value = app.isolate(&t, &machine_id("fin-lt-0142")).await.json();
    app.advance(100.0).await;
    let a2: Value = app.isolate(&user, &machine_id("dc01")).await.json();
    let a3: Value = app.unisolate(&t, &machine_id("fin-lt-0187")).await.json();
    let ids = |b: Value| -> Vec<String> {
        b["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |a: &Value| a["id"].as_str().unwrap().to_owned();
    let cases = [
        (format!("id eq '{}'", id(&a2)), vec![id(&a2)]),
        (format!("id eq {}", id(&a2)), vec![id(&a2)]),
        ("status eq 'Succeeded'".to_owned(), vec![id(&a1)]),
        (
            "status in ('Pending','InProgress')".to_owned(),
            vec![id(&a2), id(&a3)],
        ),
        (
            format!("machineId eq '{}'", machine_id("dc01")),
            vec![id(&a2)],
        ),
        ("type eq 'Unisolate'".to_owned(), vec![id(&a3)]),
        ("requestor eq 'alice@contoso.com'".to_owned(), vec![id(&a2)]),
        (
            "startswith(requestor,'defender-mock')".to_owned(),
            vec![id(&a1), id(&a3)],
        ),
        (
            format!(
                "creationDateTimeUtc gt {}",
                a1["creationDateTimeUtc"].as_str().unwrap()
            ),
            vec![id(&a2), id(&a3)],
        ),
        (
            format!(
                "creationDateTimeUtc le {}",
                a1["creationDateTimeUtc"].as_str().unwrap()
            ),
            vec![id(&a1)],
        ),
        (
            format!(
                "creationDateTimeUtc lt {} or type eq 'Unisolate'",
                a2["creationDateTimeUtc"].as_str().unwrap()
            ),
            vec![id(&a1), id(&a3)],
        ),
        (
            "not (type eq 'Isolate') and status ne 'Succeeded'".to_owned(),
            vec![id(&a3)],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(
            ids(list(&app, &format!("$filter={}", enc(&filter))).await),
            want,
            "{filter}"
        );
    }
    let b = list(
        &app,
        "$orderby=type%20desc,creationDateTimeUtc%20desc&$skip=1&$top=1",
    )
    .await;
    assert_eq!(ids(b), vec![id(&a2)]);
    assert_error_containing(
        app.get("/api/machineactions?$filter=computerDnsName%20eq%20'x'", &t)
            .await,
        400,
        "ODataError",
        "cannot be used in the $filter",
    );
}

#[tokio::test]
async fn cancel_works_on_pending_and_in_progress_actions_and_refuses_terminal_ones() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let done: Value = app.unisolate(&t, &machine_id("fin-lt-0187")).await.json();
    app.advance(60.0).await;
    let pending2: Value = app.isolate(&t, &machine_id("dc01")).await.json();
    let id = |a: &Value| a["id"].as_str().unwrap().to_owned();

    // Pending, with a comment: 200 and the cancellation fields.
    let comment = json!({"Comment": "Machine action was canceled by automation"});
    let r = app.cancel(&t, &id(&pending2), Some(&comment)).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    assert_eq!(b["status"], "Cancelled");
    assert_eq!(b["cancellationRequestor"], "defender-mock development app");
    assert_eq!(
        b["cancellationComment"],
        "Machine action was canceled by automation"
    );
    assert_eq!(b["cancellationDateTimeUtc"], b["lastUpdateDateTimeUtc"]);
    // The machine is free for a new action, and the cancelled one never takes effect.
    app.advance(3600.0).await;
    assert_eq!(app.action(&t, &id(&b)).await["status"], "Cancelled");
    assert_eq!(
        app.machine_view(&machine_id("dc01"), None).await["isolated"],
        false
    );
    assert_eq!(app.isolate(&t, &machine_id("dc01")).await.status(), 201);

    // In progress, with no body at all.
    app.advance(10.0).await;
    let ip = list(&app, "$filter=status%20eq%20'InProgress'").await;
    let r = app.cancel(&t, &id(&ip["value"][0]), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>()["cancellationComment"], Value::Null);

    // Terminal: 400.
    let late = json!({"Comment": "late"});
    assert_error_containing(
        app.cancel(&t, &id(&done), Some(&late)).await,
        400,
        "BadRequest",
        "final state",
    );
    // Unknown, malformed, forbidden.
    let unknown = uuid::Uuid::new_v4().to_string();
    let r = app.cancel(&t, &unknown, Some(&json!({}))).await;
    assert_error(r, 404, "ResourceNotFound");
    let r = app.cancel(&t, "nope", Some(&json!({}))).await;
    assert_error(r, 400, "BadRequest");
    let reader = app.token(&["Machine.Read.All"]);
    assert_error_containing(
        app.cancel(&reader, &id(&done), Some(&json!({}))).await,
        403,
        "Forbidden",
        "Machine.CollectForensics, Machine.Isolate",
    );
}

/// The downloaded package's entries: (name, text), in archive order.
fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("a readable entry");
            (entry.name().to_owned(), text)
        })
        .collect()
}

#[tokio::test]
async fn get_package_uri_is_404_until_the_collection_succeeded_then_downloads_a_zip() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.CollectForensics", "Machine.Read.All"]);
    let dc01 = machine_id("dc01");
    let collect = app
        .act_ok(&t, &dc01, "collectInvestigationPackage", json!({}))
        .await;
    assert_eq!(collect["type"], "CollectInvestigationPackage");
    let action_id = collect["id"].as_str().unwrap();
    let path = format!("/api/machineactions/{action_id}/GetPackageUri");
    assert_error(app.get(&path, &t).await, 404, "ResourceNotFound");
    app.advance(60.0).await;
    let r = app.get(&path, &t).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Edm.String", app.url)
    );
    let url = b["value"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.url));
    let zip = app.send(Req::get(&url)).await;
    assert_eq!(zip.status(), 200);
    assert_eq!(zip.headers()["content-type"], "application/zip");
    assert_eq!(&zip.bytes()[..4], b"PK\x03\x04");
    // Read it back: a summary of this collection and a process list.
    let entries = unzip(zip.bytes());
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Summary.txt", "Processes/Processes.csv"]);
    let summary = &entries[0].1;
    assert!(summary.starts_with("Investigation package (emulated by defender-mock)\r\n"));
    for line in [
        format!("Machine: dc01.corp.contoso.com ({dc01})"),
        format!("Action: {action_id}"),
        "Requested by: defender-mock development app".to_owned(),
        "Comment: collectInvestigationPackage by test".to_owned(),
    ] {
        assert!(
            summary.contains(&format!("{line}\r\n")),
            "{line:?} in {summary}"
        );
    }
    let processes = &entries[1].1;
    assert!(processes.starts_with("Name,PID,User\r\n"), "{processes}");
    assert!(processes.contains("MsSense.exe,"), "{processes}");
    // A tampered link and an expired one are refused.
    let tampered = url.replace("sig=", "sig=x");
    assert_eq!(app.send(Req::get(&tampered)).await.status(), 403);
    app.advance(601.0).await;
    assert_eq!(app.send(Req::get(&url)).await.status(), 403);
    // 2 calls per minute: the third within a minute is throttled.
    assert_eq!(app.get(&path, &t).await.status(), 200);
    assert_eq!(app.get(&path, &t).await.status(), 200);
    let r = app.get(&path, &t).await;
    assert_eq!(r.headers()["retry-after"], "60");
    assert_error(r, 429, "TooManyRequests");
    // Not a collection action: 404.
    let iso: Value = app
        .isolate(&app.admin_token(), &machine_id("fin-lt-0142"))
        .await
        .json();
    app.advance(60.0).await;
    let p = format!(
        "/api/machineactions/{}/getpackageuri",
        iso["id"].as_str().unwrap()
    );
    assert_error(app.get(&p, &t).await, 404, "ResourceNotFound");
}
