//! The library's integration tests that need nothing global of the process and nothing but
//! this machine: one binary, a module each (README, "Tests"). Tests that own a process global
//! (the `tracing` subscriber, the trace policy, the OpenTelemetry providers) are binaries of
//! their own beside this one.

mod actors;
mod architecture;
mod http_endpoints;
mod pull_connections;
mod secured_port;
mod server;
mod system_collector;
mod tasks;
mod trace_store;
mod viewer_http;
