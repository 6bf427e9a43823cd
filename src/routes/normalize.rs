//! Path normalisation before routing: `/api/v1.0/` folds into `/api/`, route words match in any
//! case, and a trailing slash is dropped; ids and names keep their case.

use axum::extract::Request;

/// Route words matched case-insensitively (the docs spell `GetPackageUri` and `getPackageUri`),
/// each as the route table spells it.
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
    "tags",
    "AddOrRemoveTagForMultipleMachines",
    "findbytag",
    "logonusers",
];

/// A route word that opens a segment with OData function arguments: `findbyip(ip='...',...)`.
const FUNCTION_WORDS: &[&str] = &["findbyip("];

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
        if let Some(word) = ROUTE_WORDS.iter().find(|w| w.eq_ignore_ascii_case(seg)) {
            out.push_str(word);
        } else if let Some(word) = FUNCTION_WORDS.iter().find(|w| lower.starts_with(**w)) {
            // The word is ASCII, so its length in `seg` is the same as in `lower`.
            out.push_str(word);
            out.push_str(&seg[word.len()..]);
        } else {
            out.push_str(seg);
        }
    }
    (out != path).then_some(out)
}
