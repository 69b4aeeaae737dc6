//! The node's integration tests that need nothing but this machine: they run the
//! `alys-telemetry` command, the demo and the governance node on loopback. One binary, a
//! module each (README, "Tests"); a test that sets a process global (the propagator) runs in
//! a process of its own, inside `rusty_fork_test!`.

#[path = "../support/mod.rs"]
mod support;

mod bounded_stop;
mod cli_config;
mod cli_refusals;
mod collector_down;
mod first_run;
mod governance_delivery;
mod governance_faults;
mod governance_server;
mod governance_stream;
mod log_format;
mod peer_series;
mod pull_starvation;
mod terminal_access;
mod web_config;
