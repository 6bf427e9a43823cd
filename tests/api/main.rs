//! Integration tests: the real router served on 127.0.0.1:0 (in process) or the real binary.
#![allow(unreachable_pub)] // helpers are shared between test modules, not an API

mod helpers;

mod action_list;
mod actions;
mod auth;
mod cli;
mod errors;
mod identity;
mod lifecycle;
mod machine_list;
mod machines;
mod other_actions;
mod simulation;
mod tenants;
mod throttle;
mod tls;
