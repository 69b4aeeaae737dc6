//! Traces: the tracer provider, its sampler, and whether a root span can ever be sampled.

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use crate::config::{ExportBatch, SamplerChoice};
use crate::exits::otlp::Counted;
use crate::exits::viewer::store::StoreProcessor;

/// The tracer provider: the configured sampler, the batch exporter when pushing (its queue
/// as configured, never as the SDK reads OTEL_BSP_* by itself), and the viewer's trace store
/// beside it.
pub(super) fn provider(
    choice: SamplerChoice,
    resource: &Resource,
    exporter: Option<Counted<opentelemetry_otlp::SpanExporter>>,
    batch: ExportBatch,
    store: Option<StoreProcessor>,
) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(choice));
    if let Some(exporter) = exporter {
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(batch.max_queue_size)
            .with_max_export_batch_size(batch.max_export_batch_size)
            .with_scheduled_delay(batch.schedule_delay)
            .build();
        builder = builder.with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        );
    }
    if let Some(store) = store {
        builder = builder.with_span_processor(store);
    }
    builder.build()
}

/// Whether the sampler can ever sample a span that has no parent.
pub(super) fn samples_roots(choice: SamplerChoice) -> bool {
    match choice {
        SamplerChoice::AlwaysOff | SamplerChoice::ParentBasedAlwaysOff => false,
        SamplerChoice::TraceIdRatio(r) | SamplerChoice::ParentBasedTraceIdRatio(r) => r > 0.0,
        SamplerChoice::AlwaysOn | SamplerChoice::ParentBasedAlwaysOn => true,
    }
}

fn sampler(choice: SamplerChoice) -> Sampler {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_samplers_that_can_sample_a_root_allow_root_spans() {
        assert!(samples_roots(SamplerChoice::ParentBasedTraceIdRatio(0.01)));
        assert!(!samples_roots(SamplerChoice::ParentBasedTraceIdRatio(0.0)));
        assert!(!samples_roots(SamplerChoice::AlwaysOff));
        assert!(!samples_roots(SamplerChoice::ParentBasedAlwaysOff));
        assert!(samples_roots(SamplerChoice::AlwaysOn));
    }
}
