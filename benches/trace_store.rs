//! What the viewer's trace store costs per span, each measurement beside its baseline in the
//! same run (docs/performance.md):
//!
//! - `baseline_span_clone`: cloning an actor's ended span, what the SDK does for each processor
//!   when a provider has more than one;
//! - `store_on_end`: the store's span-end path (size the span, lock, push) on a span already
//!   cloned: the work on the thread that ends the span;
//! - `store_ingest_per_span`: the store's own thread taking a span in (gather, settle, count,
//!   evict), per span, off the span's thread;
//! - `store_ingest_gathering_past_the_bound`: the same when traces still gathering fill the
//!   store and every span taken in evicts the oldest of them (ratio 1.0 at message rate);
//! - `sdk_span_one_processor` and `sdk_span_with_store`: a sampled span started and ended
//!   through the SDK with a processor that drops it (standing for the exporter's), without and
//!   with the store beside it: the whole added cost, the SDK's extra clone included.
//!
//! `cargo bench --bench trace_store` then `scripts/perf-table.py trace_store`.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use alys_telemetry::exits::viewer::store::{StoreConfig, StoreProcessor, TraceStore};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Span, SpanData, SpanProcessor};

/// Spans per untimed hand-over to the store (below half its queue: nothing is dropped).
const BATCH: u64 = 512;

/// A processor that drops every span: the cheapest stand-in for the exporter's.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// A store whose thread stays out of the way: the benchmark hands spans over itself.
fn store() -> TraceStore {
    TraceStore::start(StoreConfig {
        memory_bytes: 64 << 20,
        quiet: Duration::from_secs(1),
        tick: Duration::from_secs(3600),
    })
    .expect("store")
}

/// An actor's handling span as tracing-opentelemetry ends it: six attributes, one owned.
fn actor_span() -> SpanData {
    let capture = CaptureOne::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(capture.clone())
        .build();
    let t = provider.tracer("alys-telemetry");
    let mut span = t
        .span_builder("engine.execute_block")
        .with_kind(SpanKind::Internal)
        .with_attributes([
            KeyValue::new("actor", "engine"),
            KeyValue::new("from_actor", "chain"),
            KeyValue::new("to_actor", "engine"),
            KeyValue::new("message_type", "mining"),
            KeyValue::new("code.file.path", "node/src/demo/actors.rs"),
            KeyValue::new("thread.name", String::from("tokio-runtime-worker")),
        ])
        .start(&t);
    span.end_with_timestamp(SystemTime::now());
    capture.take()
}

#[derive(Debug, Clone, Default)]
struct CaptureOne(std::sync::Arc<std::sync::Mutex<Option<SpanData>>>);

impl CaptureOne {
    fn take(&self) -> SpanData {
        self.0.lock().expect("lock").take().expect("a span")
    }
}

impl SpanProcessor for CaptureOne {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        *self.0.lock().expect("lock") = Some(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Runs `step` `iters` times in batches, timing only `step`; the store takes each batch in
/// (untimed) so its queue never fills.
fn batched(store: &TraceStore, iters: u64, mut step: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let started = Instant::now();
        for _ in 0..n {
            step();
        }
        total += started.elapsed();
        store.ingest_now();
        left -= n;
    }
    total
}

/// Hands `iters` spans made by `make` to the store in batches, timing only the store's thread
/// taking each batch in.
fn ingest_timed(
    store: &TraceStore,
    processor: &StoreProcessor,
    iters: u64,
    mut make: impl FnMut() -> SpanData,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        for _ in 0..n {
            processor.on_end(make());
        }
        let started = Instant::now();
        store.ingest_now();
        total += started.elapsed();
        left -= n;
    }
    total
}

fn trace_store(c: &mut Criterion) {
    let span = actor_span();
    let mut g = c.benchmark_group("trace_store");

    g.bench_function("baseline_span_clone", |b| {
        b.iter(|| black_box(span.clone()))
    });

    let s = store();
    let processor: StoreProcessor = s.processor();
    g.bench_function("store_on_end", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                let spans: Vec<SpanData> = (0..n).map(|_| span.clone()).collect();
                let started = Instant::now();
                for one in spans {
                    processor.on_end(one);
                }
                total += started.elapsed();
                s.ingest_now();
                left -= n;
            }
            total
        })
    });

    g.bench_function("store_ingest_per_span", |b| {
        b.iter_custom(|iters| ingest_timed(&s, &processor, iters, || span.clone()))
    });

    // Spans of distinct traces whose parents are elsewhere keep gathering; in a 4 MB store the
    // bound is soon reached, and from then on every span taken in evicts the oldest
    // gathering trace (at 50,000 spans a second the default 16 MB store is in this regime).
    let small = TraceStore::start(StoreConfig {
        memory_bytes: 4 << 20,
        quiet: Duration::from_secs(1),
        tick: Duration::from_secs(3600),
    })
    .expect("store");
    let small_processor = small.processor();
    let mut next_trace = 1u128;
    g.bench_function("store_ingest_gathering_past_the_bound", |b| {
        b.iter_custom(|iters| {
            ingest_timed(&small, &small_processor, iters, || {
                let mut one = span.clone();
                one.span_context = SpanContext::new(
                    TraceId::from(next_trace),
                    SpanId::from(2),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                );
                one.parent_span_id = SpanId::from(1);
                next_trace += 1;
                one
            })
        })
    });

    let attributes = || {
        [
            KeyValue::new("actor", "engine"),
            KeyValue::new("from_actor", "chain"),
            KeyValue::new("to_actor", "engine"),
            KeyValue::new("message_type", "mining"),
            KeyValue::new("thread.name", String::from("tokio-runtime-worker")),
        ]
    };
    let one = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(Discard)
        .build();
    let tracer = one.tracer("bench");
    let idle = store();
    g.bench_function("sdk_span_one_processor", |b| {
        b.iter_custom(|iters| {
            batched(&idle, iters, || {
                let mut span = tracer
                    .span_builder("engine.execute_block")
                    .with_attributes(attributes())
                    .start(&tracer);
                span.end();
            })
        })
    });

    let with_store = store();
    let two = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(Discard)
        .with_span_processor(with_store.processor())
        .build();
    let tracer = two.tracer("bench");
    g.bench_function("sdk_span_with_store", |b| {
        b.iter_custom(|iters| {
            batched(&with_store, iters, || {
                let mut span = tracer
                    .span_builder("engine.execute_block")
                    .with_attributes(attributes())
                    .start(&tracer);
                span.end();
            })
        })
    });
    g.finish();
    let stats = with_store.stats();
    assert_eq!(
        stats.dropped_spans, 0,
        "the benchmark overflowed the store's queue: {stats:?}"
    );
}

criterion_group!(benches, trace_store);
criterion_main!(benches);
