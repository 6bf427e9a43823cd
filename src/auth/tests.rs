//! Unit tests of `mod`.

use super::{permissions::*, *};
use axum::http::HeaderValue;

fn headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

#[test]
fn verified_tokens_are_cached_and_time_is_rechecked() {
    let auth = Authenticator::new(Keys::development());
    let now = OffsetDateTime::now_utc();
    let t = token::mint(
        auth.keys(),
        &TokenSpec {
            ttl_secs: 60,
            now,
            ..TokenSpec::default()
        },
    )
    .unwrap();
    assert!(auth.authenticate(&headers(&t), now).is_ok());
    assert_eq!(auth.cached(), 1);
    let later = now + time::Duration::seconds(61);
    assert!(matches!(
        auth.authenticate(&headers(&t), later),
        Err(ApiError::Unauthorized(_))
    ));
}

#[test]
fn the_cache_stays_bounded_dropping_expired_tokens_first() {
    let auth = Authenticator::with_capacity(Keys::development(), 3);
    let now = OffsetDateTime::now_utc();
    let mint = |ttl| {
        token::mint(
            auth.keys(),
            &TokenSpec {
                ttl_secs: ttl,
                now,
                ..TokenSpec::default()
            },
        )
        .unwrap()
    };
    let short = mint(10);
    let long: Vec<String> = (0..2).map(|_| mint(3600)).collect();
    for t in std::iter::once(&short).chain(&long) {
        auth.authenticate(&headers(t), now).unwrap();
    }
    assert_eq!(auth.cached(), 3);
    // Full: the expired token is dropped, the live ones stay.
    let later = now + time::Duration::seconds(20);
    auth.authenticate(&headers(&mint(3600)), later).unwrap();
    assert_eq!(auth.cached(), 3);
    assert!(auth.cache.contains_key(long[0].as_str()));
    assert!(!auth.cache.contains_key(short.as_str()));
    // Full of live tokens: cleared rather than grown.
    auth.authenticate(&headers(&mint(3600)), later).unwrap();
    assert!(auth.cached() <= 3);
}

#[test]
fn debug_output_never_shows_a_token() {
    let auth = Authenticator::new(Keys::development());
    let now = OffsetDateTime::now_utc();
    let t = token::mint(
        auth.keys(),
        &TokenSpec {
            now,
            ..TokenSpec::default()
        },
    )
    .unwrap();
    auth.authenticate(&headers(&t), now).unwrap();
    let shown = format!("{auth:?}");
    assert!(!shown.contains(&t[..20]), "{shown}");
    assert!(shown.contains("cached_tokens: 1"), "{shown}");
}

#[test]
fn missing_or_odd_authorization_is_401() {
    let auth = Authenticator::new(Keys::development());
    let now = OffsetDateTime::now_utc();
    assert!(auth.authenticate(&HeaderMap::new(), now).is_err());
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
    assert!(auth.authenticate(&h, now).is_err());
    assert!(auth.authenticate(&headers("abc.def.ghi"), now).is_err());
}

#[test]
fn the_forbidden_message_lists_accepted_permissions() {
    let auth = Authenticator::new(Keys::development());
    let now = OffsetDateTime::now_utc();
    let t = token::mint(
        auth.keys(),
        &TokenSpec {
            roles: vec!["Machine.Read.All".into()],
            now,
            ..TokenSpec::default()
        },
    )
    .unwrap();
    let caller = auth.authenticate(&headers(&t), now).unwrap();
    assert!(caller.authorize(&READ).is_ok());
    let e = caller.authorize(&ISOLATE).unwrap_err();
    assert_eq!(
        e.message(),
        "The application does not have any of the required application permissions (Machine.Isolate) to access the resource."
    );
}
