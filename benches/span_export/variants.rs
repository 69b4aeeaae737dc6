//! The children: what each variant runs, and the runtime and exporter they share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry_sdk::trace::SpanExporter as _;
use serde_json::{Value, json};

use crate::encode::encode_only;
use crate::spans::{resource, span_batch};
use crate::window::measure;
use crate::{LIBRARY_BATCH, library, sdk, spawn_named};

pub fn run(variant: &str) {
    // The receiver a variant sends to is the parent's choice; the work is the same.
    let work = variant.trim_end_matches("_skim");
    let result = match work {
        "encode_only" => encode_only(),
        "exporter_direct_2048_x2" => exporter_direct(LIBRARY_BATCH, 2),
        "sdk_pipeline" => sdk::run(),
        "library_pipeline" => library::run(),
        _ => match work.strip_prefix("exporter_direct_").map(str::parse) {
            Some(Ok(batch)) => exporter_direct(batch, 1),
            _ => panic!("unknown variant {variant}"),
        },
    };
    println!("result {result}");
}

/// The two-worker runtime the exporter's channel lives on (the node's runtime).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the exporter's runtime")
}

/// The exporter as the workspace builds it (crates/pipeline/src/exits/otlp: tonic, gRPC,
/// the endpoint given, no compression), inside `runtime` (its channel spawns its tasks).
pub fn exporter(runtime: &tokio::runtime::Runtime) -> opentelemetry_otlp::SpanExporter {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let endpoint = std::env::var("SPAN_EXPORT_ENDPOINT").expect("set by the parent");
    let _inside = runtime.enter();
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_protocol(Protocol::Grpc)
        .with_endpoint(endpoint)
        .build()
        .expect("the OTLP span exporter")
}

/// Pre-built batches of `batch` spans exported back to back, `in_flight` at a time, each
/// awaited, from a thread of their own over the runtime (as the batch processor's thread
/// does); counts the spans of successful exports.
fn exporter_direct(batch: usize, in_flight: usize) -> Value {
    let runtime = runtime();
    let mut exporter = exporter(&runtime);
    exporter.set_resource(&resource());
    let exporter = Arc::new(exporter);
    let spans = Arc::new(span_batch(batch));
    let (exported, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (exporter, spans) = (exporter.clone(), spans.clone());
            let (exported, stop, failed) = (exported.clone(), stop.clone(), failed.clone());
            let handle = runtime.handle().clone();
            spawn_named("exporter", move || {
                handle.block_on(async {
                    while !stop.load(Ordering::Relaxed) {
                        match exporter.export(spans.to_vec()).await {
                            Ok(()) => exported.fetch_add(spans.len() as u64, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
        })
        .collect();
    let window = measure(&exported);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("an export thread");
    }
    let _ = exporter.shutdown();
    let mut result = window.json();
    result["failed_exports"] = json!(failed.load(Ordering::Relaxed));
    result
}
