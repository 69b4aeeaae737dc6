//! The event store's tests: the `event-store` binary on loopback, driven over HTTP and
//! WebSocket and read on `/metrics`. One binary, a module each. The stack tier (promtool,
//! the real OpenTelemetry Collector) is behind the `stack-tests` feature.

mod support;

mod api;
mod bad_input;
mod driver;
mod pipelines;
mod replays;
mod routes;
mod websocket;

#[cfg(feature = "stack-tests")]
mod stack;
