//! A family under the semantic conventions' names: dotted attribute keys as label names, and
//! the OpenTelemetry instrument name beside the Prometheus one.

use alys_telemetry_catalog::instruments::HistogramVec;
use alys_telemetry_catalog::{LabelValue, MetricFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Method { Get, Post }

#[derive(MetricFamily)]
#[family(title = "http", crate = ::alys_telemetry_catalog)]
struct HttpMetrics {
    /// Duration of HTTP server requests
    #[metric(
        otel_name = "http.server.request.duration",
        labels("http.request.method"),
        name = "http_server_request_duration_seconds",
        unit = "s",
        buckets = [0.1, 1.0],
        why = "the semantic conventions name it"
    )]
    duration: HistogramVec<Method>,
}

fn main() {
    assert_eq!(HttpMetrics::DURATION.instrument_name(), "http.server.request.duration");
    assert_eq!(HttpMetrics::DURATION.labels, ["http.request.method"]);
    let metrics = HttpMetrics::new(&opentelemetry::global::meter("test"));
    metrics.duration.record(Method::Get, 0.2);
}
