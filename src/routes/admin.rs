//! The control plane under `/_mock/` (never `/api/`): health, the clock, per-tenant state and
//! behaviour switches. The test harness's side door, not part of the API: open, unless
//! `--admin-token` is set, and then every route but `/_mock/health` needs that token.

use std::collections::HashMap;

use axum::{
    extract::{Query, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{from_fn_with_state, Next},
    response::{IntoResponse, Response},
    routing::{get, patch, post, put, MethodRouter},
    Json, Router,
};
use serde_json::{json, Value};

use super::extract::{JsonBody, PathParam};
use crate::{
    auth::permissions::dev,
    error::{ApiError, Code, Result},
    model::{ActionStatus, ActionType, TenantId, Timestamp},
    package,
    state::AppState,
    store::{DuplicatePolicy, Outcome, SimulationOverride, Visibility, MAX_DELAY_SECONDS},
    throttle,
};

/// Ten years: far more than any test needs, and far from overflowing the clock.
const MAX_ADVANCE_SECS: f64 = 10.0 * 365.0 * 86_400.0;

/// A route's method router, built when the router is.
pub(super) type Handler = fn() -> MethodRouter<AppState>;

/// Every control-plane route table: this module's, and one per control-plane module (the
/// OpenAPI document is checked against them).
pub(super) static TABLES: &[&[(&str, Handler)]] = &[
    ROUTES,
    super::events::ROUTES,
    super::alerts::ROUTES,
    super::console::ROUTES,
    super::seeding::ROUTES,
    super::devtoken::ROUTES,
    super::journal::ROUTES,
    super::faults::ROUTES,
];

/// Every control-plane route of every table.
#[cfg(test)]
pub(super) fn routes() -> impl Iterator<Item = &'static (&'static str, Handler)> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// This module's control-plane routes.
static ROUTES: &[(&str, Handler)] = &[
    ("/_mock/health", || get(health)),
    ("/_mock/openapi.json", || get(openapi)),
    ("/_mock/clock", || get(clock)),
    ("/_mock/clock/advance", || post(advance_clock)),
    ("/_mock/clock/freeze", || post(freeze_clock)),
    ("/_mock/clock/unfreeze", || post(unfreeze_clock)),
    ("/_mock/machines/{id}", || get(machine_state)),
    ("/_mock/machines/{id}/simulation", || patch(set_simulation)),
    ("/_mock/packages/{tenant}/{file}", || get(download_package)),
    ("/_mock/reset", || post(reset)),
    ("/_mock/tenants/{tid}/duplicate-policy", || {
        put(set_duplicate_policy)
    }),
    ("/_mock/tenants/{tid}/rate-limits", || {
        get(rate_limits).put(set_rate_limits)
    }),
];

/// The control plane's routes, behind the admin token when `--admin-token` set one.
pub(super) fn router(state: &AppState, tables: &[&[(&str, Handler)]]) -> Router<AppState> {
    let routes = tables
        .iter()
        .flat_map(|t| t.iter())
        .fold(Router::new(), |r, (path, handler)| r.route(path, handler()));
    // route_layer: unknown `/_mock/` paths still get the JSON 404, token or not.
    routes.route_layer(from_fn_with_state(state.clone(), admin_guard))
}

/// The control-plane routes open without the admin token: liveness probes carry none, and a
/// browser cannot send one when it navigates to the console (the page and its assets hold no
/// data; the page sends the token, from `#adminToken=`, on every call it makes).
const OPEN_ROUTES: &[&str] = &[
    "/_mock/health",
    "/",
    "/_mock/ui",
    "/_mock/ui/console.js",
    "/_mock/ui/console.css",
];

/// 401 (Defender body) unless the request carries `Authorization: Bearer <admin token>`, when
/// the server has one; `/_mock/health` is always open.
async fn admin_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = state.admin_token() else {
        return next.run(req).await;
    };
    if OPEN_ROUTES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(t) if token.admits(t) => next.run(req).await,
        Some(_) => ApiError::Unauthorized(
            "the control plane needs the admin token (--admin-token), and this is not it.".into(),
        )
        .into_response(),
        None => ApiError::Unauthorized(
            "the control plane needs the admin token: send `Authorization: Bearer <--admin-token>`."
                .into(),
        )
        .into_response(),
    }
}

/// The OpenAPI 3.1 description of the control plane, the API and the identity endpoints, in
/// fragments: `core.json` is the document, and each other fragment adds its `paths` and
/// `components` (one fragment per module that adds endpoints, so they are written apart).
pub(super) const OPENAPI_FRAGMENTS: &[(&str, &str)] = &[
    ("core.json", include_str!("openapi/core.json")),
    ("events.json", include_str!("openapi/events.json")),
    ("indicators.json", include_str!("openapi/indicators.json")),
    (
        "investigations.json",
        include_str!("openapi/investigations.json"),
    ),
    ("alerts.json", include_str!("openapi/alerts.json")),
    ("companion.json", include_str!("openapi/companion.json")),
    ("console.json", include_str!("openapi/console.json")),
    ("seeding.json", include_str!("openapi/seeding.json")),
    ("journal.json", include_str!("openapi/journal.json")),
];

/// The whole OpenAPI document, merged from its fragments once.
pub(super) fn openapi_document() -> &'static str {
    static DOC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        merge_openapi(OPENAPI_FRAGMENTS).unwrap_or_else(|e| {
            tracing::error!("the OpenAPI document is broken: {e}");
            String::from("{}")
        })
    });
    &DOC
}

/// The fragments merged into one document; an error names a fragment that does not parse or a
/// path or component two fragments both define.
pub(super) fn merge_openapi(fragments: &[(&str, &str)]) -> std::result::Result<String, String> {
    let mut parts = fragments.iter().map(|(name, text)| {
        serde_json::from_str::<Value>(text)
            .map(|v| (*name, v))
            .map_err(|e| format!("{name}: {e}"))
    });
    let (_, mut doc) = parts.next().ok_or("no fragments")??;
    for part in parts {
        let (name, frag) = part?;
        for section in [
            &["paths"][..],
            &["components", "schemas"],
            &["components", "responses"],
        ] {
            let Some(add) = section.iter().try_fold(&frag, |v, k| v.get(*k)) else {
                continue;
            };
            let add = add
                .as_object()
                .ok_or(format!("{name}: {section:?} is not an object"))?;
            let mut target = &mut doc;
            for k in section {
                target = target
                    .as_object_mut()
                    .ok_or(format!("core.json: {k} is not an object"))?
                    .entry(*k)
                    .or_insert_with(|| json!({}));
            }
            let target = target
                .as_object_mut()
                .ok_or(format!("core.json: {section:?} is not an object"))?;
            for (k, v) in add {
                if target.insert(k.clone(), v.clone()).is_some() {
                    return Err(format!("{name}: {k} is defined twice"));
                }
            }
        }
    }
    serde_json::to_string(&doc).map_err(|e| e.to_string())
}

async fn openapi() -> Response {
    let mut res = openapi_document().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Query parameters, with a Defender error (not axum's plain text) when they do not parse.
pub(super) type Params =
    std::result::Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

pub(super) fn params(q: Params) -> Result<HashMap<String, String>> {
    q.map(|Query(m)| m).map_err(|e| {
        ApiError::bad_request(Code::InvalidInput, format!("Invalid query string: {e}"))
    })
}

async fn health(State(state): State<AppState>) -> Response {
    Json(json!({"status": "Healthy", "now": Timestamp(state.clock().now())})).into_response()
}

async fn clock(State(state): State<AppState>) -> Response {
    clock_json(&state)
}

fn clock_json(state: &AppState) -> Response {
    Json(json!({"now": Timestamp(state.clock().now()), "mode": state.clock().mode()}))
        .into_response()
}

/// `POST /_mock/clock/freeze`: the clock stops where it is and moves only when advanced.
async fn freeze_clock(State(state): State<AppState>) -> Response {
    state.clock().freeze();
    clock_json(&state)
}

/// `POST /_mock/clock/unfreeze`: the clock runs with wall time again, from where it stood.
async fn unfreeze_clock(State(state): State<AppState>) -> Response {
    state.clock().unfreeze();
    clock_json(&state)
}

/// `POST /_mock/clock/advance {"seconds": N}`: N ≥ 0 (fractions allowed); the clock never moves back.
async fn advance_clock(State(state): State<AppState>, body: JsonBody) -> Result<Response> {
    let obj = body.object()?;
    let secs = match obj.get("seconds") {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("seconds")),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ApiError::invalid_input(&v.to_string()))?,
    };
    if !(0.0..=MAX_ADVANCE_SECS).contains(&secs) {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input {secs}: seconds must be between 0 and {MAX_ADVANCE_SECS}"),
        ));
    }
    let now = state
        .clock()
        .advance(time::Duration::seconds_f64(secs))
        .map_err(|e| {
            ApiError::bad_request(Code::InvalidInput, format!("Invalid input {secs}: {e}"))
        })?;
    // Every transition that fell due happens now, so the live state stream shows it without
    // waiting for a read.
    state.store().settle_all(now);
    Ok(Json(json!({"now": Timestamp(now)})).into_response())
}

/// The emulator-side state of a machine (isolation, restriction, simulation), which the Machine
/// entity does not show. `?tenant=` picks the tenant (default: the development tenant).
async fn machine_state(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    q: Params,
) -> Result<Response> {
    let q = params(q)?;
    // A read: an unknown tenant is shown as fresh, and not created.
    let tenant = state.store().peek(&tenant_of(&q)?);
    let key = tenant.resolve(&id, &Default::default())?;
    let view = tenant.view(key, state.clock().now());
    Ok(Json(view).into_response())
}

/// One piece of state `POST /_mock/reset` puts back: for one tenant (`Some`) or for all (`None`),
/// at emulator time `now`.
pub(super) type ResetHook = fn(&AppState, Option<&TenantId>, Timestamp);

/// Everything a reset puts back, one line per component. Alerts, indicators, investigations, the
/// request journal and fault rules add their line here (each clears its own store).
pub(super) static RESET_HOOKS: &[(&str, ResetHook)] = &[
    // Machines (seeded ones included), actions and the duplicate-policy override.
    ("machines and actions", |state, tenant, now| match tenant {
        Some(t) => {
            state.store().reset(t, now);
        }
        None => state.store().reset_all(now),
    }),
    // Throttle counters and rate-limit overrides.
    ("rate limits", |state, tenant, _| {
        state.limiter().reset(tenant)
    }),
    // Alerts, indicators and investigations live in the tenant: the first hook forgets them.
    // The request journal: every entry, or the tenant's.
    ("journal", |state, tenant, _| state.journal().clear(tenant)),
    // Fault rules: all of them, or those matching only this tenant.
    ("faults", |state, tenant, _| state.faults().clear(tenant)),
];

/// `POST /_mock/reset[?tenant=T][&clock=true]`: puts one tenant's state, or every tenant's, back
/// to the fixtures (every `RESET_HOOKS` line), and with `clock=true` the clock back to its start.
async fn reset(State(state): State<AppState>, q: Params) -> Result<StatusCode> {
    let q = params(q)?;
    let tenant = q.get("tenant").map(|t| tenant_id(t)).transpose()?;
    let clock = match q.get("clock").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                Code::InvalidInput,
                format!("Invalid input {other:?}: clock is true or false"),
            ))
        }
    };
    if clock {
        state.clock().reset();
    }
    let now = Timestamp(state.clock().now());
    for (_, hook) in RESET_HOOKS {
        hook(&state, tenant.as_ref(), now);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /_mock/tenants/{tid}/duplicate-policy {"policy": "reject"|"return-existing"|"allow"|null}`.
async fn set_duplicate_policy(
    State(state): State<AppState>,
    PathParam(tid): PathParam,
    body: JsonBody,
) -> Result<Response> {
    let obj = body.object()?;
    let policy = match obj.get("policy") {
        None => return Err(ApiError::missing_parameter("policy")),
        Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<DuplicatePolicy>(v.clone())
                .map_err(|_| ApiError::invalid_input(&v.to_string()))?,
        ),
    };
    let tid = tenant_id(&tid)?;
    let tenant = state.store().tenant(&tid);
    tenant.set_duplicate_policy(policy);
    Ok(Json(json!({"tenant": tid, "policy": tenant.duplicate_policy()})).into_response())
}

async fn rate_limits(State(state): State<AppState>, PathParam(tid): PathParam) -> Result<Response> {
    Ok(Json(state.limiter().settings(&tenant_id(&tid)?)).into_response())
}

/// `PUT /_mock/tenants/{tid}/rate-limits {"mode": "documented"|"off", "perMinute": N, "perHour": N}`
/// (`null` restores the server-wide settings).
async fn set_rate_limits(
    State(state): State<AppState>,
    PathParam(tid): PathParam,
    body: JsonBody,
) -> Result<Response> {
    let obj = body.object()?;
    let settings = if obj.is_empty() || obj.get("mode") == Some(&Value::Null) {
        None
    } else {
        let mut merged = serde_json::to_value(throttle::Settings::default())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Value::Object(m) = &mut merged {
            m.extend(obj.clone());
        }
        let settings = serde_json::from_value::<throttle::Settings>(merged).map_err(|e| {
            ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}"))
        })?;
        settings.check().map_err(|e| {
            ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}"))
        })?;
        Some(settings)
    };
    let tid = tenant_id(&tid)?;
    state.limiter().set_tenant(&tid, settings);
    Ok(Json(state.limiter().settings(&tid)).into_response())
}

/// `?tenant=`, or the development tenant.
fn tenant_of(q: &HashMap<String, String>) -> Result<TenantId> {
    tenant_id(q.get("tenant").map_or(dev::TENANT_ID, String::as_str))
}

/// A tenant named by the control plane: a GUID or a domain name (as in tokens), else 400.
pub(super) fn tenant_id(raw: &str) -> Result<TenantId> {
    TenantId::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input {raw:?}: a tenant is a GUID or a domain name"),
        )
    })
}

/// `PATCH /_mock/machines/{id}/simulation[?tenant=T]` with any of `online`,
/// `pickupDelaySeconds`, `completionDelaySeconds`, `outcome`, `sensorOutdated`, and
/// `nextOutcome` (the outcome of the next action only).
async fn set_simulation(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    q: Params,
    body: JsonBody,
) -> Result<Response> {
    let q = params(q)?;
    let mut obj = body.object()?;
    let next: Option<Outcome> = match obj.remove("nextOutcome") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|_| ApiError::invalid_input(&v.to_string()))?,
        ),
    };
    let change: SimulationOverride = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}")))?;
    // Checked before anything is applied: a refused change leaves the machine as it was.
    if let Some((field, v)) = change.out_of_range() {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input {v}: {field} must be at most {MAX_DELAY_SECONDS} (ten years)"),
        ));
    }
    let tenant = state.store().tenant(&tenant_of(&q)?);
    let key = tenant.resolve(&id, &Visibility::All)?;
    let view = tenant.set_simulation(key, change, next, state.clock().now());
    Ok(Json(view).into_response())
}

/// `GET /_mock/packages/{tenant}/{actionId}.zip?se=..&sig=..`: the URL `GetPackageUri` hands out.
async fn download_package(
    State(state): State<AppState>,
    PathParam((tenant, file)): PathParam<(String, String)>,
    q: Params,
) -> Result<Response> {
    let q = params(q)?;
    let (tid, id) = verified_link(&state, &tenant, &file, &q)?;
    let action = state
        .store()
        .peek(&tid)
        .action(id, &Visibility::All, state.clock().now())
        .filter(|a| {
            a.action_type == ActionType::CollectInvestigationPackage
                && a.status == ActionStatus::Succeeded
        })
        .ok_or_else(|| ApiError::action_not_found(&id.to_string()))?;
    let mut res = package::archive(&action).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.zip\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The tenant and action of a package link whose signature and expiry check out, or 403 (404 for
/// a file name that is no action id).
fn verified_link(
    state: &AppState,
    tenant: &str,
    file: &str,
    q: &HashMap<String, String>,
) -> Result<(TenantId, uuid::Uuid)> {
    let forbidden = || ApiError::Forbidden("The package link is invalid or has expired.".into());
    let id = file
        .strip_suffix(".zip")
        .and_then(|i| uuid::Uuid::try_parse(i).ok())
        .ok_or_else(|| ApiError::action_not_found(file))?;
    let expires: i64 = q
        .get("se")
        .and_then(|s| s.parse().ok())
        .ok_or_else(forbidden)?;
    let sig = q.get("sig").ok_or_else(forbidden)?;
    let now = state.clock().now();
    if !package::verify(state.package_key(), tenant, id, expires, sig, now) {
        return Err(forbidden());
    }
    let tid = TenantId::parse(tenant).ok_or_else(forbidden)?;
    Ok((tid, id))
}
