//! `/api/machines`: list (OData) and get by id or computer name.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
};

use super::extract::{PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::{ApiError, Result},
    model::{Collection, Entity, Machine, OData},
    odata,
    state::AppState,
};

/// `GET machines/{id}` (spec §7.2).
pub(super) async fn get_machine(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<OData<Entity<Machine>>> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    let machine = tenant
        .machine(&key, state.clock().now())
        .ok_or_else(|| ApiError::machine_not_found(&id))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Machines/$entity"),
            inner: machine,
        },
    ))
}

/// `GET machines` with `$filter`, `$select`, `$orderby`, `$top`, `$skip`, `$count` (spec §7.3).
pub(super) async fn list_machines(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<OData<Collection<serde_json::Value>>> {
    let query = odata::parse(raw.as_deref(), &odata::MACHINES)?;
    let machines = state
        .store()
        .tenant(&caller.tenant)
        .machines(&caller.visibility, state.clock().now());
    super::collection(
        &root,
        "machines",
        &odata::MACHINES,
        raw.as_deref(),
        &query,
        machines,
        state.page_size(),
    )
}
