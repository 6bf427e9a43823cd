//! Bearer-token attacks on the API: every forgery, broken encoding, stale or misaddressed token and
//! oversized token is 401 `Unauthorized` with `WWW-Authenticate: Bearer` and the Defender error
//! body; a genuine token that lacks the audience or the role is 403 `Forbidden`.

use defender_mock::{Keys, TokenSpec};
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::{
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey},
    pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding},
    RsaPrivateKey,
};
use serde_json::{json, Value};

use super::{b64, jws, parts, signed};
use crate::helpers::*;

const DEV_KEY: &str = include_str!("../../../keys/dev-signing-key.pem");
const OTHER_KEY: &str = include_str!("../../fixtures/other-signing-key.pem");

/// One attack: what it is, and the `Authorization` value it sends.
struct Case {
    name: String,
    token: String,
}

fn case(name: impl Into<String>, token: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        token: token.into(),
    }
}

/// Sends each case to `GET /api/machines/{id}` and asserts `status` with `code` in the Defender
/// error body (and the `Bearer` challenge for a 401).
async fn assert_all_refused(app: &TestApp, cases: Vec<Case>, status: u16, code: &str) {
    let id = machine_id("dc01");
    for Case { name, token } in cases {
        let r = app.get_machine(&token, &id).await;
        assert_eq!(r.status().as_u16(), status, "{name}: {}", r.text());
        if status == 401 {
            assert_eq!(r.headers()["www-authenticate"], "Bearer", "{name}");
        }
        assert_error(r, status, code);
    }
}

/// The emulator's private key, and its public key as an attacker finds it: the JWKS's
/// certificate, and that key in every usual encoding.
fn dev_private_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(DEV_KEY)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(DEV_KEY))
        .expect("the development key")
}

fn public_key_encodings() -> Vec<(&'static str, Vec<u8>)> {
    let public = dev_private_key().to_public_key();
    let keys = Keys::development();
    let spki_pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    let pkcs1_pem = public.to_pkcs1_pem(LineEnding::LF).unwrap();
    vec![
        ("SPKI PEM", spki_pem.clone().into_bytes()),
        (
            "SPKI PEM, CRLF",
            spki_pem.replace('\n', "\r\n").into_bytes(),
        ),
        ("PKCS#1 PEM", pkcs1_pem.into_bytes()),
        ("SPKI DER", public.to_public_key_der().unwrap().into_vec()),
        ("PKCS#1 DER", public.to_pkcs1_der().unwrap().into_vec()),
        ("x5c text", keys.x5c.clone().into_bytes()),
        ("JWKS n", keys.n.clone().into_bytes()),
    ]
}

#[tokio::test]
async fn unsigned_tokens_are_refused_in_every_spelling_of_alg_none() {
    let app = spawn_app().await;
    let genuine = app.admin_token();
    let (header, claims) = parts(&genuine);
    let real_signature = genuine.rsplit('.').next().unwrap().to_owned();
    let mut cases = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = header.clone();
        h["alg"] = alg.into();
        let unsigned = jws(&h, &claims, "");
        cases.push(case(
            format!("alg {alg}, empty signature"),
            unsigned.clone(),
        ));
        cases.push(case(
            format!("alg {alg}, no signature segment"),
            unsigned.trim_end_matches('.'),
        ));
        cases.push(case(
            format!("alg {alg}, the genuine signature kept"),
            jws(&h, &claims, &real_signature),
        ));
    }
    assert_all_refused(&app, cases, 401, "Unauthorized").await;
}

#[tokio::test]
async fn hmac_tokens_keyed_with_the_public_key_are_refused() {
    let app = spawn_app().await;
    let (header, claims) = parts(&app.admin_token());
    let mut cases = Vec::new();
    for (encoding, secret) in public_key_encodings() {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let mut h = header.clone();
            h["alg"] = format!("{alg:?}").into();
            let key = EncodingKey::from_secret(&secret);
            cases.push(case(
                format!("{alg:?} keyed with the {encoding}"),
                signed(&h, &claims, &key, alg),
            ));
        }
    }
    assert_all_refused(&app, cases, 401, "Unauthorized").await;
}

#[tokio::test]
async fn tokens_signed_by_another_key_are_refused_whatever_key_their_header_points_to() {
    let app = spawn_app().await;
    let (header, claims) = parts(&app.admin_token());
    let other = EncodingKey::from_rsa_pem(OTHER_KEY.as_bytes()).unwrap();
    let theirs = Keys::from_pem(OTHER_KEY).unwrap();
    let with = |extra: Value| {
        let mut h = header.clone();
        if let (Some(h), Value::Object(extra)) = (h.as_object_mut(), extra) {
            h.extend(extra);
        }
        signed(&h, &claims, &other, Algorithm::RS256)
    };
    let jwk = json!({"kty": "RSA", "use": "sig", "kid": theirs.kid, "n": theirs.n, "e": theirs.e});
    let cases = vec![
        case("the emulator's kid (and x5t)", with(json!({}))),
        case("PS256 with the emulator's kid", {
            let mut h = header.clone();
            h["alg"] = "PS256".into();
            signed(&h, &claims, &other, Algorithm::PS256)
        }),
        case("an embedded jwk", with(json!({"jwk": jwk}))),
        case(
            "a jku to the attacker's keys",
            with(json!({"jku": "https://attacker.example/discovery/keys"})),
        ),
        case(
            "an x5u to the attacker's certificate",
            with(json!({"x5u": "https://attacker.example/cert.pem"})),
        ),
        case(
            "an x5c with the attacker's certificate",
            with(json!({"x5c": [theirs.x5c], "x5t": theirs.kid})),
        ),
        case("the attacker's own kid", with(json!({"kid": theirs.kid}))),
    ];
    assert_all_refused(&app, cases, 401, "Unauthorized").await;
}

#[tokio::test]
async fn broken_encodings_are_refused() {
    let app = spawn_app().await;
    let genuine = app.admin_token();
    let (header, claims) = parts(&genuine);
    let segments: Vec<&str> = genuine.split('.').collect();
    let (h, p, s) = (segments[0], segments[1], segments[2]);
    let mut edited = claims.clone();
    edited["roles"] = json!(["Machine.Offboard"]);
    let cases = vec![
        case("two segments", format!("{h}.{p}")),
        case("four segments", format!("{genuine}.{s}")),
        case("five segments", format!("{h}.{p}.{s}.{p}.{s}")),
        case("an empty header", format!(".{p}.{s}")),
        case("an empty payload", format!("{h}..{s}")),
        case("an empty signature", format!("{h}.{p}.")),
        case("a header that is not base64url", format!("{h}!.{p}.{s}")),
        case("a payload that is not base64url", format!("{h}.{p}*.{s}")),
        case("a signature that is not base64url", format!("{h}.{p}.{s}$")),
        case("padded base64", format!("{h}==.{p}.{s}")),
        case(
            "a header that is not JSON",
            format!("{}.{p}.{s}", b64("{alg: RS256")),
        ),
        case(
            "a payload that is not JSON",
            format!("{h}.{}.{s}", b64("roles=all")),
        ),
        case(
            "a payload that is a JSON array",
            format!("{h}.{}.{s}", b64("[]")),
        ),
        case("the header without alg", {
            let mut no_alg = header.clone();
            no_alg.as_object_mut().unwrap().remove("alg");
            jws(&no_alg, &claims, s)
        }),
        case(
            "edited claims under the genuine signature",
            jws(&header, &edited, s),
        ),
        case("a signature with one bit flipped", {
            let mut bytes =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s)
                    .unwrap();
            bytes[10] ^= 1;
            format!("{h}.{p}.{}", b64(bytes))
        }),
        case("a token with spaces inside", format!("{h}. {p}.{s}")),
    ];
    assert_all_refused(&app, cases, 401, "Unauthorized").await;
}

#[tokio::test]
async fn stale_misissued_and_misaddressed_tokens_are_refused() {
    let app = spawn_app().await;
    let genuine = app.admin_token();
    let now = app.emulator.now().unix_timestamp();
    let other_tenant = fresh_tenant();
    let edit = |f: &dyn Fn(&mut Value)| resign(&genuine, f);
    let tenant_b = app.tenant_token(&other_tenant);
    let cases = vec![
        case(
            "expired a second ago",
            edit(&|c| c["exp"] = (now - 1).into()),
        ),
        case("expiring now", edit(&|c| c["exp"] = now.into())),
        case(
            "not valid for an hour",
            edit(&|c| c["nbf"] = (now + 3600).into()),
        ),
        case(
            "exp as a string",
            edit(&|c| c["exp"] = (now + 3600).to_string().into()),
        ),
        case(
            "no exp",
            edit(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        case(
            "an issuer of another tenant",
            edit(&|c| {
                c["iss"] = format!("https://sts.windows.net/{other_tenant}/").into();
            }),
        ),
        case(
            "a v2 issuer of another tenant",
            edit(&|c| {
                c["iss"] = format!("https://login.microsoftonline.com/{other_tenant}/v2.0").into();
            }),
        ),
        case(
            "an issuer without its trailing slash",
            edit(&|c| {
                let iss = c["iss"].as_str().unwrap().trim_end_matches('/').to_owned();
                c["iss"] = iss.into();
            }),
        ),
        case(
            "an attacker's issuer",
            edit(&|c| c["iss"] = "https://attacker.example/".into()),
        ),
        case(
            "a tid not matching the issuer",
            edit(&|c| c["tid"] = other_tenant.clone().into()),
        ),
        case(
            "no tid",
            edit(&|c| {
                c.as_object_mut().unwrap().remove("tid");
            }),
        ),
        case(
            "another tenant's token relabelled with this tenant's tid",
            resign(&tenant_b, |c| {
                c["tid"] = defender_mock::dev::TENANT_ID.into();
            }),
        ),
        case(
            "an audience list",
            edit(&|c| {
                c["aud"] = json!([defender_mock::dev::MDE_AUDIENCE]);
            }),
        ),
        case(
            "roles that are not a list",
            edit(&|c| c["roles"] = "Machine.Read.All".into()),
        ),
        case("a critical header extension", {
            let (mut h, c) = parts(&genuine);
            h["crit"] = json!(["exp"]);
            let key = EncodingKey::from_rsa_pem(DEV_KEY.as_bytes()).unwrap();
            signed(&h, &c, &key, Algorithm::RS256)
        }),
    ];
    assert_all_refused(&app, cases, 401, "Unauthorized").await;
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_verification() {
    let app = spawn_app().await;
    let genuine = app.admin_token();
    let many_roles: Vec<String> = (0..100_000).map(|i| format!("Machine.Role{i}")).collect();
    let cases = vec![
        case(
            "a 17 KiB claim",
            resign(&genuine, |c| c["pad"] = "x".repeat(17 * 1024).into()),
        ),
        case(
            "100,000 roles",
            resign(&genuine, |c| c["roles"] = json!(many_roles)),
        ),
    ];
    for c in &cases {
        assert!(c.token.len() > 16 * 1024, "{}", c.name);
    }
    let id = machine_id("dc01");
    for Case { name, token } in cases {
        let r = app.get_machine(&token, &id).await;
        assert_eq!(r.status(), 401, "{name}: {}", r.text());
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{name}");
        assert_error(r, 401, "Unauthorized");
    }
    // Just under the cap, a genuine token still works.
    let under = resign(&genuine, |c| c["pad"] = "x".repeat(10 * 1024).into());
    assert_eq!(app.get_machine(&under, &id).await.status(), 200);
}

#[tokio::test]
async fn genuine_tokens_without_the_audience_or_the_role_are_403() {
    let app = spawn_app().await;
    let genuine = app.admin_token();
    let read_only = app.token(&["Machine.Read.All"]);
    let id = machine_id("fin-lt-0187");
    let cases = [
        (
            "another API's audience",
            resign(&genuine, |c| {
                c["aud"] = "https://graph.microsoft.com".into()
            }),
            "isolate",
        ),
        (
            "no audience",
            resign(&genuine, |c| c["aud"] = "".into()),
            "isolate",
        ),
        ("read-only roles on an action", read_only.clone(), "isolate"),
        (
            "a role spelled in another case",
            resign(&read_only, |c| c["roles"] = json!(["machine.isolate"])),
            "isolate",
        ),
        (
            "no roles",
            app.token_with(TokenSpec {
                ttl_secs: 3600,
                ..TokenSpec::default()
            }),
            "isolate",
        ),
    ];
    for (name, token, action) in cases {
        let r = app.act(&token, &id, action, json!({})).await;
        assert_eq!(r.status(), 403, "{name}: {}", r.text());
        assert_error(r, 403, "Forbidden");
    }
}
