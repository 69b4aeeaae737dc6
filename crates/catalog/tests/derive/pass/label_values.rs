//! Label values by default (the variant in snake_case) and explicit.

use alys_telemetry_catalog::LabelValue;
use alys_telemetry_catalog::instruments::LabelValues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = ::alys_telemetry_catalog)]
pub enum Region {
    NorthAmerica,
    #[label("eu")]
    Europe,
    FederationV2,
    Ok,
}

fn main() {
    let labels: Vec<&str> = Region::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels, ["north_america", "eu", "federation_v2", "ok"]);
    assert_eq!(Region::Europe.to_string(), "eu");
    assert_eq!(Region::COUNT, 4);
    assert_eq!(Region::ARITY, 1);
    assert_eq!(Region::from_index(2), Some(Region::FederationV2));
    let mut values = Vec::new();
    Region::NorthAmerica.push_values(&mut values);
    assert_eq!(values, ["north_america"]);
}
