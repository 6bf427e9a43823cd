//! The outer middleware: a correlation id per request, the Defender error body (with that id as
//! `target`), one log line per request carrying the same id, and panics turned into a 500.

use std::{
    any::Any,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Instant,
};

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderName, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use crate::{error::ApiError, telemetry::REQUEST_LOG};

/// Assigns the request id, renders error bodies with it, and logs the request.
pub(crate) async fn request_context(req: Request, next: Next) -> Response {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id: &str = request_id().hyphenated().encode_lower(&mut buf);
    // Shared handles, not copies: the path is only formatted if the line is written.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let path = uri.path();
    let started = Instant::now();
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    if let Some(err) = res.extensions_mut().remove::<Arc<ApiError>>() {
        res.headers_mut().remove(header::CONTENT_LENGTH);
        *res.body_mut() = Body::from(err.body(id));
        if let ApiError::Internal(detail) = err.as_ref() {
            tracing::error!(target: REQUEST_LOG, request_id = %id, %method, %path, status, latency_us, error.detail = %detail, "request failed");
        } else {
            tracing::info!(target: REQUEST_LOG, request_id = %id, %method, %path, status, latency_us, error.code = err.code(), error.reason = %err, "request refused");
        }
    } else {
        tracing::info!(target: REQUEST_LOG, request_id = %id, %method, %path, status, latency_us, "request");
    }
    if let Ok(v) = HeaderValue::from_str(id) {
        res.headers_mut()
            .insert(HeaderName::from_static("request-id"), v);
    }
    res
}

/// A fresh request id: a version-4 GUID, like the `request-id` Defender sends, without a
/// `getrandom` call per request. A 128-bit key is drawn from the OS once per process; the id of
/// the process's `n`-th request is `n` through a keyed bijective mixer per half. The low half
/// (less its two variant bits) is a bijection of `n`, so no two ids of a process are equal (until
/// 2^62 requests), and the key makes ids unrelated across processes.
fn request_id() -> Uuid {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (k_hi, k_lo) = *KEY.get_or_init(|| Uuid::new_v4().as_u64_pair());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hi = mix(n ^ k_hi, u64::MAX);
    let lo = mix(n ^ k_lo, LOW_62);
    let uuid = Uuid::from_u64_pair(hi, lo);
    uuid::Builder::from_bytes(*uuid.as_bytes())
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Random)
        .into_uuid()
}

/// The bits of the low half the UUID variant leaves alone.
const LOW_62: u64 = (1 << 62) - 1;

/// A bijection of `[0, mask]` for `mask = 2^k - 1`: splitmix64's finaliser (xor-shifts and odd
/// multipliers, each invertible modulo 2^k) with every step kept to `k` bits.
fn mix(mut x: u64, mask: u64) -> u64 {
    x &= mask;
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & mask;
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb) & mask;
    x ^ (x >> 31)
}

/// `CatchPanicLayer` handler: a panic is a bug, but the client still gets a Defender 500.
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn request_ids_are_distinct_random_looking_v4_guids() {
        let ids: Vec<Uuid> = (0..200_000).map(|_| request_id()).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        for id in &ids[..100] {
            assert_eq!(id.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
            let text = id.hyphenated().to_string();
            assert_eq!(Uuid::parse_str(&text).unwrap(), *id);
        }
        // Consecutive ids share no prefix a reader would notice (as random GUIDs do not).
        let firsts: HashSet<u32> = ids[..1000].iter().map(|u| u.as_fields().0).collect();
        assert!(firsts.len() > 990, "{} distinct first groups", firsts.len());
    }

    #[test]
    fn the_mixer_stays_in_its_range_without_collisions() {
        // Injective on a sample spanning the range, and inside it.
        let xs = (0..100_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & LOW_62);
        let ys: HashSet<u64> = xs.map(|x| mix(x, LOW_62)).collect();
        assert_eq!(ys.len(), 100_000);
        assert!(ys.iter().all(|y| *y <= LOW_62));
    }
}
