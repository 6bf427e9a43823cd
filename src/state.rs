//! `AppState`: the one `Clone` bundle of cheap handles every handler and middleware receives.

use std::sync::Arc;

use crate::{
    auth::{Authenticator, Keys},
    clock::{Clock, ClockMode},
    store::{FleetMachine, Store, StoreOptions},
    throttle::{self, Limiter},
};

/// Server-wide behaviour, as the command line sets it.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub store: StoreOptions,
    pub clock: ClockMode,
    pub rate_limits: throttle::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: StoreOptions::default(),
            clock: ClockMode::System,
            rate_limits: throttle::Settings::default(),
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
            scheme: "http",
        }
    }
}
