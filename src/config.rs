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

/// Default connection timeouts (see [`ConnectionLimits`]).
pub(crate) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longer than the idle timeout of common client pools (Go and hyper 90 s, .NET 60 s), so the
/// server is rarely the side that closes a pooled connection under a client's new request.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Most connections served at once by default (fewer when the open-file limit is lower).
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// File descriptors kept free for everything but client connections (fixtures, logs, refusals).
const RESERVED_FDS: usize = 128;

/// How long a client may take at each step of an exchange, and how many connections are served
/// at once: what keeps idle, slow or stalled clients from holding the server's sockets forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A complete request head (and, on HTTPS, the handshake before it) must arrive within this,
    /// counted from the connection's accept or from the first byte of a later request.
    pub header_timeout: Duration,
    /// Longest stall of a request body (no byte arriving) before the request is answered 408, and
    /// of a response on a client that does not read it before the connection is dropped.
    pub body_timeout: Duration,
    /// From the request head to the response head: past it, 408 if the body was still arriving,
    /// else 503.
    pub request_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once (at least 1); one more is answered 503 (HTTP) or closed
    /// (HTTPS) at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// 10,000, or fewer when the soft open-file limit would not leave room for that many sockets
/// plus the reserve (Linux: read from `/proc/self/limits`; elsewhere 10,000).
pub(crate) fn default_max_connections() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    max_connections_for(open_file_limit(&limits))
}

/// The soft "Max open files" of a `/proc/self/limits` text; `None` when unlimited or absent.
fn open_file_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn max_connections_for(soft_fd_limit: Option<usize>) -> usize {
    match soft_fd_limit {
        Some(fds) => fds
            .saturating_sub(RESERVED_FDS)
            .max(fds / 2)
            .clamp(1, DEFAULT_MAX_CONNECTIONS),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

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
    /// Timeouts and the connection cap of the listener.
    pub connections: ConnectionLimits,
    /// Where every tenant's state, the clock and the per-tenant settings are kept across
    /// restarts (`--state-file`); `None`: in memory only.
    pub state_file: Option<PathBuf>,
    /// Requests the journal (`GET /_mock/requests`) keeps, oldest dropped first; 0 turns it off.
    pub journal_size: usize,
    /// When set, every `/_mock/` route but `/_mock/health` needs `Authorization: Bearer <it>`.
    pub admin_token: Option<AdminToken>,
}

/// The control plane's bearer token (`--admin-token`). Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token from its text; `None` when empty.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.trim().is_empty()).then_some(Self(token))
    }

    /// The token's text (for a client of this server that must present it).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token (compared through SHA-256, in constant time).
    pub(crate) fn admits(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (
            Sha256::digest(self.0.as_bytes()),
            Sha256::digest(presented.as_bytes()),
        );
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

impl std::str::FromStr for AdminToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::new(s).ok_or_else(|| "the admin token is empty".to_owned())
    }
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
            connections: ConnectionLimits::default(),
            state_file: None,
            journal_size: crate::journal::DEFAULT_JOURNAL_SIZE,
            admin_token: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_follows_a_low_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_file_limit(limits), Some(1024));
        assert_eq!(max_connections_for(Some(1024)), 1024 - RESERVED_FDS);
        assert_eq!(max_connections_for(Some(200)), 100);
        assert_eq!(max_connections_for(Some(1)), 1);
        assert_eq!(max_connections_for(Some(1 << 20)), DEFAULT_MAX_CONNECTIONS);
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_file_limit(unlimited), None);
        assert_eq!(max_connections_for(None), DEFAULT_MAX_CONNECTIONS);
    }
}
