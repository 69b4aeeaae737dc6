//! Hot-path costs, each beside its baseline in the same run (docs/performance.md).
//!
//! `cargo bench --bench hot_path` then `scripts/perf-table.py` prints the ratios.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use alys_telemetry::sources::catalog::actors::ActorMetrics;
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use alys_telemetry::sources::catalog::migration::{ErrorType, MigrationMetrics, MigrationPhase};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// A meter provider as production has it: read by the Prometheus exporter.
fn provider() -> SdkMeterProvider {
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(prometheus::Registry::new())
        .build()
        .expect("prometheus exporter");
    SdkMeterProvider::builder().with_reader(reader).build()
}

fn metric_record(c: &mut Criterion) {
    let provider = provider();
    let meter = provider.meter("bench");
    let mut g = c.benchmark_group("metric_record");

    let atomic = AtomicU64::new(0);
    g.bench_function("baseline_atomic_fetch_add", |b| {
        b.iter(|| atomic.fetch_add(black_box(1), Ordering::Relaxed))
    });

    let sdk_counter = meter.u64_counter("sdk_counter").build();
    let attrs = [
        KeyValue::new("phase", "sync_engine"),
        KeyValue::new("error_type", "timeout"),
    ];
    g.bench_function("baseline_sdk_counter_add_2_attributes", |b| {
        b.iter(|| sdk_counter.add(black_box(1), &attrs))
    });

    // The same metric and labels through the migration family's declared instrument.
    let migration = MigrationMetrics::new(&meter);
    g.bench_function("ours_enum_counter_add", |b| {
        b.iter(|| {
            migration.errors.add(
                black_box((MigrationPhase::SyncEngine, ErrorType::Timeout)),
                1,
            )
        })
    });

    let sdk_histogram = meter
        .f64_histogram("sdk_histogram")
        .with_boundaries(
            ActorMetrics::<ActorType, MessageType>::MESSAGE_LATENCY
                .buckets
                .to_vec(),
        )
        .build();
    let one = [KeyValue::new("actor_type", "chain")];
    g.bench_function("baseline_sdk_histogram_record_1_attribute", |b| {
        b.iter(|| sdk_histogram.record(black_box(0.004), &one))
    });

    let actors = ActorMetrics::<ActorType, MessageType>::new(&meter);
    g.bench_function("ours_enum_histogram_record", |b| {
        b.iter(|| {
            actors
                .message_latency
                .record(black_box(ActorType::Chain), 0.004)
        })
    });
    g.finish();
}

criterion_group!(benches, metric_record);
criterion_main!(benches);
