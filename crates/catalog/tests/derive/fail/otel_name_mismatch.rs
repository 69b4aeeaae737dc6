use alys_telemetry_catalog::instruments::Histogram;
use alys_telemetry_catalog::MetricFamily;

#[derive(MetricFamily)]
#[family(title = "http", crate = ::alys_telemetry_catalog)]
struct HttpMetrics {
    /// Duration of HTTP server requests
    #[metric(
        name = "http_request_duration_seconds",
        otel_name = "http.server.request.duration",
        unit = "s",
        buckets = [0.1, 1.0],
        why = "the semantic conventions name it"
    )]
    duration: Histogram,
}

fn main() {}
