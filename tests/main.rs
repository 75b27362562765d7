//! The one integration-test binary (see Cargo.toml: every test binary links the AWS SDK,
//! so there is exactly one).
//!
//! - `engine`: lifecycle tests of planner + executor + state against the fake provider;
//!   fast, deterministic, no network. They are the engine's specification.
//! - `config`: stack-file validation through the real binary, proving that bad input
//!   fails before any API call.
//! - `network`: the network tier's whole life against moto's server.

mod support;

mod aws;
mod config;
mod crash;
mod drift;
mod engine;
mod lookups;
mod multitier;
mod network;
mod operations;
mod platform;
mod proxy;
mod resilience;
mod state;
mod teardown;
mod wait;
mod webpair;
