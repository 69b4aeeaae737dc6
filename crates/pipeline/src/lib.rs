//! Setup: one function builds the whole pipeline and returns a guard that owns it.
//!
//! ```no_run
//! use alys_telemetry_config::TelemetryConfig;
//! use alys_telemetry_pipeline::Telemetry;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = Telemetry::init(&TelemetryConfig::load(None)?)?;
//!     telemetry.mark_ready();
//!     tracing::info!("node started");
//!     // ... run the node ...
//!     let report = telemetry.shutdown().await;
//!     assert!(report.elapsed.as_secs() < 10);
//!     Ok(())
//! }
//! ```

/// The OpenTelemetry API this pipeline is built on, for hosts that reach it through the
/// facade (`alys_telemetry::opentelemetry`) and must not mix versions.
pub use opentelemetry;

mod direct_events;
pub mod exits;
mod guard;
mod logs;
mod metrics;
pub mod resource;
mod shutdown;
mod span_batches;
mod start;
mod stop_request;
mod subscriber;
mod traces;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::global;
use opentelemetry::metrics::NoopMeterProvider;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::noop::{NoopTextMapPropagator, NoopTracerProvider};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tokio::runtime::TryCurrentError;
use tracing_subscriber::util::TryInitError;

pub use direct_events::{DirectSpanEvents, direct_span_events};
pub use guard::TelemetryGuard;
pub use shutdown::{ShutdownReport, SignalShutdown};
pub use span_batches::EXPORTS_IN_FLIGHT;
pub use stop_request::{StopRequest, StopRequests, stop_requested};
pub use subscriber::not_handling_spans;

use crate::exits::otlp::ExporterError;
use crate::exits::pull::WebConfigError;
use alys_telemetry_config::{ConfigError, TelemetryConfig};

/// At most one export-failure log line per signal in this time; the metrics count them all.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// The instrumentation scope of the node's own metrics and spans.
pub const SCOPE: &str = "alys-telemetry";

/// Why the pipeline could not start. Nothing is left running when `init` fails.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The pull endpoint's address cannot be listened on (taken, or not this host's); the
    /// message names the setting as the user can write it.
    #[error("invalid {setting} = {addr:?}: {source}", addr = addr.to_string())]
    Listen {
        setting: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The pull endpoint's web configuration file (TLS, credentials) cannot be used; the
    /// message names the setting, the file, the key and the problem, never a secret.
    #[error("invalid {setting}: {source}")]
    WebConfig {
        setting: String,
        #[source]
        source: WebConfigError,
    },
    /// An OTLP exporter could not be built.
    #[error(transparent)]
    Exporter(#[from] ExporterError),
    /// `init` was called outside a Tokio runtime (the gRPC exporter needs one).
    #[error("Telemetry::init must run inside a Tokio runtime")]
    NoRuntime(#[from] TryCurrentError),
    /// The host installed a global `tracing` subscriber before `init`. Nothing global was
    /// touched: the host's subscriber, tracer, meter and propagator stay as they were.
    #[error("a global tracing subscriber is already installed; init installs its own")]
    SubscriberInstalled,
    /// The subscriber could not be installed (another one won a race with `init`); the
    /// providers and the propagator `init` had set are replaced by no-ops again.
    #[error("cannot install the tracing subscriber: {0}")]
    Subscriber(#[from] TryInitError),
    /// The Prometheus exporter could not be built.
    #[error("cannot build the Prometheus exporter: {0}")]
    Prometheus(#[source] OTelSdkError),
}

impl InitError {
    /// Process exit code: 2 for a configuration the user must change, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Config(_)
            | InitError::Listen { .. }
            | InitError::WebConfig { .. }
            | InitError::Exporter(_) => 2,
            _ => 1,
        }
    }
}

/// Entry point of the pipeline.
pub struct Telemetry;

impl Telemetry {
    /// Builds everything the configuration asks for, installs the global tracer, meter and
    /// logger providers, the propagator and the `tracing` subscriber (RUST_LOG's filter, the
    /// process's log lines, the pipeline's layers), and starts the pull endpoint. Must run
    /// inside a Tokio runtime of any flavour. A host that has a subscriber of its own uses
    /// [`Telemetry::build`] instead; `init` refuses it before touching anything global.
    pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, InitError> {
        tokio::runtime::Handle::try_current()?;
        // Before anything global is set: refusing after the providers were installed would
        // leave them behind in the host's process.
        if tracing::dispatcher::has_been_set() {
            return Err(InitError::SubscriberInstalled);
        }
        let filter = subscriber::env_filter()?;
        let guard = start::start(config, Globals::Install)?;
        global::set_text_map_propagator(propagator());
        let tracer = guard.tracer_provider().map(|p| p.tracer(SCOPE));
        if let Err(e) =
            subscriber::install(filter, config.log_format, tracer, guard.logger_provider())
        {
            // The guard, dropped on return, stops what `start` started.
            uninstall_globals();
            return Err(e.into());
        }
        start::log_started(config, &guard);
        Ok(guard)
    }

    /// Builds and starts the same pipeline as [`Telemetry::init`] and touches no process
    /// global: the host keeps its own subscriber and adds the pipeline to it with
    /// [`TelemetryGuard::layer`], takes metrics from [`TelemetryGuard::meter`], and installs
    /// [`propagator`] itself if it wants W3C context across processes (the governance stream
    /// reads the global one). Must run inside a Tokio runtime.
    ///
    /// ```no_run
    /// use alys_telemetry_config::TelemetryConfig;
    /// use alys_telemetry_pipeline::Telemetry;
    /// use tracing_subscriber::layer::SubscriberExt;
    /// use tracing_subscriber::util::SubscriberInitExt;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let telemetry = Telemetry::build(&TelemetryConfig::load(None)?)?;
    /// tracing_subscriber::registry()
    ///     .with(tracing_subscriber::EnvFilter::new("info"))
    ///     .with(tracing_subscriber::fmt::layer()) // the host's own
    ///     .with(telemetry.layer())
    ///     .init();
    /// opentelemetry::global::set_text_map_propagator(alys_telemetry_pipeline::propagator());
    /// telemetry.mark_ready();
    /// tracing::info_span!("request").in_scope(|| tracing::info!("handled"));
    /// telemetry.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// One difference from `init`: the SDK's batch span processor reports its own counter
    /// (`otel.sdk.processor.span.processed`, with queue-full drops) only to the global meter
    /// provider, so it is on `/metrics` only under `init`.
    pub fn build(config: &TelemetryConfig) -> Result<TelemetryGuard, InitError> {
        tokio::runtime::Handle::try_current()?;
        let guard = start::start(config, Globals::Leave)?;
        start::log_started(config, &guard);
        Ok(guard)
    }
}

/// Whether the pipeline installs the process's OpenTelemetry globals (`init`) or leaves
/// them to the host (`build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Globals {
    Install,
    Leave,
}

/// The propagator `init` installs: W3C trace context and baggage.
pub fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// The globals `init` sets, back to the API's no-ops.
fn uninstall_globals() {
    global::set_text_map_propagator(NoopTextMapPropagator::new());
    global::set_tracer_provider(NoopTracerProvider::new());
    global::set_meter_provider(NoopMeterProvider::new());
}
