//! Logs: the logger provider behind the OTLP log bridge, only when pushing (the process's own
//! log lines go to stdout through the subscriber's fmt layer either way).

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;

use crate::exits::otlp::Counted;

/// The logger provider exporting through `exporter` in batches.
pub(super) fn provider(
    resource: &Resource,
    exporter: Counted<opentelemetry_otlp::LogExporter>,
) -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(exporter)
        .build()
}
