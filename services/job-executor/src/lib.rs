//! An event-processing job executor on alys-telemetry.
//!
//! Events arrive over HTTP (`POST /events`, [`api`]), or from the service's own [`driver`],
//! which sends them over HTTP to the service itself. Each is checked against the ids seen
//! recently ([`dedup`]), matched to its rule's actions ([`actions`]), and its jobs go through
//! a bounded queue to the workers ([`executor`]). An attempt takes the action's result from
//! the [`cache`] or runs the action (simulated: some succeed, some fail, some time out); a
//! failed job is retried with backoff up to a limit, then dead-lettered. [`checkpoint`]s keep
//! the pending jobs and the dead letters across restarts.
//!
//! Everything is measured through the library's public API: the executor's own family
//! ([`metrics`]), its tasks under its own kinds ([`TaskKind`](metrics::TaskKind) on
//! `TaskMonitor`), the HTTP API by the semantic conventions; and traced, one trace per event
//! from the driver's request to the last attempt of its last job.

pub mod actions;
pub mod api;
pub mod cache;
pub mod catalog;
pub mod checkpoint;
pub mod dedup;
pub mod driver;
pub mod executor;
pub mod metrics;

pub use executor::{EventIn, Executor, ExecutorConfig, SubmitError, Submitted};
