//! `/_mock/faults`: fault rules added, listed and deleted (what they do is `crate::faults`).

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get},
    Json,
};
use serde_json::{json, Value};

use super::{
    admin::Handler,
    extract::{JsonBody, PathParam},
};
use crate::{
    error::{ApiError, Code, Result},
    faults::RuleSpec,
    state::AppState,
};

/// The fault rules' control-plane routes.
pub(super) static ROUTES: &[(&str, Handler)] = &[
    ("/_mock/faults", || get(list).post(add).delete(clear)),
    ("/_mock/faults/{id}", || delete(remove)),
];

/// `POST /_mock/faults {"match", "action", "times"?, "probability"?}` → 201 the stored rule.
async fn add(State(state): State<AppState>, body: JsonBody) -> Result<Response> {
    let obj = body.object()?;
    if !obj.contains_key("action") {
        return Err(ApiError::missing_parameter("action"));
    }
    let spec: RuleSpec = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}")))?;
    let rule = state
        .faults()
        .add(spec)
        .map_err(|e| ApiError::bad_request(Code::InvalidInput, e))?;
    Ok((StatusCode::CREATED, Json(rule.view())).into_response())
}

/// `GET /_mock/faults`: `{"value": [rule, ...]}`, oldest first.
async fn list(State(state): State<AppState>) -> Response {
    let rules = state.faults().list();
    let views: Vec<_> = rules.iter().map(|r| r.view()).collect();
    Json(json!({"value": views})).into_response()
}

/// `DELETE /_mock/faults/{id}`: 204, or 404 for an unknown id.
async fn remove(State(state): State<AppState>, PathParam(id): PathParam) -> Result<StatusCode> {
    if state.faults().remove(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            code: Code::ResourceNotFound,
            message: format!("Fault rule {id} was not found"),
        })
    }
}

/// `DELETE /_mock/faults`: deletes every rule.
async fn clear(State(state): State<AppState>) -> StatusCode {
    state.faults().clear(None);
    StatusCode::NO_CONTENT
}
