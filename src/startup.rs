//! Building the application (`app`) and serving it (`run`), shared by the binary and the tests.

use std::{future::Future, io};

use axum::{extract::DefaultBodyLimit, middleware::from_fn, serve::Listener, Router};
use tower::{util::MapRequestLayer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    middleware,
    routes::{self, extract::MAX_BODY_BYTES},
    state::AppState,
};

/// The whole application: routes behind path normalisation, inside the middleware stack.
pub fn app(state: AppState) -> Router {
    // Normalising the path must happen before routing, and `Router::layer` runs after it; so the
    // routed app is the fallback service of an outer router that carries the stack.
    let routed = ServiceBuilder::new()
        .layer(MapRequestLayer::new(routes::normalize))
        .service(routes::router(state));
    Router::new().fallback_service(routed).layer(
        // Top to bottom = outermost first: the request context sees every response, panics
        // included, and renders every error body.
        ServiceBuilder::new()
            .layer(from_fn(middleware::request_context))
            .layer(CatchPanicLayer::custom(middleware::panic_response))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// Serves `state` on an already-bound listener (TCP, or `tls::TlsListener`) until `shutdown`
/// completes.
pub async fn run<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app(state).into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

/// How long in-flight requests may still run after SIGTERM / SIGINT before the process exits.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves until SIGINT/SIGTERM, then stops accepting, lets in-flight requests finish, and returns
/// within [`SHUTDOWN_GRACE`] even if some never do (a hung client must not stall `docker stop`).
pub async fn run_until_signal<L>(listener: L, state: AppState) -> io::Result<()>
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let deadline = {
        let rx = stop_rx.clone();
        async move {
            stopped(rx).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    tokio::select! {
        served = run(listener, state, stopped(stop_rx)) => served,
        () = deadline => {
            tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "in-flight requests outlived the shutdown grace period");
            Ok(())
        }
    }
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
