//! The pull exit against a real Prometheus: it scrapes the demo every second, sees the target
//! up, and watches a demo counter grow. `promtool check metrics` finds nothing to complain about.

use crate::support;

use std::time::Duration;

use crate::support::node::Demo;
use crate::support::{Prometheus, wait_until};

fn sum_of(result: &[serde_json::Value]) -> f64 {
    result
        .iter()
        .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn prometheus_scrapes_the_demo_and_sees_counters_grow() {
    let mut demo = Demo::start(&["--no-push", "--block-interval", "300ms"], &[]);
    let prometheus = Prometheus::start(&[demo.target()]);

    let up = prometheus.wait_for_data("up{job=\"alys\"} == 1", Duration::from_secs(30));
    assert_eq!(up.len(), 1, "{up:?}");

    let query = "sum(alys_actor_messages_total)";
    let first = sum_of(&prometheus.wait_for_data(query, Duration::from_secs(30)));
    let later = wait_until(
        "the message counter to grow",
        Duration::from_secs(30),
        || {
            let now = sum_of(&prometheus.query(query).ok()?);
            (now > first).then_some(now)
        },
    );
    assert!(later > first);

    // Histograms arrive whole: a quantile over rate() of the buckets has data.
    let q = "histogram_quantile(0.95, sum by (le, validator) \
             (rate(alys_block_production_duration_seconds_bucket[1m])))";
    let quantiles = prometheus.wait_for_data(q, Duration::from_secs(30));
    assert!(!quantiles.is_empty());

    demo.stop("TERM", Duration::from_secs(10));
}

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    let mut demo = Demo::start(&["--no-push", "--block-interval", "200ms"], &[]);
    // Wait until every family the demo records has samples.
    wait_until("block production samples", Duration::from_secs(20), || {
        demo.metric_sum("alys_block_production_duration_seconds_count", &[])
    });
    let exposition = demo.metrics();
    // These names are a contract that existing Alys alerts use (LowPeerCount,
    // ActorSystemUnhealthy); promtool's lint dislikes a gauge ending in `_count` and exits 3
    // for it. Exactly these complaints are accepted, nothing else.
    let count = "should not have \"_count\" suffix";
    let contract = [
        ("alys_peer_count", count),
        ("alys_actor_healthy_count", count),
        ("alys_actor_total_count", count),
    ];
    let (unexpected, said) = support::promtool_complaints(&exposition, &contract);
    assert!(unexpected.is_empty(), "promtool: {said}");
    demo.stop("INT", Duration::from_secs(10));
}
