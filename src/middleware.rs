//! The outer middleware: a correlation id per request, the Defender error body (with that id as
//! `target`), one log line per request carrying the same id, and panics turned into a 500.

use std::{any::Any, sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderName, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use crate::error::ApiError;

/// Assigns the request id, renders error bodies with it, and logs the request.
pub(crate) async fn request_context(req: Request, next: Next) -> Response {
    let id = Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    if let Some(err) = res.extensions_mut().remove::<Arc<ApiError>>() {
        res.headers_mut().remove(header::CONTENT_LENGTH);
        *res.body_mut() = Body::from(err.body(&id));
        if let ApiError::Internal(detail) = err.as_ref() {
            tracing::error!(request_id = %id, %method, %path, status, latency_us, error.detail = %detail, "request failed");
        } else {
            tracing::info!(request_id = %id, %method, %path, status, latency_us, error.code = err.code(), error.reason = %err, "request refused");
        }
    } else {
        tracing::info!(request_id = %id, %method, %path, status, latency_us, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("request-id"), v);
    }
    res
}

/// `CatchPanicLayer` handler: a panic is a bug, but the client still gets a Defender 500.
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}
