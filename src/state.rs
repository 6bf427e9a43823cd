//! `AppState`: the one `Clone` bundle of cheap handles every handler and middleware receives.

use std::sync::Arc;

use crate::{
    auth::{Authenticator, Keys},
    clock::Clock,
    config::{AdminToken, Config, TokenVersion, MAX_PAGE_SIZE},
    faults::Faults,
    identity::Directory,
    journal::Journal,
    store::{FleetMachine, Store},
    throttle::Limiter,
};

/// Shared state of a running emulator. Fields are private: handlers reach the pieces through
/// the accessors, and only `new` builds it.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    store: Arc<Store>,
    clock: Arc<Clock>,
    auth: Arc<Authenticator>,
    limiter: Arc<Limiter>,
    /// App registrations and users.
    directory: Arc<Directory>,
    /// Rows per collection page without `$top`.
    page_size: usize,
    /// Shape of issued tokens.
    token_version: TokenVersion,
    /// `http` or `https`: the scheme `@odata.context` and discovery documents use.
    scheme: &'static str,
    /// The request journal.
    journal: Arc<Journal>,
    /// Fault rules.
    faults: Arc<Faults>,
    /// The control plane's token, when it needs one.
    admin_token: Option<Arc<AdminToken>>,
}

impl AppState {
    /// State for a server over `fleet` and its `alerts` with `directory`, signing with `keys`,
    /// as `config` says.
    pub(crate) fn new(
        fleet: Vec<FleetMachine>,
        alerts: Vec<crate::model::Alert>,
        directory: Directory,
        keys: Keys,
        config: &Config,
    ) -> Self {
        Self {
            store: Arc::new(Store::new(fleet, config.store).with_alerts(alerts)),
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
            journal: Arc::new(Journal::new(config.journal_size)),
            faults: Arc::new(Faults::default()),
            admin_token: config.admin_token.clone().map(Arc::new),
        }
    }

    /// Every tenant's machines and actions.
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The emulator clock.
    pub(crate) fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// The bearer-token verifier.
    pub(crate) fn authenticator(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// The request journal.
    pub(crate) fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The fault rules.
    pub(crate) fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The control plane's token, when `--admin-token` set one.
    pub(crate) fn admin_token(&self) -> Option<&AdminToken> {
        self.admin_token.as_deref()
    }

    /// The signing keys.
    pub(crate) fn keys(&self) -> &Keys {
        self.auth.keys()
    }

    /// The rate limiter.
    pub(crate) fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// App registrations and users.
    pub(crate) fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// Rows per collection page without `$top`.
    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// Shape of issued tokens.
    pub(crate) fn token_version(&self) -> TokenVersion {
        self.token_version
    }

    /// `http` or `https`.
    pub(crate) fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The secret that signs investigation-package links (the signing key's PEM: stable across
    /// restarts with the same key, unknown to clients).
    pub(crate) fn package_key(&self) -> &[u8] {
        self.auth.keys().pem.as_bytes()
    }
}
