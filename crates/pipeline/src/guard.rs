//! The guard that owns the running pipeline and shuts it down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use super::SCOPE;
use super::shutdown::{self, ShutdownReport};
use super::subscriber;
use crate::exits::otlp::ExportStats;
use crate::exits::pull::Readiness;
use alys_telemetry_core::health::HealthRegistry;

/// Owns the running pipeline. Call [`shutdown`](Self::shutdown) before the process exits;
/// dropping the guard without it still flushes, but blocks the dropping thread.
pub struct TelemetryGuard {
    pub(super) providers: Option<shutdown::Providers>,
    /// The pipeline's own meter: of its meter provider, never the global one.
    pub(super) meter: Meter,
    pub(super) registry: prometheus::Registry,
    pub(super) stats: Arc<ExportStats>,
    pub(super) health: HealthRegistry,
    pub(super) readiness: Readiness,
    pub(super) local_addr: Option<SocketAddr>,
    pub(super) server: Option<JoinHandle<()>>,
    pub(super) system: Option<JoinHandle<()>>,
    /// The viewer's health-history sampler.
    pub(super) history: Option<JoinHandle<()>>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) shutdown_timeout: Duration,
}

impl TelemetryGuard {
    /// A meter of the node's scope, from the pipeline's own meter provider (a no-op meter
    /// when the SDK is disabled).
    pub fn meter(&self) -> Meter {
        self.meter.clone()
    }

    /// The pipeline's `tracing` layers for a host's own subscriber ([`Telemetry::build`]):
    /// spans into OpenTelemetry and events into the OTLP log bridge, each only when that
    /// signal is on. The host keeps its filter and log output; its fmt layer can leave out
    /// the mailboxes' handling spans with [`not_handling_spans`](super::not_handling_spans).
    ///
    /// [`Telemetry::build`]: super::Telemetry::build
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let tracer = self.tracer_provider().map(|p| p.tracer(SCOPE));
        subscriber::pipeline_layer(tracer, self.logger_provider())
    }

    /// The tracer provider, for a host that makes spans on the SDK directly (none when
    /// traces are off or the SDK is disabled).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.providers.as_ref()?.tracer.as_ref()
    }

    /// The meter provider that feeds `/metrics` and OTLP push.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.providers.as_ref()?.meter.as_ref()
    }

    /// The logger provider behind the log bridge (none unless logs are pushed).
    pub(super) fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.providers.as_ref()?.logger.as_ref()
    }
    /// Where components register their health checks.
    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }
    /// The registry the pull endpoint serves.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }
    /// Export counters per signal.
    pub fn export_stats(&self) -> &Arc<ExportStats> {
        &self.stats
    }
    /// The address the pull endpoint listens on, if it runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
    /// `/ready` answers 200 from now until shutdown begins.
    pub fn mark_ready(&self) {
        self.readiness.set_ready();
    }

    /// `/ready` answers 503 from now on: the node is stopping.
    pub fn mark_stopping(&self) {
        self.readiness.set_shutting_down();
    }

    /// The bound on a whole stop (`shutdown.timeout_ms`): the node's own components, then
    /// the flush.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Flushes traces, metrics and logs in parallel, bounded by the configured shutdown
    /// timeout, then stops the pull endpoint. Works on any Tokio runtime flavour.
    pub async fn shutdown(self) -> ShutdownReport {
        self.shutdown_since(Instant::now()).await
    }

    /// As [`shutdown`](Self::shutdown), with the bound counted from `began`, the moment the
    /// process began to stop: a node that first stopped its own components still ends the
    /// whole stop within the shutdown timeout of that moment.
    pub async fn shutdown_since(mut self, began: Instant) -> ShutdownReport {
        self.readiness.set_shutting_down();
        let left = self.shutdown_timeout.saturating_sub(began.elapsed());
        let providers = self.providers.take().unwrap_or_default();
        let pushing = providers.pushes();
        let report = shutdown::shutdown_all(providers, left).await;
        if pushing {
            // What was queued, delivered and dropped over the process's life, now that
            // `/metrics` is going away.
            self.stats.log_totals();
        }
        self.stop_server();
        report
    }

    fn stop_server(&mut self) {
        let _ = self.stop.send(true);
        // Keep-alive scrapers would hold a graceful stop open; the flush is done, so abort.
        for task in [self.server.take(), self.system.take(), self.history.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(providers) = self.providers.take() {
            self.readiness.set_shutting_down();
            let bound = self.shutdown_timeout;
            // No runtime can be assumed here: shut down on a thread and wait, bounded.
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("otel-shutdown".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(shutdown::shutdown_all(providers, bound));
                    }
                    let _ = tx.send(());
                });
            if spawned.is_ok() {
                let _ = rx.recv_timeout(bound + Duration::from_millis(200));
            }
        }
        self.stop_server();
    }
}
