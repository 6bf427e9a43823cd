//! Configuration of one emulator: everything `serve` takes, as one typed struct that the command
//! line builds and that tests and embedding programs build directly.

use std::{path::PathBuf, time::Duration};

use crate::fixtures::Fleet;
pub use crate::{
    auth::token::TokenVersion,
    clock::ClockMode,
    store::{DuplicatePolicy, Outcome, Simulation, StoreOptions},
    telemetry::LogFormat,
    throttle::{Mode as RateLimitMode, Settings as RateLimits},
};

/// Default listen address; the port is documented in the README.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:5088";
/// Rows per collection page without `$top`, as the real service pages (and the most `$top` takes).
pub(crate) const MAX_PAGE_SIZE: usize = 10_000;
/// How long in-flight requests may still run after a stop before the server exits.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Issued by the emulator's own CA, kept (and reused) in this folder.
    Ca(PathBuf),
    /// A certificate chain and its key, both PEM.
    Pair { cert: PathBuf, key: PathBuf },
}

/// Everything one emulator is built from. `Config::default()` is `defender-mock serve` with no
/// flags; tests start from it with `listen: "127.0.0.1:0"` and a frozen clock.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Fixture folder (machine files, `apps.json`, `users.json`); `None`: the embedded samples.
    pub fixtures: Option<PathBuf>,
    /// Machines to serve instead of the fixture folder's (tests and embedding programs).
    pub fleet: Option<Fleet>,
    /// RSA private key (PEM file) to sign and verify tokens with; `None`: the development key.
    pub signing_key: Option<PathBuf>,
    /// HTTPS, or plain HTTP when `None`.
    pub tls: Option<TlsSource>,
    /// Duplicate policy, strict state and device simulation defaults.
    pub store: StoreOptions,
    pub clock: ClockMode,
    pub rate_limits: RateLimits,
    /// Rows per collection page when the client sends no `$top` (1 to 10,000, as the real service).
    pub page_size: usize,
    /// Shape of the tokens the token endpoints issue.
    pub token_version: TokenVersion,
    /// How long in-flight requests may run after a stop signal.
    pub shutdown_grace: Duration,
    /// Verified tokens kept, so each token's RS256 signature is checked once (at least 1).
    pub token_cache: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            fixtures: None,
            fleet: None,
            signing_key: None,
            tls: None,
            store: StoreOptions::default(),
            clock: ClockMode::System,
            rate_limits: RateLimits::default(),
            page_size: MAX_PAGE_SIZE,
            token_version: TokenVersion::V1,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            token_cache: crate::auth::DEFAULT_TOKEN_CACHE,
        }
    }
}

impl Config {
    /// The configuration tests start from: a free loopback port and a frozen clock.
    pub fn for_tests() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            clock: ClockMode::Frozen,
            ..Self::default()
        }
    }
}
