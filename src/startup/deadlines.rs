//! The request and body timeouts, inside the router so their 408 and 503 carry the request id
//! like every other error: a request body that stalls ends in an error instead of a wait, and a
//! request not answered in time is answered for its handler.

use std::{
    future::Future as _,
    pin::Pin,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{header, HeaderValue, Version},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{config::ConnectionLimits, error::ApiError};

/// Where a request body is. A body that was never read stays `ARRIVING`.
const ARRIVING: u8 = 0;
const COMPLETE: u8 = 1;
const STALLED: u8 = 2;

/// Runs the request under the request timeout, its body under the stall timeout. A stalled or
/// late body is answered 408 `RequestTimeout` and the connection closed (the rest of the body
/// is never read); a request whose handler outlived the timeout, 503 `ServiceUnavailable`.
pub(super) async fn enforce(
    State(limits): State<ConnectionLimits>,
    req: Request,
    next: Next,
) -> Response {
    let body = Arc::new(AtomicU8::new(ARRIVING));
    let version = req.version();
    let req = req.map(|inner| {
        if inner.is_end_stream() {
            body.store(COMPLETE, Ordering::Relaxed);
            inner
        } else {
            Body::new(StallBody {
                inner,
                limit: limits.body_timeout,
                timer: None,
                armed: false,
                state: body.clone(),
            })
        }
    });
    let answered = tokio::time::timeout(limits.request_timeout, next.run(req)).await;
    let error = match (answered, body.load(Ordering::Relaxed)) {
        (Ok(res), state) if state != STALLED => return res,
        (_, STALLED) => ApiError::RequestTimeout(format!(
            "The request body stalled: no data arrived for {} s.",
            seconds(limits.body_timeout)
        )),
        (_, ARRIVING) => ApiError::RequestTimeout(format!(
            "The request body was not complete within {} s.",
            seconds(limits.request_timeout)
        )),
        _ => ApiError::Unavailable(format!(
            "The request was not answered within {} s. Retry it.",
            seconds(limits.request_timeout)
        )),
    };
    let stalled_body = matches!(error, ApiError::RequestTimeout(_));
    let mut res = error.into_response();
    // HTTP/1 cannot skip the unread rest of a body: the connection ends with this answer.
    if stalled_body && version < Version::HTTP_2 {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// `10`, `0.25`: a duration in seconds as a person writes it.
fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// The error a stalled body ends with (the extractors turn it into their 400; `enforce` then
/// answers 408 instead).
#[derive(Debug, thiserror::Error)]
#[error("no request body data for {} s", seconds(*.0))]
struct BodyStalled(Duration);

/// A request body that fails once no data has arrived for `limit`.
struct StallBody {
    inner: Body,
    limit: Duration,
    /// Created on the first wait, then reset: one allocation per request at most.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the timer runs for the current wait.
    armed: bool,
    state: Arc<AtomicU8>,
}

impl HttpBody for StallBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.state.load(Ordering::Relaxed) == STALLED {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            if frame.is_none() || this.inner.is_end_stream() {
                this.state.store(COMPLETE, Ordering::Relaxed);
            }
            return Poll::Ready(frame);
        }
        let limit = this.limit;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if !this.armed {
            timer.as_mut().reset(Instant::now() + limit);
            this.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.state.store(STALLED, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state.load(Ordering::Relaxed) == STALLED || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        middleware::{from_fn, from_fn_with_state},
        routing::{get, post},
        Router,
    };
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::middleware::request_context;

    fn app(request_ms: u64) -> Router {
        let limits = ConnectionLimits {
            body_timeout: Duration::from_millis(100),
            request_timeout: Duration::from_millis(request_ms),
            ..ConnectionLimits::default()
        };
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: Bytes| async move { body }))
            .layer(from_fn_with_state(limits, enforce))
            .layer(from_fn(request_context))
    }

    async fn send(app: Router, req: Request) -> (u16, Option<String>, Value) {
        let res = app.oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let connection = res
            .headers()
            .get(header::CONNECTION)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let json = serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
        (status, connection, json)
    }

    /// One frame, then nothing ever again.
    struct Stuck(bool);

    impl HttpBody for Stuck {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0 {
                Poll::Pending
            } else {
                self.0 = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{\"a\":")))))
            }
        }
    }

    #[tokio::test]
    async fn a_handler_past_the_request_timeout_is_answered_503_in_the_defender_shape() {
        let req = Request::get("/slow").body(Body::empty()).unwrap();
        let (status, connection, err) = send(app(100), req).await;
        assert_eq!(status, 503, "{err}");
        assert_eq!(err["error"]["code"], "ServiceUnavailable");
        assert_eq!(
            err["error"]["message"],
            "The request was not answered within 0.1 s. Retry it."
        );
        assert!(err["error"]["target"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert_eq!(connection, None, "the connection stays usable");
    }

    #[tokio::test]
    async fn a_stalled_body_is_408_with_connection_close() {
        let req = Request::post("/echo")
            .body(Body::new(Stuck(false)))
            .unwrap();
        let (status, connection, err) = send(app(5_000), req).await;
        assert_eq!(status, 408, "{err}");
        assert_eq!(err["error"]["code"], "RequestTimeout");
        assert_eq!(
            err["error"]["message"],
            "The request body stalled: no data arrived for 0.1 s."
        );
        assert_eq!(connection.as_deref(), Some("close"));
    }

    #[tokio::test]
    async fn complete_bodies_pass_through() {
        let req = Request::post("/echo").body(Body::from("hello")).unwrap();
        assert_eq!(
            send(app(5_000), req).await,
            (200, None, Value::String("hello".into()))
        );
    }
}
