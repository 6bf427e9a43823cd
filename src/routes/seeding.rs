//! Seeding machines through the control plane: `PUT`/`DELETE /_mock/machines/{id}`, `POST
//! /_mock/machines` (many) and `POST /_mock/fleet/generate` (a synthetic fleet). Bodies are
//! checked by the fixture loader itself, so a seed is refused with the very message a fixture file
//! with the same entry gets.

use std::{collections::HashSet, path::Path};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json,
};
use serde_json::{json, Value};

use super::{
    admin::{params, tenant_id, Handler, Params},
    extract::{JsonBody, PathParam},
};
use crate::{
    auth::permissions::dev,
    error::{ApiError, Code, Result},
    fixtures::{self, FixtureError},
    generate,
    model::{MachineId, TenantId},
    state::AppState,
    store::FleetMachine,
};

/// The most machines `POST /_mock/fleet/generate` makes in one call.
pub(crate) const MAX_GENERATE: u64 = 100_000;

/// This module's control-plane routes (`GET /_mock/machines/{id}` is in `admin`).
pub(super) static ROUTES: &[(&str, Handler)] = &[
    ("/_mock/machines/{id}", || {
        axum::routing::put(put_machine).delete(delete_machine)
    }),
    ("/_mock/machines", || post(post_machines)),
    ("/_mock/fleet/generate", || post(generate_fleet)),
];

/// `?tenant=`, or the development tenant.
fn tenant_of(q: &std::collections::HashMap<String, String>) -> Result<TenantId> {
    tenant_id(q.get("tenant").map_or(dev::TENANT_ID, String::as_str))
}

/// The machines of `entries` as the fixture loader reads them (emulator keys `isolation`,
/// `restricted`, `simulation` included), or 400 with the loader's message.
fn parse(entries: Vec<Value>) -> Result<Vec<FleetMachine>> {
    let text = Value::Array(entries).to_string();
    fixtures::parse_machines(Path::new("request body"), &text, &mut HashSet::new())
        .map_err(|e| invalid(&e))
}

/// A fixture error as a 400: `Invalid machine: machine #0 (ID): field `osBuild`: reason`.
fn invalid(e: &FixtureError) -> ApiError {
    let mut message = String::from("Invalid machine: ");
    if let Some(entry) = &e.entry {
        message.push_str(entry);
        message.push_str(": ");
    }
    if let Some(field) = &e.field {
        message.push_str(&format!("field `{field}`: "));
    }
    message.push_str(&e.reason);
    ApiError::bad_request(Code::InvalidInput, message)
}

/// `PUT /_mock/machines/{id}[?tenant=T]`: one Machine entity as in a fixture file (the `id` may
/// be left out; when given it must be the path's); 201 created, 200 replaced, with the machine.
async fn put_machine(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    q: Params,
    body: JsonBody,
) -> Result<Response> {
    let q = params(q)?;
    let tid = tenant_of(&q)?;
    let key = MachineId::parse(&id).ok_or_else(|| {
        ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid machine: field `id`: {id:?} is not 40 hex characters"),
        )
    })?;
    let mut obj = body.object()?;
    match obj.get("id") {
        None | Some(Value::Null) => {
            obj.insert("id".into(), Value::String(key.as_str().to_owned()));
        }
        Some(Value::String(given)) if given.eq_ignore_ascii_case(key.as_str()) => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                Code::InvalidInput,
                format!("Invalid machine: field `id`: {other} is not the id in the path ({id})"),
            ))
        }
    }
    let machines = parse(vec![Value::Object(obj)])?;
    let machine = machines.first().map(|f| std::sync::Arc::clone(&f.machine));
    let seeded = state
        .store()
        .tenant(&tid)
        .seed(machines, state.clock().now())?;
    let status = if seeded.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(machine)).into_response())
}

/// `POST /_mock/machines[?tenant=T]`: an array of machines (or `{"machines": [...]}`), each
/// created or replaced; all are checked before any is stored. 201 `{"created": n, "replaced": n}`.
async fn post_machines(
    State(state): State<AppState>,
    q: Params,
    body: JsonBody,
) -> Result<Response> {
    let q = params(q)?;
    let tid = tenant_of(&q)?;
    let entries = match body.value()? {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("machines") {
            Some(Value::Array(a)) => a,
            _ => return Err(ApiError::missing_parameter("machines")),
        },
        _ => {
            return Err(ApiError::invalid_body(
                "Request body must be an array of machines or {\"machines\": [...]}",
            ))
        }
    };
    let machines = parse(entries)?;
    let seeded = state
        .store()
        .tenant(&tid)
        .seed(machines, state.clock().now())?;
    let body = json!({"created": seeded.created, "replaced": seeded.replaced});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /_mock/machines/{id}[?tenant=T]`: 204, or 404 when the tenant has no such machine.
async fn delete_machine(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    q: Params,
) -> Result<StatusCode> {
    let q = params(q)?;
    let tid = tenant_of(&q)?;
    // An unknown tenant reads as a fresh copy of the fixtures: look first, so a 404 allocates
    // nothing.
    if state.store().peek(&tid).resolve_id(&id).is_none() {
        return Err(ApiError::machine_not_found(&id));
    }
    state
        .store()
        .tenant(&tid)
        .remove(&id, state.clock().now())?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_mock/fleet/generate[?tenant=T] {"count": N, "seed": S}`: replaces the tenant's machines
/// with a synthetic fleet (what `defender-mock fixtures generate` writes). 201 `{"machines": N}`.
async fn generate_fleet(
    State(state): State<AppState>,
    q: Params,
    body: JsonBody,
) -> Result<Response> {
    let q = params(q)?;
    let tid = tenant_of(&q)?;
    let obj = body.object()?;
    let count = match obj.get("count") {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("count")),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_GENERATE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    Code::InvalidInput,
                    format!("Invalid input {v}: count must be between 1 and {MAX_GENERATE}"),
                )
            })?,
    };
    let seed = match obj.get("seed") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::bad_request(
                Code::InvalidInput,
                format!("Invalid input {v}: seed must be a whole number from 0 to 2^64-1"),
            )
        })?,
    };
    // Generating and checking a large fleet takes a while: off the async workers.
    let machines = tokio::task::spawn_blocking(move || {
        let text = generate::fleet_json(count as usize, seed);
        fixtures::parse_machines(Path::new("generated"), &text, &mut HashSet::new())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let n = state
        .store()
        .tenant(&tid)
        .replace_machines(machines, state.clock().now());
    Ok((StatusCode::CREATED, Json(json!({"machines": n}))).into_response())
}

#[cfg(test)]
#[path = "seeding_tests.rs"]
mod tests;
