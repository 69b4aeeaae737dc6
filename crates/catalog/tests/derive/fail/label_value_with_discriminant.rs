use alys_telemetry_catalog::LabelValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
enum Phase {
    Warmup,
    Steady = 5,
}

fn main() {}
