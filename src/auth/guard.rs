//! The route guard: authenticates the bearer token (401), applies the directory's rights of a
//! delegated user, authorizes against the endpoint's `Access` (403) and throttles (429), in that
//! order, so refused calls use no quota. Also the `Caller` extractor handlers take.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{Access, Authenticator, Caller};
use crate::{
    clock::Clock,
    error::ApiError,
    model::MAX_BODY_BYTES,
    throttle::{Decision, Limit, Limiter, RouteKey},
};

/// What the directory says of a delegated user: portal permissions and device groups
/// (`None`: all of them).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserRights {
    pub(crate) portal_roles: Option<Vec<String>>,
    pub(crate) device_groups: Option<Vec<String>>,
}

/// Where the guard looks users up (the identity directory implements it).
pub(crate) trait Rights: std::fmt::Debug + Send + Sync {
    /// The rights of `upn` in `tenant`, or `None` for a user no fixture names.
    fn rights(&self, upn: &str, tenant: &str) -> Option<UserRights>;
}

/// Everything one endpoint's guard needs: shared handles plus the endpoint's own rules.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) rights: Arc<dyn Rights>,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) access: Access,
    pub(crate) limit: Limit,
    /// The endpoint's throttling counter (method and route template).
    pub(crate) route: RouteKey,
}

impl Guard {
    /// The caller of a request with `parts`' headers, admitted to this endpoint, or why not
    /// (with the caller when the token itself was good).
    fn admit(&self, parts: &axum::http::HeaderMap) -> Result<Caller, Box<Refused>> {
        let now = self.clock.now();
        let mut caller = self
            .auth
            .authenticate(parts, now)
            .map_err(|e| Box::new((None, e)))?;
        if let Some(upn) = caller.upn() {
            if let Some(rights) = self.rights.rights(upn, caller.tenant.as_str()) {
                caller = caller.with_rights(rights);
            }
        }
        if let Err(e) = caller.authorize(&self.access) {
            return Err(Box::new((Some(caller), e)));
        }
        let decision =
            self.limiter
                .check(&caller.tenant, &caller.app_id, self.route, self.limit, now);
        match decision {
            Decision::Throttled { retry_after_secs } => Err(Box::new((
                Some(caller),
                ApiError::TooManyRequests { retry_after_secs },
            ))),
            Decision::Accepted => Ok(caller),
        }
    }
}

/// A refusal, with the caller when the token itself was good.
type Refused = (Option<Caller>, ApiError);

/// Response extension: the caller a request was made as (the request journal records it).
#[derive(Debug, Clone)]
pub(crate) struct Answered(pub(crate) Caller);

/// The middleware: admits the caller into the request's extensions, or answers the refusal.
pub(crate) async fn guard(
    State(guard): State<Guard>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match guard.admit(req.headers()) {
        Ok(mut caller) => {
            req.extensions_mut().insert(caller.clone());
            let mut res = next.run(req).await;
            // The journal records the permissions that granted access, not every role of the
            // token (a development token has them all: a list per entry would dwarf the rest).
            let access = guard.access;
            caller.permissions.retain(|p| {
                access.app.contains(&p.as_str()) || access.delegated.contains(&p.as_str())
            });
            res.extensions_mut().insert(Answered(caller));
            Ok(res)
        }
        Err(refusal) => {
            let (caller, refused) = *refusal;
            let mut res = drained(req, refused).await;
            if let Some(caller) = caller {
                res.extensions_mut().insert(Answered(caller));
            }
            Ok(res)
        }
    }
}

/// How long a refused request's body may take to arrive before the connection is given up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads (and drops) a refused request's body before answering, so a keep-alive connection
/// stays usable: answering first made hyper close it when the body arrived in a later write,
/// and pooled clients then failed their next request. A body that does not arrive in time, or
/// is over the API's limit, gets the answer with `Connection: close` instead.
async fn drained(req: Request, refused: ApiError) -> Response {
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES);
    let read = matches!(tokio::time::timeout(DRAIN_TIMEOUT, body).await, Ok(Ok(_)));
    let mut res = refused.into_response();
    if !read {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route has no auth guard".into()))
    }
}
