//! `/_mock/requests`: the request journal read (with filters), counted and cleared.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json,
};
use serde_json::json;

use super::admin::{params, tenant_id, Handler, Params};
use crate::{
    error::{ApiError, Code, Result},
    journal::Filter,
    state::AppState,
};

/// The journal's control-plane routes.
pub(super) static ROUTES: &[(&str, Handler)] = &[
    ("/_mock/requests", || get(list).delete(clear)),
    ("/_mock/requests/count", || get(count)),
];

fn filter(q: Params) -> Result<Filter> {
    Filter::parse(&params(q)?).map_err(|e| ApiError::bad_request(Code::InvalidInput, e))
}

/// `GET /_mock/requests?<filters>`: `{"value": [entry, ...]}`, oldest first.
async fn list(State(state): State<AppState>, q: Params) -> Result<Response> {
    let entries = state.journal().select(&filter(q)?);
    Ok(Json(json!({"value": entries})).into_response())
}

/// `GET /_mock/requests/count?<filters>`: `{"count": n}`.
async fn count(State(state): State<AppState>, q: Params) -> Result<Response> {
    let n = state.journal().count(&filter(q)?);
    Ok(Json(json!({"count": n})).into_response())
}

/// `DELETE /_mock/requests[?tenant=]`: forgets every entry, or one tenant's.
async fn clear(State(state): State<AppState>, q: Params) -> Result<StatusCode> {
    let q = params(q)?;
    if let Some(other) = q.keys().find(|k| *k != "tenant") {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!("Unknown parameter {other:?}: only tenant is accepted"),
        ));
    }
    let tenant = q.get("tenant").map(|t| tenant_id(t)).transpose()?;
    state.journal().clear(tenant.as_ref());
    Ok(StatusCode::NO_CONTENT)
}
