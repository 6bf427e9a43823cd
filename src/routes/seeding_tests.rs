//! Control-plane reads and refused writes allocate no tenant (`Store::tenant_count`); writes do.

use axum::{
    body::Body,
    http::{Method, Request},
    Router,
};
use tower::ServiceExt;

use crate::{auth::Keys, config::Config, fixtures, state::AppState};

fn app() -> (AppState, Router) {
    let config = Config::for_tests();
    let state = AppState::new(
        fixtures::default_fleet().unwrap(),
        Vec::new(),
        fixtures::load_directory(None).unwrap(),
        Keys::load(None).unwrap(),
        &config,
    );
    (state.clone(), super::super::router(state))
}

async fn send(router: &Router, method: Method, uri: &str, body: Option<&str>) -> u16 {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn control_plane_reads_allocate_no_tenant() {
    let (state, router) = app();
    let id = fixtures::default_fleet().unwrap()[0].machine.id.to_string();
    let new = "5d7f1a3b-0c2e-4f6a-8b9d-0e1f2a3b4c5d";
    let reads = [
        (
            Method::GET,
            format!("/_mock/machines/{id}?tenant={new}"),
            None,
        ),
        (Method::GET, format!("/_mock/machines/{id}"), None),
        (
            Method::GET,
            format!("/_mock/tenants/{new}/rate-limits"),
            None,
        ),
        (Method::GET, "/_mock/clock".to_owned(), None),
        // Refused writes change nothing either.
        (
            Method::DELETE,
            format!("/_mock/machines/{}?tenant={new}", "0".repeat(40)),
            None,
        ),
        (
            Method::PUT,
            format!("/_mock/machines/{id}?tenant={new}"),
            Some(r#"{"osBuild": "x"}"#),
        ),
        (Method::POST, format!("/_mock/reset?tenant={new}"), None),
    ];
    for (method, uri, body) in reads {
        let status = send(&router, method.clone(), &uri, body).await;
        assert!(status < 500, "{method} {uri}: {status}");
        assert_eq!(
            state.store().tenant_count(),
            0,
            "{method} {uri} allocated a tenant"
        );
    }
    // A write does.
    let status = send(
        &router,
        Method::DELETE,
        &format!("/_mock/machines/{id}?tenant={new}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(state.store().tenant_count(), 1);
}
