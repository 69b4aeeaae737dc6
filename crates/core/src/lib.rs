//! What every source and exit of alys-telemetry shares, and nothing that depends on them:
//!
//! - [`health`]: named checks with timeouts, which sources register and `/health` serves;
//! - [`backoff`]: the one retry policy the supervisor, the governance stream and the system
//!   collector use;
//! - [`throttle`]: the one rate limit on repeated warnings (export failures, bad messages);
//! - [`traces`]: sampling decided before any span exists, [`root_span!`] and [`child_span!`],
//!   and the decision travelling with every message. The pipeline installs the policy; the
//!   sources open their spans through it.

pub mod backoff;
pub mod health;
pub mod throttle;
pub mod traces;
