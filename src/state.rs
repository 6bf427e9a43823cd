//! `AppState`: the one `Clone` bundle of cheap handles every handler and middleware receives.

use std::sync::Arc;

use crate::{
    auth::{Authenticator, Keys},
    clock::{Clock, ClockMode},
    store::{FleetMachine, Store, StoreOptions},
};

/// Shared state of a running emulator.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub clock: Arc<Clock>,
    pub auth: Arc<Authenticator>,
    /// `http` or `https`: the scheme `@odata.context` and discovery documents use.
    pub scheme: &'static str,
}

impl AppState {
    /// State for a server over `fleet`, signing with `keys`.
    pub fn new(
        fleet: Vec<FleetMachine>,
        options: StoreOptions,
        clock: ClockMode,
        keys: Keys,
    ) -> Self {
        Self {
            store: Arc::new(Store::new(fleet, options)),
            clock: Arc::new(Clock::new(clock)),
            auth: Arc::new(Authenticator::new(keys)),
            scheme: "http",
        }
    }
}
