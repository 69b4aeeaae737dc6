//! What the two pipeline variants (`sdk_pipeline`, `library_pipeline`) share: the span
//! producers, building and ending spans as fast as they can, and the SDK's own count of the
//! spans its batch processors dropped on a full queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer,
};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracer;

use crate::spans::{attributes, mix};
use crate::{knob, spawn_named};

/// The producer threads' name: their CPU is span creation, not export.
pub const PRODUCER: &str = "span-producer";
/// Producers add to the shared count this often, so they do not contend on it per span.
const COUNT_EVERY: u64 = 256;

/// `SPAN_EXPORT_PRODUCERS` threads (1 by default) building and ending spans until stopped.
pub struct Producers {
    ended: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Producers {
    /// Starts the producers, each on a tracer `tracer` makes.
    pub fn start(tracer: impl Fn() -> SdkTracer) -> Producers {
        let (ended, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let threads = (0..knob("SPAN_EXPORT_PRODUCERS", 1))
            .map(|thread| {
                let tracer = tracer();
                let (ended, stop) = (ended.clone(), stop.clone());
                spawn_named(PRODUCER, move || produce(tracer, thread, &ended, &stop))
            })
            .collect();
        Producers {
            ended,
            stop,
            threads,
        }
    }

    /// The spans ended so far, for the window to count.
    pub fn ended(&self) -> &AtomicU64 {
        &self.ended
    }

    /// Stops the producers and waits for them: the spans they ended in all.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a producer");
        }
        self.ended.load(Ordering::Relaxed)
    }
}

/// Builds and ends message spans until `stop`: each a child of a remote parent (a new
/// trace every eight spans), the library's four attributes.
fn produce(tracer: SdkTracer, thread: u64, ended: &AtomicU64, stop: &AtomicBool) {
    let mut parent = Context::new();
    let mut i = thread << 48;
    while !stop.load(Ordering::Relaxed) {
        if i.is_multiple_of(8) {
            let context = SpanContext::new(
                TraceId::from(((mix(i) as u128) << 64) | mix(!i) as u128),
                SpanId::from(mix(i ^ 0x5555) | 1),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            parent = Context::new().with_remote_span_context(context);
        }
        let builder = SpanBuilder::from_name("engine.execute_block")
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes());
        tracer.build_with_context(builder, &parent).end();
        i += 1;
        if i.is_multiple_of(COUNT_EVERY) {
            ended.fetch_add(COUNT_EVERY, Ordering::Relaxed);
        }
    }
    ended.fetch_add(i % COUNT_EVERY, Ordering::Relaxed);
}

/// The SDK's batch span processor counts its queue-full drops on the global meter provider
/// (`otel.sdk.processor.span.processed`; the workspace turns on
/// `experimental_metrics_bound_instruments`), which it looks up when it is built: this
/// installs an in-memory reader of our own as that provider, to be read at the end. Install
/// it before the tracer provider is built.
pub struct SdkCounts {
    meters: SdkMeterProvider,
    metrics: InMemoryMetricExporter,
}

impl SdkCounts {
    pub fn install() -> SdkCounts {
        let metrics = InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metrics.clone())
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        opentelemetry::global::set_meter_provider(meters.clone());
        SdkCounts { meters, metrics }
    }

    /// The processors' `otel.sdk.processor.span.processed{error.type=queue_full}` total,
    /// every processor's (one `otel.component.name` each) summed. Collects first: flush the
    /// tracer provider before, so that the count is the run's.
    pub fn queue_full(&self) -> Option<u64> {
        let _ = self.meters.force_flush();
        let finished = self.metrics.get_finished_metrics().ok()?;
        // Cumulative: the last collection holds the total.
        let last = finished.last()?;
        let total = last
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == "otel.sdk.processor.span.processed")
            .filter_map(|m| match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => Some(sum),
                _ => None,
            })
            .flat_map(|sum| sum.data_points())
            .filter(|p| {
                p.attributes()
                    .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "queue_full")
            })
            .map(|p| p.value())
            .sum();
        Some(total)
    }
}
