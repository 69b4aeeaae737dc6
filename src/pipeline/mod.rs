//! Setup: one function builds the whole pipeline and returns a guard that owns it.
//!
//! ```no_run
//! use alys_telemetry::{Telemetry, TelemetryConfig};
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

mod guard;
mod logs;
mod metrics;
pub mod resource;
mod shutdown;
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
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_subscriber::util::TryInitError;

pub use guard::TelemetryGuard;
pub use shutdown::{ShutdownReport, SignalShutdown};

use crate::config::{ConfigError, TelemetryConfig, settings};
use crate::exits::connections::ConnectionLimits;
use crate::exits::otlp::{ExportStats, ExporterError, Exporters};
use crate::exits::pull::{self, PullState, Readiness};
use crate::exits::viewer::Viewer;
use crate::exits::viewer::history::{self, HealthHistory};
use crate::exits::viewer::store::{StoreConfig, TraceStore};
use crate::health::HealthRegistry;
use crate::sources::system::{SystemCollector, SystemCollectorConfig};

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
            InitError::Config(_) | InitError::Listen { .. } | InitError::Exporter(_) => 2,
            _ => 1,
        }
    }
}

/// Entry point of the pipeline.
pub struct Telemetry;

impl Telemetry {
    /// Builds everything the configuration asks for, installs the global tracer, meter and
    /// logger providers, the propagator and the `tracing` subscriber, and starts the pull
    /// endpoint. Must run inside a Tokio runtime of any flavour.
    pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, InitError> {
        tokio::runtime::Handle::try_current()?;
        // Before anything global is set: refusing after the providers were installed would
        // leave them behind in the host's process.
        if tracing::dispatcher::has_been_set() {
            return Err(InitError::SubscriberInstalled);
        }
        // Bind first: a taken address must stop start-up before anything else exists.
        let listener = match config.pull.enabled {
            true => Some(bind(config.pull.listen)?),
            false => None,
        };
        let registry = prometheus::Registry::new();
        let stats = ExportStats::new(FAILURE_LOG_INTERVAL);
        let store = start_trace_store(config, listener.is_some());
        let providers = install_providers(config, &registry, &stats, store.as_ref())?;
        let (stop, stopped) = watch::channel(false);
        let health = HealthRegistry::new();
        let system = start_system_collector(config, &health, stopped.clone());
        let readiness = Readiness::new();
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let viewer = (listener.is_some() && config.viewer.enabled).then(|| Viewer {
            store,
            history: HealthHistory::new(),
            health: health.clone(),
        });
        let history = viewer.as_ref().map(|v| {
            v.history
                .spawn(health.clone(), history::SAMPLE_INTERVAL, stopped.clone())
        });
        let server = listener.map(|listener| {
            let state = PullState {
                registry: registry.clone(),
                health: health.clone(),
                readiness: readiness.clone(),
                viewer,
            };
            let limits = ConnectionLimits::from(&config.pull);
            pull::spawn(listener, state, limits, &global::meter(SCOPE), stopped)
        });
        let push = !config.sdk_disabled && config.push.enabled;
        tracing::info!(
            pull = ?local_addr,
            push = push.then(|| config.push.traces_endpoint.to_string()),
            protocol = ?config.push.protocol,
            sdk_disabled = config.sdk_disabled,
            "telemetry pipeline started"
        );
        Ok(TelemetryGuard {
            providers: Some(providers),
            registry,
            stats,
            health,
            readiness,
            local_addr,
            server,
            system,
            history,
            stop,
            shutdown_timeout: config.shutdown_timeout,
        })
    }
}

/// Builds the three providers, one builder per signal, and installs them with the
/// propagator and the subscriber. Every fallible build comes before the first global is
/// installed, so that a bad setting leaves none behind.
fn install_providers(
    config: &TelemetryConfig,
    registry: &prometheus::Registry,
    stats: &std::sync::Arc<ExportStats>,
    store: Option<&TraceStore>,
) -> Result<shutdown::Providers, InitError> {
    let filter = subscriber::env_filter()?;
    if config.sdk_disabled {
        crate::sources::traces::set_policy(crate::sources::traces::TracePolicy::Disabled);
        return install_subscriber(config, filter, shutdown::Providers::default());
    }
    let resource = resource::build(config);
    let exporters = match config.push.enabled {
        true => Some(Exporters::build(&config.push, stats)?),
        false => None,
    };
    let (spans, metric_exports, log_exports) = match exporters {
        Some(e) => (Some(e.spans), Some(e.metrics), Some(e.logs)),
        None => (None, None, None),
    };
    let pull = config.pull.enabled.then_some(registry);
    let interval = config.push.metric_export_interval;
    let meter = metrics::provider(&resource, pull, metric_exports, interval)
        .map_err(InitError::Prometheus)?;
    // Before the tracer provider is built: its batch processor registers the SDK's own span
    // counter (with queue-full drops) on the global meter provider.
    global::set_meter_provider(meter.clone());
    stats.register(&global::meter(SCOPE));
    if let Some(store) = store {
        store.register_metrics(&global::meter(SCOPE));
    }
    let tracer = traces::provider(
        config.sampler,
        &resource,
        spans,
        config.span_batch,
        store.map(TraceStore::processor),
    );
    global::set_tracer_provider(tracer.clone());
    let logger = log_exports.map(|exporter| logs::provider(&resource, exporter, config.log_batch));
    let providers = shutdown::Providers {
        tracer: Some(tracer),
        meter: Some(meter),
        logger,
    };
    install_subscriber(config, filter, providers)
}

/// Installs the propagator and the `tracing` subscriber over the providers, and hands them
/// back for the guard; if a subscriber is already installed, they are shut down again.
fn install_subscriber(
    config: &TelemetryConfig,
    filter: tracing_subscriber::EnvFilter,
    providers: shutdown::Providers,
) -> Result<shutdown::Providers, InitError> {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let tracer = providers.tracer.as_ref().map(|p| p.tracer(SCOPE));
    if let Err(e) =
        subscriber::install(filter, config.log_format, tracer, providers.logger.as_ref())
    {
        uninstall_globals();
        return Err(e.into());
    }
    Ok(providers)
}

/// The globals `install_providers` sets, back to the API's no-ops.
fn uninstall_globals() {
    global::set_text_map_propagator(NoopTextMapPropagator::new());
    global::set_tracer_provider(NoopTracerProvider::new());
    global::set_meter_provider(NoopMeterProvider::new());
}

/// Starts the viewer's trace store when its pages can be seen (the pull endpoint runs) and
/// spans exist; a store that cannot start is logged, not fatal.
fn start_trace_store(config: &TelemetryConfig, serving: bool) -> Option<TraceStore> {
    if !serving || !config.viewer.enabled || config.sdk_disabled {
        return None;
    }
    TraceStore::start(StoreConfig::new(config.viewer.memory_bytes))
        .inspect_err(|e| tracing::warn!("trace store not started, the viewer shows no traces: {e}"))
        .ok()
}

/// Starts the system resource collector; a failure to start it is logged, not fatal: the
/// node's own telemetry matters more than the process's.
fn start_system_collector(
    config: &TelemetryConfig,
    health: &HealthRegistry,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if config.sdk_disabled || !config.system.enabled {
        return None;
    }
    let collector = SystemCollector::linux(SystemCollectorConfig {
        interval: config.system.interval,
        ..SystemCollectorConfig::default()
    })
    .inspect_err(|e| tracing::warn!("system resource collector not started: {e}"))
    .ok()?;
    collector.register_metrics(&global::meter(SCOPE));
    collector.register_health(health);
    // `init` checked for a runtime first: spawning cannot fail here.
    collector
        .spawn(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .ok()
}

/// Binds the pull endpoint's address; an error names the setting the way users write it.
fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, InitError> {
    pull::bind(addr).map_err(|source| InitError::Listen {
        setting: format!(
            "{} ({}, {})",
            settings::LISTEN.env,
            settings::LISTEN.key,
            settings::LISTEN.flag.unwrap_or_default()
        ),
        addr,
        source,
    })
}
