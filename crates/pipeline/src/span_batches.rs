//! Span export with more than one export in flight: the SDK's batch span processor (0.33)
//! waits for each export before it starts the next, so one processor delivers at most what
//! one round trip a batch allows (about 415,000 spans a second to a receiver on loopback,
//! `benches/span_export`), and its thread sits idle while the receiver decodes. Here the spans
//! are dealt to [`EXPORTS_IN_FLIGHT`] of the SDK's processors, each with its own queue, thread
//! and exporter (a clone: the same channel), so their exports overlap. Each counts its own
//! queue-full drops (`otel_sdk_processor_span_processed_total`, one `otel.component.name`
//! each).
//!
//! Each share is bounded by a [`Backlog`] of ours in front of its processor: a span that finds
//! it full is dropped and counted (`alys_telemetry_export_dropped_items_total`, reason
//! `queue_full`), and the processor's own queue has the same size, so the SDK never drops one
//! uncounted. A place is given back when the export that carried the span finishes.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};

use crate::exits::otlp::{Backlog, Counted, ExportStats};
use alys_telemetry_catalog::pipeline::{ExportDropReason, Signal};
use alys_telemetry_config::ExportBatch;

/// How many exports may be in flight at once.
pub const EXPORTS_IN_FLIGHT: usize = 2;

/// The SDK's batch span processors, each given a share of the spans.
#[derive(Debug)]
pub(crate) struct SpanBatches {
    shards: Vec<Shard>,
}

/// One processor and the bound in front of it.
#[derive(Debug)]
struct Shard {
    processor: BatchSpanProcessor,
    backlog: Arc<Backlog>,
    stats: Arc<ExportStats>,
}

impl SpanBatches {
    /// One processor per exporter; `batch`'s queue bound is the bound of all the queues
    /// together (each holds its share), its batch size and delay are each processor's.
    pub(crate) fn new<E>(exporters: Vec<Counted<E>>, batch: ExportBatch) -> SpanBatches
    where
        E: SpanExporter + 'static,
    {
        let queue = (batch.max_queue_size / exporters.len().max(1)).max(1);
        let shards = exporters
            .into_iter()
            .map(|exporter| {
                let config = BatchConfigBuilder::default()
                    .with_max_queue_size(queue)
                    .with_max_export_batch_size(batch.max_export_batch_size.min(queue))
                    .with_scheduled_delay(batch.schedule_delay)
                    .build();
                let backlog = Arc::new(Backlog::new(queue));
                let stats = Arc::clone(exporter.stats());
                let processor = BatchSpanProcessor::builder(exporter.holding(backlog.clone()))
                    .with_batch_config(config)
                    .build();
                Shard {
                    processor,
                    backlog,
                    stats,
                }
            })
            .collect();
        SpanBatches { shards }
    }

    /// Every processor's answer, the first failure if any: none is skipped for another's.
    fn each(&self, f: impl Fn(&BatchSpanProcessor) -> OTelSdkResult + Sync) -> OTelSdkResult {
        // In parallel: a flush or a stop waits on each processor's thread, and the stop's
        // timeout bounds the whole, not each in turn.
        let results: Vec<OTelSdkResult> = std::thread::scope(|scope| {
            let running: Vec<_> = self
                .shards
                .iter()
                .map(|shard| scope.spawn(|| f(&shard.processor)))
                .collect();
            running
                .into_iter()
                .map(|r| {
                    r.join().unwrap_or_else(|_| {
                        Err(OTelSdkError::InternalFailure(
                            "span batch thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }
}

impl SpanProcessor for SpanBatches {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // By the span's id, random already: no counter that every worker thread writes.
        let id = u64::from_be_bytes(span.span_context.span_id().to_bytes());
        let shard = (id % self.shards.len().max(1) as u64) as usize;
        let Some(shard) = self.shards.get(shard) else {
            return;
        };
        // The processor exports sampled spans only; an unsampled one takes no place.
        if !span.span_context.is_sampled() {
            return;
        }
        if shard.backlog.admit() {
            shard.stats.queued(Signal::Traces);
            shard.processor.on_end(span);
        } else {
            shard
                .stats
                .dropped(Signal::Traces, ExportDropReason::QueueFull, 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.each(BatchSpanProcessor::force_flush)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.each(|shard| shard.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        for shard in &mut self.shards {
            shard.processor.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    /// As many exporters as exports in flight, all into one memory, counted in `stats`.
    fn counted(
        exporter: &InMemorySpanExporter,
        stats: &Arc<ExportStats>,
    ) -> Vec<Counted<InMemorySpanExporter>> {
        (0..EXPORTS_IN_FLIGHT)
            .map(|_| Counted::new(exporter.clone(), stats.clone(), Signal::Traces))
            .collect()
    }

    fn exporters(exporter: &InMemorySpanExporter) -> Vec<Counted<InMemorySpanExporter>> {
        counted(exporter, &ExportStats::new(Duration::from_secs(60)))
    }

    fn provider(exporter: &InMemorySpanExporter, batch: ExportBatch) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_span_processor(SpanBatches::new(exporters(exporter), batch))
            .build()
    }

    #[test]
    fn every_span_is_exported_once_across_the_processors() {
        let exporter = InMemorySpanExporter::default();
        let provider = provider(&exporter, ExportBatch::SPANS);
        let tracer = provider.tracer("test");
        for i in 0..1_000 {
            tracer.start(format!("span {i}")).end();
        }
        provider.force_flush().expect("flushed");
        let mut names: Vec<String> = exporter
            .get_finished_spans()
            .expect("spans")
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1_000);
        assert_eq!(
            exporter.get_finished_spans().map(|s| s.len()).ok(),
            Some(1_000)
        );
    }

    #[test]
    fn the_queue_bound_is_shared_and_a_flush_reaches_every_processor() {
        let exporter = InMemorySpanExporter::default();
        let batch = ExportBatch {
            max_queue_size: 64,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_secs(3600),
        };
        let batches = SpanBatches::new(exporters(&exporter), batch);
        assert_eq!(batches.shards.len(), EXPORTS_IN_FLIGHT);
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batches)
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..10 {
            tracer.start("queued").end();
        }
        // Nothing is due (an hour's delay, a batch larger than the queue): the flush sends
        // each processor's share.
        provider.force_flush().expect("flushed");
        assert_eq!(
            exporter.get_finished_spans().map(|s| s.len()).ok(),
            Some(10)
        );
    }

    #[test]
    fn a_span_past_the_bound_is_dropped_and_counted_and_every_other_is_exported() {
        let exporter = InMemorySpanExporter::default();
        let stats = ExportStats::new(Duration::from_secs(60));
        // Nothing leaves before the flush: an hour's delay, batches as large as the queue.
        let batch = ExportBatch {
            max_queue_size: 64,
            max_export_batch_size: 64,
            schedule_delay: Duration::from_secs(3600),
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(SpanBatches::new(counted(&exporter, &stats), batch))
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..200 {
            tracer.start("ended").end();
        }
        let traces = stats.signal(Signal::Traces);
        let dropped = traces.dropped(ExportDropReason::QueueFull);
        assert_eq!(
            traces.queued() + dropped,
            200,
            "every span queued or counted"
        );
        assert_eq!(
            traces.queued(),
            64,
            "each share holds its half of the bound"
        );
        provider.force_flush().expect("flushed");
        assert_eq!(
            exporter.get_finished_spans().map(|s| s.len() as u64).ok(),
            Some(traces.queued())
        );
        // The places came back with the export: the next spans are queued again.
        for _ in 0..10 {
            tracer.start("after").end();
        }
        assert_eq!(traces.queued(), 74);
        assert_eq!(traces.dropped(ExportDropReason::QueueFull), dropped);
    }
}
