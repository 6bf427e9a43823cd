//! defender-mock: a local emulator of the Microsoft Defender for Endpoint REST API.
//!
//! # Using the crate
//! In a Rust test suite, start a [`MockServer`]: a whole emulator on a free loopback port of the
//! test's runtime, stopped when dropped, with tokens ([`MockServer::token`]), the clock
//! ([`MockServer::advance`]), reset, the request journal ([`MockServer::requests`]), fault
//! injection ([`MockServer::fault`]), seeding and the live state stream as methods.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = defender_mock::MockServer::start().await;
//! let url = format!("{}/api/machines", server.base_url());
//! let token = server.token(); // every role, on the emulator's clock
//! # let _ = (url, token);
//! # }
//! ```
//!
//! Lower down, build a [`Config`] (or start from [`Config::for_tests`]), then either serve it with
//! [`Application::build`] + [`Application::run_until`], or drive it in process through
//! [`Emulator::router`]. Tokens the emulator accepts come from [`Emulator::mint`] (at the
//! emulator's clock) or [`mint`] with your own [`Keys`]; fleets from [`Fleet`].
//!
//! # Module map (top to bottom; a module imports only from the layers below it)
//! - `mock_server`: [`MockServer`], the embeddable test double over [`Application`].
//! - `cli`: the command line (`serve`, `token`, `health`, `fixtures generate`), building a
//!   [`Config`]; `health`: the probe behind `defender-mock health`.
//! - `health`: the `health` subcommand's probe (HTTP or HTTPS, with the reason when unhealthy).
//! - `startup`: [`Emulator`] and [`Application`] from a [`Config`]; serving with a bounded grace.
//! - `routes`: the HTTP surface: the API route table, the token service and discovery handlers,
//!   the control plane, extractors; `state` (the handlers' `AppState`) and `middleware`.
//! - `fixtures`: loading machines, apps and users from JSON; `generate`: synthetic fleets.
//! - `identity`: the Entra directory (apps, users), client authentication, Entra errors.
//! - `auth`: bearer-token verification, the permission vocabulary, the route guard's checks.
//! - `store`, `throttle`, `package`, `tls`: tenants' machines, actions, alerts, indicators and
//!   investigations, rate limits, investigation packages, HTTPS.
//! - `faults`: fault rules (errors, delays, dropped connections) the control plane sets.
//! - `odata`, `events`, `journal`: OData queries; the live state stream's events and their bus;
//!   the request journal and its filters.
//! - `model`, `error`, `clock`, `telemetry`: wire entities, the error enum, the emulator clock,
//!   logging.

mod auth;
#[doc(hidden)] // the binary's command line, not an API
pub mod cli;
mod clock;
mod config;
mod error;
mod events;
mod faults;
mod fixtures;
pub mod fuzzing;
mod generate;
mod health;
mod identity;
mod journal;
#[cfg(test)]
mod layering;
mod middleware;
mod mock_server;
mod model;
mod odata;
mod package;
mod persist;
#[cfg(test)]
mod regression;
mod routes;
mod startup;
mod state;
mod store;
mod telemetry;
mod throttle;
mod tls;

pub use auth::{
    permissions::dev,
    token::{mint, MintError},
    Keys, TokenSpec,
};
pub use config::{
    AdminToken, ClockMode, Config, ConnectionLimits, DuplicatePolicy, LogFormat, Outcome,
    RateLimitMode, RateLimits, Simulation, StoreOptions, TlsSource, TokenVersion,
};
pub use fixtures::{FixtureError, Fleet, DEFAULT_MACHINES};
pub use mock_server::{
    DropMode, EventStream, FaultHandle, FaultRule, MockServer, MockServerBuilder, RecordedRequest,
    RequestFilter, StatusMatch, TokenBuilder, DEFAULT_TOKEN_TTL,
};
pub use startup::{shutdown_signal, Application, ClockLimit, Emulator, StartupError};
pub use telemetry::init as init_logging;
