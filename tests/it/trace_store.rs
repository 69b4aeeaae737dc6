//! The viewer's trace store under load: a million spans through a real tracer provider stay
//! within the memory bound (measured by a counting allocator, not by the store's own
//! estimate), and the slowest and failed traces outlive the flood.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, SystemTime};

use alys_telemetry::exits::viewer::store::{StoreConfig, TraceQuery, TraceStore, View};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

/// Bytes allocated and not yet freed, by every thread of this test binary.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BOUND: usize = 4 << 20;

#[test]
fn a_million_spans_stay_within_the_bound_and_the_slowest_and_failed_survive() {
    let provider_overhead = LIVE.load(Ordering::Relaxed);
    let store = TraceStore::start(StoreConfig {
        memory_bytes: BOUND,
        // The loop below takes in whole blocks itself (`ingest_now`), and they settle at once.
        // The store's own thread must not: ticking mid-block, it would settle a root whose
        // hops are still to come, and the hops would make orphan traces of their own.
        quiet: Duration::ZERO,
        tick: Duration::from_secs(3600),
    })
    .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(store.processor())
        .build();
    let tracer = provider.tracer("load");
    let base = LIVE.load(Ordering::Relaxed);
    let t0 = SystemTime::now();

    // Early on: one very slow trace and one failed trace of the flood's own operation.
    let slow = block(&tracer, t0, Duration::from_secs(7), false);
    let failed = block(&tracer, t0, Duration::from_millis(20), true);

    let mut peak = 0isize;
    let mut spans = 2 * 4;
    while spans < 1_000_000 {
        block(&tracer, t0, Duration::from_millis(20), false);
        spans += 4;
        // This loop ends spans faster than a node does: take them in often enough that the
        // hand-off queue never fills (its overflow is counted, and tested, elsewhere).
        if spans % 200 == 0 {
            store.ingest_now();
        }
        if spans % 20_000 == 0 {
            peak = peak.max(LIVE.load(Ordering::Relaxed) - base);
            assert!(store.stats().memory_bytes <= BOUND, "{:?}", store.stats());
        }
    }
    store.settle_now();
    peak = peak.max(LIVE.load(Ordering::Relaxed) - base);
    let stats = store.stats();
    eprintln!(
        "peak heap {peak} B of {BOUND} B bound (provider {provider_overhead} B before); {stats:?}"
    );
    // The heap the store and its thread hold, measured, stays within the bound (the
    // provider's own few hundred bytes per call in flight are inside the margin).
    assert!(
        peak as usize <= BOUND + BOUND / 16,
        "peak {peak} over {BOUND}"
    );
    assert!(stats.memory_bytes <= BOUND);
    assert!(stats.evicted_traces > 100_000, "{stats:?}");
    assert!(stats.traces > 100, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");

    let slowest = store.query(&TraceQuery {
        view: View::Slowest,
        limit: 1,
        ..TraceQuery::default()
    });
    assert_eq!(slowest[0].trace_id(), slow, "the slow trace was evicted");
    let failures = store.query(&TraceQuery {
        view: View::Failed,
        ..TraceQuery::default()
    });
    assert!(
        failures.iter().any(|t| t.trace_id() == failed),
        "the failed trace was evicted"
    );
    let ops = store.operations();
    let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["chain.produce_block"]);
    assert_eq!(ops[0].errors, 1);
    assert_eq!(ops[0].total() as usize + stats.gathering, spans / 4);
    let _ = provider.shutdown();
}

/// A block's trace of four hops, each child starting as its parent hands on; returns its id.
fn block(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    t0: SystemTime,
    took: Duration,
    fail: bool,
) -> opentelemetry::trace::TraceId {
    let quarter = took / 4;
    let mut root = tracer
        .span_builder("chain.produce_block")
        .with_start_time(t0)
        .with_attributes([KeyValue::new("validator", "validator-1")])
        .start(tracer);
    let id = root.span_context().trace_id();
    let mut cx =
        opentelemetry::Context::current().with_remote_span_context(root.span_context().clone());
    root.end_with_timestamp(t0 + quarter);
    for (i, hop) in [
        "engine.execute_block",
        "storage.store_block",
        "network.broadcast_block",
    ]
    .into_iter()
    .enumerate()
    {
        let start = t0 + quarter * (i as u32 + 1);
        let mut span = tracer
            .span_builder(hop)
            .with_start_time(start)
            .with_attributes([KeyValue::new("actor", hop)])
            .start_with_context(tracer, &cx);
        if fail && i == 2 {
            span.set_status(Status::error("peer refused the block"));
        }
        cx =
            opentelemetry::Context::current().with_remote_span_context(span.span_context().clone());
        span.end_with_timestamp(start + quarter);
    }
    id
}
