//! The one error type of the API and its one JSON body, Defender's
//! `{"error":{"code","message","target"}}` (spec §8.2), plus the raw OData shape of §8.5.
//!
//! `IntoResponse` stays pure: it sets status and headers and parks the error in the response
//! extensions; `middleware::request_context` writes the body with the request id as `target` and
//! logs it, so the id a client sees is the id in the log line.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// `Result` with the API error as its default error.
pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Defender error codes used by the emulator (spec §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    BadRequest,
    InvalidInput,
    InvalidRequestBody,
    MissingRequiredParameter,
    OsPlatformNotSupported,
    ClientVersionNotSupported,
    ActiveRequestAlreadyExists,
    InvalidHashValue,
    InvalidDomainName,
    InvalidIpAddress,
    InvalidUrl,
    MaximumBatchSizeExceeded,
    ODataError,
    NotFound,
    ResourceNotFound,
}

impl Code {
    /// The code as it appears on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "BadRequest",
            Code::InvalidInput => "InvalidInput",
            Code::InvalidRequestBody => "InvalidRequestBody",
            Code::MissingRequiredParameter => "MissingRequiredParameter",
            Code::OsPlatformNotSupported => "OsPlatformNotSupported",
            Code::ClientVersionNotSupported => "ClientVersionNotSupported",
            Code::ActiveRequestAlreadyExists => "ActiveRequestAlreadyExists",
            Code::InvalidHashValue => "InvalidHashValue",
            Code::InvalidDomainName => "InvalidDomainName",
            Code::InvalidIpAddress => "InvalidIpAddress",
            Code::InvalidUrl => "InvalidUrl",
            Code::MaximumBatchSizeExceeded => "MaximumBatchSizeExceeded",
            Code::ODataError => "ODataError",
            Code::NotFound => "NotFound",
            Code::ResourceNotFound => "ResourceNotFound",
        }
    }
}

/// An error a fault rule makes the emulator answer.
#[derive(Debug, Clone)]
pub(crate) struct Injected {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// Entra's shape (token endpoints): its AADSTS number and `YYYY-MM-DD HH:MM:SSZ` timestamp.
    pub entra: Option<(u32, String)>,
}

/// Every way a request can fail. Variants are outcomes; each maps to one status in `status()`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400 with a specific Defender code.
    #[error("{code:?}: {message}")]
    BadRequest { code: Code, message: String },
    /// 401: missing, malformed, badly signed, expired or not-yet-valid token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: a valid token without the audience or permission the endpoint needs.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404 with `NotFound` (unknown route) or `ResourceNotFound` (unknown entity).
    #[error("{code:?}: {message}")]
    NotFound { code: Code, message: String },
    /// 413: the body is over the limit.
    #[error("request body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 408: the request's body did not arrive in time (the connection is closed after it).
    #[error("request timeout: {0}")]
    RequestTimeout(String),
    /// 429 with `Retry-After` in whole seconds.
    #[error("throttled, retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// 400 in the raw OData error shape (spec §8.5), for unknown `$` query options.
    #[error("odata: {0}")]
    RawOData(String),
    /// An error of the identity endpoints, in Entra's shape (spec §9.2), e.g. 401
    /// `invalid_client` with AADSTS7000215.
    #[error("{error} AADSTS{code}: {description}")]
    Entra {
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: String,
        /// `YYYY-MM-DD HH:MM:SSZ` on the emulator clock.
        timestamp: String,
    },
    /// 503: the server did not answer in time, or has no room for another connection.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Any status, code and message a fault rule asked for (`/_mock/faults`), in the Defender
    /// shape or, on the token endpoints, Entra's.
    #[error("injected fault: {} {}", .0.status, .0.code)]
    Injected(Box<Injected>),
    /// 500; the detail goes to the log, never to the client.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with `code` and `message`.
    pub(crate) fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// 400 `MissingRequiredParameter`, worded as Defender words it.
    pub(crate) fn missing_parameter(name: &str) -> Self {
        Self::bad_request(
            Code::MissingRequiredParameter,
            format!("Parameter {name} is missing"),
        )
    }

    /// 400 `InvalidRequestBody` with a reason.
    pub(crate) fn invalid_body(reason: impl Into<String>) -> Self {
        Self::bad_request(Code::InvalidRequestBody, reason)
    }

    /// 400 `InvalidInput` for a value outside the documented set.
    pub(crate) fn invalid_input(value: &str) -> Self {
        Self::bad_request(Code::InvalidInput, format!("Invalid input {value}"))
    }

    /// 404 `ResourceNotFound` for a machine id or name.
    pub(crate) fn machine_not_found(id: &str) -> Self {
        Self::NotFound {
            code: Code::ResourceNotFound,
            message: format!("Machine {id} was not found"),
        }
    }

    /// 404 `ResourceNotFound` for a machine action id.
    pub(crate) fn action_not_found(id: &str) -> Self {
        Self::NotFound {
            code: Code::ResourceNotFound,
            message: format!("MachineAction {id} was not found"),
        }
    }

    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::RawOData(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Entra { status, .. } => *status,
            Self::Injected(i) => i.status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The wire code (`error.code`).
    pub(crate) fn code(&self) -> &str {
        match self {
            Self::BadRequest { code, .. } | Self::NotFound { code, .. } => code.as_str(),
            Self::Unauthorized(_) => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::PayloadTooLarge { .. } => "RequestEntityTooLarge",
            Self::RequestTimeout(_) => "RequestTimeout",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::RawOData(_) => "",
            Self::Entra { error, .. } => error,
            Self::Injected(i) => &i.code,
            Self::Internal(_) => "InternalServerError",
        }
    }

    /// The client-facing message (never internal detail).
    pub(crate) fn message(&self) -> String {
        match self {
            Self::BadRequest { message, .. } | Self::NotFound { message, .. } => message.clone(),
            Self::Unauthorized(why) => {
                format!("Authorization has been denied for this request: {why}")
            }
            Self::Injected(i) => i.message.clone(),
            Self::Forbidden(m)
            | Self::RawOData(m)
            | Self::RequestTimeout(m)
            | Self::Unavailable(m) => m.clone(),
            Self::Entra {
                code, description, ..
            } => format!("AADSTS{code}: {description}"),
            Self::PayloadTooLarge { limit } => {
                format!("Request body is larger than the {limit}-byte limit")
            }
            Self::TooManyRequests { retry_after_secs } => {
                format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds.")
            }
            Self::Internal(_) => "An internal error occurred. Retry the request.".to_owned(),
        }
    }

    /// The JSON body for this error with `target` = the request's correlation id.
    pub(crate) fn body(&self, target: &str) -> Vec<u8> {
        let value = match self {
            Self::RawOData(message) => {
                json!({"error": {"code": "", "message": message, "details": []}})
            }
            Self::Entra {
                error,
                code,
                description,
                timestamp,
                ..
            } => json!({
                "error": error,
                "error_description": format!(
                    "AADSTS{code}: {description} Trace ID: {target} Correlation ID: {target} Timestamp: {timestamp}"
                ),
                "error_codes": [code],
                "timestamp": timestamp,
                "trace_id": target,
                "correlation_id": target,
                "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
            }),
            Self::Injected(i) => match &i.entra {
                Some((code, timestamp)) => json!({
                    "error": i.code,
                    "error_description": format!(
                        "AADSTS{code}: {} Trace ID: {target} Correlation ID: {target} Timestamp: {timestamp}",
                        i.message
                    ),
                    "error_codes": [code],
                    "timestamp": timestamp,
                    "trace_id": target,
                    "correlation_id": target,
                    "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
                }),
                None => json!({"error": {"code": i.code, "message": i.message, "target": target}}),
            },
            _ => {
                json!({"error": {"code": self.code(), "message": self.message(), "target": target}})
            }
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Injected(i) => {
                if let Some(secs) = i.retry_after_secs {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                if i.status == StatusCode::UNAUTHORIZED && i.entra.is_none() {
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
            }
            _ => {}
        }
        res.extensions_mut().insert(Arc::new(self));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_defender_shape_with_target() {
        let body = ApiError::machine_not_found("abc").body("req-1");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"error": {"code": "ResourceNotFound", "message": "Machine abc was not found", "target": "req-1"}})
        );
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let body = ApiError::Internal("lock poisoned at store.rs:12".into()).body("t");
        assert!(!String::from_utf8(body).unwrap().contains("store.rs"));
    }

    #[test]
    fn raw_odata_errors_use_the_odata_shape() {
        let v: serde_json::Value =
            serde_json::from_slice(&ApiError::RawOData("bad".into()).body("t")).unwrap();
        assert_eq!(
            v,
            json!({"error": {"code": "", "message": "bad", "details": []}})
        );
    }
}
