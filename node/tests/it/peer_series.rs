//! A departed peer's series disappears: the demo's peers come and go, and
//! `alys_peer_quality_score` on its /metrics is the connected peers, never the peers ever
//! seen (which grew without bound and filled the cardinality limit with departed peers).

use std::collections::HashSet;
use std::time::Duration;

use crate::support::node::Demo;
use crate::support::wait_until;

/// The peer ids of the quality series in `text`.
fn quality_peers(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| l.starts_with("alys_peer_quality_score{"))
        .filter_map(|l| {
            let (_, rest) = l.split_once("peer_id=\"")?;
            Some(rest.split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn a_departed_peers_series_disappears_from_the_demos_metrics() {
    let demo = Demo::start(&["--no-push", "--block-interval", "500ms"], &[]);
    let mut seen: HashSet<String> = HashSet::new();
    let mut scrapes = 0;
    // The demo's peers churn once a second, about one departure every four seconds.
    let departed = wait_until(
        "a peer seen in one scrape gone from a later one",
        Duration::from_secs(90),
        || {
            let text = demo.metrics();
            let now = quality_peers(&text);
            let connected =
                crate::support::exposition::parse_exposition(&text).sum("alys_peer_count", &[])?;
            scrapes += 1;
            // One tick's change may fall between the two updates a scrape reads.
            assert!(
                (now.len() as f64 - connected).abs() <= 1.0,
                "{} quality series for {connected} connected peers (scrape {scrapes})",
                now.len()
            );
            let gone: Vec<String> = seen.difference(&now).cloned().collect();
            seen.extend(now);
            gone.into_iter().next()
        },
    );
    assert!(departed.starts_with("12d3koow"), "{departed}");
}
