//! # alys-telemetry
//!
//! The OpenTelemetry observability pipeline of the Alys V2 node. The crate follows the data:
//!
//! - **sources**: [`catalog`] (every metric, defined once) and the [`demo`] node;
//! - **pipeline**: [`pipeline`] builds the SDK providers and the `tracing` subscriber and
//!   returns a guard that owns them;
//! - **exits**: [`exits::pull`] (Prometheus `/metrics`, `/health`, `/ready`) and the OTLP
//!   exporters inside [`pipeline`];
//! - **configuration**: [`config`], layered defaults < file < environment < flags.
//!
//! ```no_run
//! use alys_telemetry::{Telemetry, TelemetryConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::init(&TelemetryConfig::load(None)?)?;
//! let sync = alys_telemetry::catalog::sync::SyncMetrics::new(&telemetry.meter());
//! sync.set_target_height(1_000);
//! sync.set_current_height(250, std::time::Instant::now());
//! telemetry.shutdown().await;
//! # Ok(()) }
//! ```

pub mod actors;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod exits;
pub mod governance;
pub mod pipeline;
pub mod sources;

pub use config::TelemetryConfig;
pub use pipeline::{Telemetry, TelemetryGuard};

/// The README's and the guides' Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/actors.md")]
pub struct DocumentationExamples;
