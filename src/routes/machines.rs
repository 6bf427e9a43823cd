//! `/api/machines`: list (OData) and get by id, computer name or `aadDeviceId`.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
};

use super::extract::{PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::Result,
    model::{Entity, Machine, OData},
    odata,
    state::AppState,
};

/// `GET machines/{id}` (spec §7.2).
pub(super) async fn get_machine(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<OData<Entity<std::sync::Arc<Machine>>>> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Machines/$entity"),
            inner: tenant.machine(key, state.clock().now()),
        },
    ))
}

/// `GET machines` with `$filter`, `$select`, `$orderby`, `$top`, `$skip`, `$count` (spec §7.3).
pub(super) async fn list_machines(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<super::Listed<std::sync::Arc<Machine>>> {
    let query = odata::parse(raw.as_deref(), &odata::MACHINES)?;
    let tenant = state.store().tenant(&caller.tenant);
    let (now, page_size) = (state.clock().now(), state.page_size());
    let cost = query.cost(state.store().fleet_len());
    let page = super::off_workers(cost, move || {
        let page = tenant.machines(&caller.visibility, &query, page_size, now);
        (page, query)
    })
    .await?;
    super::collection(&root, "machines", &odata::MACHINES, raw.as_deref(), page)
}
