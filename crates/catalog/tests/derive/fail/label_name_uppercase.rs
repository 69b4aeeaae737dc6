use alys_telemetry_catalog::instruments::CounterVec;
use alys_telemetry_catalog::{LabelValue, MetricFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Method { Get, Post }

#[derive(MetricFamily)]
#[family(title = "http", crate = ::alys_telemetry_catalog)]
struct HttpMetrics {
    /// Requests
    #[metric(name = "http_requests_total", labels("HTTP.Method"), why = "the test reads it")]
    requests: CounterVec<Method>,
}

fn main() {}
