//! `POST /api/machines/{id}/{action}`: validate, then hand the action to the tenant's store.

use axum::{extract::State, http::StatusCode};
use serde_json::{Map, Value};

use super::extract::{optional_enum, required_string, JsonBody, PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::Result,
    model::{ActionType, Entity, MachineAction, OData},
    state::AppState,
    store::NewAction,
};

type Created = OData<Entity<MachineAction>>;

/// `POST machines/{id}/isolate` (spec §3).
pub(super) async fn isolate(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    body: JsonBody,
) -> Result<Created> {
    submit(&state, &caller, &root, &id, &body, ActionType::Isolate)
}

/// `POST machines/{id}/unisolate` (spec §2).
pub(super) async fn unisolate(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    body: JsonBody,
) -> Result<Created> {
    submit(&state, &caller, &root, &id, &body, ActionType::Unisolate)
}

/// The shared path of every action: machine (404) → body (400) → store (400 / 201).
fn submit(
    state: &AppState,
    caller: &Caller,
    root: &ServiceRoot,
    id: &str,
    body: &JsonBody,
    kind: ActionType,
) -> Result<Created> {
    let tenant = state.store.tenant(&caller.tenant);
    let key = tenant.resolve(id, &caller.visibility)?;
    let new = parse(kind, &body.object()?, caller.requestor())?;
    let action = tenant.submit(&key, new, state.clock.now())?.into_action();
    Ok(OData(
        StatusCode::CREATED,
        Entity {
            context: root.context("MachineActions/$entity"),
            inner: action,
        },
    ))
}

/// The body parameters of `kind` (PascalCase, case-sensitive keys).
fn parse(kind: ActionType, obj: &Map<String, Value>, requestor: &str) -> Result<NewAction> {
    let comment = required_string(obj, "Comment")?;
    let scope = match kind {
        ActionType::Isolate => Some(optional_enum(
            obj,
            "IsolationType",
            &["Full", "Selective", "UnManagedDevice"],
            "Full",
        )?),
        _ => None,
    };
    Ok(NewAction {
        action_type: kind,
        comment,
        requestor: requestor.to_owned(),
        scope,
        sha1: None,
    })
}
