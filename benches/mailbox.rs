//! Passing a message, each measurement beside its baseline in the same run
//! (docs/performance.md): the metered mailbox against a bare tokio mpsc channel, and the
//! in-process context hand-over against W3C inject + extract.
//!
//! `cargo bench --bench mailbox` then `scripts/perf-table.py` prints the ratios.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use alys_telemetry::config::SamplerChoice;
use alys_telemetry::sources::actors::{ActorMessage, ActorSystem, SenderContext, TraceMode};
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use alys_telemetry::sources::traces::{DecidedTraceIds, TracePolicy, set_policy};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The kinds the actor system here is labelled by: the node's.
type Kinds = (ActorType, MessageType);

struct Ping(u64);

impl ActorMessage for Ping {
    type Kinds = Kinds;

    fn message_type(&self) -> MessageType {
        MessageType::Network
    }
    fn name(&self) -> &'static str {
        "ping"
    }
}

/// Production's stack: spans through tracing-opentelemetry into an SDK tracer whose
/// parent-based sampler samples nothing, the same policy deciding before spans exist, so
/// every message is an unsampled one.
fn install_unsampled_tracing() -> SdkTracerProvider {
    set_policy(TracePolicy::Sampler(
        SamplerChoice::ParentBasedTraceIdRatio(0.0),
    ));
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            0.0,
        ))))
        .with_id_generator(DecidedTraceIds)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let _ = tracing::subscriber::set_global_default(subscriber);
    provider
}

fn meter_provider() -> SdkMeterProvider {
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(prometheus::Registry::new())
        .build()
        .expect("prometheus exporter");
    SdkMeterProvider::builder().with_reader(reader).build()
}

fn message_pass(c: &mut Criterion) {
    let _tracing = install_unsampled_tracing();
    let meters = meter_provider();
    let system = ActorSystem::<Kinds>::new(&meters.meter("bench"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("message_pass");
    let producer_actor = system.actor("producer", ActorType::Chain);

    // Per message: a producer task sends, a consumer task receives.
    g.bench_function("baseline_tokio_mpsc_send_recv", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (tx, mut rx) = mpsc::channel::<Ping>(1024);
                let started = Instant::now();
                // The same unsampled span as below: only the channel differs.
                let producer = tokio::spawn(
                    async move {
                        for i in 0..iters {
                            let _ = tx.send(Ping(i)).await;
                        }
                    }
                    .instrument(tracing::info_span!("producer")),
                );
                for _ in 0..iters {
                    black_box(rx.recv().await);
                }
                let _ = producer.await;
                started.elapsed()
            })
        })
    });

    g.bench_function("ours_metered_mailbox_unsampled", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (tx, mut rx) =
                    system.mailbox::<Ping>("consumer", ActorType::Network, 1024, TraceMode::Child);
                let tx = tx.from(&producer_actor);
                let started = Instant::now();
                // The producer works inside a span the sampler dropped.
                let producer = tokio::spawn(
                    async move {
                        for i in 0..iters {
                            let _ = tx.send(Ping(i)).await;
                        }
                    }
                    .instrument(tracing::info_span!("producer")),
                );
                for _ in 0..iters {
                    if let Some(envelope) = rx.recv().await {
                        let _ = envelope
                            .handle(|m| async move { Ok::<_, ()>(black_box(m.0)) })
                            .await;
                    }
                }
                let _ = producer.await;
                started.elapsed()
            })
        })
    });
    g.finish();
}

fn context_handover(c: &mut Criterion) {
    let sampled = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7u64),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let _attached = Context::new().with_remote_span_context(sampled).attach();
    let mut g = c.benchmark_group("context_handover");

    let propagator = TraceContextPropagator::new();
    g.bench_function("baseline_w3c_inject_extract", |b| {
        b.iter(|| {
            let mut carrier = HashMap::new();
            propagator.inject_context(&Context::current(), &mut carrier);
            black_box(propagator.extract(&carrier))
        })
    });
    g.bench_function("ours_value_capture_and_parent", |b| {
        // Send side: capture; receive side: the parent context to continue the trace on.
        b.iter(|| {
            let handed_over = SenderContext::capture();
            black_box(handed_over.into_context())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = message_pass, context_handover
}
criterion_main!(benches);
