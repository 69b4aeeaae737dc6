//! One million distinct peer ids: the metric stays at its cardinality limit, the SDK's
//! overflow series holds the rest, and the overflow self-metric counts every such record.

use alys_telemetry::Telemetry;
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::sources::catalog::peers::{PeerMetrics, def};
use alys_test_support::sample_sum;

const PEERS: u64 = 1_000_000;

#[test]
fn a_million_peer_ids_stay_at_the_limit_with_the_overflow_visible() {
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
    for i in 0..PEERS {
        peers.set_quality(&format!("12D3KooW{i:x}"), 0.5);
    }

    let families = telemetry.registry().gather();
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();

    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("alys_peer_quality_score{"))
        .collect();
    // The limit's worth of peers, and one overflow series for all the others.
    assert_eq!(series.len(), def::quality.cardinality_limit + 1);
    assert!(
        series
            .iter()
            .any(|l| l.contains("otel_metric_overflow=\"true\"")),
        "the SDK's overflow series is missing"
    );
    let admitted = def::quality.cardinality_limit as u64;
    assert_eq!(peers.quality_guard().admitted() as u64, admitted);
    assert_eq!(
        sample_sum(
            &text,
            "alys_telemetry_cardinality_overflow_total",
            &[("metric", "alys_peer_quality_score")]
        ),
        Some((PEERS - admitted) as f64)
    );
    drop(runtime.block_on(telemetry.shutdown()));
}
