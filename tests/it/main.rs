//! The library's integration tests: one binary, a module each (README, "Tests"). Tests that
//! own a process global (the `tracing` subscriber, the trace policy, the OpenTelemetry
//! providers) run each in a process of its own, inside `rusty_fork_test!`. The modules behind
//! the feature `stack-tests` push to the Go-built collector.

mod actors;
mod architecture;
mod cardinality;
#[cfg(feature = "stack-tests")]
mod host;
mod http_endpoints;
mod pull_connections;
mod sdk_disabled;
mod secured_port;
mod server;
#[cfg(feature = "stack-tests")]
mod shutdown_runtime;
mod stop_requests;
mod system_collector;
mod tasks;
mod trace_store;
mod viewer_http;
mod whole_traces;
