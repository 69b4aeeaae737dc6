//! The system resource collector: every few seconds it reads the node
//! process's memory, CPU, threads, file descriptors and disk I/O, the host's memory, CPU
//! count and network traffic, keeps the latest reading of each, and publishes them as the
//! metrics of [`catalog::system`](alys_telemetry_catalog::system) and as the `system` health check.
//!
//! Each source fails alone: the others keep updating, the failed one keeps its last good
//! value and counts one failure. Only a collection where every source failed is a failed
//! collection; consecutive failed collections stretch the interval by the shared
//! [`Backoff`] (doubling, up to [`SystemCollectorConfig::max_backoff`]) until one succeeds.
//!
//! ```
//! use alys_telemetry_core::health::HealthRegistry;
//! use alys_telemetry_system::{SystemCollector, SystemCollectorConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let collector = SystemCollector::linux(SystemCollectorConfig::default())?;
//! collector.register_metrics(&opentelemetry::global::meter("example"));
//! let health = HealthRegistry::new();
//! collector.register_health(&health);
//!
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = collector.clone().spawn(async move {
//!     let _ = stopped.await;
//! })?;
//! // ... run the node ...
//! let _ = stop.send(());
//! task.await?;
//! # Ok(()) }
//! ```

mod health;
mod metrics;
mod reader;
mod snapshot;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::runtime::TryCurrentError;
use tokio::task::JoinHandle;

use alys_telemetry_catalog::system::{ResourceSource, SystemMetrics};
use alys_telemetry_core::backoff::Backoff;
use alys_telemetry_core::health::{CheckResult, HealthRegistry};
use snapshot::SOURCES;

pub use health::{
    CPU_CRITICAL_PERCENT, CPU_WARNING_PERCENT, MEMORY_CRITICAL_PERCENT, MEMORY_WARNING_PERCENT,
    ProcessHealth, classify, evaluate,
};
pub use reader::{
    DiskTotals, HostStats, LinuxReader, NetworkTotals, ProcessStats, ReadError, ResourceReader,
    count_entries, parse_cpu_count, parse_net_dev, parse_proc_io, parse_status_threads,
};
pub use snapshot::{CollectionReport, Snapshot};

/// The name of the check [`SystemCollector::register_health`] registers.
pub const HEALTH_CHECK_NAME: &str = "system";

/// The shortest collection interval accepted; a shorter one (zero included) is raised to
/// it so that a bad setting cannot spin a core.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The check only reads the latest snapshot: it answers in microseconds.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How often to collect, and how far to back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemCollectorConfig {
    /// Between collections while they succeed. Default 5 s; at least [`MIN_INTERVAL`].
    pub interval: Duration,
    /// The longest interval after consecutive failed collections. Default 60 s.
    pub max_backoff: Duration,
    /// The health check turns unhealthy when no collection succeeded for this long.
    /// Default 300 s.
    pub stale_after: Duration,
}

impl Default for SystemCollectorConfig {
    fn default() -> Self {
        SystemCollectorConfig {
            interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            stale_after: Duration::from_secs(300),
        }
    }
}

/// Reads the resource sources and publishes the result. Cloning shares the collector.
#[derive(Clone)]
pub struct SystemCollector {
    shared: Arc<Shared>,
}

struct Shared {
    config: SystemCollectorConfig,
    // Separate from `state` so that metric callbacks and health checks never wait on
    // a slow read.
    reader: Mutex<Box<dyn ResourceReader>>,
    state: Mutex<State>,
    // One per meter the metrics were registered on.
    metrics: Mutex<Vec<SystemMetrics>>,
}

struct State {
    snapshot: Snapshot,
    /// The last successful collection, or the collector's creation before any.
    quiet_since: Instant,
}

/// A panic elsewhere while holding a lock leaves plain values that are still whole.
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SystemCollector {
    /// A collector reading from `reader`.
    pub fn new(reader: impl ResourceReader + 'static, config: SystemCollectorConfig) -> Self {
        let config = SystemCollectorConfig {
            interval: config.interval.max(MIN_INTERVAL),
            ..config
        };
        SystemCollector {
            shared: Arc::new(Shared {
                config,
                reader: Mutex::new(Box::new(reader)),
                state: Mutex::new(State {
                    snapshot: Snapshot::default(),
                    quiet_since: Instant::now(),
                }),
                metrics: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A collector reading this process and host through [`LinuxReader`].
    pub fn linux(config: SystemCollectorConfig) -> Result<Self, ReadError> {
        Ok(Self::new(LinuxReader::new()?, config))
    }

    /// The configuration in force (the interval raised to [`MIN_INTERVAL`] if needed).
    pub fn config(&self) -> SystemCollectorConfig {
        self.shared.config
    }

    /// Publishes the metrics of [`catalog::system`](alys_telemetry_catalog::system) on `meter`.
    /// Call once per meter provider: each call registers another set of instruments.
    pub fn register_metrics(&self, meter: &opentelemetry::metrics::Meter) {
        metrics::register(self, meter);
    }

    /// Registers the [`HEALTH_CHECK_NAME`] check: healthy, degraded or unhealthy from the
    /// process health thresholds, unhealthy when no collection succeeded for
    /// [`SystemCollectorConfig::stale_after`].
    pub fn register_health(&self, health: &HealthRegistry) {
        let collector = self.clone();
        health.register(HEALTH_CHECK_NAME, HEALTH_CHECK_TIMEOUT, move || {
            std::future::ready(collector.health_check())
        });
    }

    /// What the health check says now.
    pub fn health_check(&self) -> CheckResult {
        let (snapshot, quiet_since) = {
            let state = lock(&self.shared.state);
            (state.snapshot, state.quiet_since)
        };
        evaluate(
            &snapshot,
            quiet_since.elapsed(),
            self.shared.config.stale_after,
        )
    }

    /// The latest reading of every source.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.shared.state).snapshot
    }

    /// Reads every source once and stores what succeeded. Blocks on file reads for
    /// about a millisecond; [`spawn`](Self::spawn) runs it off the async workers.
    pub fn collect_once(&self) -> CollectionReport {
        let started = Instant::now();
        let readings = Readings::read(lock(&self.shared.reader).as_mut());
        let duration = started.elapsed();
        let (failures, changed) = self.store(readings);
        for metrics in lock(&self.shared.metrics).iter() {
            metrics.collection_duration.record(duration.as_secs_f64());
        }
        // Transitions only: a source that stays broken would otherwise log every 5 s;
        // the failure counter has the full count.
        for (source, error) in changed {
            let source = source.as_str();
            match error {
                Some(error) => tracing::warn!(source, %error, "system resource source failing"),
                None => tracing::info!(source, "system resource source recovered"),
            }
        }
        CollectionReport { duration, failures }
    }

    /// Keeps every good reading in the snapshot (a failed one leaves the last good value)
    /// and returns the failures, and the sources that started or stopped failing with why.
    #[allow(clippy::type_complexity)] // two plain lists, named where they are used
    fn store(
        &self,
        r: Readings,
    ) -> (
        Vec<(ResourceSource, ReadError)>,
        Vec<(ResourceSource, Option<String>)>,
    ) {
        let mut failures = Vec::new();
        let mut state = lock(&self.shared.state);
        let s = &mut state.snapshot;
        use ResourceSource as R;
        keep(R::Process, r.process, &mut s.process, &mut failures);
        keep(R::Memory, r.host, &mut s.host, &mut failures);
        keep(R::Disk, r.disk, &mut s.disk, &mut failures);
        keep(R::Network, r.network, &mut s.network, &mut failures);
        keep(R::Threads, r.threads, &mut s.threads, &mut failures);
        keep(
            R::FileDescriptors,
            r.fds,
            &mut s.file_descriptors,
            &mut failures,
        );
        let mut changed = Vec::new();
        for &source in ResourceSource::ALL {
            let error = failures.iter().find(|(s, _)| *s == source).map(|f| &f.1);
            if s.mark(source, error.is_some()) {
                changed.push((source, error.map(ToString::to_string)));
            }
        }
        if failures.len() < SOURCES {
            s.last_success = Some(SystemTime::now());
            state.quiet_since = Instant::now();
        }
        (failures, changed)
    }

    /// Collects now and then every [`SystemCollectorConfig::interval`], stretched by the
    /// [`Backoff`] while collections fail, until `stop` resolves or the returned task is
    /// aborted. Fails only outside a Tokio runtime.
    pub fn spawn<F>(self, stop: F) -> Result<JoinHandle<()>, TryCurrentError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current()?;
        Ok(runtime.spawn(self.run(stop)))
    }

    async fn run(self, stop: impl Future<Output = ()>) {
        let config = self.shared.config;
        let mut schedule = Schedule::new(&config);
        tokio::pin!(stop);
        loop {
            let collector = self.clone();
            // File reads block; keep them off the async workers.
            let succeeded =
                match tokio::task::spawn_blocking(move || collector.collect_once()).await {
                    Ok(report) => report.succeeded(),
                    Err(e) => {
                        tracing::error!("system resource collection panicked: {e}");
                        false
                    }
                };
            let was_failing = schedule.consecutive_failures() > 0;
            let delay = schedule.after(succeeded);
            if !succeeded && !was_failing {
                tracing::warn!(
                    "every system resource source failed; backing off up to {} s",
                    config.max_backoff.as_secs()
                );
            } else if succeeded && was_failing {
                tracing::info!("system resource collection recovered");
            }
            tokio::select! {
                biased;
                () = &mut stop => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// When the next collection runs: the interval while collections succeed, stretched by the
/// shared [`Backoff`] after each consecutive failed one, back to the interval on a success.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    // No jitter: the collector reads its own process, there is no crowd to spread.
    backoff: Backoff,
    failures: u32,
}

impl Schedule {
    pub fn new(config: &SystemCollectorConfig) -> Self {
        Schedule {
            backoff: Backoff::new(config.interval, config.max_backoff),
            failures: 0,
        }
    }

    /// Notes a collection that `succeeded` (or not) and returns the wait before the next.
    pub fn after(&mut self, succeeded: bool) -> Duration {
        self.failures = if succeeded {
            0
        } else {
            self.failures.saturating_add(1)
        };
        self.backoff.delay(self.failures)
    }

    /// Failed collections since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }
}

/// One reading of every source.
struct Readings {
    process: Result<ProcessStats, ReadError>,
    host: Result<HostStats, ReadError>,
    disk: Result<DiskTotals, ReadError>,
    network: Result<NetworkTotals, ReadError>,
    threads: Result<u64, ReadError>,
    fds: Result<u64, ReadError>,
}

impl Readings {
    fn read(reader: &mut dyn ResourceReader) -> Readings {
        Readings {
            process: reader.process(),
            host: reader.memory(),
            disk: reader.disk(),
            network: reader.network(),
            threads: reader.threads(),
            fds: reader.file_descriptors(),
        }
    }
}

/// Stores a good reading; a failure leaves the last good value in place.
fn keep<T>(
    source: ResourceSource,
    reading: Result<T, ReadError>,
    slot: &mut Option<T>,
    failures: &mut Vec<(ResourceSource, ReadError)>,
) {
    match reading {
        Ok(value) => *slot = Some(value),
        Err(error) => failures.push((source, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// The waits after each collection outcome in turn.
    fn waits(outcomes: &[bool]) -> Vec<u64> {
        let mut schedule = Schedule::new(&SystemCollectorConfig {
            interval: S(5),
            max_backoff: S(60),
            ..SystemCollectorConfig::default()
        });
        outcomes
            .iter()
            .map(|&ok| schedule.after(ok).as_secs())
            .collect()
    }

    #[test]
    fn failed_collections_double_the_interval_up_to_the_maximum() {
        assert_eq!(waits(&[true]), [5]);
        assert_eq!(waits(&[false; 6]), [10, 20, 40, 60, 60, 60]);
    }

    #[test]
    fn the_first_success_returns_to_the_base_and_doubling_starts_over() {
        assert_eq!(
            waits(&[false, false, false, true, false]),
            [10, 20, 40, 5, 10]
        );
        // Endless failure stays at the maximum; a maximum below the interval never
        // shortens it.
        assert_eq!(waits(&[false; 10_000]).last(), Some(&60));
        let mut odd = Schedule::new(&SystemCollectorConfig {
            interval: S(10),
            max_backoff: S(1),
            ..SystemCollectorConfig::default()
        });
        assert_eq!(odd.after(false), S(10));
        assert_eq!(odd.consecutive_failures(), 1);
    }
}
