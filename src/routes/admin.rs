//! The control plane under `/_mock/` (never `/api/`): health, the clock, per-tenant state and
//! behaviour switches. No auth: it is the test harness's side door, not part of the API.

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde_json::{json, Value};

use super::extract::{JsonBody, PathParam};
use crate::{
    auth::token::DEV_TENANT_ID,
    error::{ApiError, Code, Result},
    model::Timestamp,
    state::AppState,
    store::DuplicatePolicy,
    throttle,
};

/// Ten years: far more than any test needs, and far from overflowing the clock.
const MAX_ADVANCE_SECS: f64 = 10.0 * 365.0 * 86_400.0;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/_mock/health", get(health))
        .route("/_mock/clock", get(clock))
        .route("/_mock/clock/advance", post(advance_clock))
        .route("/_mock/machines/{id}", get(machine_state))
        .route("/_mock/reset", post(reset))
        .route(
            "/_mock/tenants/{tid}/duplicate-policy",
            put(set_duplicate_policy),
        )
        .route(
            "/_mock/tenants/{tid}/rate-limits",
            get(rate_limits).put(set_rate_limits),
        )
}

/// Query parameters, with a Defender error (not axum's plain text) when they do not parse.
type Params =
    std::result::Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn params(q: Params) -> Result<HashMap<String, String>> {
    q.map(|Query(m)| m).map_err(|e| {
        ApiError::bad_request(Code::InvalidInput, format!("Invalid query string: {e}"))
    })
}

async fn health(State(state): State<AppState>) -> Response {
    Json(json!({"status": "Healthy", "now": Timestamp(state.clock.now())})).into_response()
}

async fn clock(State(state): State<AppState>) -> Response {
    Json(json!({"now": Timestamp(state.clock.now()), "mode": state.clock.mode()})).into_response()
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
    state.clock.advance(time::Duration::seconds_f64(secs));
    Ok(Json(json!({"now": Timestamp(state.clock.now())})).into_response())
}

/// The emulator-side state of a machine (isolation, restriction, simulation), which the Machine
/// entity does not show. `?tenant=` picks the tenant (default: the development tenant).
async fn machine_state(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    q: Params,
) -> Result<Response> {
    let q = params(q)?;
    let tenant = state
        .store
        .tenant(q.get("tenant").map_or(DEV_TENANT_ID, String::as_str));
    let key = tenant.resolve(&id, &Default::default())?;
    let view = tenant
        .view(&key, state.clock.now())
        .ok_or_else(|| ApiError::machine_not_found(&id))?;
    Ok(Json(view).into_response())
}

/// `POST /_mock/reset[?tenant=T]`: forget one tenant's state, or every tenant's.
async fn reset(State(state): State<AppState>, q: Params) -> Result<StatusCode> {
    match params(q)?.get("tenant") {
        Some(t) => {
            state.store.reset(t);
        }
        None => state.store.reset_all(),
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
    let tenant = state.store.tenant(&tid);
    tenant.set_duplicate_policy(policy);
    Ok(Json(json!({"tenant": tid, "policy": tenant.duplicate_policy()})).into_response())
}

async fn rate_limits(State(state): State<AppState>, PathParam(tid): PathParam) -> Response {
    Json(state.limiter.settings(&tid)).into_response()
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
        Some(
            serde_json::from_value::<throttle::Settings>(merged).map_err(|e| {
                ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}"))
            })?,
        )
    };
    state.limiter.set_tenant(&tid, settings);
    Ok(Json(state.limiter.settings(&tid)).into_response())
}
