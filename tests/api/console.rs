//! The demo console's server side: the page and its embedded assets (types, no external
//! resources), and the fleet summary its filters and state badges read.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn the_page_is_served_at_the_root_and_under_mock_ui_with_only_its_own_assets() {
    let app = spawn_app().await;
    for path in ["/", "/_mock/ui"] {
        let r = app.send(Req::get(path)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        let html = r.text();
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(html.contains(r#"<html lang="en">"#));
        // The development tenant and app are rendered in; nothing is left unfilled.
        assert!(html.contains(r#"data-tenant="8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b""#));
        assert!(!html.contains("{{"), "an unfilled placeholder");
        // No external fonts, scripts or styles: every src and href is on this origin.
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let url = &html[i + attr.len()..];
                assert!(
                    url.starts_with('/') || url.starts_with('#'),
                    "{path}: external {}",
                    &url[..url.find('"').unwrap_or(url.len())]
                );
            }
        }
        for asset in ["/_mock/ui/console.js", "/_mock/ui/console.css"] {
            assert!(html.contains(asset), "{path} does not load {asset}");
        }
    }
}

#[tokio::test]
async fn the_script_and_stylesheet_are_embedded_with_their_types() {
    let app = spawn_app().await;
    for (path, ty, needle) in [
        (
            "/_mock/ui/console.js",
            "application/javascript; charset=utf-8",
            "/_mock/events",
        ),
        ("/_mock/ui/console.css", "text/css; charset=utf-8", ".badge"),
    ] {
        let r = app.send(Req::get(path)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let text = r.text();
        assert!(text.contains(needle), "{path}");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} names an external URL"
        );
    }
    let r = app.send(Req::get("/_mock/ui/nothing.js")).await;
    assert_error(r, 404, "NotFound");
}

#[tokio::test]
async fn the_summary_lists_groups_platforms_and_only_the_machines_that_are_not_plain() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let summary = app
        .mock_get(&format!("/_mock/ui/summary?tenant={tenant}"))
        .await;
    assert_eq!(summary["total"], fleet().len());
    let groups = summary["groups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g["name"] == "Finance"), "{groups:?}");
    let os = summary["osPlatforms"].as_array().unwrap();
    assert!(os.iter().any(|o| o == "Windows11"), "{os:?}");
    let plain = summary["flagged"].as_array().unwrap().len();

    // An isolation in flight: the machine is flagged with its action; once it succeeds, with its
    // isolation and nothing in flight. Another tenant sees none of it.
    let id = machine_id("exec-lt-0001");
    let token = app.tenant_token(&tenant);
    app.act_ok(
        &token,
        &id,
        "isolate",
        json!({"IsolationType": "Selective"}),
    )
    .await;
    let flagged = |s: &Value| {
        s["flagged"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["machine"]["id"] == id.as_str())
            .cloned()
    };
    let s = app
        .mock_get(&format!("/_mock/ui/summary?tenant={tenant}"))
        .await;
    let f = flagged(&s).expect("the machine is flagged");
    assert_eq!(f["machine"]["computerDnsName"], "exec-lt-0001.contoso.com");
    assert_eq!(f["isolation"], Value::Null);
    assert_eq!(f["inFlight"][0]["type"], "Isolate");
    assert_eq!(f["inFlight"][0]["status"], "Pending");
    assert_eq!(s["flagged"].as_array().unwrap().len(), plain + 1);

    app.advance(3600.0).await;
    let s = app
        .mock_get(&format!("/_mock/ui/summary?tenant={tenant}"))
        .await;
    let f = flagged(&s).expect("still flagged: isolated");
    assert_eq!(f["isolation"], "Selective");
    assert_eq!(f["inFlight"], json!([]));
    assert_eq!(f["restricted"], false);

    let other = app
        .mock_get(&format!("/_mock/ui/summary?tenant={}", fresh_tenant()))
        .await;
    assert!(flagged(&other).is_none());
}

#[tokio::test]
async fn the_summary_refuses_a_tenant_that_is_no_guid_or_domain() {
    let app = spawn_app().await;
    let r = app
        .send(Req::get("/_mock/ui/summary?tenant=not%20a%20tenant"))
        .await;
    assert_error(r, 400, "InvalidInput");
}

/// The page's fallback for its token (until `POST /_mock/token`): the development app's client
/// credentials at the tenant's token endpoint. Its actions go through the real API and carry
/// the app's name as requestor.
#[tokio::test]
async fn the_development_app_s_client_credentials_give_the_page_a_token_that_acts() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let r = app
        .send(Req::post(format!("/{tenant}/oauth2/v2.0/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "d3fe0d3f-0000-4000-8000-00000000a991"),
            ("client_secret", "defender-mock-development-secret"),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ]))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let token: Value = r.json();
    let token = token["access_token"].as_str().unwrap();
    let id = machine_id("exec-lt-0001");
    let action = app
        .act_ok(token, &id, "isolate", json!({"IsolationType": "Full"}))
        .await;
    assert_eq!(action["requestor"], "defender-mock development app");
    // A refusal is a Defender error body with the message the page shows.
    let r = app.isolate(token, &id).await;
    assert_error_message(
        r,
        400,
        "ActiveRequestAlreadyExists",
        "Action is already in progress",
    );
}
