//! Sources: where measurements come from. Each records through the catalogue's families and
//! registers its health checks; none of them knows the exits.
//!
//! - [`catalog`]: every metric, declared once per family;
//! - [`actors`]: metered mailboxes, trace correlation, supervision and actor health;
//! - [`governance`]: the governance stream's client (the StreamActor), its protocol,
//!   propagation and TLS;
//! - [`system`]: the process and host resource collector;
//! - [`traces`]: sampling decided before any span exists, the span macros, and the decision
//!   travelling with every message;
//! - [`backoff`]: the one retry policy the sources share;
//! - [`throttle`]: the one rate limit on repeated warnings (the exits' too).

pub mod actors;
pub mod backoff;
pub mod catalog;
pub mod governance;
pub mod system;
pub mod throttle;
pub mod traces;
