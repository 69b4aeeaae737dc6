//! The service's tests, one binary. The plain tier starts the real binary on ephemeral
//! loopback ports and drives it over HTTP; the stack tier (feature `stack-tests`) adds
//! promtool and the real OpenTelemetry Collector.

mod api;
mod health;
mod lifecycle;
mod metrics;
mod support;
mod traces;

#[cfg(feature = "stack-tests")]
mod stack;
