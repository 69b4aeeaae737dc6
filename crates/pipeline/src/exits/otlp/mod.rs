//! The OTLP push exit: one exporter per signal, over gRPC (tonic) or HTTP/protobuf, each
//! wrapped in [`Counted`] so the pipeline watches what it delivers.
//!
//! Everything is passed programmatically from [`PushConfig`], which the exporter builders
//! prefer over the OTEL_* variables they would otherwise read themselves: our layered
//! configuration (file < environment < flags) stays the single source of truth.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_otlp::{
    ExporterBuildError, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::metrics::Temporality;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

mod counted;
mod shared_reader;

use crate::span_batches::EXPORTS_IN_FLIGHT;
use alys_telemetry_catalog::pipeline::Signal;
use alys_telemetry_config::{EndpointUrl, MetricsTemporality, OtlpProtocol, PushConfig};
pub use counted::{Counted, ExportStats, SignalStats};
pub(crate) use shared_reader::PullAndPush;

/// An exporter that could not be built; names the signal and the endpoint (its user
/// information redacted), never headers.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP {} exporter for {endpoint}: {source}", signal.as_str())]
pub struct ExporterError {
    pub signal: Signal,
    pub endpoint: String,
    #[source]
    pub source: ExporterBuildError,
}

fn metadata(push: &PushConfig) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (k, v) in push.headers.iter() {
        // Both were validated as HTTP header name and value when the config was read.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
            MetadataValue::try_from(v),
        ) {
            map.insert(key, value);
        }
    }
    map
}

fn headers(push: &PushConfig) -> HashMap<String, String> {
    push.headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn error(
    signal: Signal,
    endpoint: &EndpointUrl,
) -> impl FnOnce(ExporterBuildError) -> ExporterError + '_ {
    move |source| ExporterError {
        signal,
        // Shown in the start-up error: never with its credentials.
        endpoint: endpoint.redacted().into_owned(),
        source,
    }
}

/// Builds the three exporters: one macro-free function per signal would repeat the
/// transport switch three times, so the switch lives here once.
macro_rules! build_exporter {
    ($builder:expr, $push:expr, $endpoint:expr) => {
        match $push.protocol {
            OtlpProtocol::Grpc => $builder
                .with_tonic()
                .with_protocol(Protocol::Grpc)
                .with_endpoint($endpoint.as_str())
                .with_timeout($push.timeout)
                .with_metadata(metadata($push))
                .build(),
            OtlpProtocol::HttpProtobuf => $builder
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint($endpoint.as_str())
                .with_timeout($push.timeout)
                .with_headers(headers($push))
                .build(),
        }
    };
}

/// The three exporters, built before anything is installed so that a bad setting stops
/// start-up with nothing left behind.
pub(crate) struct Exporters {
    /// One per export that may be in flight ([`EXPORTS_IN_FLIGHT`]): each its own channel.
    pub spans: Vec<Counted<SpanExporter>>,
    pub metrics: Counted<MetricExporter>,
    pub logs: Counted<LogExporter>,
}

impl Exporters {
    pub(crate) fn build(
        push: &PushConfig,
        stats: &Arc<ExportStats>,
    ) -> Result<Self, ExporterError> {
        Ok(Exporters {
            spans: (0..EXPORTS_IN_FLIGHT)
                .map(|_| span_exporter(push, stats))
                .collect::<Result<_, _>>()?,
            metrics: metric_exporter(push, stats)?,
            logs: log_exporter(push, stats)?,
        })
    }
}

fn span_exporter(
    push: &PushConfig,
    stats: &Arc<ExportStats>,
) -> Result<Counted<SpanExporter>, ExporterError> {
    let e = &push.traces_endpoint;
    let exporter =
        build_exporter!(SpanExporter::builder(), push, e).map_err(error(Signal::Traces, e))?;
    Ok(Counted::new(exporter, stats.clone(), Signal::Traces))
}

fn metric_exporter(
    push: &PushConfig,
    stats: &Arc<ExportStats>,
) -> Result<Counted<MetricExporter>, ExporterError> {
    let e = &push.metrics_endpoint;
    let temporality = match push.temporality {
        MetricsTemporality::Cumulative => Temporality::Cumulative,
        MetricsTemporality::Delta => Temporality::Delta,
        MetricsTemporality::LowMemory => Temporality::LowMemory,
    };
    let builder = MetricExporter::builder().with_temporality(temporality);
    let exporter = build_exporter!(builder, push, e).map_err(error(Signal::Metrics, e))?;
    Ok(Counted::new(exporter, stats.clone(), Signal::Metrics))
}

fn log_exporter(
    push: &PushConfig,
    stats: &Arc<ExportStats>,
) -> Result<Counted<LogExporter>, ExporterError> {
    let e = &push.logs_endpoint;
    let exporter =
        build_exporter!(LogExporter::builder(), push, e).map_err(error(Signal::Logs, e))?;
    Ok(Counted::new(exporter, stats.clone(), Signal::Logs))
}
