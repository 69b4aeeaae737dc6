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

mod attempts;
mod backlog;
mod counted;
mod retry;
mod shared_reader;
mod stats;

use crate::span_batches::EXPORTS_IN_FLIGHT;
use alys_telemetry_catalog::pipeline::Signal;
use alys_telemetry_config::{EndpointUrl, MetricsTemporality, OtlpProtocol, PushConfig};
use attempts::{AttemptClient, AttemptInterceptor, Attempts};
pub use backlog::Backlog;
pub use counted::Counted;
use retry::Retries;
pub use retry::{MAX_DELAY as RETRY_MAX_DELAY, MAX_JITTER as RETRY_MAX_JITTER};
pub(crate) use shared_reader::PullAndPush;
pub use stats::{ExportStats, SignalStats};

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
/// transport switch three times, so the switch lives here once. The exporter's `timeout` is
/// the deadline of its retries ([`Retries`]); one attempt's bound is on the transport.
macro_rules! build_exporter {
    ($builder:expr, $push:expr, $endpoint:expr, $attempts:expr) => {{
        let retries = Retries::for_push($push);
        match $push.protocol {
            OtlpProtocol::Grpc => retry::grpc_channel($endpoint, $push).and_then(|channel| {
                $builder
                    .with_tonic()
                    .with_protocol(Protocol::Grpc)
                    .with_channel(channel)
                    .with_timeout(retries.deadline)
                    .with_retry_policy(retries.policy)
                    .with_metadata(metadata($push))
                    .with_interceptor(AttemptInterceptor($attempts.clone()))
                    .build()
            }),
            OtlpProtocol::HttpProtobuf => retry::http_client($push).and_then(|client| {
                $builder
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint($endpoint.as_str())
                    .with_http_client(AttemptClient {
                        inner: client,
                        attempts: $attempts.clone(),
                    })
                    .with_timeout(retries.deadline)
                    .with_retry_policy(retries.policy)
                    .with_headers(headers($push))
                    .build()
            }),
        }
    }};
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
    let attempts = Attempts::new(stats.clone(), Signal::Traces);
    let exporter = build_exporter!(SpanExporter::builder(), push, e, attempts)
        .map_err(error(Signal::Traces, e))?;
    Ok(counted(exporter, push, stats, Signal::Traces, attempts))
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
    let attempts = Attempts::new(stats.clone(), Signal::Metrics);
    let exporter =
        build_exporter!(builder, push, e, attempts).map_err(error(Signal::Metrics, e))?;
    Ok(counted(exporter, push, stats, Signal::Metrics, attempts))
}

fn log_exporter(
    push: &PushConfig,
    stats: &Arc<ExportStats>,
) -> Result<Counted<LogExporter>, ExporterError> {
    let e = &push.logs_endpoint;
    let attempts = Attempts::new(stats.clone(), Signal::Logs);
    let exporter = build_exporter!(LogExporter::builder(), push, e, attempts)
        .map_err(error(Signal::Logs, e))?;
    Ok(counted(exporter, push, stats, Signal::Logs, attempts))
}

/// `exporter`, counted: its failures told apart by the outage budget, its attempts as its
/// transport reports them.
fn counted<E>(
    exporter: E,
    push: &PushConfig,
    stats: &Arc<ExportStats>,
    signal: Signal,
    attempts: Arc<Attempts>,
) -> Counted<E> {
    Counted::new(exporter, stats.clone(), signal)
        .with_budget(push.outage_budget)
        .with_attempts(attempts)
}

#[cfg(test)]
mod tests;
