//! Unit tests of `token`.

use super::*;

#[test]
fn a_minted_token_verifies_and_round_trips() {
    let keys = Keys::development();
    let spec = TokenSpec {
        roles: vec!["Machine.Isolate".into()],
        ..TokenSpec::default()
    };
    let claims = verify_signature(&keys, &mint(&keys, &spec).unwrap()).unwrap();
    assert_eq!(claims.roles, vec!["Machine.Isolate"]);
    assert_eq!(claims.iss, v1_issuer(dev::TENANT_ID));
    assert_eq!(claims.aud, dev::MDE_AUDIENCE);
    assert_eq!(claims.app_id(), dev::APP_ID);
}

#[test]
fn v2_tokens_carry_azp_and_the_appid_audience() {
    let keys = Keys::development();
    let spec = TokenSpec {
        version: TokenVersion::V2,
        ..TokenSpec::default()
    };
    let claims = verify_signature(&keys, &mint(&keys, &spec).unwrap()).unwrap();
    assert_eq!(claims.aud, MDE_APP_ID);
    assert_eq!(claims.azp.as_deref(), Some(dev::APP_ID));
    assert_eq!(claims.ver.as_deref(), Some("2.0"));
}

#[test]
fn a_token_from_another_key_is_invalid() {
    // PKCS#1 on purpose: both PEM flavours load.
    let other = Keys::from_pem(include_str!("../../tests/fixtures/other-signing-key.pem")).unwrap();
    let token = mint(&other, &TokenSpec::default()).unwrap();
    assert!(matches!(
        verify_signature(&Keys::development(), &token),
        Err(TokenError::Invalid(_))
    ));
}

#[test]
fn a_foreign_issuer_is_refused() {
    let keys = Keys::development();
    let mut c = claims_for(&TokenSpec::default());
    c.iss = "https://evil.example/".into();
    let token = sign(&keys, &c).unwrap();
    assert!(matches!(
        verify_signature(&keys, &token),
        Err(TokenError::UnknownIssuer(_))
    ));
}

#[test]
fn time_is_checked_against_the_given_now() {
    let now = OffsetDateTime::now_utc();
    let c = claims_for(&TokenSpec {
        ttl_secs: 60,
        now,
        ..TokenSpec::default()
    });
    assert!(check_time(&c, now).is_ok());
    assert!(matches!(
        check_time(&c, now + time::Duration::seconds(60)),
        Err(TokenError::Expired(_))
    ));
    assert!(matches!(
        check_time(&c, now - time::Duration::seconds(301)),
        Err(TokenError::NotYetValid(_))
    ));
}

#[test]
fn a_critical_header_extension_is_refused() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let keys = Keys::development();
    let claims = claims_for(&TokenSpec::default());
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(keys.kid.clone());
    let plain = jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap();
    assert!(verify_signature(&keys, &plain).is_ok());
    // The same token with `crit` in a correctly signed header.
    let head = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": keys.kid, "crit": ["exp"], "exp": 1});
    let head = URL_SAFE_NO_PAD.encode(head.to_string());
    let body = plain.split('.').nth(1).unwrap();
    let signing_input = format!("{head}.{body}");
    let sig =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &keys.encoding, Algorithm::RS256)
            .unwrap();
    let with_crit = format!("{signing_input}.{sig}");
    assert!(matches!(
        verify_signature(&keys, &with_crit),
        Err(TokenError::Invalid(why)) if why.contains("critical")
    ));
}

#[test]
fn sign_writes_what_jsonwebtoken_encode_writes() {
    // RS256 is deterministic, so the hand-assembled JWS must equal jsonwebtoken's byte for byte.
    let keys = Keys::development();
    for version in [TokenVersion::V1, TokenVersion::V2] {
        let claims = claims_for(&TokenSpec {
            version,
            ..TokenSpec::default()
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(keys.kid.clone());
        if version == TokenVersion::V1 {
            header.x5t = Some(keys.kid.clone());
        }
        let expected = jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap();
        assert_eq!(sign(&keys, &claims).unwrap(), expected);
    }
}
