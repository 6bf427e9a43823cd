//! The accept loop: a cap on connections, hyper's HTTP/1 and HTTP/2 on each (TLS first when
//! configured), a watchdog per connection that closes it when its client is too slow or idle too
//! long, and a graceful stop bounded by the grace.
//!
//! The watchdog is ours, not hyper's `header_read_timeout`: hyper starts that timer as soon as a
//! connection goes idle, so it would also be the keep-alive timeout, and we want a short deadline
//! for a request head and a longer one for an idle connection.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    response::Response,
    Router,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
    time::Instant,
};
use tower::ServiceExt;

use crate::{config::ConnectionLimits, error::ApiError, tls};

/// Connections over the cap being answered 503 at once; beyond that (a flood) they are just
/// closed. Part of the file descriptors `config` keeps in reserve.
const REFUSALS: usize = 32;
/// How long an over-the-cap connection is kept for its 503 to get through: until the client
/// closes, at most this (a silent flood must not hold the refusals).
const REFUSAL_LINGER: Duration = Duration::from_millis(250);
/// How long an idle HTTP/2 connection may take to close after its GOAWAY.
const GOAWAY_LINGER: Duration = Duration::from_secs(1);

/// What the server listens on: TCP, with TLS over it when configured.
pub(super) struct Listener {
    pub(super) tcp: TcpListener,
    pub(super) tls: Option<tls::Acceptor>,
}

/// Serves `app` on `listener` until `shutdown`, then stops accepting, asks every connection to
/// finish (idle ones close at once, busy ones after their response) and waits for them at most
/// `grace` (a hung client must not stall `docker stop`).
pub(super) async fn run(
    listener: Listener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Explicitly off: without a timer hyper ignores it, and our watchdog owns this deadline.
    builder.http1().header_read_timeout(None).keep_alive(true);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    let mut warned_at: Option<Instant> = None;
    let Listener { tcp, tls } = listener;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    if e.is_panic() {
                        tracing::error!(error = %e, "a connection task panicked");
                    }
                }
                continue;
            }
            accepted = tcp.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to be freed.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if warned_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(max_connections = limits.max_connections, %peer,
                    "connection limit reached: new connections are refused until one closes");
                warned_at = Some(Instant::now());
            }
            refuse(stream, tls.is_some(), &limits, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            peer,
            app: app.clone(),
            builder: builder.clone(),
            limits,
            stop: stop_rx.clone(),
            _slot: slot,
        };
        connections.spawn(conn.serve(stream, tls.clone()));
    }
    drop(tcp); // new connections are refused from here on
    let _ = stop_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "in-flight requests outlived the shutdown grace period"
        );
    }
    Ok(()) // dropping the set ends the connections still open
}

/// Answers a connection over the cap: `503 ServiceUnavailable` with `Connection: close` on
/// HTTP (without reading the request), a plain close on HTTPS (a handshake is the costly part)
/// or when [`REFUSALS`] are already under way.
fn refuse(mut stream: TcpStream, tls: bool, limits: &ConnectionLimits, refusals: &Arc<Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    if tls {
        return;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let body = ApiError::Unavailable(format!(
        "The server is at its limit of {} connections. Retry shortly.",
        limits.max_connections
    ))
    .body(&id);
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 1\r\nrequest-id: {id}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let answer = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
            // Read what the client sent until it closes: closing with unread data would reset
            // the connection and could lose the answer.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
    });
}

/// One accepted connection and what it needs; holds its slot under the cap until it ends.
struct Connection {
    peer: SocketAddr,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream, tls: Option<tls::Acceptor>) {
        // From the accept on: the handshake and the first request head share one deadline.
        let activity = Arc::new(Activity::new());
        let Some(acceptor) = tls else {
            return self.http(tcp, activity).await;
        };
        let handshake = acceptor.handshake(tcp, self.limits.header_timeout);
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    return;
                }
            },
            _ = self.stop.wait_for(|stop| *stop) => return,
        };
        self.http(stream, activity).await
    }

    /// HTTP/1 or HTTP/2 on `io` until the client closes, the watchdog closes it or a stop.
    async fn http<I>(mut self, io: I, activity: Arc<Activity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(Watched {
            io,
            activity: activity.clone(),
        });
        let service = Tracked {
            app: self.app.clone(),
            activity: activity.clone(),
        };
        let conn = self.builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut stopping = false;
        let mut goaway: Option<Instant> = None;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                expiry = activity.expired(&self.limits), if goaway.is_none() => {
                    tracing::debug!(peer = %self.peer, reason = expiry.reason(), "closing the connection");
                    if expiry != Expiry::Idle || !activity.h2.load(Ordering::Relaxed) {
                        return; // nothing in flight (or a stalled write): just close
                    }
                    // HTTP/2 says goodbye (GOAWAY) so the client opens a new connection.
                    conn.as_mut().graceful_shutdown();
                    goaway = Some(Instant::now() + GOAWAY_LINGER);
                }
                () = sleep_until(goaway) => return,
                _ = self.stop.wait_for(|stop| *stop), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// No complete request head within the header timeout (a slowloris client, or none at all).
    Head,
    /// No request for the idle timeout.
    Idle,
    /// The client has not read the response for the body timeout.
    WriteStalled,
}

impl Expiry {
    fn reason(self) -> &'static str {
        match self {
            Self::Head => "no complete request head within the header timeout",
            Self::Idle => "idle for the keep-alive timeout",
            Self::WriteStalled => "the client stopped reading the response",
        }
    }
}

/// What the watchdog reads of a connection, written by its I/O (reads, blocked writes) and its
/// service (requests in flight). Times are microseconds since `epoch`.
struct Activity {
    epoch: Instant,
    /// Requests whose response has not been fully handed to hyper.
    in_flight: AtomicUsize,
    /// When the current phase (head, idle, busy) began.
    since: AtomicU64,
    /// Nothing in flight, and a request head is due: the connection is new, or a byte of the
    /// next request has arrived.
    head: AtomicBool,
    /// 1 + when a write began to wait on the client; 0 while writes go through.
    write_blocked: AtomicU64,
    /// The first bytes were the HTTP/2 preface: reads are frames, never a request head.
    h2: AtomicBool,
    read_any: AtomicBool,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            since: AtomicU64::new(0),
            head: AtomicBool::new(true),
            write_blocked: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            read_any: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn at(&self, micros: u64) -> Instant {
        self.epoch + Duration::from_micros(micros)
    }

    fn on_read(&self, bytes: &[u8]) {
        if !self.read_any.swap(true, Ordering::Relaxed) && bytes.starts_with(b"PRI ") {
            self.h2.store(true, Ordering::Relaxed);
        }
        if self.h2.load(Ordering::Relaxed)
            || self.head.load(Ordering::Relaxed)
            || self.in_flight.load(Ordering::Relaxed) > 0
        {
            return;
        }
        self.since.store(self.now(), Ordering::Relaxed);
        self.head.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn on_write(&self, pending: bool) {
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        if pending && blocked == 0 {
            self.write_blocked.store(self.now() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        } else if !pending && blocked != 0 {
            self.write_blocked.store(0, Ordering::Relaxed);
        }
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head.store(false, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.since.store(self.now(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// The earliest deadline the connection has now, and what passing it means.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expiry)> {
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        let stall = (blocked != 0).then(|| {
            let at = self.at(blocked - 1) + limits.body_timeout;
            (at, Expiry::WriteStalled)
        });
        let phase = (self.in_flight.load(Ordering::Relaxed) == 0).then(|| {
            let since = self.at(self.since.load(Ordering::Relaxed));
            if self.head.load(Ordering::Relaxed) {
                (since + limits.header_timeout, Expiry::Head)
            } else {
                (since + limits.idle_timeout, Expiry::Idle)
            }
        });
        match (stall, phase) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Completes when the connection has passed its deadline.
    async fn expired(&self, limits: &ConnectionLimits) -> Expiry {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A connection's I/O, reporting reads and blocked writes to its [`Activity`].
struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.on_write(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.on_write(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.activity.on_write(polled.is_pending());
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The application as hyper calls it on one connection: each request counts as in flight
/// until its response body has been handed over (or dropped).
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::begin(self.activity.clone());
        let answer = self.app.clone().oneshot(req.map(Body::new));
        Box::pin(async move {
            let res = answer.await?;
            Ok(res.map(|body| {
                Body::new(Finishing {
                    body,
                    in_flight: Some(in_flight),
                })
            }))
        })
    }
}

/// One request in flight on a connection, until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.begin();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that ends its request's [`InFlight`] at its last frame.
struct Finishing {
    body: Body,
    in_flight: Option<InFlight>,
}

impl HttpBody for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
