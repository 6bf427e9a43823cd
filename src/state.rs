//! `AppState`: the one `Clone` bundle of cheap handles every handler and middleware receives.

use std::sync::Arc;

use crate::{
    auth::{Authenticator, Keys},
    clock::{Clock, ClockMode},
    identity::Directory,
    store::{FleetMachine, Store, StoreOptions},
    throttle::{self, Limiter},
};

/// Server-wide behaviour, as the command line sets it.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub store: StoreOptions,
    pub clock: ClockMode,
    pub rate_limits: throttle::Settings,
    /// Rows per collection page when the client sends no `$top` (the real service: 10000).
    pub page_size: usize,
    /// Shape of the tokens the token endpoints issue.
    pub token_version: TokenVersion,
}

/// Shape of issued tokens: v1 (what the MDE resource gets from Entra) or v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TokenVersion {
    #[default]
    V1,
    V2,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: StoreOptions::default(),
            clock: ClockMode::System,
            rate_limits: throttle::Settings::default(),
            page_size: crate::odata::MAX_TOP,
            token_version: TokenVersion::V1,
        }
    }
}

/// Shared state of a running emulator.
#[derive(Debug, Clone)]
pub struct AppState {
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
    /// State for a server over `fleet`, signing with `keys`.
    pub fn new(fleet: Vec<FleetMachine>, config: Config, keys: Keys) -> Self {
        Self {
            store: Arc::new(Store::new(fleet, config.store)),
            clock: Arc::new(Clock::new(config.clock)),
            auth: Arc::new(Authenticator::new(keys)),
            limiter: Arc::new(Limiter::new(config.rate_limits)),
            directory: Arc::new(Directory::new(Vec::new(), Vec::new())),
            page_size: config.page_size.clamp(1, crate::odata::MAX_TOP),
            token_version: config.token_version,
            scheme: "http",
        }
    }

    /// The same state with `directory` as its app registrations and users.
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Arc::new(directory);
        self
    }

    /// The same state serving `https` (for `@odata.context` and discovery documents).
    pub fn with_https(mut self) -> Self {
        self.scheme = "https";
        self
    }
}
