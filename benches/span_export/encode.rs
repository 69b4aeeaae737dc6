//! `encode_only`, the baseline: the exporter's work on a batch before the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;
use serde_json::{Value, json};

use crate::spans::{resource, span_batch};
use crate::window::measure;
use crate::{LIBRARY_BATCH, spawn_named};

/// The baseline: what the exporter does to a batch before the network (the hand-over
/// clone the other variants also pay, the transform to OTLP messages, the prost encode),
/// on one thread.
pub fn encode_only() -> Value {
    let batch = span_batch(LIBRARY_BATCH);
    let resource = ResourceAttributesWithSchema::from(&resource());
    let (encoded, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let bytes = Arc::new(AtomicU64::new(0));
    let steps = steps(&batch, &resource);
    let worker = {
        let (encoded, stop, bytes) = (encoded.clone(), stop.clone(), bytes.clone());
        spawn_named("encoder", move || {
            let mut buf = Vec::with_capacity(1 << 20);
            while !stop.load(Ordering::Relaxed) {
                let resource_spans = group_spans_by_resource_and_scope(batch.clone(), &resource);
                let request = ExportTraceServiceRequest { resource_spans };
                buf.clear();
                request.encode(&mut buf).expect("a buffer that grows");
                bytes.store(buf.len() as u64, Ordering::Relaxed);
                encoded.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        })
    };
    let window = measure(&encoded);
    stop.store(true, Ordering::Relaxed);
    worker.join().expect("the encoding thread");
    let mut result = window.json();
    result["bytes_per_span"] = json!(bytes.load(Ordering::Relaxed) / LIBRARY_BATCH as u64);
    result["steps_ns"] = steps;
    result
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we hand it and nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The baseline's steps one by one, before the window, CPU a span on this thread: the
/// clone (the hand-over here; the exporter makes one more of its own), the transform to
/// OTLP messages, the prost encode. Where the per-span cost goes, roughly (the requests'
/// drop is left out).
fn steps(batch: &[SpanData], resource: &ResourceAttributesWithSchema) -> Value {
    const REPS: usize = 20;
    let per_span = |d: Duration| d.as_nanos() as f64 / (REPS * batch.len()) as f64;
    let t0 = thread_cpu();
    for _ in 0..REPS {
        std::hint::black_box(batch.to_vec());
    }
    let t1 = thread_cpu();
    let requests: Vec<ExportTraceServiceRequest> = (0..REPS)
        .map(|_| ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch.to_vec(), resource),
        })
        .collect();
    let t2 = thread_cpu();
    let mut buf = Vec::with_capacity(1 << 20);
    for request in &requests {
        buf.clear();
        request.encode(&mut buf).expect("a buffer that grows");
        std::hint::black_box(&buf);
    }
    let t3 = thread_cpu();
    json!({
        "clone": per_span(t1 - t0).round(),
        "transform": (per_span(t2 - t1) - per_span(t1 - t0)).round(),
        "encode": per_span(t3 - t2).round(),
    })
}
