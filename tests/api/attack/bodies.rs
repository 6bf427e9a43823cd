//! Token request bodies as Entra reads them: over the size limit, of another content type, with a
//! repeated parameter or bytes that are not UTF-8, each gets Entra's status, `error` and code.

use defender_mock::dev::{APP_ID, APP_SECRET};
use serde_json::json;

use super::assertions::endpoint;
use crate::{
    helpers::*,
    identity::{access_token, entra_error, SCOPE},
};

#[tokio::test]
async fn token_request_bodies_are_read_as_entra_reads_them() {
    let app = spawn_app().await;
    let url = endpoint(&app, &fresh_tenant(), true);
    let form = |extra: &[(&str, &str)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("grant_type", "client_credentials"),
            ("client_id", APP_ID),
            ("client_secret", APP_SECRET),
            ("scope", SCOPE),
        ]
        .iter()
        .chain(extra)
        {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let good = form(&[]);
    let ok = app
        .send(Req::post(&url).body(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            good.clone(),
        ))
        .await;
    access_token(ok);

    // Over the 1 MiB limit: Entra's JSON shape, not axum's plain text.
    let huge = form(&[("pad", &"x".repeat(1024 * 1024))]);
    let r = app
        .send(Req::post(&url).body(Some("application/x-www-form-urlencoded"), huge))
        .await;
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let b = entra_error(r, 413, "invalid_request", 9002313);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("1048576-byte limit"),
        "{b}"
    );

    // Another content type is not read: the form is empty, so grant_type is missing.
    let as_json = json!({"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET, "scope": SCOPE});
    for (ct, body) in [
        (Some("application/json"), good.clone()),
        (Some("application/json"), as_json.to_string()),
        (Some("text/plain"), good.clone()),
        (Some("multipart/form-data; boundary=x"), good.clone()),
        (None, good.clone()),
    ] {
        let r = app.send(Req::post(&url).body(ct, body)).await;
        let b = entra_error(r, 400, "invalid_request", 900144);
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .contains("'grant_type'"),
            "{ct:?}: {b}"
        );
    }

    for (name, body) in [
        ("client_secret", form(&[("client_secret", "wrong")])),
        (
            "scope",
            form(&[("scope", "https://graph.microsoft.com/.default")]),
        ),
        ("grant_type", format!("grant_type=password&{good}")),
    ] {
        let r = app
            .send(Req::post(&url).body(Some("application/x-www-form-urlencoded"), body))
            .await;
        let b = entra_error(r, 400, "invalid_request", 9000411);
        let text = b["error_description"].as_str().unwrap();
        assert!(
            text.contains(&format!("The parameter '{name}' is duplicated.")),
            "{text}"
        );
    }

    for body in [
        format!("{good}&client_secret=%FF"),
        format!("{good}&%C3%28=x"),
    ] {
        let r = app
            .send(Req::post(&url).body(Some("application/x-www-form-urlencoded"), body))
            .await;
        entra_error(r, 400, "invalid_request", 9002313);
    }
    let mut raw = good.into_bytes();
    raw.extend_from_slice(b"&x=\xff\xfe");
    let r = app
        .send(Req::post(&url).body(Some("application/x-www-form-urlencoded"), raw))
        .await;
    entra_error(r, 400, "invalid_request", 9002313);
}
