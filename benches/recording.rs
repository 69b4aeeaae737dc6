//! Every family's recording methods under two threads recording at once on the same
//! instance, beside a shared atomic and kept `prometheus` handles in the same run
//! (docs/performance.md, "Recording under two threads").
//!
//! `cargo bench --bench recording` then `scripts/perf-table.py record_two_threads`.
//! Each figure is the wall time per record as each of the two threads sees it.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alys_telemetry::sources::catalog::actors::{ActorMetrics, MessageOutcome};
use alys_telemetry::sources::catalog::chain::ChainMetrics;
use alys_telemetry::sources::catalog::governance::{GovernanceMessageType, GovernanceMetrics};
use alys_telemetry::sources::catalog::governance_node::GovernanceNodeMetrics;
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType, Outcome};
use alys_telemetry::sources::catalog::migration::{ErrorType, MigrationMetrics, MigrationPhase};
use alys_telemetry::sources::catalog::peers::{PeerMetrics, PeerRegion};
use alys_telemetry::sources::catalog::sync::{SyncMetrics, SyncState};
use alys_telemetry::sources::catalog::txpool::{TransactionRejectionReason, TxPoolMetrics};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// A meter provider as production has it: read by the Prometheus exporter.
fn provider() -> SdkMeterProvider {
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(prometheus::Registry::new())
        .build()
        .expect("prometheus exporter");
    SdkMeterProvider::builder().with_reader(reader).build()
}

/// Two threads each call `record(thread, i)` `iters` times at once; the wall time of the
/// slower one is the time of `iters` records.
fn two_threads<F>(iters: u64, record: F) -> Duration
where
    F: Fn(u64, u64) + Sync,
{
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2u64)
            .map(|t| {
                let (record, start) = (&record, &start);
                s.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    for i in 0..iters {
                        record(t, i);
                    }
                    began.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a recording thread"))
            .max()
            .unwrap_or_default()
    })
}

fn bench(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    record: impl Fn(u64, u64) + Sync,
) {
    g.bench_function(name, |b| b.iter_custom(|iters| two_threads(iters, &record)));
}

fn baselines(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let atomic = AtomicU64::new(0);
    bench(g, "baseline_atomic_fetch_add", |_, _| {
        atomic.fetch_add(black_box(1), Ordering::Relaxed);
    });
    let registry = prometheus::Registry::new();
    let counters =
        prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &["phase", "error_type"])
            .expect("a counter");
    registry
        .register(Box::new(counters.clone()))
        .expect("registered");
    let kept = counters.with_label_values(&["sync_engine", "timeout"]);
    bench(g, "baseline_prometheus_counter_kept_handle", |_, _| {
        kept.inc()
    });
    let histograms = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("h", "h")
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        &["actor_type"],
    )
    .expect("a histogram");
    registry
        .register(Box::new(histograms.clone()))
        .expect("registered");
    let kept = histograms.with_label_values(&["chain"]);
    bench(g, "baseline_prometheus_histogram_kept_handle", |_, _| {
        kept.observe(black_box(0.004))
    });
}

fn families(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    meter: &Meter,
) {
    let t0 = Instant::now();
    // Time moves a microsecond a record, as it would for a busy recorder.
    let at = |i: u64| t0 + Duration::from_micros(i);

    let actors = ActorMetrics::new(meter);
    bench(g, "actors_messages_add", |_, _| {
        actors.messages.add(
            (
                ActorType::Chain,
                MessageType::Network,
                MessageOutcome::Processed,
            ),
            1,
        )
    });
    bench(g, "actors_message_latency_record", |_, _| {
        actors
            .message_latency
            .record(ActorType::Chain, black_box(0.004))
    });

    let txpool = TxPoolMetrics::with_capacity(meter, 50_000);
    bench(g, "txpool_accepted", |_, i| txpool.accepted(1, at(i)));
    bench(g, "txpool_rejected", |_, i| {
        txpool.rejected(TransactionRejectionReason::InsufficientFee, at(i))
    });
    bench(g, "txpool_set_contents", |_, i| {
        txpool.set_contents(i % 900, 100, at(i))
    });

    let chain = ChainMetrics::new(meter);
    bench(g, "chain_block_produced", |_, i| {
        chain.block_produced(
            "validator-1",
            Duration::from_millis(400),
            120,
            40_000,
            at(i),
        )
    });
    bench(g, "chain_block_validated", |t, _| {
        let validator = if t == 0 { "validator-1" } else { "validator-2" };
        chain.block_validated(validator, Duration::from_millis(40), Outcome::Success)
    });

    let sync = SyncMetrics::new(meter);
    bench(g, "sync_set_state", |_, i| {
        sync.set_state(if i % 2 == 0 {
            SyncState::Catchup
        } else {
            SyncState::Synced
        })
    });
    bench(g, "sync_set_target_height", |_, i| {
        sync.set_target_height(i)
    });
    bench(g, "sync_set_current_height", |_, i| {
        sync.set_current_height(i, at(i))
    });

    let peers = PeerMetrics::new(meter);
    bench(g, "peers_set_quality", |t, _| {
        peers.set_quality(
            if t == 0 {
                "12D3KooWPeerA"
            } else {
                "12D3KooWPeerB"
            },
            0.9,
        )
    });
    let regions = [(PeerRegion::Europe, 20), (PeerRegion::Asia, 12)];
    bench(g, "peers_set_peers", |_, _| {
        peers.set_peers(&regions, 0.8, 10, 50)
    });
    bench(g, "peers_connections_add", |_, _| {
        peers.connections.add(Outcome::Success, 1)
    });

    let migration = MigrationMetrics::new(meter);
    bench(g, "migration_errors_add", |_, _| {
        migration
            .errors
            .add((MigrationPhase::SyncEngine, ErrorType::Timeout), 1)
    });
    bench(g, "migration_set_phase", |_, _| {
        migration.set_phase(MigrationPhase::SyncEngine, 42.0)
    });

    let governance = GovernanceMetrics::new(meter);
    bench(g, "governance_sent_add", |_, _| {
        governance
            .sent
            .add(GovernanceMessageType::SignatureRequest, 1)
    });
    bench(g, "governance_correlation_record", |_, _| {
        governance.correlation.record(0.02)
    });

    let node = GovernanceNodeMetrics::new(meter);
    bench(g, "governance_node_stream_delta", |t, _| {
        node.stream_delta(if t == 0 { 1 } else { -1 })
    });
}

fn record_two_threads(c: &mut Criterion) {
    let provider = provider();
    let meter = provider.meter("bench");
    let mut g = c.benchmark_group("record_two_threads");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    baselines(&mut g);
    families(&mut g, &meter);
    g.finish();
}

criterion_group!(benches, record_two_threads);
criterion_main!(benches);
