//! The RPC families, as the semantic conventions name them: one for the calls a server
//! takes, one for the calls a client makes.

use opentelemetry::KeyValue;

use super::status::Side;
use crate::instruments::AttributeHistogram;
use alys_telemetry_catalog::MetricFamily;

/// Why a service's operators read these metrics.
const WHY: &str = "the RPC semantic conventions: every dashboard and backend that knows them \
                   reads a service's gRPC calls without being told its metric names";

/// Calls a gRPC server takes, measured by the OpenTelemetry RPC semantic conventions.
#[derive(MetricFamily)]
#[family(
    title = "gRPC server (OpenTelemetry semantic conventions 1.42)",
    crate = ::alys_telemetry_catalog
)]
pub struct RpcServerMetrics {
    /// Measures the duration of an incoming Remote Procedure Call (RPC)
    #[metric(
        name = "rpc_server_call_duration_seconds",
        otel_name = "rpc.server.call.duration",
        unit = "s",
        labels(
            "rpc.system.name",
            "rpc.method",
            "rpc.response.status_code",
            "error.type"
        ),
        // The conventions advise no buckets for RPC: HTTP's advice, so that a service's
        // calls and requests read on one scale.
        buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
        why = WHY
    )]
    pub(crate) duration: AttributeHistogram<4>,
}

/// Calls a gRPC client makes, measured by the OpenTelemetry RPC semantic conventions.
#[derive(MetricFamily)]
#[family(
    title = "gRPC client (OpenTelemetry semantic conventions 1.42)",
    crate = ::alys_telemetry_catalog
)]
pub struct RpcClientMetrics {
    /// Measures the duration of an outgoing Remote Procedure Call (RPC)
    #[metric(
        name = "rpc_client_call_duration_seconds",
        otel_name = "rpc.client.call.duration",
        unit = "s",
        labels(
            "rpc.system.name",
            "rpc.method",
            "rpc.response.status_code",
            "error.type",
            "server.address",
            "server.port"
        ),
        buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
        why = WHY
    )]
    pub(crate) duration: AttributeHistogram<6>,
}

/// The duration histogram of one side.
pub(crate) enum Durations {
    Server(RpcServerMetrics),
    Client(RpcClientMetrics),
}

impl Durations {
    pub(crate) fn side(&self) -> Side {
        match self {
            Durations::Server(_) => Side::Server,
            Durations::Client(_) => Side::Client,
        }
    }

    pub(crate) fn record(&self, seconds: f64, attributes: &[KeyValue]) {
        match self {
            Durations::Server(metrics) => metrics.duration.record(seconds, attributes),
            Durations::Client(metrics) => metrics.duration.record(seconds, attributes),
        }
    }
}
