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

#[test]
fn a_token_over_the_size_limit_is_refused_before_verification() {
    let auth = Authenticator::new(Keys::development());
    let now = OffsetDateTime::now_utc();
    let roles: Vec<String> = (0..100_000).map(|i| format!("Role.{i}")).collect();
    let t = token::mint(
        auth.keys(),
        &TokenSpec {
            roles,
            now,
            ..TokenSpec::default()
        },
    )
    .unwrap();
    assert!(t.len() > MAX_TOKEN_BYTES);
    let e = auth.authenticate(&headers(&t), now).unwrap_err();
    assert!(
        matches!(&e, ApiError::Unauthorized(why) if why.contains("larger than")),
        "{e:?}"
    );
    assert_eq!(auth.cached(), 0);
}

#[test]
fn the_cache_stays_within_its_byte_budget_with_large_tokens() {
    const BUDGET: usize = 256 * 1024;
    let auth = Authenticator::with_limits(Keys::development(), 1_000_000, BUDGET);
    let now = OffsetDateTime::now_utc();
    // Tokens just under the size limit: the count bound alone would let ~1 GB accumulate.
    let roles: Vec<String> = (0..500).map(|i| format!("Machine.Role.{i:05}")).collect();
    for i in 0..24 {
        let spec = TokenSpec {
            roles: roles.clone(),
            app_name: Some(format!("app {i}")),
            now,
            ..TokenSpec::default()
        };
        let t = token::mint(auth.keys(), &spec).unwrap();
        assert!(
            t.len() <= MAX_TOKEN_BYTES && t.len() > 10_000,
            "{}",
            t.len()
        );
        auth.authenticate(&headers(&t), now).unwrap();
        assert!(
            auth.cached_bytes() <= CACHE_BYTES,
            "{} bytes after {i}",
            auth.cached_bytes()
        );
    }
    assert!(auth.cached() < 1_200);
}
