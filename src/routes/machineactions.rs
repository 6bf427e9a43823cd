//! `/api/machineactions`: list (OData), get, cancel, and GetPackageUri.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
};
use serde::Serialize;
use uuid::Uuid;

use super::extract::{bounded_comment, JsonBody, PathParam, ServiceRoot};
use crate::{
    auth::Caller,
    error::{ApiError, Code, Result},
    model::{ActionStatus, ActionType, Entity, MachineAction, OData},
    odata, package,
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
        .store()
        .tenant(&caller.tenant)
        .action(id, &caller.visibility, state.clock().now())
        .ok_or_else(|| ApiError::action_not_found(&raw))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("MachineActions/$entity"),
            inner: action,
        },
    ))
}

/// `GET machineactions` with `$filter`, `$orderby`, `$top`, `$skip`, `$count` (spec §5.2).
pub(super) async fn list_actions(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<super::Listed<MachineAction>> {
    let query = odata::parse(raw.as_deref(), &odata::MACHINE_ACTIONS)?;
    let tenant = state.store().tenant(&caller.tenant);
    let (now, page_size) = (state.clock().now(), state.page_size());
    let cost = query.cost(tenant.action_count());
    let page = super::off_workers(cost, move || {
        let page = tenant.actions(&caller.visibility, &query, page_size, now);
        (page, query)
    })
    .await?;
    super::collection(
        &root,
        "machineactions",
        &odata::MACHINE_ACTIONS,
        raw.as_deref(),
        page,
    )
}

/// `POST machineactions/{id}/cancel` (spec §5.3): `Comment` optional, body optional.
pub(super) async fn cancel_action(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(raw): PathParam,
    body: JsonBody,
) -> Result<OData<Entity<MachineAction>>> {
    let id = action_id(&raw)?;
    let comment = if body.is_empty() {
        None
    } else {
        match body.object()?.get("Comment") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(bounded_comment("Comment", s.clone())?),
            Some(_) => return Err(ApiError::invalid_body("Parameter Comment must be a string")),
        }
    };
    let action = state.store().tenant(&caller.tenant).cancel(
        id,
        &caller.visibility,
        caller.requestor(),
        comment,
        state.clock().now(),
    )?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("MachineActions/$entity"),
            inner: action,
        },
    ))
}

/// `{"@odata.context": ".../$metadata#Edm.String", "value": url}`.
#[derive(Debug, Serialize)]
pub(super) struct PackageUri {
    #[serde(rename = "@odata.context")]
    context: String,
    value: String,
}

/// `GET machineactions/{id}/GetPackageUri` (spec §5.4): 404 until the collection succeeded.
pub(super) async fn get_package_uri(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(raw): PathParam,
) -> Result<OData<PackageUri>> {
    let id = action_id(&raw)?;
    let now = state.clock().now();
    let action = state
        .store()
        .tenant(&caller.tenant)
        .action(id, &caller.visibility, now)
        .ok_or_else(|| ApiError::action_not_found(&raw))?;
    if action.action_type != ActionType::CollectInvestigationPackage
        || action.status != ActionStatus::Succeeded
    {
        return Err(ApiError::NotFound {
            code: Code::ResourceNotFound,
            message: format!(
                "Package for machine action {raw} was not found: the collection has not succeeded."
            ),
        });
    }
    let url = package::signed_url(
        state.package_key(),
        root.origin(),
        caller.tenant.as_str(),
        id,
        now,
    );
    Ok(OData(
        StatusCode::OK,
        PackageUri {
            context: root.context("Edm.String"),
            value: url,
        },
    ))
}
