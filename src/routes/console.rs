//! The demo console: `GET /` and `GET /_mock/ui` serve one server-rendered page, its script and
//! stylesheet (embedded, no external resources), and `GET /_mock/ui/summary` the fleet summary
//! its filters and state badges read. Every change the page makes goes through the real `/api`
//! with a development token; the page follows the live state stream (`/_mock/events`).

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Json,
};

use super::admin::{params, tenant_id, Handler, Params};
use crate::{auth::permissions::dev, error::Result, state::AppState};

/// The console's control-plane routes.
pub(super) static ROUTES: &[(&str, Handler)] = &[
    ("/", || get(page)),
    ("/_mock/ui", || get(page)),
    ("/_mock/ui/console.js", || get(script)),
    ("/_mock/ui/console.css", || get(stylesheet)),
    ("/_mock/ui/summary", || get(summary)),
];

const PAGE: &str = include_str!("console/console.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLESHEET: &str = include_str!("console/console.css");

/// Only this origin's script, style, images and connections: the page works offline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page, with the development identities it starts from filled in.
async fn page() -> Response {
    static HTML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        PAGE.replace("{{tenant}}", dev::TENANT_ID)
            .replace("{{clientId}}", dev::APP_ID)
            .replace("{{clientSecret}}", dev::APP_SECRET)
            .replace("{{audience}}", dev::MDE_AUDIENCE)
            .replace("{{version}}", env!("CARGO_PKG_VERSION"))
    });
    let mut res = asset(HTML.as_str(), "text/html; charset=utf-8");
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

async fn script() -> Response {
    asset(SCRIPT, "application/javascript; charset=utf-8")
}

async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

/// An embedded text with its type; revalidated on every load (it changes with the binary).
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `GET /_mock/ui/summary[?tenant=]`: device groups, OS platforms, and the machines isolated,
/// restricted or with actions in flight (a read: an unknown tenant is shown fresh, not created).
async fn summary(State(state): State<AppState>, q: Params) -> Result<Response> {
    let q = params(q)?;
    let tid = tenant_id(q.get("tenant").map_or(dev::TENANT_ID, String::as_str))?;
    let summary = state.store().peek(&tid).summary(state.clock().now());
    Ok(Json(summary).into_response())
}
