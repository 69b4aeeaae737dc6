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

pub use alys_telemetry_config as config;
pub use alys_telemetry_core::health;
pub use alys_telemetry_core::{child_span, root_span};

pub mod sources {
    //! Sources: where measurements come from. Each records through the catalogue's families
    //! and registers its health checks; none of them knows the exits (the compiler keeps it:
    //! their crates do not depend on the pipeline's).
    //!
    //! - [`catalog`]: every metric, declared once per family;
    //! - [`actors`]: metered mailboxes, trace correlation, supervision and actor health;
    //! - [`governance`]: the governance stream's client (the StreamActor), its protocol,
    //!   propagation and TLS;
    //! - [`system`]: the process and host resource collector;
    //! - [`tasks`]: any future or spawned task measured under the service's own task kinds;
    //! - [`http`]: HTTP and gRPC servers and clients measured and traced by the semantic
    //!   conventions, as tower layers;
    //! - [`traces`]: sampling decided before any span exists, the span macros, and the
    //!   decision travelling with every message;
    //! - [`backoff`]: the one retry policy the sources share;
    //! - [`throttle`]: the one rate limit on repeated warnings (the exits' too).

    pub use alys_telemetry_actors as actors;
    pub use alys_telemetry_catalog as catalog;
    pub use alys_telemetry_core::{backoff, throttle, traces};
    pub use alys_telemetry_governance as governance;
    pub use alys_telemetry_http as http;
    pub use alys_telemetry_system as system;
    pub use alys_telemetry_tasks as tasks;
}

pub use alys_telemetry_pipeline as pipeline;

pub mod exits {
    //! Exits: the ways out of the process. [`pull`] serves Prometheus `/metrics` with
    //! `/health` and `/ready`, its connections held within limits by [`connections`];
    //! [`otlp`] pushes traces, metrics and logs to a collector, counting what it delivers;
    //! [`viewer`] keeps recent traces in the process and shows them, with health, on the pull
    //! endpoint's listener.

    pub use alys_telemetry_pipeline::exits::{connections, openmetrics, otlp, pull};
    pub use alys_telemetry_viewer as viewer;
}

pub use config::TelemetryConfig;
pub use pipeline::{StopRequest, StopRequests, Telemetry, TelemetryGuard, stop_requested};

/// The OpenTelemetry API at the version the pipeline is built on, so that a service reaches a
/// tracer, a context or a meter through the same crate it added, and never mixes two versions
/// of `opentelemetry` (their types do not meet):
///
/// ```no_run
/// use alys_telemetry::opentelemetry::trace::{Tracer as _, TracerProvider as _};
///
/// # fn f(telemetry: &alys_telemetry::TelemetryGuard) {
/// if let Some(provider) = telemetry.tracer_provider() {
///     let _span = provider.tracer("my-service").start("startup");
/// }
/// # }
/// ```
pub use alys_telemetry_pipeline::opentelemetry;

/// The README's and the guides' Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/actors.md")]
pub struct DocumentationExamples;
