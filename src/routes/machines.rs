//! `GET /api/machines/{id}` (by id or computer name).

use axum::{extract::State, http::StatusCode};

use super::extract::{PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::{ApiError, Result},
    model::{Entity, Machine, OData},
    state::AppState,
};

/// `GET machines/{id}` (spec §7.2).
pub(super) async fn get_machine(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<OData<Entity<Machine>>> {
    let tenant = state.store.tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    let machine = tenant
        .machine(&key, state.clock.now())
        .ok_or_else(|| ApiError::machine_not_found(&id))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Machines/$entity"),
            inner: machine,
        },
    ))
}
