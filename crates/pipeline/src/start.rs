//! Building and starting the pipeline, for `init` and `build` alike: the pull endpoint's
//! socket first, then the providers (installed globally only for `init`), the trace store,
//! the system collector and the pull endpoint, all metered by the pipeline's own meter.

use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider as _, NoopMeterProvider};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{FAILURE_LOG_INTERVAL, Globals, InitError, SCOPE, TelemetryGuard};
use super::{logs, metrics, resource, shutdown, traces};
use crate::exits::connections::ConnectionLimits;
use crate::exits::otlp::{ExportStats, Exporters};
use crate::exits::pull::{self, PullState, Readiness, WebConfig, WebConfigError};
use alys_telemetry_config::{TelemetryConfig, settings};
use alys_telemetry_core::health::HealthRegistry;
use alys_telemetry_system::{SystemCollector, SystemCollectorConfig};
use alys_telemetry_viewer::Viewer;
use alys_telemetry_viewer::history::{self, HealthHistory};
use alys_telemetry_viewer::store::{StoreConfig, TraceStore};

/// Everything the configuration asks for, running; globals installed as `globals` says.
pub(super) fn start(
    config: &TelemetryConfig,
    globals: Globals,
) -> Result<TelemetryGuard, InitError> {
    // The web configuration, then the bind: a bad file or a taken address must stop
    // start-up before anything else exists.
    let web = load_web_config(config)?;
    let listener = match config.pull.enabled {
        true => Some(bind(config.pull.listen)?),
        false => None,
    };
    let registry = prometheus::Registry::new();
    let stats = ExportStats::new(FAILURE_LOG_INTERVAL);
    let store = start_trace_store(config, listener.is_some());
    let (providers, meter) = build_providers(config, &registry, &stats, store.as_ref(), globals)?;
    let (stop, stopped) = watch::channel(false);
    let health = HealthRegistry::new();
    let system = start_system_collector(config, &health, &meter, stopped.clone());
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
        pull::spawn(listener, state, limits, &meter, stopped, web)
    });
    Ok(TelemetryGuard {
        providers: Some(providers),
        meter,
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

/// The line that says the pipeline runs, once a subscriber can show it.
pub(super) fn log_started(config: &TelemetryConfig, guard: &TelemetryGuard) {
    let push = !config.sdk_disabled && config.push.enabled;
    tracing::info!(
        pull = ?guard.local_addr(),
        push = push.then(|| config.push.traces_endpoint.to_string()),
        protocol = ?config.push.protocol,
        sdk_disabled = config.sdk_disabled,
        "telemetry pipeline started"
    );
}

/// Builds the three providers, one builder per signal, and the pipeline's own meter. Every
/// fallible build comes before the first global is installed, so that a bad setting leaves
/// none behind.
fn build_providers(
    config: &TelemetryConfig,
    registry: &prometheus::Registry,
    stats: &std::sync::Arc<ExportStats>,
    store: Option<&TraceStore>,
    globals: Globals,
) -> Result<(shutdown::Providers, Meter), InitError> {
    if config.sdk_disabled {
        alys_telemetry_core::traces::set_policy(alys_telemetry_core::traces::TracePolicy::Disabled);
        let meter = NoopMeterProvider::new().meter(SCOPE);
        return Ok((shutdown::Providers::default(), meter));
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
    let meter_provider = metrics::provider(&resource, pull, metric_exports, interval)
        .map_err(InitError::Prometheus)?;
    if globals == Globals::Install {
        // Before the tracer provider is built: its batch processor registers the SDK's own
        // span counter (with queue-full drops) on the global meter provider.
        global::set_meter_provider(meter_provider.clone());
    }
    let meter = meter_provider.meter(SCOPE);
    stats.register(&meter);
    if let Some(store) = store {
        store.register_metrics(&meter);
    }
    let tracer = traces::provider(
        config.sampler,
        &resource,
        spans,
        config.span_batch,
        store.map(TraceStore::processor),
    );
    if globals == Globals::Install {
        global::set_tracer_provider(tracer.clone());
    }
    let logger = log_exports.map(|exporter| logs::provider(&resource, exporter, config.log_batch));
    let providers = shutdown::Providers {
        tracer: Some(tracer),
        meter: Some(meter_provider),
        logger,
    };
    Ok((providers, meter))
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
    meter: &Meter,
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
    collector.register_metrics(meter);
    collector.register_health(health);
    // `init` checked for a runtime first: spawning cannot fail here.
    collector
        .spawn(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .ok()
}

/// The pull endpoint's web configuration file (`pull.web_config_file`), loaded when the
/// endpoint runs. A file that cannot be used stops start-up: exit code 2, a message naming
/// the setting, the file and the problem (never a secret).
fn load_web_config(config: &TelemetryConfig) -> Result<Option<WebConfig>, InitError> {
    let Some(path) = config.pull.web_config_file.as_deref() else {
        return Ok(None);
    };
    if !config.pull.enabled {
        return Ok(None);
    }
    WebConfig::load(path).map(Some).map_err(web_config_error)
}

/// The setting's error, named the way users write it.
fn web_config_error(e: WebConfigError) -> InitError {
    let setting = settings::WEB_CONFIG_FILE;
    InitError::WebConfig {
        setting: format!(
            "{} ({}, {})",
            setting.env,
            setting.key,
            setting.flag.unwrap_or_default()
        ),
        source: e,
    }
}

/// Binds the pull endpoint's address; an error names the setting the way users write it.
fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, InitError> {
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
