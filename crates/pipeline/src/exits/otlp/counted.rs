//! The pipeline watches itself: every OTLP exporter is wrapped so that each export call is
//! counted (attempts, failures, items delivered, time of the last success, items dropped and
//! why), and a failure is logged at most once per interval with its reason. The SDK's own
//! results cannot be trusted for this (its tracer shutdown returns Ok after a failed export),
//! so we count at the wire. An export call returns after opentelemetry-otlp's retries, so
//! a failure here is a batch lost: its items are counted as dropped.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::attempts::Attempts;
use super::backlog::Backlog;
use super::retry::spent_the_budget;
use super::stats::ExportStats;
use alys_telemetry_catalog::pipeline::{ExportDropReason, Signal};

/// An exporter that counts what passes through it, and gives back the queue places of what
/// it carried.
pub struct Counted<E> {
    inner: E,
    stats: Arc<ExportStats>,
    signal: Signal,
    /// The outage budget the inner exporter retries for: a failure after it spent the
    /// budget, one before was refused.
    budget: Duration,
    backlog: Option<Arc<Backlog>>,
    /// The attempts its transport reports, when it reports them.
    attempts: Option<Arc<Attempts>>,
}

impl<E> Counted<E> {
    pub fn new(inner: E, stats: Arc<ExportStats>, signal: Signal) -> Self {
        Counted {
            inner,
            stats,
            signal,
            budget: Duration::ZERO,
            backlog: None,
            attempts: None,
        }
    }

    /// The same exporter, its attempts counted as its transport reports them.
    pub(crate) fn with_attempts(self, attempts: Arc<Attempts>) -> Self {
        Counted {
            attempts: Some(attempts),
            ..self
        }
    }

    /// An export call begins.
    fn begin(&self) -> Instant {
        if let Some(attempts) = &self.attempts {
            attempts.begin();
        }
        Instant::now()
    }

    /// The same exporter, its failures told apart by `budget` (see [`Counted::new`]).
    pub(crate) fn with_budget(self, budget: Duration) -> Self {
        Counted { budget, ..self }
    }

    /// The same exporter, giving back a place in `backlog` for each item it carried.
    pub(crate) fn holding(self, backlog: Arc<Backlog>) -> Self {
        Counted {
            backlog: Some(backlog),
            ..self
        }
    }

    pub(crate) fn stats(&self) -> &Arc<ExportStats> {
        &self.stats
    }

    /// Counts one export's result; `started` is when the export call began.
    fn finished(&self, items: usize, started: Instant, result: &OTelSdkResult) {
        let made = self.attempts.as_ref().map_or(0, |a| a.made());
        self.stats.record(self.signal, items, made, result);
        if result.is_err() {
            let reason = match spent_the_budget(started.elapsed(), self.budget) {
                true => ExportDropReason::OutageBudget,
                false => ExportDropReason::Rejected,
            };
            self.stats.dropped(self.signal, reason, items as u64);
        }
        if let Some(backlog) = &self.backlog {
            backlog.release(items);
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
        let started = self.begin();
        let result = self.inner.export(batch).await;
        self.finished(items, started, &result);
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
        let started = self.begin();
        let result = self.inner.export(metrics).await;
        self.finished(items, started, &result);
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
        let started = self.begin();
        let result = self.inner.export(batch).await;
        self.finished(items, started, &result);
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
