//! Automated investigations: `POST /api/machines/{id}/startInvestigation`,
//! `GET /api/investigations` (OData) and `GET /api/investigations/{id}`
//! (`docs/contract/investigations.md`, its "Decisions").

use axum::{
    extract::{RawQuery, State},
    http::{Method, StatusCode},
    routing::{get, post},
};

use super::{
    extract::{bounded_comment, required_string, JsonBody, PathParam, ServiceRoot},
    Endpoint,
};
use crate::{
    auth::{permissions, Caller},
    error::{ApiError, Code, Result},
    model::{Entity, Investigation, OData},
    odata,
    state::AppState,
    store::rules,
    throttle::{self, Limit},
};

/// startInvestigation: "50 calls per hour" (no per-minute figure: 50 a minute too).
const START_LIMIT: Limit = Limit {
    per_minute: 50,
    per_hour: 50,
};

/// The investigation endpoints.
pub(super) static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/startinvestigation",
        access: permissions::INVESTIGATE,
        limit: START_LIMIT,
        handler: || post(start_investigation),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/investigations",
        access: permissions::INVESTIGATION_READ,
        limit: throttle::DOCUMENTED,
        handler: || get(list_investigations),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/investigations/{id}",
        access: permissions::INVESTIGATION_READ,
        limit: throttle::DOCUMENTED,
        handler: || get(get_investigation),
    },
];

type One = OData<Entity<Investigation>>;

/// `POST /api/machines/{id}/startInvestigation`: machine (404) → `Comment` (400) → OS (400) →
/// no other unfinished investigation on it (400) → 201 with the `Queued` investigation.
async fn start_investigation(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    body: JsonBody,
) -> Result<One> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    bounded_comment("Comment", required_string(&body.object()?, "Comment")?)?;
    let now = state.clock().now();
    let view = tenant.view(key, now);
    let m = &view.machine;
    if !rules::supports_investigation(m) {
        let platform = match m.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{} {v}", m.os_platform),
            None => m.os_platform.to_string(),
        };
        return Err(ApiError::bad_request(
            Code::OsPlatformNotSupported,
            format!("OS Platform {platform} isn't supported for automated investigation."),
        ));
    }
    let inv = tenant
        .investigations
        .start(std::sync::Arc::clone(m), &view.simulation, now)?;
    Ok(OData(
        StatusCode::CREATED,
        Entity {
            context: root.context("Investigations/$entity"),
            inner: inv,
        },
    ))
}

/// `GET /api/investigations/{id}`: by investigation id or triggering alert id.
async fn get_investigation(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<One> {
    let inv = state
        .store()
        .tenant(&caller.tenant)
        .investigations
        .get(&id, &caller.visibility, state.clock().now())
        .ok_or_else(|| ApiError::NotFound {
            code: Code::ResourceNotFound,
            message: format!("Investigation {id} was not found."),
        })?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Investigations/$entity"),
            inner: inv,
        },
    ))
}

/// `GET /api/investigations` with `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select`.
async fn list_investigations(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<super::Listed<Investigation>> {
    let query = odata::parse(raw.as_deref(), &odata::INVESTIGATIONS)?;
    let tenant = state.store().tenant(&caller.tenant);
    let (now, page_size) = (state.clock().now(), state.page_size());
    let cost = query.cost(tenant.investigations.count());
    let page = super::off_workers(cost, move || {
        let page = tenant
            .investigations
            .list(&caller.visibility, &query, page_size, now);
        (page, query)
    })
    .await?;
    super::collection(
        &root,
        "investigations",
        &odata::INVESTIGATIONS,
        raw.as_deref(),
        page,
    )
}
