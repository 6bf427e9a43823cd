//! Integration tests, one binary: the router in process (`oneshot`), the application on
//! 127.0.0.1:0 where the connection matters, or the real binary (CLI, TLS, signals).
#![allow(unreachable_pub)] // helpers are shared between test modules, not an API

mod helpers;

mod action_list;
mod actions;
mod admin_token;
mod alerts;
mod attack;
mod auth;
mod auth_reasons;
mod bounds;
mod cli;
mod companion;
mod connections;
mod console;
mod errors;
mod events;
mod faults;
mod identity;
mod indicators;
mod investigations;
mod journal;
mod lifecycle;
mod logging;
mod machine_list;
mod machines;
mod mock_server;
mod other_actions;
mod persistence;
mod reset;
mod seeding;
mod simulation;
mod tenants;
mod throttle;
mod tls;
