//! Traces: the tracer provider, its sampler, the trace ids of decisions taken before a span
//! exists, and the batch processor sized for message rate.

use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfig, BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use crate::config::SamplerChoice;
use crate::exits::otlp::Counted;
use crate::exits::viewer::store::StoreProcessor;
use crate::sources::traces::{DecidedTraceIds, TracePolicy, set_policy};

/// Spans the batch processor holds before it drops (and counts) new ones. The SDK's 2048 held
/// 40 ms of a node handling 50,000 messages a second at ratio 1.0, and dropped about half its
/// spans; 65,536 hold more than a second of that (about 1 KB a span when full).
pub const BSP_MAX_QUEUE_SIZE: usize = 65_536;
/// Spans in one export: larger batches cost fewer round trips at message rate.
pub const BSP_MAX_EXPORT_BATCH_SIZE: usize = 2_048;
/// The longest a span waits for its batch.
pub const BSP_SCHEDULE_DELAY: Duration = Duration::from_secs(1);

/// The tracer provider: the configured sampler, the ids its decisions were taken on, the
/// batch exporter when pushing, and the viewer's trace store beside it. Installs the same
/// sampler as the process's trace policy, so that a trace is decided before its first span is
/// built.
pub(super) fn provider(
    choice: SamplerChoice,
    resource: &Resource,
    exporter: Option<Counted<opentelemetry_otlp::SpanExporter>>,
    store: Option<StoreProcessor>,
) -> SdkTracerProvider {
    set_policy(TracePolicy::Sampler(choice));
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(choice))
        .with_id_generator(DecidedTraceIds);
    if let Some(exporter) = exporter {
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch_config())
            .build();
        builder = builder.with_span_processor(processor);
    }
    if let Some(store) = store {
        builder = builder.with_span_processor(store);
    }
    builder.build()
}

/// The batch processor's settings: the standard `OTEL_BSP_*` variables where set (the SDK
/// reads them), our defaults for message rate where not.
fn batch_config() -> BatchConfig {
    let unset = |name: &str| std::env::var_os(name).is_none();
    let mut config = BatchConfigBuilder::default();
    if unset("OTEL_BSP_MAX_QUEUE_SIZE") {
        config = config.with_max_queue_size(BSP_MAX_QUEUE_SIZE);
    }
    if unset("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
        config = config.with_max_export_batch_size(BSP_MAX_EXPORT_BATCH_SIZE);
    }
    if unset("OTEL_BSP_SCHEDULE_DELAY") {
        config = config.with_scheduled_delay(BSP_SCHEDULE_DELAY);
    }
    config.build()
}

pub(super) fn sampler(choice: SamplerChoice) -> Sampler {
    match choice {
        SamplerChoice::AlwaysOn => Sampler::AlwaysOn,
        SamplerChoice::AlwaysOff => Sampler::AlwaysOff,
        SamplerChoice::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerChoice::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerChoice::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerChoice::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}
