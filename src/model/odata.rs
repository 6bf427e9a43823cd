//! OData envelopes: `@odata.context` first, then the entity's properties or a `value` array, and the
//! success headers the real service sends (spec §1.4, §8.1).

use axum::{
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// A single entity: `{"@odata.context": ".../$metadata#Set/$entity", ...properties}`.
#[derive(Debug, Serialize)]
pub(crate) struct Entity<T> {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub inner: T,
}

/// A collection: `{"@odata.context", ["@odata.count"], "value", ["@odata.nextLink"]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Collection<V> {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// The rows: anything that serializes as a JSON array.
    pub value: V,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// A success response with Defender's OData content type and `OData-Version: 4.0`.
#[derive(Debug)]
pub(crate) struct OData<T>(pub StatusCode, pub T);

const ODATA_CONTENT_TYPE: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8";

impl<T: Serialize> IntoResponse for OData<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(body) => {
                let mut res = (self.0, body).into_response();
                let h = res.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(ODATA_CONTENT_TYPE),
                );
                h.insert(
                    HeaderName::from_static("odata-version"),
                    HeaderValue::from_static("4.0"),
                );
                res
            }
            Err(e) => crate::error::ApiError::Internal(format!("serialize: {e}")).into_response(),
        }
    }
}
