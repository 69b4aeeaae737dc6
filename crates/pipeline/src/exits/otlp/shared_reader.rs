//! One aggregation for both exits. The SDK keeps a separate aggregation per reader, so a
//! Prometheus reader beside an OTLP periodic reader makes every record twice: two bucket
//! searches and two locked bucket updates per histogram record, two adds per counter (about
//! half the metrics' cost at message rate, docs/performance.md). When both exits run and OTLP
//! wants cumulative sums (what Prometheus keeps too), [`PullAndPush`] is the only reader: the
//! pull endpoint collects from it on each scrape, and a thread of its own collects from the
//! same aggregation every interval and pushes over OTLP, as the SDK's periodic reader would.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, Pipeline, Temporality};

/// What the push thread is asked to do besides its periodic export.
enum Command {
    Flush(mpsc::Sender<OTelSdkResult>),
    Shutdown(mpsc::Sender<OTelSdkResult>),
}

/// The only reader of the meter provider when both exits run: `pull` (the Prometheus
/// exporter) aggregates, and the same aggregation is pushed every `interval` by `exporter`.
/// Its temporality is cumulative, so build it only for an exporter that wants cumulative.
#[derive(Debug)]
pub(crate) struct PullAndPush<R: MetricReader> {
    pull: Arc<R>,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<R: MetricReader> PullAndPush<R> {
    /// Starts the push thread; fails only when the thread cannot be started.
    pub(crate) fn start<E: PushMetricExporter>(
        pull: R,
        exporter: E,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let pull = Arc::new(pull);
        let (tx, rx) = mpsc::channel();
        let pusher = Pusher {
            reader: Arc::downgrade(&pull),
            exporter,
        };
        let thread = std::thread::Builder::new()
            .name("alys-metrics-push".into())
            .spawn(move || pusher.run(&rx, interval))?;
        Ok(PullAndPush {
            pull,
            commands: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Asks the push thread for `command` and waits at most `timeout` for its answer.
    fn ask(
        &self,
        command: impl FnOnce(mpsc::Sender<OTelSdkResult>) -> Command,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = mpsc::channel();
        let sent = lock(&self.commands)
            .as_ref()
            .map(|commands| commands.send(command(tx)).is_ok());
        if sent != Some(true) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::InternalFailure(
                "the metrics push thread ended without answer".into(),
            )),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<R: MetricReader> MetricReader for PullAndPush<R> {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.pull.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.pull.collect(rm)
    }

    /// Pushes what was collected now (the pull side holds nothing to flush).
    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Command::Flush, Duration::from_secs(30))
    }

    /// A last push of everything collected, the exporter's shutdown, then the reader's:
    /// the last push must collect before the reader stops answering.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let started = Instant::now();
        let pushed = self.ask(Command::Shutdown, timeout);
        lock(&self.commands).take();
        if pushed.is_ok()
            && let Some(thread) = lock(&self.thread).take()
        {
            // It answered, so it is leaving its loop; a timed-out one is left to end alone.
            let _ = thread.join();
        }
        let pulled = self
            .pull
            .shutdown_with_timeout(timeout.saturating_sub(started.elapsed()));
        pushed.and(pulled)
    }

    fn temporality(&self, _kind: InstrumentKind) -> Temporality {
        Temporality::Cumulative
    }
}

/// The push thread's side: the reader to collect from and the exporter to push to.
struct Pusher<R, E> {
    reader: Weak<R>,
    exporter: E,
}

impl<R: MetricReader, E: PushMetricExporter> Pusher<R, E> {
    fn run(self, commands: &mpsc::Receiver<Command>, interval: Duration) {
        // The exporter's own telemetry (its client's spans and logs) must not feed back here.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut rm = ResourceMetrics::default();
        let mut next = Instant::now() + interval;
        loop {
            match commands.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.push(&mut rm);
                    next = Instant::now() + interval;
                }
                Ok(Command::Flush(answer)) => {
                    let _ = answer.send(self.push(&mut rm));
                }
                Ok(Command::Shutdown(answer)) => {
                    let pushed = self.push(&mut rm);
                    let _ = answer.send(pushed.and(self.exporter.shutdown()));
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Collects from the shared aggregation and exports it (failures are counted and logged
    /// by the exporter's wrapper).
    fn push(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        let reader = self.reader.upgrade().ok_or(OTelSdkError::AlreadyShutdown)?;
        reader.collect(rm)?;
        if rm.scope_metrics().next().is_none() {
            return Ok(());
        }
        futures_executor::block_on(self.exporter.export(rm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

    fn pushed_sum(exporter: &InMemoryMetricExporter, name: &str) -> Option<u64> {
        let exports = exporter.get_finished_metrics().ok()?;
        let last = exports.last()?;
        last.scope_metrics()
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == name)
            .and_then(|m| match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    sum.data_points().map(|p| p.value()).next()
                }
                _ => None,
            })
    }

    fn pulled_sum(registry: &prometheus::Registry, name: &str) -> Option<f64> {
        let text = alys_test_support::metrics::text_of(registry);
        alys_test_support::sample_sum(&text, name, &[])
    }

    /// A provider read by both exits, pushing every `interval`.
    fn both_exits(
        interval: Duration,
    ) -> (
        SdkMeterProvider,
        prometheus::Registry,
        InMemoryMetricExporter,
    ) {
        let registry = prometheus::Registry::new();
        let pull = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .build()
            .expect("the prometheus reader");
        let exporter = InMemoryMetricExporter::default();
        let reader = PullAndPush::start(pull, exporter.clone(), interval).expect("the push thread");
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        (provider, registry, exporter)
    }

    /// An hour: only flushes and shutdown push.
    const NO_PERIODIC_PUSH: Duration = Duration::from_secs(3600);

    #[test]
    fn both_exits_read_one_aggregation() {
        let (provider, registry, exporter) = both_exits(NO_PERIODIC_PUSH);
        let counter = provider.meter("test").u64_counter("handled").build();
        counter.add(3, &[]);
        provider.force_flush().expect("a flush pushes");
        assert_eq!(pushed_sum(&exporter, "handled"), Some(3));
        assert_eq!(pulled_sum(&registry, "handled_total"), Some(3.0));
        // Cumulative on both sides: a scrape takes nothing away from the next push.
        counter.add(4, &[]);
        assert_eq!(pulled_sum(&registry, "handled_total"), Some(7.0));
        provider.force_flush().expect("a flush pushes");
        assert_eq!(pushed_sum(&exporter, "handled"), Some(7));
        provider.shutdown().expect("a clean shutdown");
    }

    #[test]
    fn shutdown_pushes_what_was_recorded_since_the_last_push() {
        let (provider, _registry, exporter) = both_exits(NO_PERIODIC_PUSH);
        let counter = provider.meter("test").u64_counter("handled").build();
        counter.add(5, &[]);
        assert_eq!(pushed_sum(&exporter, "handled"), None, "nothing pushed yet");
        provider.shutdown().expect("a clean shutdown");
        assert_eq!(pushed_sum(&exporter, "handled"), Some(5));
        assert!(
            provider.force_flush().is_err(),
            "after shutdown nothing is pushed"
        );
    }

    #[test]
    fn the_push_thread_pushes_every_interval() {
        let (provider, _registry, exporter) = both_exits(Duration::from_millis(20));
        provider
            .meter("test")
            .u64_counter("ticks")
            .build()
            .add(1, &[]);
        alys_test_support::wait_until("two periodic pushes", Duration::from_secs(10), || {
            exporter
                .get_finished_metrics()
                .ok()
                .filter(|exports| exports.len() >= 2)
        });
        provider.shutdown().expect("a clean shutdown");
    }
}
