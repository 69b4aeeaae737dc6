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
pub mod resource;
mod shutdown;
mod subscriber;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::global;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use guard::TelemetryGuard;
pub use shutdown::{ShutdownReport, SignalShutdown};

use crate::config::{ConfigError, SamplerChoice, TelemetryConfig, settings};
use crate::exits::otlp::{self, ExportStats, ExporterError};
use crate::exits::pull::{self, PullState, Readiness};
use crate::health::HealthRegistry;
use crate::sources::catalog;
use crate::sources::system::{SystemCollector, SystemCollectorConfig};

/// At most one export-failure log line per signal in this time; the metrics count them all.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// The instrumentation scope of the node's own metrics and spans.
pub const SCOPE: &str = "alys-telemetry";

/// Why the pipeline could not start. Nothing is left running when `init` fails.
#[derive(Debug)]
pub enum InitError {
    /// A setting cannot be used (including a listen address that is taken).
    Config(ConfigError),
    /// An OTLP exporter could not be built.
    Exporter(ExporterError),
    /// `init` was called outside a Tokio runtime (the gRPC exporter needs one).
    NoRuntime,
    /// Another global tracing subscriber is installed.
    Subscriber(String),
    /// The Prometheus exporter could not be built.
    Prometheus(String),
}

impl InitError {
    /// Process exit code: 2 for a configuration the user must change, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Config(_) | InitError::Exporter(_) => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::Config(e) => e.fmt(f),
            InitError::Exporter(e) => e.fmt(f),
            InitError::NoRuntime => f.write_str("Telemetry::init must run inside a Tokio runtime"),
            InitError::Subscriber(e) => f.write_str(e),
            InitError::Prometheus(e) => write!(f, "cannot build the Prometheus exporter: {e}"),
        }
    }
}

impl std::error::Error for InitError {}

impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        InitError::Config(e)
    }
}

/// Entry point of the pipeline.
pub struct Telemetry;

impl Telemetry {
    /// Builds everything the configuration asks for, installs the global tracer, meter and
    /// logger providers, the propagator and the `tracing` subscriber, and starts the pull
    /// endpoint. Must run inside a Tokio runtime of any flavour.
    pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, InitError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(InitError::NoRuntime);
        }
        // Bind first: a taken address must stop start-up before anything else exists.
        let listener = if config.pull.enabled {
            Some(bind(config.pull.listen)?)
        } else {
            None
        };

        let registry = prometheus::Registry::new();
        let stats = ExportStats::new(FAILURE_LOG_INTERVAL);
        let enabled = !config.sdk_disabled;
        let push = enabled && config.push.enabled;
        let resource = resource::build(config);

        // Every fallible step first, so that a bad setting leaves no global installed.
        let prometheus_reader = if enabled && config.pull.enabled {
            Some(
                opentelemetry_prometheus::exporter()
                    .with_registry(registry.clone())
                    // One scope holds all our metrics: the scope label would only add noise
                    // to every series and differ from the seeds' label sets.
                    .scope_info_enabled(false)
                    .build()
                    .map_err(|e| InitError::Prometheus(e.to_string()))?,
            )
        } else {
            None
        };
        let exporters = if push {
            let e = |err| InitError::Exporter(err);
            Some((
                otlp::metric_exporter(&config.push, &stats).map_err(e)?,
                otlp::span_exporter(&config.push, &stats).map_err(e)?,
                otlp::log_exporter(&config.push, &stats).map_err(e)?,
            ))
        } else {
            None
        };
        let (metric_exporter, span_exporter, log_exporter) = match exporters {
            Some((m, s, l)) => (Some(m), Some(s), Some(l)),
            None => (None, None, None),
        };

        let meter = enabled.then(|| {
            let mut builder = SdkMeterProvider::builder()
                .with_resource(resource.clone())
                .with_view(cardinality_view);
            if let Some(reader) = prometheus_reader {
                builder = builder.with_reader(reader);
            }
            if let Some(exporter) = metric_exporter {
                builder = builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(config.push.metric_export_interval)
                        .build(),
                );
            }
            builder.build()
        });
        if let Some(meter) = &meter {
            // Before the tracer provider is built: its batch processor registers the SDK's
            // own span counter (with queue-full drops) on the global meter provider.
            global::set_meter_provider(meter.clone());
            stats.register(&global::meter(SCOPE));
        }

        let tracer = enabled.then(|| {
            let mut builder = SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_sampler(sampler(config.sampler));
            if let Some(exporter) = span_exporter {
                builder = builder.with_batch_exporter(exporter);
            }
            builder.build()
        });
        if let Some(tracer) = &tracer {
            global::set_tracer_provider(tracer.clone());
        }
        crate::sources::actors::set_root_spans(enabled && samples_roots(config.sampler));
        let logger = log_exporter.map(|exporter| {
            SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(exporter)
                .build()
        });
        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        if let Err(e) = subscriber::install(
            config.log_format,
            tracer.as_ref().map(|p| p.tracer(SCOPE)),
            logger.as_ref(),
        ) {
            let providers = shutdown::Providers {
                tracer,
                meter,
                logger,
            };
            drop(providers);
            return Err(InitError::Subscriber(e));
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let health = HealthRegistry::new();
        let system = if enabled && config.system.enabled {
            start_system_collector(config, &health, stop_rx.clone())
        } else {
            None
        };
        let readiness = Readiness::new();

        let (server, local_addr) = match listener {
            Some(listener) => {
                let addr = listener.local_addr().ok();
                let state = PullState {
                    registry: registry.clone(),
                    health: health.clone(),
                    readiness: readiness.clone(),
                };
                let mut stop_rx = stop_rx;
                let task = tokio::spawn(async move {
                    let stop = async move {
                        let _ = stop_rx.wait_for(|stop| *stop).await;
                    };
                    if let Err(e) = pull::serve(listener, pull::router(state), stop).await {
                        tracing::error!("pull endpoint stopped: {e}");
                    }
                });
                (Some(task), addr)
            }
            None => (None, None),
        };
        tracing::info!(
            pull = ?local_addr,
            push = push.then_some(config.push.traces_endpoint.as_str()),
            protocol = ?config.push.protocol,
            sdk_disabled = config.sdk_disabled,
            "telemetry pipeline started"
        );

        Ok(TelemetryGuard {
            providers: Some(shutdown::Providers {
                tracer,
                meter,
                logger,
            }),
            registry,
            stats,
            health,
            readiness,
            local_addr,
            server,
            system,
            stop: stop_tx,
            shutdown_timeout: config.shutdown_timeout,
        })
    }
}

/// Starts the system resource collector; a failure to start it is logged, not fatal: the
/// node's own telemetry matters more than the process's.
fn start_system_collector(
    config: &TelemetryConfig,
    health: &HealthRegistry,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let collector_config = SystemCollectorConfig {
        interval: config.system.interval,
        ..SystemCollectorConfig::default()
    };
    let started = SystemCollector::linux(collector_config).and_then(|collector| {
        collector.register_metrics(&global::meter(SCOPE));
        collector.register_health(health);
        collector.spawn(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
    });
    match started {
        Ok(task) => Some(task),
        Err(e) => {
            tracing::warn!("system resource collector not started: {e}");
            None
        }
    }
}

fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: format!(
            "{} ({}, {})",
            settings::LISTEN.env,
            settings::LISTEN.key,
            settings::LISTEN.flag.unwrap_or_default()
        ),
        value: Some(addr.to_string()),
        reason,
    };
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| invalid(e.to_string()))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| invalid(e.to_string()))?;
    tokio::net::TcpListener::from_std(std_listener).map_err(|e| invalid(e.to_string()))
}

/// Gives each catalogue metric its own cardinality limit (the SDK's default is 2000 for all).
fn cardinality_view(instrument: &Instrument) -> Option<Stream> {
    let def = catalog::all().find(|d| d.instrument_name() == instrument.name())?;
    Stream::builder()
        .with_cardinality_limit(def.cardinality_limit)
        .build()
        .ok()
}

/// Whether the sampler can ever sample a span that has no parent.
fn samples_roots(choice: SamplerChoice) -> bool {
    match choice {
        SamplerChoice::AlwaysOff | SamplerChoice::ParentBasedAlwaysOff => false,
        SamplerChoice::TraceIdRatio(r) | SamplerChoice::ParentBasedTraceIdRatio(r) => r > 0.0,
        SamplerChoice::AlwaysOn | SamplerChoice::ParentBasedAlwaysOn => true,
    }
}

fn sampler(choice: SamplerChoice) -> Sampler {
    match choice {
        SamplerChoice::AlwaysOn => Sampler::AlwaysOn,
        SamplerChoice::AlwaysOff => Sampler::AlwaysOff,
        SamplerChoice::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerChoice::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerChoice::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerChoice::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}
