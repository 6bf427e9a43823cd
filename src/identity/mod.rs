//! Entra-shaped identity (spec §9): the directory of app registrations and users, how a token
//! request body is read, client authentication (secrets, client assertions and the memory of
//! single-use ones), the grants of the token endpoints, tenant names and Entra's error shape. The
//! HTTP handlers of the token endpoints and discovery are in `routes`.

mod assertion;
mod client_auth;
pub(crate) mod directory;
pub(crate) mod form;
pub(crate) mod grant;
mod replay;

use time::OffsetDateTime;

use axum::http::StatusCode;

use crate::{error::ApiError, model::TenantId};

pub(crate) use directory::{AppRegistration, Directory, User};

/// AADSTS9002313, Entra's "Invalid request. Request is malformed or invalid.": for a token
/// request body that cannot be read as a form (not UTF-8, over the size limit).
pub(crate) const INVALID_REQUEST_CODE: u32 = 9002313;

/// Builds Entra-shaped errors stamped with one request's emulator time.
struct Ctx {
    now: OffsetDateTime,
}

impl Ctx {
    fn bad(&self, error: &'static str, code: u32, description: impl Into<String>) -> ApiError {
        entra_error(StatusCode::BAD_REQUEST, error, code, description, self.now)
    }

    fn unauthorized(&self, code: u32, description: impl Into<String>) -> ApiError {
        entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
            self.now,
        )
    }

    fn missing(&self, param: &str) -> ApiError {
        self.bad(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }
}

/// `YYYY-MM-DD HH:MM:SSZ`, as Entra writes error timestamps.
pub(crate) fn entra_timestamp(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_default()
}

/// The tenant id a path segment names: a GUID as is, a domain name mapped to a stable GUID
/// (`contoso.onmicrosoft.com` always gives the same one), or `None` for `common`,
/// `organizations` and `consumers`.
pub(crate) fn tenant_id(segment: &str, now: OffsetDateTime) -> Result<Option<TenantId>, ApiError> {
    let s = segment.to_ascii_lowercase();
    if matches!(s.as_str(), "common" | "organizations" | "consumers") {
        return Ok(None);
    }
    if let Some(t) = TenantId::parse(&s) {
        return Ok(Some(t));
    }
    Err(entra_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900023,
        format!("Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain."),
        now,
    ))
}

/// An Entra-shaped error.
pub(crate) fn entra_error(
    status: axum::http::StatusCode,
    error: &'static str,
    code: u32,
    description: impl Into<String>,
    now: OffsetDateTime,
) -> ApiError {
    ApiError::Entra {
        status,
        error,
        code,
        description: description.into(),
        timestamp: entra_timestamp(now),
    }
}
