//! The one reader of Prometheus text exposition: `alys-telemetry top` reads a node's
//! `/metrics` with it, and the tests read theirs with the same code (it lives in the programs'
//! crate, `alys_node::exposition`).

pub use alys_node::exposition::*;
