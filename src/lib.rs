//! # alys-telemetry
//!
//! The OpenTelemetry observability pipeline of the Alys V2 node. The crate follows the data
//! (docs/architecture.md draws it):
//!
//! - **[`sources`]**: where measurements come from: the metric [`catalog`](sources::catalog)
//!   (every metric declared once), the [`actors`](sources::actors) (metered mailboxes,
//!   supervision), the [`governance`](sources::governance) stream's client and the
//!   [`system`](sources::system) resource collector;
//! - **[`pipeline`]**: builds the SDK providers and the `tracing` subscriber and returns a
//!   guard that owns them;
//! - **[`exits`]**: the ways out: the Prometheus [`pull`](exits::pull) endpoint (`/metrics`,
//!   `/health`, `/ready`) and the [`otlp`](exits::otlp) push exporters;
//! - beside them, what every room may use: [`config`] (defaults < file < environment <
//!   flags) and [`health`] (checks that sources register and the pull endpoint serves).
//!
//! The demo node, the governance node and the command line are programs on this library
//! (the `alys-node` package in `node/`); a node pays for none of them.
//!
//! ```no_run
//! use alys_telemetry::{Telemetry, TelemetryConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::init(&TelemetryConfig::load(None)?)?;
//! let sync = alys_telemetry::sources::catalog::sync::SyncMetrics::new(&telemetry.meter());
//! sync.set_target_height(1_000);
//! sync.set_current_height(250, std::time::Instant::now());
//! telemetry.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod exits;
pub mod health;
pub mod pipeline;
pub mod sources;

pub use config::TelemetryConfig;
pub use pipeline::{Telemetry, TelemetryGuard};

/// The README's and the guides' Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/actors.md")]
pub struct DocumentationExamples;
