//! The accept loop: a cap on connections, hyper's HTTP/1 and HTTP/2 on each (TLS first when
//! configured), a watchdog per connection that closes it when its client is too slow or idle too
//! long, and a graceful stop bounded by the grace.
//!
//! The watchdog is ours, not hyper's `header_read_timeout`: hyper starts that timer as soon as a
//! connection goes idle, so it would also be the keep-alive timeout (we want a short deadline for
//! a request head and a longer one for an idle connection), and never starts it on a connection
//! that sends nothing. It costs a keep-alive request nothing: its state is a few atomics the I/O
//! and the service update, and it is polled only when its own timer or a change wakes it
//! ([`Sentinel`]).
//!
//! A response that carries [`DropConnection`] (a fault rule's drop) is never handed to hyper:
//! the connection ends without writing it, with a TCP reset (`SO_LINGER` 0) or a plain close.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::{body::Body, extract::Request, response::Response, Router};
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

use crate::{
    config::ConnectionLimits,
    error::ApiError,
    faults::{DropConnection, DropMode},
    tls,
};

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
        let activity = Arc::new(Activity::new(self.limits));
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
        I: Socket + AsyncRead + AsyncWrite + Unpin + Send + 'static,
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
        let sentinel = Sentinel::new();
        let stop = &mut self.stop;
        let mut watch: Watch<'_> = Box::pin(async {
            tokio::select! {
                expiry = activity.expired() => Event::Expired(expiry),
                _ = stop.wait_for(|stop| *stop) => Event::Stop,
            }
        });
        loop {
            let event = match sentinel
                .race(&activity, conn.as_mut(), watch.as_mut())
                .await
            {
                Either::Conn(served) => {
                    if let Err(e) = served {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                Either::Watch(event) => event,
            };
            match event {
                Event::Stop => {
                    conn.as_mut().graceful_shutdown();
                    watch = Box::pin(async { Event::Expired(activity.expired().await) });
                }
                Event::Expired(expiry) => {
                    tracing::debug!(peer = %self.peer, reason = expiry.reason(), "closing the connection");
                    if expiry != Expiry::Idle || !activity.h2.load(ORDER) {
                        return; // nothing in flight (or a stalled write): just close
                    }
                    // HTTP/2 says goodbye (GOAWAY) so the client opens a new connection.
                    conn.as_mut().graceful_shutdown();
                    watch = Box::pin(async {
                        tokio::time::sleep(GOAWAY_LINGER).await;
                        Event::Lingered
                    });
                }
                Event::Lingered => return,
            }
        }
    }
}

/// What a connection's watch reports.
enum Event {
    Expired(Expiry),
    Stop,
    /// An HTTP/2 connection did not close within [`GOAWAY_LINGER`] of its GOAWAY.
    Lingered,
}

type Watch<'a> = Pin<Box<dyn Future<Output = Event> + Send + 'a>>;

enum Either<C> {
    Conn(C),
    Watch(Event),
}

/// Races a connection against its watch without polling the watch on every wake-up of the
/// connection (each read and write): the watch runs with its own waker, which marks it woken
/// before waking the task, and is polled only then. A plain `select!` polled the watchdog's
/// timer and notification, and the stop signal, several times per request.
struct Sentinel {
    woken: AtomicBool,
    task: std::sync::Mutex<Option<Waker>>,
}

impl Sentinel {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            woken: AtomicBool::new(true),
            task: std::sync::Mutex::new(None),
        })
    }

    async fn race<C: Future + Unpin>(
        self: &Arc<Self>,
        activity: &Activity,
        mut conn: C,
        mut watch: Pin<&mut (dyn Future<Output = Event> + Send + '_)>,
    ) -> Either<C::Output> {
        let waker = Waker::from(self.clone());
        self.woken.store(true, ORDER); // a new watch is polled once, so it arms itself
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = Pin::new(&mut conn).poll(cx) {
                return Poll::Ready(Either::Conn(out));
            }
            if activity.head_pending() {
                activity.changed.notify_one(); // wakes the watch through this sentinel
            }
            if self.woken.swap(false, ORDER) {
                if let Ok(mut task) = self.task.lock() {
                    if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                        *task = Some(cx.waker().clone());
                    }
                }
                if let Poll::Ready(event) = watch.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return Poll::Ready(Either::Watch(event));
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl std::task::Wake for Sentinel {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, ORDER);
        if let Ok(task) = self.task.lock() {
            if let Some(task) = task.as_ref() {
                task.wake_by_ref();
            }
        }
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
    /// A fault rule dropped the connection.
    Dropped,
}

impl Expiry {
    fn reason(self) -> &'static str {
        match self {
            Self::Head => "no complete request head within the header timeout",
            Self::Idle => "idle for the keep-alive timeout",
            Self::WriteStalled => "the client stopped reading the response",
            Self::Dropped => "a fault rule dropped the connection",
        }
    }
}

/// What the watchdog reads of a connection, written by its I/O (reads, blocked writes) and its
/// service (requests in flight). Times are microseconds since `epoch`.
///
/// A change wakes the watchdog only when it brings a deadline earlier than the one the watchdog
/// sleeps until (`wake_at`); while requests are in flight it looks again every
/// [`Activity::poll`]. So a busy keep-alive connection costs no wake-up per request. All
/// accesses are `SeqCst`: a change and the watchdog's `wake_at` must be seen in one order.
struct Activity {
    epoch: Instant,
    limits: ConnectionLimits,
    /// Requests whose answer hyper has not received yet.
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
    /// When the watchdog looks next; 0 while it is computing (every change then wakes it).
    wake_at: AtomicU64,
    /// A request head began: the watchdog is to learn of its deadline if the head is still
    /// incomplete once the connection has read what there was (see [`Activity::head_pending`]).
    head_began: AtomicBool,
    /// A fault rule's drop: 0 none, else [`Activity::DROP_RESET`] or [`Activity::DROP_CLOSE`].
    dropped: AtomicU8,
    changed: Notify,
}

const ORDER: Ordering = Ordering::SeqCst;

impl Activity {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            epoch: Instant::now(),
            limits,
            in_flight: AtomicUsize::new(0),
            since: AtomicU64::new(0),
            head: AtomicBool::new(true),
            write_blocked: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            read_any: AtomicBool::new(false),
            wake_at: AtomicU64::new(0),
            head_began: AtomicBool::new(false),
            dropped: AtomicU8::new(0),
            changed: Notify::new(),
        }
    }

    const DROP_RESET: u8 = 1;
    const DROP_CLOSE: u8 = 2;

    /// A fault rule asks for the connection to end without its response: wakes the watchdog.
    fn drop_connection(&self, mode: DropMode) {
        let code = match mode {
            DropMode::Reset => Self::DROP_RESET,
            DropMode::Close => Self::DROP_CLOSE,
        };
        self.dropped.store(code, ORDER);
        self.changed.notify_one();
    }

    fn now(&self) -> u64 {
        self.micros(Instant::now())
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    fn at(&self, micros: u64) -> Instant {
        self.epoch + Duration::from_micros(micros)
    }

    /// How often the watchdog looks while nothing is due (requests in flight).
    fn poll(&self) -> Duration {
        self.limits.header_timeout.min(self.limits.idle_timeout)
    }

    /// Wakes the watchdog when `deadline` comes before the time it sleeps until.
    fn nudge(&self, deadline: u64) {
        if deadline < self.wake_at.load(ORDER) {
            self.changed.notify_one();
        }
    }

    fn on_read(&self, bytes: &[u8]) {
        if !self.read_any.swap(true, ORDER) && bytes.starts_with(b"PRI ") {
            self.h2.store(true, ORDER);
        }
        if self.h2.load(ORDER) || self.head.load(ORDER) || self.in_flight.load(ORDER) > 0 {
            return;
        }
        self.since.store(self.now(), ORDER);
        self.head.store(true, ORDER);
        self.head_began.store(true, ORDER);
    }

    /// Whether a head began and is still incomplete, with a deadline before the watchdog's next
    /// look. Asked after each poll of the connection: a head that arrived whole was parsed and
    /// its request begun within that poll, and costs the watchdog no wake-up.
    fn head_pending(&self) -> bool {
        if !self.head_began.load(ORDER) || !self.head_began.swap(false, ORDER) {
            return false;
        }
        let deadline = self.since.load(ORDER) + self.limits.header_timeout.as_micros() as u64;
        self.head.load(ORDER)
            && self.in_flight.load(ORDER) == 0
            && deadline < self.wake_at.load(ORDER)
    }

    fn on_write(&self, pending: bool) {
        let blocked = self.write_blocked.load(ORDER);
        if pending && blocked == 0 {
            let now = self.now();
            self.write_blocked.store(now + 1, ORDER);
            self.nudge(now + self.limits.body_timeout.as_micros() as u64);
        } else if !pending && blocked != 0 {
            self.write_blocked.store(0, ORDER);
        }
    }

    /// A request is in flight: no deadline but a stalled write's until it ends.
    fn begin(&self) {
        self.in_flight.fetch_add(1, ORDER);
        self.head.store(false, ORDER);
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, ORDER) == 1 {
            let now = self.now();
            self.since.store(now, ORDER);
            self.nudge(now + self.limits.idle_timeout.as_micros() as u64);
        }
    }

    /// The earliest deadline the connection has now, and what passing it means.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let blocked = self.write_blocked.load(ORDER);
        let stall = (blocked != 0).then(|| {
            let at = self.at(blocked - 1) + self.limits.body_timeout;
            (at, Expiry::WriteStalled)
        });
        let phase = (self.in_flight.load(ORDER) == 0).then(|| {
            let since = self.at(self.since.load(ORDER));
            if self.head.load(ORDER) {
                (since + self.limits.header_timeout, Expiry::Head)
            } else {
                (since + self.limits.idle_timeout, Expiry::Idle)
            }
        });
        match (stall, phase) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Completes when the connection has passed its deadline.
    async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            if self.dropped.load(ORDER) != 0 {
                return Expiry::Dropped;
            }
            self.wake_at.store(0, ORDER);
            let now = Instant::now();
            let at = match self.deadline() {
                Some((at, why)) if now >= at => return why,
                Some((at, _)) => at,
                None => now + self.poll(),
            };
            self.wake_at.store(self.micros(at), ORDER);
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(at) => {}
            }
        }
    }
}

/// The TCP socket under a connection's I/O (plain or TLS), for a fault rule's drop.
trait Socket {
    fn tcp(&mut self) -> &mut TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

/// A connection's I/O, reporting reads and blocked writes to its [`Activity`].
struct Watched<I: Socket> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: Socket> Drop for Watched<I> {
    /// After a fault rule's drop: a reset sets `SO_LINGER` to 0, so closing sends RST; a close
    /// shuts the write half first, so the client reads end of stream (FIN), not a response.
    fn drop(&mut self) {
        match self.activity.dropped.load(ORDER) {
            Activity::DROP_RESET => {
                let _ = self.io.tcp().set_zero_linger();
            }
            Activity::DROP_CLOSE => {
                let mut cx = Context::from_waker(Waker::noop());
                // A TCP shutdown is immediate (it never returns Pending).
                let _ = Pin::new(self.io.tcp()).poll_shutdown(&mut cx);
            }
            _ => {}
        }
    }
}

impl<I: Socket + AsyncRead + Unpin> AsyncRead for Watched<I> {
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

impl<I: Socket + AsyncWrite + Unpin> AsyncWrite for Watched<I> {
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

/// The application as hyper calls it on one connection: each request counts as in flight until
/// its answer is handed to hyper (a client slow to read it is the write-stall deadline's).
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = TrackedFuture;

    fn call(&self, req: Request<Incoming>) -> TrackedFuture {
        let _in_flight = InFlight::begin(self.activity.clone());
        // A router is always ready (axum's services never apply backpressure).
        let answer = tower::Service::call(&mut self.app.clone(), req.map(Body::new));
        TrackedFuture {
            answer,
            activity: self.activity.clone(),
            dropped: false,
            _in_flight,
        }
    }
}

/// The router's answer, with its request in flight until it is ready (or dropped). An answer
/// that asks for the connection to be dropped is never handed over: the watchdog ends it.
struct TrackedFuture {
    answer: <Router as tower::Service<Request>>::Future,
    activity: Arc<Activity>,
    dropped: bool,
    _in_flight: InFlight,
}

impl Future for TrackedFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.dropped {
            return Poll::Pending;
        }
        match Pin::new(&mut self.answer).poll(cx) {
            Poll::Ready(Ok(res)) => match res.extensions().get::<DropConnection>() {
                Some(DropConnection(mode)) => {
                    self.dropped = true;
                    self.activity.drop_connection(*mode);
                    Poll::Pending
                }
                None => Poll::Ready(Ok(res)),
            },
            other => other,
        }
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
