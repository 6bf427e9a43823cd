//! Building an emulator from a [`Config`] (`Emulator`, `Application`) and serving it until a stop
//! signal, with a bounded grace for in-flight requests, under the connection limits (`serve`:
//! the accept loop and its watchdog; `deadlines`: the request and body timeouts). The binary and
//! the tests build state here and nowhere else.

use std::{future::Future, io, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    extract::{DefaultBodyLimit, State},
    middleware::from_fn_with_state,
    Router,
};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tower::{util::MapRequestLayer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    auth::{self, token::MintError, Keys, TokenSpec},
    config::{Config, ConnectionLimits, TlsSource},
    fixtures::{self, FixtureError, Fleet},
    middleware,
    persist::{Dirty, Parts, Persister},
    routes::{self, extract::MAX_BODY_BYTES},
    state::AppState,
    tls,
};

mod deadlines;
mod serve;

/// An advance the emulator clock refuses: it cannot pass the year 9000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the emulator clock cannot pass the year 9000")]
pub struct ClockLimit;

/// Why an emulator could not start. Each variant names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A machine, app or user fixture is invalid (file, entry and field are in it).
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// The signing key file cannot be read or is not an RSA private key.
    #[error("signing key {}: {reason}", path.display())]
    SigningKey { path: PathBuf, reason: String },
    /// The TLS certificate, key or CA folder is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: io::Error },
    /// A token cannot be minted as asked.
    #[error("cannot mint the token: {0}")]
    Token(#[from] MintError),
    /// The running emulator `token --server` asked did not mint the token.
    #[error("token from {server}: {reason}")]
    Server { server: String, reason: String },
    /// The state file cannot be read or is not a state file; it is left as it is.
    #[error("state file {}: {reason} (the file is left untouched; move it away or fix it to start)", path.display())]
    StateFile { path: PathBuf, reason: String },
}

/// An emulator's state and router, without a listener: what in-process tests drive with
/// `oneshot`, and what [`Application`] serves. Cloning is cheap (shared handles).
#[derive(Debug, Clone)]
pub struct Emulator {
    state: AppState,
    limits: ConnectionLimits,
    /// The state file and its writer, with `--state-file`.
    persister: Option<Persister>,
}

/// How long after a change the state file is written.
const STATE_FILE_DEBOUNCE: Duration = Duration::from_millis(200);

impl Emulator {
    /// Loads the fleet, its alerts, the directory and the signing key `config` names.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        let fleet = match (&config.fleet, &config.fixtures) {
            (Some(fleet), _) => fleet.clone(),
            (None, Some(dir)) => Fleet::from_dir(dir)?,
            (None, None) => Fleet::embedded()?,
        };
        let alerts = match (&config.fleet, &config.fixtures) {
            (_, Some(dir)) => fixtures::load_alerts(dir, &fleet.0)?,
            (fleet_in_code, None) => fixtures::default_alerts(&fleet.0, fleet_in_code.is_none())?,
        };
        let directory = fixtures::load_directory(config.fixtures.as_deref())?;
        let keys = load_keys(config.signing_key.as_deref())?;
        let state = AppState::new(fleet.0, alerts, directory, keys, config);
        let persister = match &config.state_file {
            None => None,
            Some(path) => {
                let persister = Persister {
                    path: path.clone(),
                    parts: Parts {
                        store: Arc::clone(state.store()),
                        limiter: Arc::clone(state.limiter()),
                        clock: Arc::clone(state.clock()),
                    },
                    dirty: Arc::new(Dirty::default()),
                    debounce: STATE_FILE_DEBOUNCE,
                    writing: Arc::default(),
                };
                let loaded =
                    persister
                        .parts
                        .load(path)
                        .map_err(|reason| StartupError::StateFile {
                            path: path.clone(),
                            reason,
                        })?;
                crate::persist::remove_leftovers(path);
                if loaded {
                    tracing::info!(file = %path.display(), "state loaded");
                } else {
                    // A first start: the file is written now, so a path that cannot be written
                    // stops start-up rather than every later save.
                    crate::persist::write_atomic(path, &persister.parts.encode()).map_err(|e| {
                        StartupError::StateFile {
                            path: path.clone(),
                            reason: format!("cannot write: {e}"),
                        }
                    })?;
                }
                Some(persister)
            }
        };
        Ok(Self {
            state,
            limits: config.connections,
            persister,
        })
    }

    /// The whole application: routes behind path normalisation, inside the middleware stack
    /// (with the request and body timeouts of the config).
    pub fn router(&self) -> Router {
        app(self.state.clone(), self.limits)
    }

    /// The emulator's current time (moved by `POST /_mock/clock/advance`).
    pub fn now(&self) -> OffsetDateTime {
        self.state.clock().now()
    }

    /// A token signed with the emulator's key, issued at the emulator's current time.
    pub fn mint(&self, spec: TokenSpec) -> Result<String, MintError> {
        let spec = TokenSpec {
            now: self.now(),
            ..spec
        };
        auth::token::mint(self.state.keys(), &spec)
    }

    /// Moves the emulator clock forward by `by` (as `POST /_mock/clock/advance` does) and returns
    /// the new time; refused, changing nothing, past the year 9000.
    pub fn advance(&self, by: std::time::Duration) -> Result<OffsetDateTime, ClockLimit> {
        let by = time::Duration::try_from(by).map_err(|_| ClockLimit)?;
        self.state.clock().advance(by).map_err(|_| ClockLimit)
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// How many machines the fixture fleet has.
    pub fn fleet_size(&self) -> usize {
        self.state.store().fleet_len()
    }
}

fn load_keys(path: Option<&std::path::Path>) -> Result<Keys, StartupError> {
    Keys::load(path).map_err(|reason| StartupError::SigningKey {
        path: path.map(PathBuf::from).unwrap_or_default(),
        reason,
    })
}

/// An emulator bound to its address, ready to serve: `build`, read `local_addr`, then run.
pub struct Application {
    emulator: Emulator,
    listener: serve::Listener,
    addr: SocketAddr,
    grace: Duration,
    /// Where the emulator's CA is, when it issued the certificate.
    ca_path: Option<PathBuf>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Loads everything `config` names and binds its listen address (port 0: a free port).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let emulator = Emulator::new(&config)?;
        let tls = match &config.tls {
            None => None,
            Some(TlsSource::Ca(dir)) => {
                Some(tls::from_dir(dir.as_path()).map_err(StartupError::Tls)?)
            }
            Some(TlsSource::Pair { cert, key }) => {
                Some(tls::from_pair(cert.as_path(), key.as_path()).map_err(StartupError::Tls)?)
            }
        };
        let listen_err = |source| StartupError::Listen {
            addr: config.listen.clone(),
            source,
        };
        let tcp = TcpListener::bind(&config.listen)
            .await
            .map_err(listen_err)?;
        let addr = tcp.local_addr().map_err(listen_err)?;
        let (tls, ca_path) = match tls {
            Some(tls) => (Some(tls::Acceptor::new(tls.config)), tls.ca_path),
            None => (None, None),
        };
        Ok(Self {
            emulator,
            listener: serve::Listener { tcp, tls },
            addr,
            grace: config.shutdown_grace,
            ca_path,
        })
    }

    /// The bound address (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.emulator.state.scheme(), self.addr)
    }

    /// The emulator this application serves (tokens, clock, router).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The CA file clients must trust, when the emulator issued the certificate itself.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.ca_path.as_deref()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for at most the
    /// configured grace.
    /// With a state file, every request that may change state marks it dirty, a background
    /// task writes it shortly after, and it is written once more after the last request.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let mut app = self.emulator.router();
        let limits = self.emulator.limits;
        let Some(persister) = self.emulator.persister.clone() else {
            return serve::run(self.listener, app, limits, shutdown, self.grace).await;
        };
        app = app.layer(from_fn_with_state(Arc::clone(&persister.dirty), mark_dirty));
        let writer = tokio::spawn(persister.clone().run());
        let served = serve::run(self.listener, app, limits, shutdown, self.grace).await;
        writer.abort();
        let _ = writer.await;
        if let Err(e) = persister.save().await {
            tracing::error!(file = %persister.path.display(), error = %e, "cannot write the state file");
        }
        served
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Marks the state file dirty after every request that may have changed state (reads only
/// settle what the clock already decided, which a reload settles the same way).
async fn mark_dirty(
    State(dirty): State<Arc<Dirty>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let writes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let res = next.run(req).await;
    if writes {
        dirty.mark();
    }
    res
}

/// The whole application: routes behind path normalisation, inside the middleware stack.
pub(crate) fn app(state: AppState, limits: ConnectionLimits) -> Router {
    // One routing pass for a path as the route table spells it (what clients send): the table is
    // matched first, and only a path it misses is normalised (`/api/v1.0/`, route words in any
    // case, a trailing slash) and routed again, by the fallback. That second pass runs inside the
    // stack already applied, on the router without it.
    let routed = routes::router(state.clone());
    let normalized = ServiceBuilder::new()
        .layer(MapRequestLayer::new(routes::normalize))
        .service(routed.clone());
    routed.fallback_service(normalized).layer(
        // Top to bottom = outermost first: the request context sees every response, panics and
        // timeouts included, and renders every error body.
        ServiceBuilder::new()
            .layer(from_fn_with_state(state, middleware::request_context))
            .layer(deadlines::DeadlinesLayer(limits))
            .layer(CatchPanicLayer::custom(middleware::panic_response))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
