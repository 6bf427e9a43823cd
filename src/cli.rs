//! The command line: `serve` (default), `token` and `health`. Every `serve` flag has an env twin
//! `DEFENDER_MOCK_*`, so a container or CI job configures the emulator without arguments.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{
    auth::{
        token::{self, TokenSpec, DEV_APP_ID, DEV_APP_NAME, DEV_TENANT_ID},
        Keys,
    },
    clock::ClockMode,
    fixtures, startup,
    state::{AppState, Config, TokenVersion},
    store::{DuplicatePolicy, Outcome, Simulation, StoreOptions},
    telemetry::{self, LogFormat},
    throttle, tls,
};

/// Default listen address; the port is documented in the README.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5088";
/// Every app role the MDE machine APIs know (the development app holds them all).
pub const ALL_ROLES: &[&str] = &[
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.Offboard",
    "Machine.StopAndQuarantine",
    "Machine.LiveResponse",
    "Machine.Read.All",
    "Machine.ReadWrite.All",
];
/// Delegated scopes of the development user.
pub const ALL_SCOPES: &str = "Machine.Isolate Machine.RestrictExecution Machine.Scan Machine.CollectForensics Machine.Offboard Machine.StopAndQuarantine Machine.LiveResponse Machine.Read Machine.ReadWrite";
/// The development user.
pub const DEV_USER_UPN: &str = "analyst@defendermock.onmicrosoft.com";

/// Local emulator of the Microsoft Defender for Endpoint API.
#[derive(Debug, Parser)]
#[command(
    name = "defender-mock",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve` flags, also accepted without the subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the emulator (the default).
    Serve(ServeArgs),
    /// Print a signed access token the emulator accepts.
    Token(TokenArgs),
    /// Probe a running emulator's /_mock/health; exit 0 when healthy, 1 otherwise.
    Health(HealthArgs),
}

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
    /// Log format on stderr.
    #[arg(
        long,
        env = "DEFENDER_MOCK_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
    /// Seconds until a device picks an action up (Pending → InProgress).
    #[arg(long, env = "DEFENDER_MOCK_PICKUP_DELAY", default_value_t = Simulation::default().pickup_delay_seconds)]
    pub pickup_delay: u64,
    /// Seconds from pickup until the action ends.
    #[arg(long, env = "DEFENDER_MOCK_COMPLETION_DELAY", default_value_t = Simulation::default().completion_delay_seconds)]
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
    pub rate_limits: throttle::Mode,
    /// Replaces the documented 100 calls per minute of the action and read endpoints.
    #[arg(long, env = "DEFENDER_MOCK_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Replaces the documented 1500 calls per hour of the action and read endpoints.
    #[arg(long, env = "DEFENDER_MOCK_RATE_LIMIT_PER_HOUR")]
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
    /// Serve HTTPS with this certificate chain (PEM) instead; needs --tls-key.
    #[arg(long, env = "DEFENDER_MOCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "DEFENDER_MOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Flags of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// App roles, comma-separated (default: every Machine.* role).
    #[arg(long, value_delimiter = ',')]
    pub roles: Option<Vec<String>>,
    /// Delegated scopes, space-separated; makes it a user token.
    #[arg(long)]
    pub scp: Option<String>,
    /// The user's UPN; makes it a user token.
    #[arg(long)]
    pub upn: Option<String>,
    /// Tenant id (`tid`).
    #[arg(long, default_value = DEV_TENANT_ID)]
    pub tenant: String,
    /// Client app id (`appid`/`azp`).
    #[arg(long, default_value = DEV_APP_ID)]
    pub app_id: String,
    /// App display name (`app_displayname`): the `requestor` of its actions.
    #[arg(long)]
    pub app_name: Option<String>,
    /// `aud` (default: https://api.securitycenter.microsoft.com, or the MDE appId with --v2).
    #[arg(long)]
    pub audience: Option<String>,
    /// Lifetime in seconds from now.
    #[arg(long, default_value_t = 3599)]
    pub ttl: i64,
    /// Mint a v2.0-shaped token.
    #[arg(long)]
    pub v2: bool,
    /// RSA private key (PEM) to sign with.
    #[arg(long, env = "DEFENDER_MOCK_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

/// Flags of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of the emulator (0.0.0.0 / :: are probed on loopback).
    #[arg(long, env = "DEFENDER_MOCK_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
}

/// Runs the emulator until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    telemetry::init(args.log_format);
    let fleet = match &args.fixtures {
        Some(dir) => fixtures::load_dir(dir),
        None => fixtures::default_fleet(),
    }
    .map_err(|e| e.to_string())?;
    let keys = Keys::load(args.signing_key.as_deref())?;
    let directory =
        fixtures::load_directory(args.fixtures.as_deref()).map_err(|e| e.to_string())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::from_pair(cert, key)?),
        _ if args.tls => Some(tls::from_dir(
            &args.tls_dir.clone().unwrap_or_else(tls::default_dir),
        )?),
        _ => None,
    };
    let config = Config {
        store: StoreOptions {
            duplicate_policy: args.duplicate_policy,
            strict_state: args.strict_state,
            simulation: Simulation {
                pickup_delay_seconds: args.pickup_delay,
                completion_delay_seconds: args.completion_delay,
                outcome: args.outcome,
                online: !args.offline,
                ..Simulation::default()
            },
        },
        clock: args.clock,
        rate_limits: throttle::Settings {
            mode: args.rate_limits,
            per_minute: args.rate_limit_per_minute,
            per_hour: args.rate_limit_per_hour,
        },
        page_size: usize::try_from(args.page_size).unwrap_or(crate::odata::MAX_TOP),
        token_version: args.token_version,
    };
    let machines = fleet.len();
    let state = AppState::new(fleet, config, keys).with_directory(directory);
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let served = match tls {
        Some(tls) => {
            if let Some(ca) = &tls.ca_path {
                tracing::info!(ca = %ca.display(), "TLS certificate issued by the defender-mock CA: trust this file once");
            }
            let listener =
                tls::TlsListener::new(listener, tls.config).map_err(|e| e.to_string())?;
            ready_line("https", addr);
            tracing::info!(%addr, machines, clock = ?args.clock, "defender-mock ready (HTTPS)");
            startup::run_until_signal(listener, state.with_https()).await
        }
        None => {
            ready_line("http", addr);
            tracing::info!(%addr, machines, clock = ?args.clock, "defender-mock ready");
            startup::run_until_signal(listener, state).await
        }
    };
    served.map_err(|e| format!("server error: {e}"))?;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn ready_line(scheme: &str, addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "defender-mock listening on {scheme}://{addr}");
    let _ = out.flush();
}

/// The token `args` describe, signed.
pub fn token(args: TokenArgs) -> Result<String, String> {
    let keys = Keys::load(args.signing_key.as_deref())?;
    let delegated = args.scp.is_some() || args.upn.is_some();
    let app_name = args
        .app_name
        .or_else(|| (args.app_id == DEV_APP_ID).then(|| DEV_APP_NAME.to_owned()));
    let spec = TokenSpec {
        tenant: args.tenant,
        app_id: args.app_id,
        app_name,
        roles: args
            .roles
            .unwrap_or_else(|| ALL_ROLES.iter().map(|r| (*r).to_owned()).collect()),
        scp: delegated.then(|| args.scp.unwrap_or_else(|| ALL_SCOPES.to_owned())),
        upn: delegated.then(|| args.upn.unwrap_or_else(|| DEV_USER_UPN.to_owned())),
        audience: args.audience,
        ttl_secs: args.ttl,
        v2: args.v2,
        ..TokenSpec::default()
    };
    token::mint(&keys, &spec)
}

/// Probes `GET /_mock/health` with a bounded wait; true when it answers 200.
pub async fn health(args: HealthArgs) -> bool {
    let target = args
        .listen
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    let probe = async {
        let mut s = TcpStream::connect(&target).await.ok()?;
        let req =
            format!("GET /_mock/health HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 32];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), probe).await,
        Ok(Some(true))
    )
}
