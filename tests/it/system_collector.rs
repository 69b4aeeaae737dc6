//! The system resource collector: partial failures, backoff, health, what reaches
//! Prometheus, and the real Linux reader against `/proc`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alys_telemetry::health::{HealthRegistry, HealthStatus};
use alys_telemetry::sources::catalog::MetricFamily;
use alys_telemetry::sources::catalog::system::{self as family, ResourceSource};
use alys_telemetry::sources::system::{
    DiskTotals, HostStats, LinuxReader, NetworkTotals, ProcessHealth, ProcessStats, ReadError,
    ResourceReader, Schedule, SystemCollector, SystemCollectorConfig, count_entries,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, Registry, TextEncoder};

// ---------------------------------------------------------------------------
// A reader whose values and failures the test changes between collections
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Plan {
    failing: Vec<ResourceSource>,
    rss: u64,
    cpu_per_core: f64,
    memory_total: u64,
    cpus: u64,
    disk: (u64, u64),
    network: (u64, u64),
    threads: u64,
    fds: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            failing: Vec::new(),
            rss: 100,
            cpu_per_core: 20.0,
            memory_total: 1000,
            cpus: 4,
            disk: (1000, 2000),
            network: (3000, 4000),
            threads: 12,
            fds: 34,
        }
    }
}

/// The collector owns the reader; the test keeps a clone to change the plan.
#[derive(Clone, Default)]
struct Scripted(Arc<Mutex<Plan>>);

impl Scripted {
    fn set(&self, change: impl FnOnce(&mut Plan)) {
        change(&mut self.0.lock().unwrap());
    }
    fn read<T>(&self, source: ResourceSource, f: impl FnOnce(&Plan) -> T) -> Result<T, ReadError> {
        let plan = self.0.lock().unwrap();
        if plan.failing.contains(&source) {
            Err(ReadError::Unavailable(format!("scripted {source} failure")))
        } else {
            Ok(f(&plan))
        }
    }
}

impl ResourceReader for Scripted {
    fn process(&mut self) -> Result<ProcessStats, ReadError> {
        self.read(ResourceSource::Process, |p| ProcessStats {
            resident_bytes: p.rss,
            virtual_bytes: p.rss * 10,
            cpu_percent: p.cpu_per_core,
            start_time_unix: 1_700_000_000,
        })
    }
    fn memory(&mut self) -> Result<HostStats, ReadError> {
        self.read(ResourceSource::Memory, |p| HostStats {
            memory_total_bytes: p.memory_total,
            memory_used_bytes: p.memory_total / 2,
            cpu_count: p.cpus,
        })
    }
    fn disk(&mut self) -> Result<DiskTotals, ReadError> {
        self.read(ResourceSource::Disk, |p| DiskTotals {
            read_bytes: p.disk.0,
            written_bytes: p.disk.1,
        })
    }
    fn network(&mut self) -> Result<NetworkTotals, ReadError> {
        self.read(ResourceSource::Network, |p| NetworkTotals {
            received_bytes: p.network.0,
            transmitted_bytes: p.network.1,
        })
    }
    fn threads(&mut self) -> Result<u64, ReadError> {
        self.read(ResourceSource::Threads, |p| p.threads)
    }
    fn file_descriptors(&mut self) -> Result<u64, ReadError> {
        self.read(ResourceSource::FileDescriptors, |p| p.fds)
    }
}

fn scripted() -> (SystemCollector, Scripted) {
    let script = Scripted::default();
    let collector = SystemCollector::new(script.clone(), SystemCollectorConfig::default());
    (collector, script)
}

// ---------------------------------------------------------------------------
// Reading the metrics back through the Prometheus exporter
// ---------------------------------------------------------------------------

struct Exposition {
    registry: Registry,
    _provider: SdkMeterProvider,
}

impl Exposition {
    fn for_collector(collector: &SystemCollector) -> Self {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        collector.register_metrics(&provider.meter("test"));
        Exposition {
            registry,
            _provider: provider,
        }
    }

    fn text(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The value of the one series `name` with exactly these `labels` among its own.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        alys_test_support::exposition::parse_exposition(&self.text())
            .value(name, labels)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn failures(&self, source: ResourceSource) -> Option<f64> {
        self.value(
            family::SystemMetrics::COLLECTION_FAILURES.name,
            &[("source", source.as_str())],
        )
    }
}

// ---------------------------------------------------------------------------
// Partial and total failure
// ---------------------------------------------------------------------------

#[test]
fn one_failing_source_does_not_blank_the_others() {
    let (collector, script) = scripted();
    let metrics = Exposition::for_collector(&collector);
    assert!(collector.collect_once().succeeded());
    assert_eq!(
        metrics.value(
            family::SystemMetrics::DISK_IO.name,
            &[("operation", "read")]
        ),
        Some(1000.0)
    );

    // Disk and network break; memory and the process move on.
    script.set(|p| {
        p.failing = vec![ResourceSource::Disk, ResourceSource::Network];
        p.rss = 250;
        p.memory_total = 2000;
        p.disk = (9999, 9999);
    });
    let report = collector.collect_once();
    assert!(report.succeeded(), "partial success is success: {report:?}");
    assert!(report.failed(ResourceSource::Disk) && report.failed(ResourceSource::Network));
    assert!(!report.failed(ResourceSource::Memory));

    let snapshot = collector.snapshot();
    assert_eq!(snapshot.process.unwrap().resident_bytes, 250);
    assert_eq!(snapshot.host.unwrap().memory_total_bytes, 2000);
    assert_eq!(
        snapshot.disk.unwrap().read_bytes,
        1000,
        "last good value kept"
    );
    assert_eq!(
        snapshot.failing_sources(),
        [ResourceSource::Disk, ResourceSource::Network]
    );

    assert_eq!(
        metrics.value(family::SystemMetrics::MEMORY_USAGE.name, &[]),
        Some(250.0)
    );
    assert_eq!(
        metrics.value(family::SystemMetrics::SYSTEM_MEMORY_TOTAL.name, &[]),
        Some(2000.0)
    );
    assert_eq!(
        metrics.value(
            family::SystemMetrics::DISK_IO.name,
            &[("operation", "read")]
        ),
        Some(1000.0)
    );
    assert_eq!(
        metrics.value(
            family::SystemMetrics::NETWORK_IO.name,
            &[("direction", "transmit")]
        ),
        Some(4000.0)
    );
    assert_eq!(metrics.failures(ResourceSource::Disk), Some(1.0));
    assert_eq!(metrics.failures(ResourceSource::Network), Some(1.0));
    assert_eq!(metrics.failures(ResourceSource::Memory), Some(0.0));

    // A second failure counts again; recovery publishes the new total at once.
    collector.collect_once();
    assert_eq!(metrics.failures(ResourceSource::Disk), Some(2.0));
    script.set(|p| p.failing.clear());
    collector.collect_once();
    assert_eq!(
        metrics.value(
            family::SystemMetrics::DISK_IO.name,
            &[("operation", "read")]
        ),
        Some(9999.0)
    );
    assert_eq!(metrics.failures(ResourceSource::Disk), Some(2.0));
    assert!(collector.snapshot().failing_sources().is_empty());
}

#[test]
fn a_collection_where_every_source_fails_drives_the_backoff() {
    let (collector, script) = scripted();
    let metrics = Exposition::for_collector(&collector);
    let config = collector.config();
    let mut schedule = Schedule::new(&config);

    script.set(|p| p.failing = ResourceSource::ALL.to_vec());
    let mut delays = Vec::new();
    for _ in 0..5 {
        let report = collector.collect_once();
        assert!(!report.succeeded());
        assert_eq!(report.failures.len(), ResourceSource::ALL.len());
        delays.push(schedule.after(report.succeeded()).as_secs());
    }
    assert_eq!(delays, [10, 20, 40, 60, 60]);
    assert_eq!(collector.snapshot().last_success, None);
    assert_eq!(
        metrics.value(family::SystemMetrics::LAST_COLLECTION_SUCCESS.name, &[]),
        None
    );
    for source in ResourceSource::ALL {
        assert_eq!(metrics.failures(*source), Some(5.0), "{source}");
    }
    // Nothing was ever read: no made-up zeros.
    assert_eq!(
        metrics.value(family::SystemMetrics::MEMORY_USAGE.name, &[]),
        None
    );

    // One source back is enough to return to the normal interval.
    script.set(|p| p.failing.retain(|s| *s != ResourceSource::Threads));
    let report = collector.collect_once();
    assert!(report.succeeded());
    assert_eq!(schedule.after(report.succeeded()), config.interval);
    let last = metrics
        .value(family::SystemMetrics::LAST_COLLECTION_SUCCESS.name, &[])
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last).abs() < 60.0, "last success {last}, now {now}");
    assert_eq!(
        metrics.value(family::SystemMetrics::THREADS.name, &[]),
        Some(12.0)
    );
}

#[test]
fn every_collection_is_timed() {
    let (collector, _script) = scripted();
    let metrics = Exposition::for_collector(&collector);
    for _ in 0..3 {
        collector.collect_once();
    }
    let count = format!("{}_count", family::SystemMetrics::COLLECTION_DURATION.name);
    assert_eq!(metrics.value(&count, &[]), Some(3.0));
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

#[tokio::test]
async fn health_check_and_gauge_follow_the_thresholds() {
    let (collector, script) = scripted();
    let metrics = Exposition::for_collector(&collector);
    let health = HealthRegistry::new();
    collector.register_health(&health);

    let cases = [
        // rss of 1000, per-core CPU on 4 cores, expected status
        (451, 48.0, HealthStatus::Healthy, ProcessHealth::Healthy),
        (850, 0.0, HealthStatus::Degraded, ProcessHealth::Warning),
        (100, 300.0, HealthStatus::Degraded, ProcessHealth::Warning),
        (950, 0.0, HealthStatus::Unhealthy, ProcessHealth::Critical),
        (100, 380.0, HealthStatus::Unhealthy, ProcessHealth::Critical),
    ];
    for (rss, cpu, status, level) in cases {
        script.set(|p| {
            p.rss = rss;
            p.cpu_per_core = cpu;
        });
        collector.collect_once();
        let report = health.report().await;
        let check = &report.checks["system"];
        assert_eq!(
            check.status, status,
            "rss {rss}, cpu {cpu}: {}",
            check.detail
        );
        assert_eq!(
            metrics.value(family::SystemMetrics::PROCESS_HEALTH.name, &[]),
            Some(level.gauge_value()),
            "rss {rss}, cpu {cpu}"
        );
        // The exported CPU figure is the raw per-core one.
        assert_eq!(
            metrics.value(family::SystemMetrics::CPU_USAGE.name, &[]),
            Some(cpu)
        );
    }
    script.set(|p| {
        p.rss = 451;
        p.cpu_per_core = 48.0;
    });
    collector.collect_once();
    assert_eq!(
        collector.health_check().detail,
        "memory 45.1 % of host, cpu 12.0 % of host"
    );
}

#[tokio::test]
async fn health_turns_unhealthy_when_no_collection_succeeds_for_too_long() {
    let script = Scripted::default();
    let config = SystemCollectorConfig {
        stale_after: Duration::from_millis(200),
        ..SystemCollectorConfig::default()
    };
    let collector = SystemCollector::new(script.clone(), config);
    let health = HealthRegistry::new();
    collector.register_health(&health);
    collector.collect_once();
    assert_eq!(
        health.report().await.checks["system"].status,
        HealthStatus::Healthy
    );

    script.set(|p| p.failing = ResourceSource::ALL.to_vec());
    let started = Instant::now();
    let detail = loop {
        collector.collect_once();
        let check = collector.health_check();
        if check.status == HealthStatus::Unhealthy {
            break check.detail;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never turned stale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        detail.starts_with("no successful collection for"),
        "{detail}"
    );

    script.set(|p| p.failing.clear());
    collector.collect_once();
    assert_eq!(
        health.report().await.checks["system"].status,
        HealthStatus::Healthy
    );
}

// ---------------------------------------------------------------------------
// The task
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_task_collects_until_stopped() {
    let script = Scripted::default();
    let config = SystemCollectorConfig {
        interval: Duration::from_millis(100),
        ..SystemCollectorConfig::default()
    };
    let collector = SystemCollector::new(script.clone(), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = collector
        .clone()
        .spawn(async move {
            let _ = stopped.await;
        })
        .unwrap();

    // Collections keep coming: a later value shows up without another call from us.
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.snapshot().threads != Some(12) {
        assert!(Instant::now() < deadline, "no first collection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    script.set(|p| p.threads = 13);
    while collector.snapshot().threads != Some(13) {
        assert!(Instant::now() < deadline, "no second collection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops when asked")
        .unwrap();
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let (collector, _script) = scripted();
    let err = collector.spawn(std::future::pending::<()>()).unwrap_err();
    assert!(err.is_missing_context(), "{err}");
    assert!(err.to_string().contains("Tokio"), "{err}");
}

// ---------------------------------------------------------------------------
// The real reader
// ---------------------------------------------------------------------------

#[test]
fn linux_reader_reports_plausible_values() {
    let mut reader = LinuxReader::new().unwrap();

    let process = reader.process().unwrap();
    assert!(process.resident_bytes > 0);
    assert!(process.virtual_bytes >= process.resident_bytes);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(process.start_time_unix > 0 && process.start_time_unix <= now);

    let host = reader.memory().unwrap();
    assert!(host.memory_total_bytes >= process.resident_bytes);
    assert!(host.memory_used_bytes <= host.memory_total_bytes);
    assert!(host.cpu_count >= 1);

    assert!(reader.file_descriptors().unwrap() > 0);
    reader.disk().unwrap();
    reader.network().unwrap();

    // The harness starts and ends test threads concurrently: compare only when the
    // task count held still around the reading.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = count_entries("/proc/self/task").unwrap();
        let threads = reader.threads().unwrap();
        let after = count_entries("/proc/self/task").unwrap();
        if before == after {
            assert_eq!(threads, before);
            assert!(threads >= 1);
            break;
        }
        assert!(Instant::now() < deadline, "thread count never held still");
    }
}

#[test]
fn linux_reader_measures_cpu_per_core() {
    let mut reader = LinuxReader::new().unwrap();
    let cpus = reader.memory().unwrap().cpu_count as f64;
    // Burn one core past sysinfo's minimum sampling interval.
    let started = Instant::now();
    let mut x = 0u64;
    while started.elapsed() < Duration::from_millis(500) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    let cpu = reader.process().unwrap().cpu_percent;
    assert!(cpu > 10.0, "a busy core shows, got {cpu}");
    assert!(cpu <= 100.0 * cpus + 1.0, "{cpu} on {cpus} CPUs");
}

#[test]
fn every_system_metric_reaches_prometheus_from_the_real_reader() {
    let collector = SystemCollector::linux(SystemCollectorConfig::default()).unwrap();
    let metrics = Exposition::for_collector(&collector);
    let report = collector.collect_once();
    assert!(report.failures.is_empty(), "{report:?}");
    let text = metrics.text();
    for def in <family::SystemMetrics as MetricFamily>::FAMILY.metrics {
        assert!(
            text.contains(&format!(
                "# TYPE {} {}",
                def.name,
                def.kind.prometheus_type()
            )),
            "{} missing from\n{text}",
            def.name
        );
    }
    let threads = metrics
        .value(family::SystemMetrics::THREADS.name, &[])
        .unwrap();
    assert!(threads >= 1.0);
    let uptime = metrics
        .value(family::SystemMetrics::UPTIME.name, &[])
        .unwrap();
    assert!(uptime >= 0.0);
}
