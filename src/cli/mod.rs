//! The command line: `serve` (default), `token` and `health`. Every `serve` flag has an env twin
//! `DEFENDER_MOCK_*`, so a container or CI job configures the emulator without arguments.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

mod serve;
mod token;

use self::serve::parse_grace;
pub use self::{
    serve::{serve, ServeArgs},
    token::{token, TokenArgs},
};

use crate::{
    auth::{
        permissions::{all_roles, all_scopes, dev},
        token::{mint, TokenSpec},
        Keys,
    },
    config::{
        ClockMode, Config, DuplicatePolicy, LogFormat, Outcome, RateLimitMode, RateLimits,
        Simulation, StoreOptions, TlsSource, TokenVersion, DEFAULT_LISTEN, DEFAULT_SHUTDOWN_GRACE,
        MAX_PAGE_SIZE,
    },
    health,
    startup::{Application, StartupError},
    store::MAX_DELAY_SECONDS,
    telemetry, tls,
};

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
    /// Fixture tools: `fixtures generate --count N --seed S --out DIR` writes a synthetic fleet.
    Fixtures(crate::generate::FixturesArgs),
}

/// Flags of `health`. It follows the server's own environment: the listen address, and HTTPS when
/// `DEFENDER_MOCK_TLS` or `DEFENDER_MOCK_TLS_CERT` is set (as in the image's HEALTHCHECK).
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of the emulator (0.0.0.0 / :: are probed on loopback).
    #[arg(long, env = "DEFENDER_MOCK_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Probe over HTTPS (the server runs with --tls). The certificate is not verified: the probe
    /// talks to its own server, sends no credential and reads only the status.
    #[arg(long, env = "DEFENDER_MOCK_TLS", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls: bool,
    /// The server's --tls-cert: when set, the server speaks HTTPS (only its presence counts).
    #[arg(long, env = "DEFENDER_MOCK_TLS_CERT", hide = true)]
    pub tls_cert: Option<PathBuf>,
    /// Seconds to wait for the whole probe (below the HEALTHCHECK's own timeout of 3 s).
    #[arg(long, default_value_t = 2.0, value_parser = parse_grace)]
    pub timeout: f64,
}

/// Probes `GET /_mock/health` (HTTPS when the server runs with TLS) with a bounded wait; true
/// when it answers 200, else false with the reason on stderr.
pub async fn health(args: HealthArgs) -> bool {
    let probe = health::Probe {
        listen: args.listen,
        tls: args.tls || args.tls_cert.is_some(),
        timeout: Duration::from_secs_f64(args.timeout.max(0.1)),
    };
    match probe.run().await {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("defender-mock health: unhealthy: {reason}");
            false
        }
    }
}

/// `fixtures generate`: writes a synthetic fleet to `--out DIR/machines.json` (or stdout) and
/// says where on stderr.
pub fn fixtures(args: crate::generate::FixturesArgs) -> std::io::Result<()> {
    let crate::generate::FixturesCommand::Generate(args) = args.command;
    if let Some(file) = crate::generate::run(&args)? {
        eprintln!(
            "defender-mock: wrote {} machines (seed {}) to {}",
            args.count,
            args.seed,
            file.display()
        );
    }
    Ok(())
}
