//! The pipeline watches itself: every OTLP exporter is wrapped so that each export call is
//! counted (attempts, failures, items delivered, time of the last success), and a failure is
//! logged at most once per interval with its reason. The SDK's own results cannot be trusted
//! for this (its tracer shutdown returns Ok after a failed export), so we count at the wire.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use alys_telemetry_catalog::MetricDef;
use alys_telemetry_catalog::pipeline::{PipelineMetrics, Signal};
use alys_telemetry_core::throttle::Throttle;

/// Counters for one signal's exporter.
#[derive(Debug, Default)]
pub struct SignalStats {
    attempts: AtomicU64,
    failures: AtomicU64,
    items: AtomicU64,
    last_success_unix_ms: AtomicU64,
}

impl SignalStats {
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
    /// Unix time of the last success, or `None` before the first.
    pub fn last_success(&self) -> Option<SystemTime> {
        match self.last_success_unix_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }
}

/// Export statistics of all signals, shared by the exporter wrappers and the metrics.
#[derive(Debug)]
pub struct ExportStats {
    signals: [SignalStats; 3],
    /// The failure reports, one rate limit per signal.
    reports: [Throttle; 3],
    /// Off while the program reports failures itself (the demo's first-run hint).
    log_failures: std::sync::atomic::AtomicBool,
}

impl ExportStats {
    /// `log_interval`: at most one failure log line per signal in this time.
    pub fn new(log_interval: Duration) -> Arc<Self> {
        Arc::new(ExportStats {
            signals: Default::default(),
            reports: [0; 3].map(|_| Throttle::new(log_interval)),
            log_failures: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Whether failures are logged (they are always counted). A program that tells its user
    /// about a missing collector in its own words turns the log lines off meanwhile.
    pub fn set_log_failures(&self, on: bool) {
        self.log_failures.store(on, Ordering::Relaxed);
    }

    pub fn signal(&self, signal: Signal) -> &SignalStats {
        &self.signals[signal as usize]
    }

    fn record(&self, signal: Signal, items: usize, result: &OTelSdkResult) {
        let s = self.signal(signal);
        s.attempts.fetch_add(1, Ordering::Relaxed);
        let now_ms = unix_ms(SystemTime::now());
        match result {
            Ok(()) => {
                s.items.fetch_add(items as u64, Ordering::Relaxed);
                s.last_success_unix_ms.store(now_ms, Ordering::Relaxed);
            }
            Err(err) => {
                s.failures.fetch_add(1, Ordering::Relaxed);
                let report = &self.reports[signal as usize];
                if !self.log_failures.load(Ordering::Relaxed) {
                    report.occurred_silently();
                } else if let Some(failures) = report.occurred() {
                    tracing::warn!(
                        target: "alys_telemetry::export",
                        signal = signal.as_str(),
                        failures_since_last_report = failures,
                        "OTLP export failed: {err}"
                    );
                }
            }
        }
    }

    /// Registers the observable instruments that publish these statistics.
    pub fn register(self: &Arc<Self>, meter: &Meter) {
        let counter = |def: &'static MetricDef, read: fn(&SignalStats) -> u64| {
            let stats = Arc::clone(self);
            def.observe_u64_counter(meter, move |obs| {
                for &signal in Signal::ALL {
                    obs.observe(read(stats.signal(signal)), &signal_label(signal));
                }
            });
        };
        counter(&PipelineMetrics::EXPORT_ATTEMPTS, SignalStats::attempts);
        counter(&PipelineMetrics::EXPORT_FAILURES, SignalStats::failures);
        counter(&PipelineMetrics::EXPORTED_ITEMS, SignalStats::items);

        let stats = Arc::clone(self);
        PipelineMetrics::LAST_EXPORT_SUCCESS.observe_f64_gauge(meter, move |obs| {
            for &signal in Signal::ALL {
                let ms = stats
                    .signal(signal)
                    .last_success_unix_ms
                    .load(Ordering::Relaxed);
                obs.observe(ms as f64 / 1000.0, &signal_label(signal));
            }
        });
    }
}

fn signal_label(signal: Signal) -> [KeyValue; 1] {
    [KeyValue::new("signal", signal.as_str())]
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An exporter that counts what passes through it.
pub struct Counted<E> {
    inner: E,
    stats: Arc<ExportStats>,
    signal: Signal,
}

impl<E> Counted<E> {
    pub fn new(inner: E, stats: Arc<ExportStats>, signal: Signal) -> Self {
        Counted {
            inner,
            stats,
            signal,
        }
    }
}

impl<E> fmt::Debug for Counted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counted")
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let items = batch.len();
        let result = self.inner.export(batch).await;
        self.stats.record(self.signal, items, &result);
        result
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource)
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counted<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let items = metrics.scope_metrics().map(|s| s.metrics().count()).sum();
        let result = self.inner.export(metrics).await;
        self.stats.record(self.signal, items, &result);
        result
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let items = batch.iter().count();
        let result = self.inner.export(batch).await;
        self.stats.record(self.signal, items, &result);
        result
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn records_attempts_failures_items_and_last_success() {
        let stats = ExportStats::new(Duration::from_secs(60));
        stats.record(Signal::Traces, 5, &Ok(()));
        stats.record(
            Signal::Traces,
            3,
            &Err(OTelSdkError::InternalFailure("refused".into())),
        );
        stats.record(
            Signal::Traces,
            3,
            &Err(OTelSdkError::InternalFailure("refused".into())),
        );
        let t = stats.signal(Signal::Traces);
        assert_eq!((t.attempts(), t.failures(), t.items()), (3, 2, 5));
        assert!(t.last_success().is_some());
        assert_eq!(stats.signal(Signal::Logs).attempts(), 0);
        assert!(stats.signal(Signal::Logs).last_success().is_none());
    }
}
