//! The route table: every API route with the permission that guards it, the guard that enforces
//! it, path normalisation (`/api/v1.0/` and case-insensitive action segments), and the JSON 404.

mod actions;
mod admin;
mod discovery;
pub(crate) mod extract;
mod machineactions;
mod machines;
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
use serde_json::Value;

use self::extract::ServiceRoot;
use crate::{
    auth::{
        guard::{guard, Guard},
        permissions, Access,
    },
    error::{ApiError, Code},
    model::{Collection, OData},
    odata::{self, EntitySet, Query},
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

/// Every `/api` endpoint. The router is built from this table, so no route can exist without
/// its access rule.
pub(crate) static ENDPOINTS: &[Endpoint] = &[
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
    let api = ENDPOINTS.iter().fold(Router::new(), |r, e| {
        // route_layer on the endpoint's method router: only that method of a matched path is
        // guarded, so unknown paths still 404 and other methods still 405 without a token.
        let guarded =
            (e.handler)().route_layer(from_fn_with_state(endpoint_guard(&state, e), guard));
        r.route(e.path, guarded)
    });
    api.merge(admin::router())
        .merge(identity_router())
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

/// An OData collection response over `rows` (any serializable entity) for `query`.
fn collection<T: Serialize>(
    root: &ServiceRoot,
    path: &str,
    set: &'static EntitySet,
    raw_query: Option<&str>,
    query: &Query,
    rows: Vec<T>,
    page_size: usize,
) -> Result<OData<Collection<Value>>, ApiError> {
    let rows = rows
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("serialize {path}: {e}")))?;
    let page = odata::apply(query, rows, page_size);
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
            value: page.value,
            next_link,
        },
    ))
}

/// The Entra-shaped identity endpoints (no bearer token: they are how one gets it).
fn identity_router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys_v2))
        .route("/{tenant}/discovery/keys", get(discovery::keys_v1))
        .route("/common/discovery/instance", get(discovery::instance))
        .route("/common/userrealm/{username}", get(discovery::user_realm))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound {
        code: Code::NotFound,
        message: format!("No route matches {} {}", req.method(), req.uri().path()),
    }
}

/// Route words matched case-insensitively (the docs spell `GetPackageUri` and `getPackageUri`).
const ROUTE_WORDS: &[&str] = &[
    "machines",
    "machineactions",
    "isolate",
    "unisolate",
    "restrictcodeexecution",
    "unrestrictcodeexecution",
    "runantivirusscan",
    "collectinvestigationpackage",
    "offboard",
    "stopandquarantinefile",
    "cancel",
    "getpackageuri",
    "findbytag",
    "tags",
];

/// Rewrites `/API/v1.0/Machines/{id}/Isolate/` to `/api/machines/{id}/isolate` before routing;
/// ids and names keep their case. Paths outside `/api` are left alone.
pub(crate) fn normalize(mut req: Request) -> Request {
    let Some(path) = canonical_api_path(req.uri().path()) else {
        return req;
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn canonical_api_path(path: &str) -> Option<String> {
    let mut segs = path.split('/').skip(1);
    if !segs.next()?.eq_ignore_ascii_case("api") {
        return None;
    }
    let mut out = String::from("/api");
    let mut first = true;
    for seg in segs {
        if first && seg.eq_ignore_ascii_case("v1.0") {
            first = false;
            continue;
        }
        first = false;
        if seg.is_empty() {
            continue;
        }
        out.push('/');
        let lower = seg.to_ascii_lowercase();
        if ROUTE_WORDS.contains(&lower.as_str()) {
            out.push_str(&lower);
        } else {
            out.push_str(seg);
        }
    }
    (out != path).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_and_mixed_case_paths_normalise() {
        assert_eq!(
            canonical_api_path("/api/v1.0/Machines/ABC/UnIsolate/").as_deref(),
            Some("/api/machines/ABC/unisolate")
        );
        assert_eq!(
            canonical_api_path("/API/machineactions/x/GetPackageUri").as_deref(),
            Some("/api/machineactions/x/getpackageuri")
        );
        assert_eq!(canonical_api_path("/api/machines/abc"), None);
        assert_eq!(canonical_api_path("/_mock/health"), None);
    }

    #[test]
    fn every_endpoint_entry_is_unique() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}

#[cfg(test)]
mod openapi_tests {
    use super::{admin, ENDPOINTS};

    /// The route as OpenAPI spells it: templates match after case folding of route words.
    fn documented(doc: &serde_json::Value, path: &str, method: &str) -> bool {
        doc["paths"].as_object().unwrap().iter().any(|(p, ops)| {
            p.eq_ignore_ascii_case(path) && ops.get(method.to_ascii_lowercase()).is_some()
        })
    }

    #[test]
    fn every_api_and_control_plane_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(admin::OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for e in ENDPOINTS {
            assert!(
                documented(&doc, e.path, e.method.as_str()),
                "{} {} is not documented",
                e.method,
                e.path
            );
        }
        for (path, _) in admin::ROUTES {
            assert!(
                doc["paths"].get(*path).is_some(),
                "{path} is not documented"
            );
        }
    }

    #[test]
    fn every_documented_api_path_is_routed() {
        let doc: serde_json::Value = serde_json::from_str(admin::OPENAPI).unwrap();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                let known = ENDPOINTS.iter().any(|e| {
                    e.path.eq_ignore_ascii_case(path)
                        && e.method.as_str().eq_ignore_ascii_case(method)
                }) || admin::ROUTES.iter().any(|(p, _)| p == path)
                    || !path.starts_with("/api") && !path.starts_with("/_mock");
                assert!(known, "{method} {path} is documented but not routed");
            }
        }
    }
}
