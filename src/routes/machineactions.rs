//! `GET /api/machineactions/{id}`.

use axum::{extract::State, http::StatusCode};
use uuid::Uuid;

use super::extract::{PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::{ApiError, Code, Result},
    model::{Entity, MachineAction, OData},
    state::AppState,
};

/// An action id, or 400 with the real service's `Edm.Guid` message (spec §5.1).
pub(super) fn action_id(raw: &str) -> Result<Uuid> {
    Uuid::try_parse(raw).map_err(|_| {
        ApiError::bad_request(
            Code::BadRequest,
            format!(
                "The key value ({raw}) from request is not valid. The key value should be format of type 'Edm.Guid'."
            ),
        )
    })
}

/// `GET machineactions/{id}` (spec §5.1).
pub(super) async fn get_action(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(raw): PathParam,
) -> Result<OData<Entity<MachineAction>>> {
    let id = action_id(&raw)?;
    let action = state
        .store
        .tenant(&caller.tenant)
        .action(id, &caller.visibility, state.clock.now())
        .ok_or_else(|| ApiError::action_not_found(&raw))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("MachineActions/$entity"),
            inner: action,
        },
    ))
}
