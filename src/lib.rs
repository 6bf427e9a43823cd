//! defender-mock: a local emulator of the Microsoft Defender for Endpoint REST API.
//!
//! The library holds everything; `main.rs` only dispatches the command line. Tests build the same
//! application with [`startup::app`] (in process) or serve it with [`startup::run`] on port 0.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod error;
pub mod fixtures;
pub mod identity;
pub mod middleware;
pub mod model;
pub mod odata;
pub mod package;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tls;
