//! The request and body timeouts, inside the router so their 408 and 503 carry the request id
//! like every other error: a request body that stalls ends in an error instead of a wait, and a
//! request not answered in time is answered for its handler.

use std::{
    convert::Infallible,
    future::Future,
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
    extract::Request,
    http::{header, HeaderValue, Version},
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{config::ConnectionLimits, error::ApiError};

/// Where a request body is. A body that was never read stays `ARRIVING`.
const ARRIVING: u8 = 0;
const COMPLETE: u8 = 1;
const STALLED: u8 = 2;

/// The layer of [`Deadlines`], with the request and body timeouts of its limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeadlinesLayer(pub(super) ConnectionLimits);

impl<S> tower::Layer<S> for DeadlinesLayer {
    type Service = Deadlines<S>;

    fn layer(&self, inner: S) -> Deadlines<S> {
        Deadlines {
            inner,
            limits: self.0,
        }
    }
}

/// Runs a request under the request timeout, its body under the stall timeout. A stalled or
/// late body is answered 408 `RequestTimeout` and the connection closed (the rest of the body
/// is never read); a request whose handler outlived the timeout, 503 `ServiceUnavailable`.
/// (A hand-written service rather than `from_fn`: it runs on every request.)
#[derive(Debug, Clone)]
pub(super) struct Deadlines<S> {
    inner: S,
    limits: ConnectionLimits,
}

impl<S> tower::Service<Request> for Deadlines<S>
where
    S: tower::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let limits = self.limits;
        let version = req.version();
        // A request without a body (most GETs) needs no watching.
        let mut body = None;
        let req = req.map(|inner| {
            if inner.is_end_stream() {
                return inner;
            }
            let state = Arc::new(AtomicU8::new(ARRIVING));
            body = Some(state.clone());
            Body::new(StallBody {
                inner,
                limit: limits.body_timeout,
                timer: None,
                armed: false,
                state,
            })
        });
        DeadlineFuture {
            answer: self.inner.call(req),
            timer: None,
            body,
            version,
            limits,
        }
    }
}

/// The inner answer, or the timeout error that replaces it. The request timer starts at the
/// first poll that has to wait (an answer ready at once, most of them, costs no timer).
pub(super) struct DeadlineFuture<F> {
    answer: F,
    timer: Option<Pin<Box<Sleep>>>,
    body: Option<Arc<AtomicU8>>,
    version: Version,
    limits: ConnectionLimits,
}

impl<F, R> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<R, Infallible>> + Unpin,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answer = match Pin::new(&mut this.answer).poll(cx) {
            Poll::Ready(Ok(res)) => Some(res),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let limit = this.limits.request_timeout;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                None
            }
        };
        let body = this
            .body
            .as_ref()
            .map_or(COMPLETE, |b| b.load(Ordering::Relaxed));
        Poll::Ready(Ok(judge(answer, body, this.version, &this.limits)))
    }
}

/// The answer (`None`: the request timeout passed first), or the timeout error that replaces it.
fn judge<R: IntoResponse>(
    answer: Option<R>,
    body: u8,
    version: Version,
    limits: &ConnectionLimits,
) -> Response {
    let error = match (answer, body) {
        (Some(res), state) if state != STALLED => return res.into_response(),
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

/// The error a stalled body ends with (the extractors turn it into their 400; [`Deadlines`] then
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
        middleware::from_fn_with_state,
        routing::{get, post},
        Router,
    };
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::middleware::request_context;

    /// The state `request_context` takes (its journal records nothing on these paths).
    fn test_state() -> crate::state::AppState {
        let emulator = crate::startup::Emulator::new(&crate::config::Config::for_tests());
        emulator.expect("emulator builds").state().clone()
    }

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
            .layer(DeadlinesLayer(limits))
            .layer(from_fn_with_state(test_state(), request_context))
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
