//! The one reader of Prometheus text exposition: `alys-telemetry top` reads a node's
//! `/metrics` with it, and the tests read theirs with the same code (the leaf crate
//! `alys-exposition`, which depends on nothing of ours).

pub use alys_exposition::*;

/// Parses `text`, panicking with the line that is wrong: a test's reading of `/metrics`.
#[track_caller]
pub fn parse_exposition(text: &str) -> Exposition {
    Exposition::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The sum of the samples of `name` with every one of `labels` in `text` (see
/// [`Exposition::sum`]), panicking when `text` is not a valid exposition.
#[track_caller]
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse_exposition(text).sum(name, labels)
}
