use alys_telemetry_catalog::LabelValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
struct Phase {
    name: &'static str,
}

fn main() {}
