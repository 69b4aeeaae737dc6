//! Metrics: one meter provider read by both exits, the Prometheus registry the pull endpoint
//! serves and the periodic OTLP export, with each catalogue metric's cardinality limit.

use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};

use crate::exits::otlp::Counted;
use crate::sources::catalog;

/// The meter provider. `registry`: where the Prometheus reader registers, when pulling;
/// `exporter`: the OTLP exporter of the periodic reader, when pushing every `interval`.
pub(super) fn provider(
    resource: &Resource,
    registry: Option<&prometheus::Registry>,
    exporter: Option<Counted<opentelemetry_otlp::MetricExporter>>,
    interval: Duration,
) -> Result<SdkMeterProvider, OTelSdkError> {
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_view(cardinality_view);
    if let Some(registry) = registry {
        builder = builder.with_reader(
            opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                // One scope holds all our metrics: the scope label would only add noise to
                // every series and differ from the label sets dashboards and alerts use.
                .scope_info_enabled(false)
                .build()?,
        );
    }
    if let Some(exporter) = exporter {
        builder = builder.with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(interval)
                .build(),
        );
    }
    Ok(builder.build())
}

/// Gives each catalogue metric its own cardinality limit (the SDK's default is 2000 for all).
fn cardinality_view(instrument: &Instrument) -> Option<Stream> {
    let def = catalog::all().find(|d| d.instrument_name() == instrument.name())?;
    Stream::builder()
        .with_cardinality_limit(def.sdk_cardinality_limit())
        .build()
        .ok()
}
