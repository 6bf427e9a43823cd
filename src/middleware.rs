//! The outer middleware: a correlation id per request, the Defender error body (with that id as
//! `target`), one log line per request carrying the same id, panics turned into a 500, and the
//! request journal's entry of each `/api/` and token-endpoint request. `route_context`, inside
//! the router, applies fault rules and tells the journal the route and the ids involved.

use std::{
    any::Any,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use crate::{
    auth::guard::Answered,
    error::{ApiError, Injected},
    faults::{self, Action, DropConnection, Probe},
    identity::entra_timestamp,
    journal::{self, Entry, MAX_BODY_RECORDED, MAX_TEXT},
    model::{TenantId, Timestamp, MAX_BODY_BYTES},
    state::AppState,
    telemetry::REQUEST_LOG,
};

/// Assigns the request id, renders error bodies with it, logs the request, and records it in
/// the journal when it is an API or token-endpoint request.
pub(crate) async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id: &str = request_id().hyphenated().encode_lower(&mut buf);
    // Shared handles, not copies: the path is only formatted if the line is written.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let path = uri.path();
    let started = Instant::now();
    let recording = (state.journal().enabled() && journaled(path)).then(|| {
        let capture = Arc::new(Mutex::new(Capture::default()));
        // A body known to be empty (most GETs) is left as it is: nothing to copy.
        if !http_body::Body::is_end_stream(req.body()) {
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::new(Tee {
                inner: body,
                capture: capture.clone(),
            });
        }
        (
            capture,
            state.clock().now(),
            req.headers().get(header::CONTENT_TYPE).cloned(),
        )
    });
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    if let Some((capture, at, content_type)) = recording {
        let seen = Seen {
            request_id: id,
            method: &method,
            uri: &uri,
            content_type: content_type.as_ref(),
            at,
            latency_us,
        };
        state.journal().record(entry(&seen, &capture, &mut res));
    }
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

/// Whether the journal records requests to `path`: the API and the token endpoints.
fn journaled(path: &str) -> bool {
    // Compared in place: this runs on every request, and must not allocate.
    path.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("/api/"))
        || path.eq_ignore_ascii_case("/api")
        || (path.len() >= 12
            && path
                .get(path.len() - 6..)
                .is_some_and(|t| t.eq_ignore_ascii_case("/token"))
            && path.to_ascii_lowercase().contains("/oauth2/"))
}

/// What the outer middleware saw of a request, for its journal entry.
struct Seen<'a> {
    request_id: &'a str,
    method: &'a Method,
    uri: &'a axum::http::Uri,
    content_type: Option<&'a HeaderValue>,
    at: time::OffsetDateTime,
    latency_us: u64,
}

/// The journal entry of an answered request (its id is the journal's to give).
fn entry(seen: &Seen<'_>, capture: &Mutex<Capture>, res: &mut Response) -> Entry {
    let routed = res.extensions_mut().remove::<Routed>().unwrap_or_default();
    let caller = res.extensions_mut().remove::<Answered>().map(|a| a.0);
    let dropped = res.extensions().get::<DropConnection>().is_some();
    let (body, body_truncated) = {
        let c = capture.lock().unwrap_or_else(|p| p.into_inner());
        (String::from_utf8_lossy(&c.bytes).into_owned(), c.truncated)
    };
    let form = is_form(seen.content_type) || routed.token_endpoint;
    let body = (!body.is_empty()).then(|| masked_body(&body, form, body_truncated));
    let (tenant, app_id, user, permissions) = match caller {
        Some(c) => {
            let user = c.upn().map(str::to_owned);
            (
                Some(c.tenant.as_str().to_owned()),
                Some(c.app_id),
                user,
                c.permissions,
            )
        }
        None if routed.token_endpoint => {
            let raw = capture.lock().unwrap_or_else(|p| p.into_inner());
            let text = String::from_utf8_lossy(&raw.bytes);
            (
                routed.tenant.clone(),
                journal::form_field(&text, "client_id"),
                journal::form_field(&text, "username"),
                Vec::new(),
            )
        }
        None => (None, None, None, Vec::new()),
    };
    let path = journal::truncate(seen.uri.path(), MAX_TEXT).0.to_owned();
    let query = seen.uri.query().map(|q| {
        journal::truncate(&journal::mask_form(q), MAX_TEXT)
            .0
            .to_owned()
    });
    Entry {
        id: 0,
        time: Timestamp(seen.at),
        request_id: seen.request_id.to_owned(),
        method: seen.method.as_str().to_owned(),
        path,
        query,
        route: routed.route,
        status: if dropped { 0 } else { res.status().as_u16() },
        tenant,
        app_id,
        user,
        permissions,
        machine_id: routed.machine,
        action_id: routed.action,
        latency_ms: seen.latency_us as f64 / 1000.0,
        fault_rule: routed.fault,
        request_body: body,
        body_truncated,
    }
}

fn is_form(content_type: Option<&HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// A recorded body with every secret masked: form fields by name, JSON keys by name; a body
/// that is neither (or JSON cut short) and names a secret field is withheld whole.
fn masked_body(text: &str, form: bool, truncated: bool) -> String {
    if form {
        return journal::mask_form(text);
    }
    if !truncated {
        if let Some(masked) = journal::mask_json(text) {
            return journal::truncate(&masked, MAX_BODY_RECORDED).0.to_owned();
        }
    }
    let lower = text.to_ascii_lowercase();
    if ["secret", "password", "assertion", "token"]
        .iter()
        .any(|s| lower.contains(s))
    {
        return "[withheld: the body names a secret field]".to_owned();
    }
    text.to_owned()
}

/// The first [`MAX_BODY_RECORDED`] bytes of a request body, as the handler reads it.
#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

/// A request body that copies what passes through into its [`Capture`]: the handler reads it as
/// before (limits and timeouts included), and nothing is read that it does not read.
struct Tee {
    inner: Body,
    capture: Arc<Mutex<Capture>>,
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut c = self.capture.lock().unwrap_or_else(|p| p.into_inner());
                let room = MAX_BODY_RECORDED.saturating_sub(c.bytes.len());
                c.bytes.extend_from_slice(&data[..room.min(data.len())]);
                c.truncated |= data.len() > room;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Response extension from [`route_context`]: what routing knew of the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routed {
    route: Option<String>,
    machine: Option<String>,
    action: Option<String>,
    /// The tenant of a token endpoint's path.
    tenant: Option<String>,
    token_endpoint: bool,
    fault: Option<String>,
}

/// How long a faulted request's body may take to arrive before it is answered anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Inside the router, on the API and token routes: applies the first fault rule that picks the
/// request, and leaves [`Routed`] on the response for the journal.
pub(crate) async fn route_context(
    State(state): State<AppState>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let template = matched.as_str();
    let mut routed = ids_of(template, req.uri().path());
    routed.route = Some(template.to_owned());
    let (req, rule) = if state.faults().active() {
        pick_fault(&state, &routed, req).await
    } else {
        (req, None)
    };
    let mut res = match rule.as_ref().map(|r| &r.action) {
        None => next.run(req).await,
        Some(Action::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            next.run(req).await
        }
        Some(Action::Error {
            status,
            code,
            message,
            retry_after,
        }) => {
            drain(req).await;
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let id = rule.as_ref().map_or("", |r| r.id.as_str());
            let message = message
                .clone()
                .unwrap_or_else(|| format!("Fault injected by the emulator (rule {id})."));
            let (code, entra) = if routed.token_endpoint {
                let (error, aadsts) = faults::entra_code(status);
                let stamp = entra_timestamp(state.clock().now());
                (
                    code.clone().unwrap_or_else(|| error.to_owned()),
                    Some((aadsts, stamp)),
                )
            } else {
                let code = code.clone();
                (
                    code.unwrap_or_else(|| faults::defender_code(status).to_owned()),
                    None,
                )
            };
            ApiError::Injected(Box::new(Injected {
                status,
                code,
                message,
                retry_after_secs: *retry_after,
                entra,
            }))
            .into_response()
        }
        Some(Action::Drop { mode }) => {
            drain(req).await;
            let mut res = ApiError::Unavailable(
                "The connection was dropped by a fault rule (over TCP, no response is sent)."
                    .into(),
            )
            .into_response();
            res.extensions_mut().insert(DropConnection(*mode));
            res
        }
    };
    routed.fault = rule.map(|r| r.id.clone());
    if state.journal().enabled() {
        created_ids(&mut routed, &mut res).await;
        res.extensions_mut().insert(routed);
    }
    res
}

/// The machine, action or tenant a route's `{id}`/`{tenant}` segment names in `path`.
fn ids_of(template: &str, path: &str) -> Routed {
    let mut routed = Routed {
        token_endpoint: template.contains("/oauth2/"),
        ..Routed::default()
    };
    if !template.contains('{') {
        return routed;
    }
    for (t, p) in template.split('/').zip(path.split('/')) {
        match t {
            "{id}" if template.starts_with("/api/machines/") => {
                routed.machine = Some(p.to_ascii_lowercase());
            }
            "{id}" if template.starts_with("/api/machineactions/") => {
                routed.action = Some(p.to_ascii_lowercase());
            }
            "{tenant}" => {
                let canonical = TenantId::parse(p).map(|t| t.as_str().to_owned());
                routed.tenant = Some(canonical.unwrap_or_else(|| p.to_ascii_lowercase()));
            }
            _ => {}
        }
    }
    routed
}

/// A created action's id and machine id, read from the 201 body of a machine action.
async fn created_ids(routed: &mut Routed, res: &mut Response) {
    if res.status() != StatusCode::CREATED || routed.machine.is_none() {
        return;
    }
    let body = std::mem::take(res.body_mut());
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return;
    };
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        if let Some(id) = v.get("id").and_then(|x| x.as_str()) {
            routed.action = Some(id.to_owned());
        }
        if let Some(m) = v.get("machineId").and_then(|x| x.as_str()) {
            routed.machine = Some(m.to_owned());
        }
    }
    *res.body_mut() = Body::from(bytes);
}

/// The rule (if any) that picks this request, and the request (rebuilt if its body was read
/// to learn the calling app of a token request).
async fn pick_fault(
    state: &AppState,
    routed: &Routed,
    req: Request,
) -> (Request, Option<Arc<faults::Rule>>) {
    let (mut tenant, mut app) = (routed.tenant.clone(), None);
    let mut req = req;
    if routed.token_endpoint {
        if state.faults().wants_app() {
            let (r, client) = client_id(req).await;
            req = r;
            app = client;
        }
    } else if let Some((t, a)) = state.authenticator().peek(req.headers()) {
        (tenant, app) = (Some(t), Some(a));
    }
    let rule = {
        let path = req.uri().path();
        let probe = Probe {
            method: req.method().as_str(),
            path,
            route: routed.route.as_deref(),
            tenant: tenant.as_deref(),
            machine: routed.machine.as_deref(),
            app: app.as_deref(),
        };
        state.faults().pick(&probe)
    };
    (req, rule)
}

/// The `client_id` of a token request's form body (read when its length is declared and within
/// the limit; the request is rebuilt with the same bytes).
async fn client_id(req: Request) -> (Request, Option<String>) {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_none_or(|n| n > MAX_BODY_BYTES) {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES));
    let bytes = match read.await {
        Ok(Ok(b)) => b,
        _ => Bytes::new(),
    };
    let app = journal::form_field(&String::from_utf8_lossy(&bytes), "client_id");
    (Request::from_parts(parts, Body::from(bytes)), app)
}

/// Reads (and drops) a faulted request's body, so the journal sees it and a keep-alive
/// connection stays usable.
async fn drain(req: Request) {
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, body).await;
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
