//! Peer ids come from outside the node: one million distinct ids keep the metric at its
//! cardinality limit with the overflow counted, and the limit counts connected peers, so a
//! peer that leaves takes its series with it and frees its slot.

use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::sources::catalog::peers::PeerMetrics;
use alys_telemetry::{Telemetry, TelemetryGuard};
use alys_test_support::sample_sum;
use rusty_fork::rusty_fork_test;

const PEERS: u64 = 1_000_000;

fn scrape(telemetry: &TelemetryGuard) -> String {
    let families = telemetry.registry().gather();
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut text).unwrap();
    String::from_utf8(text).unwrap()
}

fn quality_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("alys_peer_quality_score{"))
        .collect()
}

fn overflow(text: &str) -> Option<f64> {
    sample_sum(
        text,
        "alys_telemetry_cardinality_overflow_total",
        &[("metric", "alys_peer_quality_score")],
    )
}

rusty_fork_test! {
    #[test]
    fn peer_series_are_the_connected_peers_bounded_by_the_limit() {
        let config = TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
            .set(settings::LISTEN, "127.0.0.1:0")
            .set(settings::PUSH_ENABLED, "false")])
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let telemetry = Telemetry::init(&config).unwrap();
        let peers = PeerMetrics::new(&telemetry.meter());

        // A departed peer's series is gone from the next scrape.
        peers.set_quality("12D3KooWStays", 0.9);
        peers.set_quality("12D3KooWLeaves", 0.4);
        let text = scrape(&telemetry);
        assert_eq!(quality_series(&text).len(), 2, "{text}");
        peers.peer_left("12D3KooWLeaves");
        let text = scrape(&telemetry);
        let series = quality_series(&text);
        assert_eq!(series.len(), 1, "{series:?}");
        assert!(
            series[0].contains("peer_id=\"12d3koowstays\""),
            "{series:?}"
        );
        peers.peer_left("12D3KooWStays");
        assert!(quality_series(&scrape(&telemetry)).is_empty());

        // A million ids: the limit's worth of series, the rest refused and counted.
        for i in 0..PEERS {
            peers.set_quality(&format!("12D3KooW{i:x}"), 0.5);
        }
        let limit = PeerMetrics::QUALITY.cardinality_limit;
        let text = scrape(&telemetry);
        assert_eq!(quality_series(&text).len(), limit);
        assert_eq!(peers.peers_with_quality(), limit);
        assert_eq!(overflow(&text), Some((PEERS - limit as u64) as f64));

        // Ten connected peers leave and ten new ones take their slots: nothing overflows.
        for i in 0..10u64 {
            peers.peer_left(&format!("12D3KooW{i:x}"));
            peers.set_quality(&format!("12D3KooWNew{i}"), 0.7);
        }
        let text = scrape(&telemetry);
        let series = quality_series(&text);
        assert_eq!(series.len(), limit);
        assert_eq!(
            series
                .iter()
                .filter(|l| l.contains("peer_id=\"12d3koownew"))
                .count(),
            10
        );
        assert_eq!(overflow(&text), Some((PEERS - limit as u64) as f64));
        drop(runtime.block_on(telemetry.shutdown()));
    }
}
