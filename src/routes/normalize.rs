//! Path normalisation before routing: `/api/v1.0/` folds into `/api/`, route words match in any
//! case, and a trailing slash is dropped; ids and names keep their case.

use axum::extract::Request;

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
    "indicators",
    "import",
    "batchdelete",
    "investigations",
    "startinvestigation",
    "alerts",
    "machine",
    "user",
    "files",
    "ips",
    "domains",
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

pub(super) fn canonical_api_path(path: &str) -> Option<String> {
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
