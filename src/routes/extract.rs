//! Request extractors whose rejections are Defender errors: the service root for `@odata.context`, the JSON body (read eagerly, parsed when the handler
//! asks, so a 404 for an unknown machine comes before a 400 for its body), and body parameters.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts, StatusCode},
};
use serde_json::{Map, Value};

use crate::{
    error::{ApiError, Code},
    state::AppState,
};

pub(crate) use crate::model::MAX_BODY_BYTES;

/// A route's `{param}`s (one `String` by default, or a tuple); undecodable input is a Defender
/// 400, not axum's plain text.
#[derive(Debug, Clone)]
pub(crate) struct PathParam<T = String>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Self(p))
            .map_err(|e| {
                ApiError::bad_request(
                    Code::InvalidInput,
                    format!("Invalid input in the URL path: {e}"),
                )
            })
    }
}

/// `{scheme}://{host}/api` as the client called it (any Host is served).
#[derive(Debug, Clone)]
pub(crate) struct ServiceRoot(pub String);

impl ServiceRoot {
    /// `{scheme}://{host}` without the `/api`.
    pub(crate) fn origin(&self) -> &str {
        self.0.trim_end_matches("/api")
    }

    /// `@odata.context` for `fragment`, e.g. `MachineActions/$entity`.
    pub(crate) fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.0)
    }
}

impl FromRequestParts<AppState> for ServiceRoot {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(Self(format!("{}://{host}/api", state.scheme())))
    }
}

/// `{scheme}://{host}` as the client called it: the base of discovery documents.
#[derive(Debug, Clone)]
pub(crate) struct Origin(pub String);

impl FromRequestParts<AppState> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let root = ServiceRoot::from_request_parts(parts, state).await?;
        Ok(Self(root.origin().to_owned()))
    }
}

/// A request body that should be a JSON object.
#[derive(Debug)]
pub(crate) struct JsonBody {
    is_json: bool,
    bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                ApiError::invalid_body(format!("Request body could not be read: {r}"))
            }
        })?;
        Ok(Self { is_json, bytes })
    }
}

impl JsonBody {
    /// True when no body (or only white space) was sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as any JSON value (an array, for a list of entities), or 400
    /// `InvalidRequestBody` saying why not.
    pub(crate) fn value(&self) -> Result<Value, ApiError> {
        if self.is_empty() {
            return Err(ApiError::invalid_body("Request body is missing"));
        }
        if !self.is_json {
            return Err(ApiError::invalid_body(
                "Request body must be sent with Content-Type: application/json",
            ));
        }
        serde_json::from_slice::<Value>(&self.bytes)
            .map_err(|e| ApiError::invalid_body(format!("Request body is not valid JSON: {e}")))
    }

    /// The body as a JSON object, or 400 `InvalidRequestBody` saying why not.
    pub(crate) fn object(&self) -> Result<Map<String, Value>, ApiError> {
        if self.is_empty() {
            return Err(ApiError::invalid_body("Request body is missing"));
        }
        if !self.is_json {
            return Err(ApiError::invalid_body(
                "Request body must be sent with Content-Type: application/json",
            ));
        }
        match serde_json::from_slice::<Value>(&self.bytes) {
            Ok(Value::Object(o)) => Ok(o),
            Ok(_) => Err(ApiError::invalid_body("Request body must be a JSON object")),
            Err(e) => Err(ApiError::invalid_body(format!(
                "Request body is not valid JSON: {e}"
            ))),
        }
    }
}

/// A required string parameter; keys are case-sensitive (`comment` is not `Comment`).
/// Longest `Comment` an action or a cancellation may carry, in characters (emulator decision:
/// the real limit is undocumented; 4,096 is far above any real playbook's comment and bounds what
/// every stored action can cost).
pub(crate) const MAX_COMMENT_CHARS: usize = 4096;

/// A comment, refused with 400 `InvalidRequestBody` when longer than `MAX_COMMENT_CHARS`.
pub(crate) fn bounded_comment(key: &str, comment: String) -> Result<String, ApiError> {
    let chars = comment.chars().count();
    if chars > MAX_COMMENT_CHARS {
        return Err(ApiError::invalid_body(format!(
            "Parameter {key} is {chars} characters long; at most {MAX_COMMENT_CHARS} are allowed"
        )));
    }
    Ok(comment)
}

pub(crate) fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing_parameter(key)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid_body(format!(
            "Parameter {key} must be a string"
        ))),
    }
}

/// An optional enum parameter: its canonical spelling (values match case-insensitively, as
/// ASP.NET's enum binding does), `default` when absent, 400 `InvalidInput` outside `allowed`.
pub(crate) fn optional_enum<T: std::str::FromStr>(
    obj: &Map<String, Value>,
    key: &str,
    default: T,
) -> Result<T, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => s.parse().map_err(|_| ApiError::invalid_input(s)),
        Some(v) => Err(ApiError::invalid_input(&v.to_string())),
    }
}
