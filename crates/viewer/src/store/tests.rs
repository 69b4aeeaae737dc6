//! The store as a whole: its ingesters (the store's thread, `ingest_now` and `force_flush`
//! from any thread) against a tracer provider.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

use super::{StoreConfig, TraceStore};

/// A block's trace: the root ends, then each hop, in the order a node ends them.
fn block(tracer: &SdkTracer, t0: SystemTime) {
    let root = tracer
        .span_builder("chain.produce_block")
        .with_start_time(t0)
        .start(tracer);
    let mut cx = Context::current().with_remote_span_context(root.span_context().clone());
    drop(root);
    for hop in ["engine.execute_block", "storage.store_block"] {
        let span = tracer.span_builder(hop).start_with_context(tracer, &cx);
        cx = Context::current().with_remote_span_context(span.span_context().clone());
        drop(span);
    }
}

/// Two ingesters at once must take spans in the order they ended. If one swapped the queue
/// out and the other took the index's lock first, a block's hops would arrive before its
/// root, and (settling at once) make a trace of their own with a hop for its operation.
#[test]
fn concurrent_ingesters_keep_the_order_spans_ended_in() {
    let store = TraceStore::start(StoreConfig {
        memory_bytes: 8 << 20,
        quiet: Duration::ZERO,
        tick: Duration::from_secs(3600),
    })
    .expect("store thread");
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(store.processor())
        .build();
    let tracer = provider.tracer("race");
    let done = AtomicBool::new(false);
    let t0 = SystemTime::now();
    std::thread::scope(|s| {
        // More ingesters than cores: one is often preempted between taking the queue and
        // taking the index, the moment another could overtake it.
        for _ in 0..4 {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    store.ingest_now();
                }
            });
        }
        for _ in 0..20_000 {
            block(&tracer, t0);
            store.ingest_now();
        }
        done.store(true, Ordering::Relaxed);
    });
    store.settle_now();
    let names: Vec<String> = store.operations().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["chain.produce_block"]);
    let _ = provider.shutdown();
}
