use alys_telemetry_catalog::MetricFamily;
use alys_telemetry_catalog::instruments::Counter;

#[derive(MetricFamily)]
#[family(title = "jobs", crate = ::alys_telemetry_catalog)]
struct JobMetrics(Counter);

fn main() {}
