//! A family declared here, built on an SDK meter provider whose in-memory exporter shows
//! what a scrape would: the series at start-up, then the records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alys_telemetry_catalog::external::KeyedCounter;
use alys_telemetry_catalog::instruments::{
    Counter, CounterVec, Gauge, GaugeVec, HistogramVec, LabelValues,
};
use alys_telemetry_catalog::{AtStart, LabelValue, MetricFamily, MetricKind, Observed, Start};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Phase {
    Warmup,
    #[label("steady_state")]
    Steady,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Outcome {
    Success,
    Failure,
}

const WHY: &str = "the test reads it";

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics {
    /// Jobs started
    #[metric(name = "test_jobs_started_total", why = WHY)]
    started: Counter,
    /// Jobs finished, by phase and outcome
    #[metric(labels(phase, outcome), why = WHY, name = "test_jobs_finished_total")]
    finished: CounterVec<(Phase, Outcome)>,
    /// Jobs waiting in the queue, by phase
    #[metric(name = "test_jobs_queued", labels(phase), why = WHY)]
    queued: Observed<GaugeVec<Phase>>,
    /// Time a job takes
    #[metric(
        name = "test_job_duration_seconds",
        unit = "s",
        labels(phase),
        buckets = [0.1, 1.0],
        why = WHY,
    )]
    duration: HistogramVec<Phase>,
    /// Workers running
    #[metric(start = zero, why = WHY, name = "test_workers")]
    workers: Gauge,
    /// Jobs by the tenant that asked (outside values)
    #[metric(name = "test_jobs_by_tenant_total", labels(tenant), limit = 10, why = WHY)]
    by_tenant: KeyedCounter,
    #[state(init = meter_scope_len(meter))]
    scope_len: usize,
    total: AtomicU64,
}

fn meter_scope_len(meter: &Meter) -> usize {
    format!("{meter:?}").len()
}

/// A provider whose reader exports only when flushed.
fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    (provider, exporter)
}

/// The series of the instrument `name` in the last export: its labels and value (a
/// histogram's count).
fn series(exporter: &InMemoryMetricExporter, name: &str) -> Vec<(Vec<String>, f64)> {
    let exports = exporter.get_finished_metrics().expect("an export");
    let Some(last) = exports.last() else {
        return Vec::new();
    };
    let labels = |attrs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        let mut l: Vec<String> = attrs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        l.sort();
        l
    };
    let mut out = Vec::new();
    for metric in last
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .filter(|m| m.name() == name)
    {
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => out.extend(
                sum.data_points()
                    .map(|p| (labels(&mut p.attributes()), p.value() as f64)),
            ),
            AggregatedMetrics::F64(MetricData::Gauge(gauge)) => out.extend(
                gauge
                    .data_points()
                    .map(|p| (labels(&mut p.attributes()), p.value())),
            ),
            AggregatedMetrics::F64(MetricData::Histogram(h)) => out.extend(
                h.data_points()
                    .map(|p| (labels(&mut p.attributes()), p.count() as f64)),
            ),
            _ => panic!("{name}: an unexpected aggregation"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn the_family_lists_its_definitions_recorded_first() {
    let family = <JobMetrics as MetricFamily>::FAMILY;
    assert_eq!(family.title, "jobs");
    let names: Vec<&str> = family.metrics.iter().map(|d| d.name).collect();
    assert_eq!(
        names,
        [
            "test_jobs_started_total",
            "test_jobs_finished_total",
            "test_job_duration_seconds",
            "test_workers",
            "test_jobs_by_tenant_total",
            "test_jobs_queued",
        ]
    );
    let finished = JobMetrics::FINISHED;
    assert_eq!(finished.help, "Jobs finished, by phase and outcome");
    assert_eq!(finished.labels, ["phase", "outcome"]);
    assert_eq!(
        (finished.kind, finished.start),
        (MetricKind::Counter, Start::Zero)
    );
    assert_eq!(finished.at_start(), AtStart::Zero { series: 4 });
    assert_eq!(JobMetrics::QUEUED.at_start(), AtStart::Observed);
    assert_eq!(JobMetrics::DURATION.buckets, [0.1, 1.0]);
    assert!(matches!(JobMetrics::DURATION.start, Start::Absent(_)));
    assert_eq!(JobMetrics::BY_TENANT.combinations, None);
    assert_eq!(JobMetrics::BY_TENANT.cardinality_limit, 10);
    assert_eq!(JobMetrics::WORKERS.instrument_name(), "test_workers");
}

#[test]
fn counters_are_at_zero_before_any_record_and_records_carry_typed_labels() {
    let (provider, exporter) = provider();
    let jobs = JobMetrics::new(&provider.meter("test"));
    assert!(jobs.scope_len > 0, "state is initialised from the meter");
    provider.force_flush().expect("a flush exports");

    assert_eq!(series(&exporter, "test_jobs_started"), [(vec![], 0.0)]);
    let at_zero = series(&exporter, "test_jobs_finished");
    assert_eq!(at_zero.len(), Phase::COUNT * Outcome::COUNT);
    assert!(at_zero.iter().all(|(_, v)| *v == 0.0), "{at_zero:?}");
    assert_eq!(series(&exporter, "test_workers"), [(vec![], 0.0)]);
    assert!(
        series(&exporter, "test_job_duration").is_empty(),
        "histograms start absent"
    );
    assert!(
        series(&exporter, "test_jobs_by_tenant").is_empty(),
        "outside values start absent"
    );

    jobs.started.add(2);
    jobs.finished.add((Phase::Steady, Outcome::Failure), 3);
    jobs.duration.record(Phase::Warmup, 0.5);
    jobs.by_tenant.add("Tenant/A", 1);
    jobs.workers.set(3.0);
    jobs.total.fetch_add(1, Ordering::Relaxed);
    provider.force_flush().expect("a flush exports");

    assert_eq!(series(&exporter, "test_jobs_started"), [(vec![], 2.0)]);
    let failed = series(&exporter, "test_jobs_finished")
        .into_iter()
        .find(|(labels, _)| labels == &["outcome=failure", "phase=steady_state"]);
    assert_eq!(failed.map(|(_, v)| v), Some(3.0));
    assert_eq!(
        series(&exporter, "test_job_duration"),
        [(vec!["phase=warmup".to_string()], 1.0)]
    );
    assert_eq!(series(&exporter, "test_workers"), [(vec![], 3.0)]);
    assert_eq!(
        series(&exporter, "test_jobs_by_tenant"),
        [(vec!["tenant=tenanta".to_string()], 1.0)]
    );
    provider.shutdown().expect("a clean shutdown");
}

/// A family generic over the user's label enum, as the actor family is about to be.
#[derive(MetricFamily)]
#[family(title = "generic", crate = ::alys_telemetry_catalog)]
struct GenericMetrics<K: LabelValues> {
    /// Things handled, by kind and outcome
    #[metric(name = "test_generic_handled_total", labels(kind, outcome), why = WHY)]
    handled: CounterVec<(K, Outcome)>,
}

#[test]
fn a_generic_family_has_definitions_per_instantiation() {
    assert_eq!(GenericMetrics::<Phase>::HANDLED.combinations, Some(4));
    assert_eq!(GenericMetrics::<Outcome>::HANDLED.combinations, Some(4));
    let (provider, exporter) = provider();
    let generic = GenericMetrics::<Phase>::new(&provider.meter("test"));
    generic.handled.add((Phase::Warmup, Outcome::Success), 1);
    provider.force_flush().expect("a flush exports");
    let handled = series(&exporter, "test_generic_handled");
    assert_eq!(handled.len(), 4, "every combination at 0, then the record");
    assert_eq!(handled.iter().map(|(_, v)| v).sum::<f64>(), 1.0);
    provider.shutdown().expect("a clean shutdown");
}

#[test]
fn label_values_follow_declaration_order() {
    assert_eq!(Phase::ALL, [Phase::Warmup, Phase::Steady]);
    assert_eq!(Phase::Steady.as_str(), "steady_state");
    assert_eq!(Phase::Warmup.to_string(), "warmup");
    assert_eq!((Phase::Steady.index(), Phase::from_index(2)), (1, None));
    assert_eq!(<(Phase, Outcome)>::ARITY, 2);
}
