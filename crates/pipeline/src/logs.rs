//! Logs: the logger provider behind the OTLP log bridge, only when pushing (the process's own
//! log lines go to stdout through the subscriber's fmt layer either way). As for spans
//! (`span_batches`), a [`Backlog`] of ours bounds what waits, so that a record the queue
//! cannot hold through a collector outage is counted, not dropped unseen by the SDK.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::Severity;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogExporter, LogProcessor, SdkLogRecord,
    SdkLoggerProvider,
};

use crate::exits::otlp::{Backlog, Counted, ExportStats};
use alys_telemetry_catalog::pipeline::{ExportDropReason, Signal};
use alys_telemetry_config::ExportBatch;

/// The logger provider exporting through `exporter` in batches, its queue as configured
/// (never as the SDK reads OTEL_BLRP_* by itself).
pub(super) fn provider(
    resource: &Resource,
    exporter: Counted<opentelemetry_otlp::LogExporter>,
    batch: ExportBatch,
) -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_log_processor(BoundedLogBatches::new(exporter, batch))
        .build()
}

/// The SDK's batch log processor behind our bound on what waits.
#[derive(Debug)]
struct BoundedLogBatches {
    processor: BatchLogProcessor,
    backlog: Arc<Backlog>,
    stats: Arc<ExportStats>,
}

impl BoundedLogBatches {
    fn new<E: LogExporter + 'static>(exporter: Counted<E>, batch: ExportBatch) -> Self {
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(batch.max_queue_size)
            .with_max_export_batch_size(batch.max_export_batch_size)
            .with_scheduled_delay(batch.schedule_delay)
            .build();
        let backlog = Arc::new(Backlog::new(batch.max_queue_size));
        let stats = Arc::clone(exporter.stats());
        let processor = BatchLogProcessor::builder(exporter.holding(backlog.clone()))
            .with_batch_config(config)
            .build();
        BoundedLogBatches {
            processor,
            backlog,
            stats,
        }
    }
}

impl LogProcessor for BoundedLogBatches {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if self.backlog.admit() {
            self.stats.queued(Signal::Logs);
            self.processor.emit(record, scope);
        } else {
            self.stats
                .dropped(Signal::Logs, ExportDropReason::QueueFull, 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.processor.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.processor.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.processor.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.processor.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry_sdk::logs::InMemoryLogExporter;

    #[test]
    fn a_record_past_the_bound_is_counted_and_every_other_is_exported() {
        let exporter = InMemoryLogExporter::default();
        let stats = ExportStats::new(Duration::from_secs(60));
        let counted = Counted::new(exporter.clone(), stats.clone(), Signal::Logs);
        let batch = ExportBatch {
            max_queue_size: 16,
            max_export_batch_size: 16,
            schedule_delay: Duration::from_secs(3600),
        };
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(BoundedLogBatches::new(counted, batch))
            .build();
        let logger = provider.logger("test");
        for i in 0..40 {
            let mut record = logger.create_log_record();
            record.set_body(format!("record {i}").into());
            logger.emit(record);
        }
        let logs = stats.signal(Signal::Logs);
        assert_eq!(logs.queued(), 16);
        assert_eq!(logs.dropped(ExportDropReason::QueueFull), 24);
        provider.force_flush().expect("flushed");
        assert_eq!(exporter.get_emitted_logs().map(|l| l.len()).ok(), Some(16));
        assert_eq!(logs.items(), 16);
    }
}
