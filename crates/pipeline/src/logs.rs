//! Logs: the logger provider behind the OTLP log bridge, only when pushing (the process's own
//! log lines go to stdout through the subscriber's fmt layer either way).

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};

use crate::exits::otlp::Counted;
use alys_telemetry_config::ExportBatch;

/// The logger provider exporting through `exporter` in batches, its queue as configured
/// (never as the SDK reads OTEL_BLRP_* by itself).
pub(super) fn provider(
    resource: &Resource,
    exporter: Counted<opentelemetry_otlp::LogExporter>,
    batch: ExportBatch,
) -> SdkLoggerProvider {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(batch.max_queue_size)
        .with_max_export_batch_size(batch.max_export_batch_size)
        .with_scheduled_delay(batch.schedule_delay)
        .build();
    SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_log_processor(
            BatchLogProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        )
        .build()
}
