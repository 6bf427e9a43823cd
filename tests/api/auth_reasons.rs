//! 401 messages say why a token was refused (issue 10, item 5): expired at T, not yet valid,
//! bad signature, no token; and the 403 of a wrong audience names the audience.

use defender_mock::{mint, Keys, TokenSpec};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::helpers::*;

fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn read_spec() -> TokenSpec {
    TokenSpec {
        roles: vec!["Machine.Read.All".into()],
        ..TokenSpec::default()
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_with_its_expiry() {
    let app = spawn_app().await;
    let issued = app.emulator.now().unix_timestamp();
    let token = app.token_with(TokenSpec {
        ttl_secs: 600,
        ..read_spec()
    });
    app.advance(3.0 * 86_400.0).await;
    let r = app.get_machine(&token, &machine_id("fin-lt-0187")).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let now = rfc3339(app.emulator.now().unix_timestamp());
    let expected = format!(
        "Authorization has been denied for this request: the access token expired at {} (the emulator's clock reads {now}).",
        rfc3339(issued + 600)
    );
    assert_error_message(r, 401, "Unauthorized", &expected);
}

#[tokio::test]
async fn a_token_from_the_future_is_not_yet_valid() {
    let app = spawn_app().await;
    let later = app.emulator.now() + time::Duration::hours(2);
    let token = mint(
        &Keys::development(),
        &TokenSpec {
            now: later,
            ..read_spec()
        },
    )
    .unwrap();
    let r = app.get_machine(&token, &machine_id("fin-lt-0187")).await;
    let nbf = rfc3339(later.unix_timestamp() - 300);
    assert_error_containing(
        r,
        401,
        "Unauthorized",
        &format!("the access token is not valid before {nbf} (the emulator's clock reads "),
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_has_a_bad_signature() {
    let app = spawn_app().await;
    let other = Keys::from_pem(include_str!("../fixtures/other-signing-key.pem")).unwrap();
    let token = mint(
        &other,
        &TokenSpec {
            now: app.emulator.now(),
            ..read_spec()
        },
    )
    .unwrap();
    let r = app.get_machine(&token, &machine_id("fin-lt-0187")).await;
    assert_error_containing(r, 401, "Unauthorized", "bad signature");
    let r = app
        .get_machine("not.a.jwt", &machine_id("fin-lt-0187"))
        .await;
    assert_error_containing(r, 401, "Unauthorized", "malformed token");
}

#[tokio::test]
async fn a_missing_token_says_so() {
    let app = spawn_app().await;
    let r = app.send(Req::get("/api/machines")).await;
    assert_error_containing(r, 401, "Unauthorized", "no access token");
    let r = app.send(Req::get("/api/machines").basic("a", "b")).await;
    assert_error_containing(r, 401, "Unauthorized", "not `Bearer <access token>`");
}

#[tokio::test]
async fn a_wrong_audience_is_named_in_the_403() {
    // The decisions keep a wrong audience a 403 (a valid token for another resource); its
    // message names the audience, as the 401s name their reason.
    let app = spawn_app().await;
    let token = app.token_with(TokenSpec {
        audience: Some("https://graph.microsoft.com".into()),
        ..read_spec()
    });
    let r = app.get_machine(&token, &machine_id("fin-lt-0187")).await;
    assert_error_containing(
        r,
        403,
        "Forbidden",
        "The access token audience 'https://graph.microsoft.com' is not valid",
    );
}
