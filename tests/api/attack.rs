//! The attack suite (issue 12 item 16), against the real router: forged, broken, stale and
//! oversized bearer tokens at the API (`bearer`), and attacks on the token endpoints: client
//! assertions (`assertions`) and request bodies (`bodies`). Each case names itself in its failure.
//!
//! Also item 3 for 403 and 429 (`keep_alive`). Covered elsewhere, not repeated here: keep-alive
//! after a 401 (src/regression.rs), the token cache's bounds (src/auth/tests.rs), time
//! overflow (src/regression.rs, src/clock.rs), control-plane reads (src/regression.rs), the TLS CA
//! folder (tests/api/tls.rs, src/tls/tests.rs), shutdown (tests/api/cli.rs), rate-limit override
//! bounds (src/regression.rs).

mod assertions;
mod bearer;
mod bodies;
mod keep_alive;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::Value;

/// Base64url without padding, as JWS segments are written.
fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims.signature` from JSON values and a ready signature segment.
fn jws(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

/// The JSON header and claims of a compact JWS.
fn parts(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let mut json = || {
        let segment = segments.next().expect("a segment");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
    };
    (json(), json())
}

/// `header.claims` signed with `key` by `alg` (any header: `jsonwebtoken::encode` would rewrite it).
fn signed(
    header: &Value,
    claims: &Value,
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}
