//! The service drives itself: with its simulated client running, every metric of the
//! catalogue moves, and SIGTERM stops it cleanly.

use std::time::Duration;

use alys_test_support::wait_until;
use event_store::metrics::Metrics;

use crate::support::Service;

/// Series the driver never provokes: they need a full store, an invalid identifier, a
/// subscriber too slow or gone mid-send, or a failure of the type-counts projection (live or
/// replayed), which no stored event can cause.
const NOT_DRIVEN: [(&str, &str, &str); 6] = [
    ("allsource_ingestion_errors_total", "reason", "store_full"),
    (
        "allsource_ingestion_errors_total",
        "reason",
        "invalid_field",
    ),
    ("allsource_websocket_errors_total", "reason", "lagged"),
    ("allsource_websocket_errors_total", "reason", "send_failed"),
    (
        "allsource_projection_errors_total",
        "projection",
        "type_counts",
    ),
    (
        "allsource_replays_failed_total",
        "projection",
        "type_counts",
    ),
];

#[test]
fn the_driver_moves_every_metric_and_sigterm_stops_it() {
    let mut service = Service::start(
        &["--driver-interval", "5ms"],
        &[("ALYS_TELEMETRY_PUSH_ENABLED", "false")],
    );
    let mut names = Vec::new();
    for family in Metrics::FAMILIES {
        for def in family.metrics {
            names.push(match def.kind.prometheus_type() {
                "histogram" => format!("{}_count", def.name),
                _ => def.name.to_string(),
            });
        }
    }
    wait_until("every metric to move", Duration::from_secs(60), || {
        let x = service.exposition();
        let still = names
            .iter()
            .filter(|name| !x.matching(name, &[]).any(|s| s.value > 0.0))
            .count();
        (still == 0).then_some(())
    });
    // Every label value of the driven counters too.
    let x = service.exposition();
    crate::api::assert_catalogue_exported(&x, true);
    let idle: Vec<String> = x
        .samples
        .iter()
        .filter(|s| s.name.starts_with("allsource_") && s.name.ends_with("_total"))
        .filter(|s| s.value == 0.0)
        .filter(|s| {
            !NOT_DRIVEN.iter().any(|(name, label, value)| {
                s.name == *name && s.labels.get(*label).is_some_and(|v| v == value)
            }) && !s.name.starts_with("allsource_schema_validations_total")
        })
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect();
    assert!(idle.is_empty(), "series the driver never moved: {idle:#?}");
    // The driver's requests reached the API through the HTTP layer.
    let posts = [("http_route", "/events"), ("http_request_method", "POST")];
    assert!(
        x.sum("http_server_request_duration_seconds_count", &posts)
            .unwrap_or(0.0)
            > 0.0
    );
    service.stop(Duration::from_secs(10));
}
