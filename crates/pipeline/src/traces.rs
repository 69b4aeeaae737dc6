//! Traces: the tracer provider, its sampler, the trace ids of decisions taken before a span
//! exists, and the batch processors sized for message rate (two exports in flight).

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use crate::exits::otlp::Counted;
use crate::span_batches::SpanBatches;
use alys_telemetry_config::{ExportBatch, SamplerChoice};
use alys_telemetry_core::traces::{DecidedTraceIds, TracePolicy, set_policy, set_tracer};
use alys_telemetry_viewer::store::StoreProcessor;
use opentelemetry::trace::TracerProvider as _;

/// The tracer provider: the configured sampler, the ids its decisions were taken on, the
/// batch exporters when pushing ([`EXPORTS_IN_FLIGHT`](crate::EXPORTS_IN_FLIGHT) of them; their queues together as configured, by default sized for message rate:
/// [`ExportBatch::SPANS`]; never as the SDK reads OTEL_BSP_* by itself), and the viewer's
/// trace store beside it. Installs the same sampler as the process's trace policy, so that a
/// trace is decided before its first span is built.
pub(super) fn provider(
    choice: SamplerChoice,
    resource: &Resource,
    exporters: Option<Vec<Counted<opentelemetry_otlp::SpanExporter>>>,
    batch: ExportBatch,
    store: Option<StoreProcessor>,
) -> SdkTracerProvider {
    set_policy(TracePolicy::Sampler(choice));
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(choice))
        .with_id_generator(DecidedTraceIds);
    if let Some(exporters) = exporters {
        builder = builder.with_span_processor(SpanBatches::new(exporters, batch));
    }
    if let Some(store) = store {
        builder = builder.with_span_processor(store);
    }
    let provider = builder.build();
    // The mailboxes' handling spans are built on this tracer directly (the scope that the
    // `tracing` layer's tracer has: one instrumentation scope for all our spans).
    set_tracer(Some(provider.tracer(crate::SCOPE)));
    provider
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
