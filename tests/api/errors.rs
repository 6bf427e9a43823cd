//! Every validation, routing and size error: status, Defender code, `target`, never plain text.

use axum::http::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_lower_case_comment_key_is_a_missing_parameter() {
    let app = spawn_app().await;
    let id = machine_id("fin-lt-0142");
    let r = app
        .post_json(
            &format!("/api/machines/{id}/isolate"),
            &app.admin_token(),
            &json!({"comment": "x"}),
        )
        .await;
    assert_error_message(
        r,
        400,
        "MissingRequiredParameter",
        "Parameter Comment is missing",
    );
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_are_invalid_request_bodies() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let path = format!("/api/machines/{}/unisolate", machine_id("fin-lt-0187"));
    let cases: [(Option<&str>, &str); 6] = [
        (Some("application/json"), "{not json"),
        (Some("application/json"), "[1,2]"),
        (Some("application/json"), "\"text\""),
        (Some("application/json"), ""),
        (None, DOC_BODY),
        (Some("text/plain"), DOC_BODY),
    ];
    for (ct, body) in cases {
        let r = app.post_raw(&path, Some(&t), ct, body).await;
        assert_error(r, 400, "InvalidRequestBody");
    }
    let r = app.post_json(&path, &t, &json!({"Comment": 42})).await;
    assert_error(r, 400, "InvalidRequestBody");
}

#[tokio::test]
async fn an_unknown_machine_is_resource_not_found_before_its_body_is_judged() {
    let app = spawn_app().await;
    let r = app
        .post_raw(
            "/api/machines/0000000000000000000000000000000000000000/unisolate",
            Some(&app.admin_token()),
            Some("application/json"),
            "{bad",
        )
        .await;
    assert_error_message(
        r,
        404,
        "ResourceNotFound",
        "Machine 0000000000000000000000000000000000000000 was not found",
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_defender_not_found_even_without_a_token() {
    let app = spawn_app().await;
    let r = app.send(Req::get("/api/alerts-that-do-not-exist")).await;
    assert_error(r, 404, "NotFound");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_an_empty_body() {
    let app = spawn_app().await;
    let id = machine_id("fin-lt-0142");
    let r = app
        .get(&format!("/api/machines/{id}/unisolate"), &app.admin_token())
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert!(r.bytes().is_empty());
    let r = app
        .send(Req::new(Method::DELETE, format!("/api/machines/{id}")))
        .await;
    assert_eq!(r.status(), 405);
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_in_the_defender_shape() {
    let app = spawn_app().await;
    let id = machine_id("fin-lt-0142");
    let big = json!({"Comment": "x".repeat(2 * 1024 * 1024)});
    let r = app
        .post_json(
            &format!("/api/machines/{id}/isolate"),
            &app.admin_token(),
            &big,
        )
        .await;
    assert_error(r, 413, "RequestEntityTooLarge");
    // Nothing was created.
    assert!(app.machine_view(&id, None).await["inFlightActions"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_non_guid_action_id_is_a_bad_request_with_the_edm_guid_message() {
    let app = spawn_app().await;
    let r = app
        .get("/api/machineactions/not-a-guid", &app.admin_token())
        .await;
    assert_error_message(
        r,
        400,
        "BadRequest",
        "The key value (not-a-guid) from request is not valid. The key value should be format of type 'Edm.Guid'.",
    );
    let r = app
        .get(
            &format!("/api/machineactions/{}", uuid::Uuid::new_v4()),
            &app.admin_token(),
        )
        .await;
    assert_error(r, 404, "ResourceNotFound");
}

#[tokio::test]
async fn clock_advance_refuses_bad_input() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"seconds": -5}),
        json!({"seconds": "ten"}),
        json!({"seconds": 1e12}),
    ] {
        let r = app
            .send(Req::post("/_mock/clock/advance").json(&body))
            .await;
        assert_eq!(r.status(), 400, "{body}");
        let b: Value = r.json();
        assert!(b["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn an_undecodable_path_is_a_defender_error_not_plain_text() {
    let app = spawn_app().await;
    let r = app
        .post_raw(
            "/api/machines/%FF%FE/isolate",
            Some(&app.admin_token()),
            Some("application/json"),
            DOC_BODY,
        )
        .await;
    assert_error(r, 400, "InvalidInput");
    let r = app.send(Req::get("/_mock/machines/%FF")).await;
    assert_error(r, 400, "InvalidInput");
}
