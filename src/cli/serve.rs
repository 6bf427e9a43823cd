//! `serve`: its flags (each with an env twin), the `Config` they describe, and running it.

use super::*;
use crate::{
    config::{
        default_max_connections, AdminToken, ConnectionLimits, DEFAULT_BODY_TIMEOUT,
        DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    },
    throttle::{MAX_PER_HOUR, MAX_PER_MINUTE},
};

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the ready line says which).
    #[arg(long, env = "DEFENDER_MOCK_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Folder of machine fixtures (*.json) to load instead of the embedded fleet.
    #[arg(long, env = "DEFENDER_MOCK_FIXTURES")]
    pub fixtures: Option<PathBuf>,
    /// `system`: wall time plus advances; `frozen`: moves only through /_mock/clock/advance.
    #[arg(
        long,
        env = "DEFENDER_MOCK_CLOCK",
        value_enum,
        default_value = "system"
    )]
    pub clock: ClockMode,
    /// What a duplicate action gets while one of its group is in flight on the machine.
    #[arg(
        long,
        env = "DEFENDER_MOCK_DUPLICATE_POLICY",
        value_enum,
        default_value = "reject"
    )]
    pub duplicate_policy: DuplicatePolicy,
    /// Refuse isolate on an isolated machine and unisolate on a released one (400 BadRequest).
    #[arg(long, env = "DEFENDER_MOCK_STRICT_STATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub strict_state: bool,
    /// RSA private key (PEM) to sign and verify tokens with, instead of the development key.
    #[arg(long, env = "DEFENDER_MOCK_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Keep every tenant's state, the clock and per-tenant settings in this file across restarts
    /// (loaded at start, written shortly after changes and at shutdown; a corrupt file stops
    /// start-up and is left untouched).
    #[arg(long, env = "DEFENDER_MOCK_STATE_FILE")]
    pub state_file: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(
        long,
        env = "DEFENDER_MOCK_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
    /// Seconds until a device picks an action up (Pending → InProgress).
    #[arg(long, env = "DEFENDER_MOCK_PICKUP_DELAY", default_value_t = Simulation::default().pickup_delay_seconds,
          value_parser = clap::value_parser!(u64).range(..=MAX_DELAY_SECONDS))]
    pub pickup_delay: u64,
    /// Seconds from pickup until the action ends.
    #[arg(long, env = "DEFENDER_MOCK_COMPLETION_DELAY", default_value_t = Simulation::default().completion_delay_seconds,
          value_parser = clap::value_parser!(u64).range(..=MAX_DELAY_SECONDS))]
    pub completion_delay: u64,
    /// Devices start offline unless their fixture says otherwise (actions then time out after 3 days).
    #[arg(long, env = "DEFENDER_MOCK_OFFLINE", value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
    /// How actions end on machines whose fixture does not say.
    #[arg(
        long,
        env = "DEFENDER_MOCK_OUTCOME",
        value_enum,
        default_value = "succeeded"
    )]
    pub outcome: Outcome,
    /// `documented`: 100 calls/min and 1500/hour per tenant, app and endpoint (429 beyond); `off`.
    #[arg(
        long,
        env = "DEFENDER_MOCK_RATE_LIMITS",
        value_enum,
        default_value = "documented"
    )]
    pub rate_limits: RateLimitMode,
    /// Replaces the documented 100 calls per minute of the action and read endpoints.
    #[arg(long, env = "DEFENDER_MOCK_RATE_LIMIT_PER_MINUTE",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PER_MINUTE)))]
    pub rate_limit_per_minute: Option<u32>,
    /// Replaces the documented 1500 calls per hour of the action and read endpoints.
    #[arg(long, env = "DEFENDER_MOCK_RATE_LIMIT_PER_HOUR",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PER_HOUR)))]
    pub rate_limit_per_hour: Option<u32>,
    /// Rows per page of `GET /api/machines` and `/api/machineactions` without `$top` (1-10000);
    /// lower it to exercise `@odata.nextLink` paging on a small fleet.
    #[arg(long, env = "DEFENDER_MOCK_PAGE_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page_size: u64,
    /// Shape of the tokens the token endpoints issue (v1, as Entra issues them for this API).
    #[arg(
        long,
        env = "DEFENDER_MOCK_TOKEN_VERSION",
        value_enum,
        default_value = "v1"
    )]
    pub token_version: TokenVersion,
    /// Serve HTTPS with a certificate from the emulator's own CA (see --tls-dir).
    #[arg(long, env = "DEFENDER_MOCK_TLS", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls: bool,
    /// Where the CA (`ca.pem`, `ca-key.pem`) is kept and reused across restarts
    /// [default: $XDG_DATA_HOME/defender-mock/tls or ~/.local/share/defender-mock/tls].
    #[arg(long, env = "DEFENDER_MOCK_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Seconds in-flight requests may still run after SIGTERM/SIGINT before the process exits.
    #[arg(long, env = "DEFENDER_MOCK_SHUTDOWN_GRACE", default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs_f64(),
          value_parser = parse_grace)]
    pub shutdown_grace: f64,
    /// Serve HTTPS with this certificate chain (PEM) instead; needs --tls-key.
    #[arg(long, env = "DEFENDER_MOCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "DEFENDER_MOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client has to send a complete request head (and finish the TLS handshake),
    /// from connecting or from the first byte of a later request; then the connection is closed.
    #[arg(long, env = "DEFENDER_MOCK_HEADER_TIMEOUT", default_value_t = DEFAULT_HEADER_TIMEOUT.as_secs_f64(),
          value_parser = parse_timeout)]
    pub header_timeout: f64,
    /// Seconds a request body may stall (no byte arriving) before it is answered 408; also how
    /// long a client may leave a response unread before the connection is dropped.
    #[arg(long, env = "DEFENDER_MOCK_BODY_TIMEOUT", default_value_t = DEFAULT_BODY_TIMEOUT.as_secs_f64(),
          value_parser = parse_timeout)]
    pub body_timeout: f64,
    /// Seconds from a request's head to its answer: past it, 408 if its body was still arriving,
    /// else 503.
    #[arg(long, env = "DEFENDER_MOCK_REQUEST_TIMEOUT", default_value_t = DEFAULT_REQUEST_TIMEOUT.as_secs_f64(),
          value_parser = parse_timeout)]
    pub request_timeout: f64,
    /// Seconds a keep-alive connection may stay without a request before it is closed.
    #[arg(long, env = "DEFENDER_MOCK_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs_f64(),
          value_parser = parse_timeout)]
    pub idle_timeout: f64,
    /// Connections served at once; one more is answered 503 (HTTPS: closed) at once
    /// [default: 10000, or the open-file limit less 128 when that is lower].
    #[arg(long, env = "DEFENDER_MOCK_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Requests the journal (`GET /_mock/requests`) keeps, oldest dropped first; 0 turns it off.
    #[arg(long, env = "DEFENDER_MOCK_JOURNAL_SIZE", default_value_t = crate::journal::DEFAULT_JOURNAL_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=1_000_000))]
    pub journal_size: usize,
    /// Require `Authorization: Bearer TOKEN` on every control-plane route but /_mock/health
    /// (without it, anyone who can reach the port can change the emulator's state).
    #[arg(long, env = "DEFENDER_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<AdminToken>,
}

/// A timeout in seconds: more than 0, at most a day.
fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.001..=86_400.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0.001 to 86400".to_owned()),
    }
}

pub(super) fn parse_grace(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0 to 3600".to_owned()),
    }
}

impl ServeArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> Config {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Pair {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ if self.tls => Some(TlsSource::Ca(
                self.tls_dir.clone().unwrap_or_else(tls::default_dir),
            )),
            _ => None,
        };
        Config {
            listen: self.listen.clone(),
            fixtures: self.fixtures.clone(),
            fleet: None,
            signing_key: self.signing_key.clone(),
            tls,
            store: StoreOptions {
                duplicate_policy: self.duplicate_policy,
                strict_state: self.strict_state,
                simulation: Simulation {
                    pickup_delay_seconds: self.pickup_delay,
                    completion_delay_seconds: self.completion_delay,
                    outcome: self.outcome,
                    online: !self.offline,
                    ..Simulation::default()
                },
            },
            clock: self.clock,
            rate_limits: RateLimits {
                mode: self.rate_limits,
                per_minute: self.rate_limit_per_minute,
                per_hour: self.rate_limit_per_hour,
            },
            page_size: usize::try_from(self.page_size).unwrap_or(MAX_PAGE_SIZE),
            token_version: self.token_version,
            shutdown_grace: Duration::from_secs_f64(self.shutdown_grace),
            connections: self.connection_limits(),
            state_file: self.state_file.clone(),
            journal_size: self.journal_size,
            admin_token: self.admin_token.clone(),
            ..Config::default()
        }
    }

    /// The connection limits: the timeouts as given, the cap as given or derived.
    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs_f64(self.header_timeout),
            body_timeout: Duration::from_secs_f64(self.body_timeout),
            request_timeout: Duration::from_secs_f64(self.request_timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            max_connections: self
                .max_connections
                .map_or_else(default_max_connections, |n| n as usize),
        }
    }
}

/// Runs the emulator until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), StartupError> {
    telemetry::init(args.log_format);
    let app = Application::build(args.config()).await?;
    if let Some(ca) = app.ca_path() {
        tracing::info!(ca = %ca.display(), "TLS certificate issued by the defender-mock CA: trust this file once");
    }
    let protected = args.admin_token.is_some();
    ready_line(&app.url(), protected);
    tracing::info!(url = %app.url(), machines = app.emulator().fleet_size(), clock = ?args.clock,
        control_plane = if protected { "admin token" } else { "open" }, "defender-mock ready");
    if let Err(e) = app.run_until_stopped().await {
        tracing::error!(error = %e, "server error");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The ready line of `serve` on stdout: scripts and tests read the URL (and the port) from its
/// first line, which is unchanged; the second says whether the control plane is open.
fn ready_line(url: &str, protected: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "defender-mock listening on {url}");
    let _ = if protected {
        writeln!(
            out,
            "defender-mock control plane {url}/_mock/ requires the admin token (--admin-token)"
        )
    } else {
        writeln!(out, "defender-mock control plane {url}/_mock/ is OPEN: anyone who can reach this port can change the emulator's state (set --admin-token to protect it)")
    };
    let _ = out.flush();
}
