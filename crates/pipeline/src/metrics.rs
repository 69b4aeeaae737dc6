//! Metrics: one meter provider read by both exits, the Prometheus registry the pull endpoint
//! serves and the periodic OTLP export, with each catalogue metric's cardinality limit.

use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};

use crate::exits::otlp::{Counted, PullAndPush};
use alys_telemetry_catalog as catalog;

/// The meter provider. `registry`: where the Prometheus reader registers, when pulling;
/// `exporter`: the OTLP exporter pushing every `interval`, when pushing. With both, and a
/// cumulative exporter, one aggregation serves both exits ([`PullAndPush`]); a delta or
/// low-memory exporter needs an aggregation of its own, so it gets the SDK's periodic reader
/// beside the Prometheus one, and every record is made twice.
pub(super) fn provider(
    resource: &Resource,
    registry: Option<&prometheus::Registry>,
    exporter: Option<Counted<opentelemetry_otlp::MetricExporter>>,
    interval: Duration,
) -> Result<SdkMeterProvider, OTelSdkError> {
    let builder = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_view(cardinality_view);
    let builder = match (registry, exporter) {
        (Some(registry), Some(exporter)) if exporter.temporality() == Temporality::Cumulative => {
            let shared = PullAndPush::start(pull_reader(registry)?, exporter, interval)
                .map_err(|e| OTelSdkError::InternalFailure(format!("metrics push thread: {e}")))?;
            builder.with_reader(shared)
        }
        (registry, exporter) => {
            let mut builder = builder;
            if let Some(registry) = registry {
                builder = builder.with_reader(pull_reader(registry)?);
            }
            if let Some(exporter) = exporter {
                let periodic = PeriodicReader::builder(exporter).with_interval(interval);
                builder = builder.with_reader(periodic.build());
            }
            builder
        }
    };
    Ok(builder.build())
}

/// The Prometheus reader the pull endpoint's registry collects from.
fn pull_reader(
    registry: &prometheus::Registry,
) -> Result<opentelemetry_prometheus::PrometheusExporter, OTelSdkError> {
    opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        // One scope holds all our metrics: the scope label would only add noise to every
        // series and differ from the label sets dashboards and alerts use.
        .scope_info_enabled(false)
        .build()
}

/// Gives each catalogue metric its own cardinality limit (the SDK's default is 2000 for all).
fn cardinality_view(instrument: &Instrument) -> Option<Stream> {
    let def = catalog::all().find(|d| d.instrument_name() == instrument.name())?;
    Stream::builder()
        .with_cardinality_limit(def.sdk_cardinality_limit())
        .build()
        .ok()
}
