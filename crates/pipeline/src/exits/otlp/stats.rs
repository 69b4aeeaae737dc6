//! The export statistics the pipeline keeps about itself, per signal: attempts, failures,
//! items delivered, the last success, items queued and items dropped by reason. The counted
//! exporters (`counted.rs`) and the transport's attempt reports (`attempts.rs`) write them;
//! the pipeline's meter publishes them, and a stop logs their totals.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use opentelemetry_sdk::error::OTelSdkResult;

use alys_telemetry_catalog::MetricDef;
use alys_telemetry_catalog::pipeline::{ExportDropReason, PipelineMetrics, Signal};
use alys_telemetry_core::throttle::Throttle;

/// The drop reasons, in the order of [`SignalStats`]' drop counters.
const DROP_REASONS: [ExportDropReason; 3] = [
    ExportDropReason::QueueFull,
    ExportDropReason::OutageBudget,
    ExportDropReason::Rejected,
];

/// Counters for one signal's exporter.
#[derive(Debug, Default)]
pub struct SignalStats {
    attempts: AtomicU64,
    failures: AtomicU64,
    items: AtomicU64,
    last_success_unix_ms: AtomicU64,
    /// Items that took a place in the export queue.
    queued: AtomicU64,
    /// Items dropped, by [`DROP_REASONS`].
    dropped: [AtomicU64; 3],
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
    /// Items that took a place in the export queue (spans and log records; metrics have
    /// no queue).
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
    /// Items dropped for `reason`.
    pub fn dropped(&self, reason: ExportDropReason) -> u64 {
        self.dropped[drop_index(reason)].load(Ordering::Relaxed)
    }
    /// Items dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        DROP_REASONS.iter().map(|&r| self.dropped(r)).sum()
    }
    /// Unix time of the last success, or `None` before the first.
    pub fn last_success(&self) -> Option<SystemTime> {
        match self.last_success_unix_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }
}

fn drop_index(reason: ExportDropReason) -> usize {
    match reason {
        ExportDropReason::QueueFull => 0,
        ExportDropReason::OutageBudget => 1,
        ExportDropReason::Rejected => 2,
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

    /// An item took a place in `signal`'s export queue.
    pub(crate) fn queued(&self, signal: Signal) {
        self.signal(signal).queued.fetch_add(1, Ordering::Relaxed);
    }

    /// `items` of `signal` were dropped for `reason`.
    pub(crate) fn dropped(&self, signal: Signal, reason: ExportDropReason, items: u64) {
        self.signal(signal).dropped[drop_index(reason)].fetch_add(items, Ordering::Relaxed);
    }

    /// One line per signal with what the exporters did over the process's life: said at a
    /// stop, when `/metrics` is no longer there to ask.
    pub(crate) fn log_totals(&self) {
        for &signal in Signal::ALL {
            let s = self.signal(signal);
            // Queued, and neither delivered nor dropped after its export: what the stop's bound
            // cut off (metrics have no queue: always 0).
            let unsent = s.queued().saturating_sub(
                s.items()
                    + s.dropped(ExportDropReason::OutageBudget)
                    + s.dropped(ExportDropReason::Rejected),
            );
            tracing::info!(
                target: "alys_telemetry::export",
                signal = signal.as_str(),
                queued = s.queued(),
                exported = s.items(),
                dropped_queue_full = s.dropped(ExportDropReason::QueueFull),
                dropped_outage_budget = s.dropped(ExportDropReason::OutageBudget),
                dropped_rejected = s.dropped(ExportDropReason::Rejected),
                unsent_at_stop = unsent,
                "OTLP export totals"
            );
        }
    }

    /// The transport starts an attempt; `retry`: the attempt before it, in the same export
    /// call, failed (see `attempts`).
    pub(crate) fn attempt_started(&self, signal: Signal, retry: bool) {
        let s = self.signal(signal);
        s.attempts.fetch_add(1, Ordering::Relaxed);
        if retry {
            s.failures.fetch_add(1, Ordering::Relaxed);
            self.report(signal, &"retrying within the outage budget");
        }
    }

    /// An export call returned after `attempts_made` attempts seen at the transport (none:
    /// it failed before reaching it, or nothing watches its transport, and it counts as one).
    pub(super) fn record(
        &self,
        signal: Signal,
        items: usize,
        attempts_made: u64,
        result: &OTelSdkResult,
    ) {
        let s = self.signal(signal);
        if attempts_made == 0 {
            s.attempts.fetch_add(1, Ordering::Relaxed);
        }
        let now_ms = unix_ms(SystemTime::now());
        match result {
            Ok(()) => {
                s.items.fetch_add(items as u64, Ordering::Relaxed);
                s.last_success_unix_ms.store(now_ms, Ordering::Relaxed);
            }
            Err(err) => {
                s.failures.fetch_add(1, Ordering::Relaxed);
                self.report(signal, err);
            }
        }
    }

    /// Logs a failure of `signal`, at most once per interval, while failures are logged.
    fn report(&self, signal: Signal, detail: &dyn fmt::Display) {
        let report = &self.reports[signal as usize];
        if !self.log_failures.load(Ordering::Relaxed) {
            report.occurred_silently();
        } else if let Some(failures) = report.occurred() {
            tracing::warn!(
                target: "alys_telemetry::export",
                signal = signal.as_str(),
                failures_since_last_report = failures,
                "OTLP export failed: {detail}"
            );
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
        PipelineMetrics::EXPORT_DROPPED_ITEMS.observe_u64_counter(meter, move |obs| {
            for &signal in Signal::ALL {
                for reason in DROP_REASONS {
                    obs.observe(
                        stats.signal(signal).dropped(reason),
                        &[
                            KeyValue::new("signal", signal.as_str()),
                            KeyValue::new("reason", reason.as_str()),
                        ],
                    );
                }
            }
        });

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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn records_attempts_failures_items_and_last_success() {
        let stats = ExportStats::new(Duration::from_secs(60));
        stats.record(Signal::Traces, 5, 0, &Ok(()));
        stats.record(
            Signal::Traces,
            3,
            0,
            &Err(OTelSdkError::InternalFailure("refused".into())),
        );
        stats.record(
            Signal::Traces,
            3,
            0,
            &Err(OTelSdkError::InternalFailure("refused".into())),
        );
        let t = stats.signal(Signal::Traces);
        assert_eq!((t.attempts(), t.failures(), t.items()), (3, 2, 5));
        assert!(t.last_success().is_some());
        assert_eq!(stats.signal(Signal::Logs).attempts(), 0);
        assert!(stats.signal(Signal::Logs).last_success().is_none());
    }
}
