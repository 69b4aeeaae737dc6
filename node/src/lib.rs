//! Programs built on the `alys-telemetry` library: the simulated Alys node ([`demo`]) and the
//! governance node ([`governance_node`]) that the `alys-telemetry` command runs. A real node
//! depends on the library alone; nothing here is part of what it pays for.

pub mod demo;
pub mod governance_node;
pub mod terminal;
pub mod catalogue {
    //! What the node exports, as docs/metrics.md lists it: the library's catalogue, and the
    //! families of the layers the node stacks (the governance stream's gRPC calls), which
    //! the catalogue's crate cannot name.

    use alys_telemetry::sources::catalog::{Family, MetricFamily, docs};
    use alys_telemetry::sources::http::rpc::{RpcClientMetrics, RpcServerMetrics};

    /// The families beside the catalogue's.
    pub const LAYER_FAMILIES: &[Family] = &[
        <RpcServerMetrics as MetricFamily>::FAMILY,
        <RpcClientMetrics as MetricFamily>::FAMILY,
    ];

    /// docs/metrics.md.
    pub fn markdown() -> String {
        docs::markdown_with(LAYER_FAMILIES)
    }

    /// `alys-telemetry catalog --format json`: the same metrics for tools.
    pub fn json() -> serde_json::Value {
        docs::json_with(LAYER_FAMILIES)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_committed_metrics_page_is_current() {
            let committed = include_str!("../../docs/metrics.md");
            assert!(
                committed == super::markdown(),
                "docs/metrics.md is stale: run `cargo run -- catalog --format markdown > docs/metrics.md`"
            );
        }
    }
}
