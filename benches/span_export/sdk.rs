//! `sdk_pipeline`: the full SDK path built by hand, tracer, one batch span processor at the
//! library's defaults, exporter.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use serde_json::{Value, json};

use crate::pipeline::{Producers, SdkCounts};
use crate::spans::resource;
use crate::variants::{exporter, runtime};
use crate::window::measure;
use crate::{LIBRARY_BATCH, LIBRARY_DELAY, LIBRARY_QUEUE};

pub fn run() -> Value {
    let runtime = runtime();
    let counts = SdkCounts::install();
    let provider = provider(exporter(&runtime));
    let producers = Producers::start(|| provider.tracer("alys-telemetry"));
    let window = measure(producers.ended());
    let ended = producers.stop();
    // Everything still queued goes out (or fails) before the totals are read.
    let flushed = provider.force_flush().is_ok();
    let mut result = window.json();
    result["ended_total"] = json!(ended);
    result["queue_full"] = json!(counts.queue_full());
    result["flushed"] = json!(flushed);
    let _ = provider.shutdown();
    result
}

/// The library's provider as it was (crates/pipeline/src/traces.rs: one batch processor)
/// without the viewer's store.
fn provider(exporter: opentelemetry_otlp::SpanExporter) -> SdkTracerProvider {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(LIBRARY_QUEUE)
        .with_max_export_batch_size(LIBRARY_BATCH)
        .with_scheduled_delay(LIBRARY_DELAY)
        .build();
    SdkTracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        )
        .build()
}
