//! The route table: every API route with the permission that guards it, the guard that enforces
//! it, path normalisation (`/api/v1.0/` and case-insensitive action segments), and the JSON 404.

mod actions;
mod admin;
mod alerts;
mod companion;
mod console;
mod devtoken;
mod discovery;
mod events;
pub(crate) mod extract;
mod faults;
mod indicators;
mod investigations;
mod journal;
mod machineactions;
mod machines;
mod normalize;
mod seeding;
mod token;

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{Method, StatusCode},
    middleware::from_fn_with_state,
    routing::{get, post, MethodRouter},
    Router,
};

use serde::Serialize;

use self::extract::ServiceRoot;
pub(crate) use self::normalize::normalize;
use crate::{
    auth::{
        guard::{guard, Guard},
        permissions, Access,
    },
    error::{ApiError, Code},
    middleware,
    model::{Collection, OData},
    odata::{self, EntitySet, Page, Query},
    state::AppState,
    throttle::{self, Limit, RouteKey},
};

/// One API endpoint: method, route template (after normalisation), who may call it, its
/// documented rate limit, and its handler.
pub(crate) struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub limit: Limit,
    handler: fn() -> MethodRouter<AppState>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every `/api` endpoint table: the machine-action core here, and one per companion module.
/// The router is built from these tables, so no route can exist without its access rule.
pub(crate) static ENDPOINT_TABLES: &[&[Endpoint]] = &[
    ENDPOINTS,
    companion::ENDPOINTS,
    alerts::ENDPOINTS,
    indicators::ENDPOINTS,
    investigations::ENDPOINTS,
];

/// Every `/api` endpoint of every table.
pub(crate) fn endpoints() -> impl Iterator<Item = &'static Endpoint> {
    ENDPOINT_TABLES.iter().flat_map(|t| t.iter())
}

/// The machine-action core's endpoints.
static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/isolate",
        access: permissions::ISOLATE,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::isolate),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/unisolate",
        access: permissions::ISOLATE,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::unisolate),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines/{id}",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(machines::get_machine),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machineactions/{id}",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(machineactions::get_action),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/restrictcodeexecution",
        access: permissions::RESTRICT,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::restrict_code_execution),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/unrestrictcodeexecution",
        access: permissions::RESTRICT,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::unrestrict_code_execution),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/runantivirusscan",
        access: permissions::SCAN,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::run_antivirus_scan),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/collectinvestigationpackage",
        access: permissions::COLLECT,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::collect_investigation_package),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/offboard",
        access: permissions::OFFBOARD,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::offboard),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/stopandquarantinefile",
        access: permissions::QUARANTINE,
        limit: throttle::DOCUMENTED,
        handler: || post(actions::stop_and_quarantine_file),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(machines::list_machines),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machineactions",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(machineactions::list_actions),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machineactions/{id}/cancel",
        access: permissions::CANCEL,
        limit: throttle::DOCUMENTED,
        handler: || post(machineactions::cancel_action),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machineactions/{id}/getpackageuri",
        access: permissions::PACKAGE,
        limit: throttle::PACKAGE_URI,
        handler: || get(machineactions::get_package_uri),
    },
];

/// The API router (each endpoint behind its own guard) merged with the control plane and the
/// identity endpoints, with the JSON 404 fallback.
pub(crate) fn router(state: AppState) -> Router {
    let api = endpoints().fold(Router::new(), |r, e| {
        // route_layer on the endpoint's method router: only that method of a matched path is
        // guarded, so unknown paths still 404 and other methods still 405 without a token.
        let guarded =
            (e.handler)().route_layer(from_fn_with_state(endpoint_guard(&state, e), guard));
        r.route(e.path, guarded)
    });
    // Faults and the journal's route facts: on the API and token routes, outside the guards.
    let context = from_fn_with_state(state.clone(), middleware::route_context);
    api.layer(context.clone())
        .merge(admin::router(&state, admin::TABLES))
        .merge(identity_router().layer(context))
        .fallback(not_found)
        .with_state(state)
}

/// The guard of one endpoint: the shared handles plus its access rule, limit and counter.
fn endpoint_guard(state: &AppState, e: &'static Endpoint) -> Guard {
    Guard {
        auth: Arc::clone(state.authenticator()),
        clock: Arc::clone(state.clock()),
        rights: state.directory().clone(),
        limiter: Arc::clone(state.limiter()),
        access: e.access,
        limit: e.limit,
        route: RouteKey {
            method: e.method.as_str(),
            path: e.path,
        },
    }
}

/// A collection response: the page's rows, each serialized as it is written.
pub(super) type Listed<T> = OData<Collection<PageRows<T>>>;

/// The rows of a page, serialized straight into the response (projected by `$select`).
#[derive(Debug)]
pub(super) struct PageRows<T> {
    rows: Vec<T>,
    select: Option<Vec<&'static str>>,
}

impl<T: Serialize> Serialize for PageRows<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let select = self.select.as_deref();
        s.collect_seq(self.rows.iter().map(|row| odata::Projected { row, select }))
    }
}

/// The collection response of `page`, found by `query` on `set` at `path`.
fn collection<T: Serialize, R>(
    root: &ServiceRoot,
    path: &str,
    set: &'static EntitySet<R>,
    raw_query: Option<&str>,
    (page, query): (Page<T>, Query<R>),
) -> Result<Listed<T>, ApiError> {
    let next_link = page.next_skip.map(|skip| {
        format!(
            "{}/{path}?{}",
            root.0,
            odata::next_link_query(raw_query, skip)
        )
    });
    Ok(OData(
        StatusCode::OK,
        Collection {
            context: root.context(set.name),
            count: page.count,
            value: PageRows {
                rows: page.rows,
                select: query.select,
            },
            next_link,
        },
    ))
}

/// Most comparisons a list may cost on an async worker; a costlier one runs on the blocking
/// pool, so that no query can stall other requests (or `/_mock/health`).
const MAX_INLINE_COST: usize = 20_000;

/// Runs `job` here, or on the blocking pool when `cost` is over `MAX_INLINE_COST`.
async fn off_workers<T: Send + 'static>(
    cost: usize,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if cost <= MAX_INLINE_COST {
        return Ok(job());
    }
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ApiError::Internal(format!("list: {e}")))
}

/// The Entra-shaped identity endpoints (no bearer token: they are how one gets it).
fn identity_router() -> Router<AppState> {
    IDENTITY_ROUTES
        .iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler())
        })
}

/// A route's method router, built when the router is.
type Handler = fn() -> MethodRouter<AppState>;

/// The token service and discovery: Entra's routes, unauthenticated (they are how one gets a
/// token). The OpenAPI document is checked against this table, as against the others.
pub(super) static IDENTITY_ROUTES: &[(Method, &str, Handler)] = &[
    (Method::POST, "/{tenant}/oauth2/v2.0/token", || {
        token_methods(post(token::token_v2))
    }),
    (Method::POST, "/{tenant}/oauth2/token", || {
        token_methods(post(token::token_v1))
    }),
    (
        Method::GET,
        "/{tenant}/v2.0/.well-known/openid-configuration",
        || get(discovery::openid_v2),
    ),
    (
        Method::GET,
        "/{tenant}/.well-known/openid-configuration",
        || get(discovery::openid_v1),
    ),
    (Method::GET, "/{tenant}/discovery/v2.0/keys", || {
        get(discovery::keys_v2)
    }),
    (Method::GET, "/{tenant}/discovery/keys", || {
        get(discovery::keys_v1)
    }),
    (Method::GET, "/common/discovery/instance", || {
        get(discovery::instance)
    }),
    (Method::GET, "/common/userrealm/{username}", || {
        get(discovery::user_realm)
    }),
];

/// A token endpoint's POST with OPTIONS beside it and Entra's AADSTS900561 for any other method.
fn token_methods(post: MethodRouter<AppState>) -> MethodRouter<AppState> {
    post.options(token::options).fallback(token::wrong_method)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound {
        code: Code::NotFound,
        message: format!("No route matches {} {}", req.method(), req.uri().path()),
    }
}

#[cfg(test)]
mod tests;
