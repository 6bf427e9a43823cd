//! `AppState`: the one `Clone` bundle of cheap handles every handler and middleware receives.

use std::sync::Arc;

use crate::{
    auth::{Authenticator, Keys},
    clock::Clock,
    config::{Config, TokenVersion, MAX_PAGE_SIZE},
    identity::Directory,
    store::{FleetMachine, Store},
    throttle::Limiter,
};

/// Shared state of a running emulator.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub clock: Arc<Clock>,
    pub auth: Arc<Authenticator>,
    pub limiter: Arc<Limiter>,
    /// App registrations and users.
    pub directory: Arc<Directory>,
    /// Rows per collection page without `$top`.
    pub page_size: usize,
    /// Shape of issued tokens.
    pub token_version: TokenVersion,
    /// `http` or `https`: the scheme `@odata.context` and discovery documents use.
    pub scheme: &'static str,
}

impl AppState {
    /// State for a server over `fleet` with `directory`, signing with `keys`, as `config` says.
    pub(crate) fn new(
        fleet: Vec<FleetMachine>,
        directory: Directory,
        keys: Keys,
        config: &Config,
    ) -> Self {
        Self {
            store: Arc::new(Store::new(fleet, config.store)),
            clock: Arc::new(Clock::new(config.clock)),
            auth: Arc::new(Authenticator::with_capacity(keys, config.token_cache)),
            limiter: Arc::new(Limiter::new(config.rate_limits)),
            directory: Arc::new(directory),
            page_size: config.page_size.clamp(1, MAX_PAGE_SIZE),
            token_version: config.token_version,
            scheme: if config.tls.is_some() {
                "https"
            } else {
                "http"
            },
        }
    }

    /// The secret that signs investigation-package links (the signing key's PEM: stable across
    /// restarts with the same key, unknown to clients).
    pub(crate) fn package_key(&self) -> &[u8] {
        self.auth.keys().pem.as_bytes()
    }
}
