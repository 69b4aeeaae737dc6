//! The catalogue against the running demo: every metric the demo can cause is on /metrics
//! with the catalogue's type and label names, the whole process stays within its series
//! budget, and a real Prometheus answers the queries the Alys dashboards are built on.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{Prometheus, wait_until};
use alys_telemetry::sources::catalog::{self, MetricDef, MetricKind};

fn sample_name(def: &MetricDef) -> String {
    match def.kind {
        MetricKind::Histogram => format!("{}_bucket", def.name),
        _ => def.name.to_string(),
    }
}

#[test]
fn every_metric_the_demo_causes_is_exported_as_the_catalogue_says() {
    // Every metric: the ones only an event the demo does not cause would record (a full
    // mailbox, a dropped buffer, a wrong token) are counters, on /metrics at 0 from the start.
    let mut demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    let expected: Vec<&MetricDef> = catalog::all().collect();
    let exposition = wait_until(
        "every expected metric on /metrics",
        Duration::from_secs(60),
        || {
            let e = demo.exposition();
            expected.iter().all(|d| e.has(&sample_name(d))).then_some(e)
        },
    );
    for d in &expected {
        assert_eq!(
            exposition.types.get(d.name).map(String::as_str),
            Some(d.kind.prometheus_type()),
            "{}: TYPE",
            d.name
        );
        let mut seen = exposition.label_names(&sample_name(d));
        seen.remove("le");
        seen.remove("otel_metric_overflow");
        let want: BTreeSet<String> = d.labels.iter().map(|l| l.to_string()).collect();
        assert_eq!(seen, want, "{}: label names", d.name);
    }
    // The whole process stays well inside its series budget.
    let series = exposition.samples.len();
    assert!(series < 10_000, "{series} series");
    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn prometheus_answers_the_dashboards_queries() {
    let mut demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    let prometheus = Prometheus::start(&[demo.target()]);
    for query in [
        "rate(alys_txpool_rejections_total[1m])",
        "alys_sync_target_height - alys_sync_current_height",
        "histogram_quantile(0.95, sum by (le, validator) \
         (rate(alys_block_production_duration_seconds_bucket[1m])))",
        "sum by (region) (alys_peer_geographic_distribution)",
        "increase(alys_migration_errors_total[1m])",
        "alys_sync_state",
        "histogram_quantile(0.99, sum by (le, actor_type) \
         (rate(alys_actor_message_latency_seconds_bucket[1m])))",
        "alys_actor_healthy_count / alys_actor_total_count",
        "sum by (from_actor, to_actor) (rate(alys_inter_actor_message_latency_seconds_count[1m]))",
    ] {
        let result = prometheus.wait_for_data(query, Duration::from_secs(30));
        assert!(!result.is_empty(), "{query}");
    }
    // Several rejection reasons really arrive (every reason is exported from the start, at
    // 0, so only the ones above 0 count).
    let reasons = prometheus.wait_for_data(
        "count(count by (reason) (alys_txpool_rejections_total > 0))",
        Duration::from_secs(30),
    );
    assert!(support::sample_value(&reasons[0]) >= 3.0, "{reasons:?}");
    demo.stop("TERM", Duration::from_secs(10));
}
