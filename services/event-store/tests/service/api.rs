//! Ingest and query over HTTP, and what `/metrics` says of them: every metric of the
//! catalogue under its seed name with its kind and labels, and the counts the requests made.

use std::collections::BTreeSet;

use alys_test_support::exposition::Exposition;
use event_store::metrics::Metrics;
use serde_json::json;

use crate::support::{Service, event};

/// Every metric of the store's families is exported with its type and exactly its labels;
/// one that does not start at 0 (a histogram, a metric keyed by pipeline names) only once it
/// has been recorded (`observed`), as the catalogue says.
pub fn assert_catalogue_exported(exposition: &Exposition, observed: bool) {
    for family in Metrics::FAMILIES {
        for def in family.metrics {
            let kind = def.kind.prometheus_type();
            if !def.starts_at_zero() && !observed && !exposition.types.contains_key(def.name) {
                continue;
            }
            assert_eq!(
                exposition.types.get(def.name).map(String::as_str),
                Some(kind),
                "{} is not exported as a {kind}",
                def.name
            );
            let series = match kind {
                "histogram" => format!("{}_count", def.name),
                _ => def.name.to_string(),
            };
            let labels: BTreeSet<String> = def.labels.iter().map(|l| l.to_string()).collect();
            assert_eq!(
                exposition.label_names(&series),
                labels,
                "labels of {series}"
            );
        }
    }
}

#[test]
fn ingested_events_are_queried_and_every_metric_is_exported() {
    let service = Service::quiet();
    let (status, body) = service.post("/events", &event("user.created", "u-1"));
    assert_eq!(
        (status, body["sequence"].as_u64()),
        (201, Some(1)),
        "{body}"
    );
    assert_eq!(
        service.post("/events", &event("order.placed", "u-1")).0,
        201
    );
    let note = json!({"event_type": "audit.note", "entity_id": "u-2", "payload": "text"});
    assert_eq!(service.post("/events", &note.to_string()).0, 201);
    let batch = format!(
        "[{},{}]",
        event("order.shipped", "u-1"),
        event("payment.processed", "u-3")
    );
    let (status, body) = service.post("/events/batch", &batch);
    assert_eq!(
        (status, body["ingested"].as_u64()),
        (201, Some(2)),
        "{body}"
    );

    let (status, body) = service.get("/events?entity_id=u-1");
    assert_eq!(status, 200);
    let types: Vec<&str> = body["events"]
        .as_array()
        .expect("events is an array")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(types, ["user.created", "order.placed", "order.shipped"]);
    let (_, body) = service.get("/events?event_type=audit.note");
    assert_eq!(body["count"], 1);
    let (_, body) = service.get("/events?entity_id=u-1&event_type=order.placed");
    assert_eq!(body["count"], 1);
    let (_, body) = service.get("/events?limit=2");
    assert_eq!(
        body["events"][1]["sequence"], 5,
        "the most recent two, oldest first: {body}"
    );
    let (status, body) = service.get("/entities/u-1");
    assert_eq!(status, 200);
    assert_eq!(
        (body["version"].as_u64(), body["state"]["carrier"].as_str()),
        (Some(3), Some("ups"))
    );
    let (status, body) = service.get("/entities/nobody");
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("nobody")),
        "{body}"
    );

    // The counters are exact: only this test's requests reached the store.
    service.wait_for_sum("allsource_events_ingested_total", &[], 5.0);
    let x = service.exposition();
    assert_catalogue_exported(&x, false);
    let sum = |name: &str, labels: &[(&str, &str)]| x.sum(name, labels).unwrap_or(-1.0);
    assert_eq!(sum("allsource_events_ingested_total", &[]), 5.0);
    assert_eq!(
        sum(
            "allsource_events_ingested_by_type_total",
            &[("event_type", "other")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            "allsource_events_ingested_by_type_total",
            &[("event_type", "order_placed")]
        ),
        1.0
    );
    assert_eq!(sum("allsource_ingestion_duration_seconds_count", &[]), 5.0);
    assert_eq!(sum("allsource_storage_events_total", &[]), 5.0);
    assert_eq!(sum("allsource_storage_entities_total", &[]), 3.0);
    assert!(sum("allsource_storage_size_bytes", &[]) > 0.0);
    assert_eq!(sum("allsource_wal_segments", &[]), 1.0);
    assert_eq!(sum("allsource_schemas_registered_total", &[]), 5.0);
    let validation = |subject, result| {
        sum(
            "allsource_schema_validations_total",
            &[("subject", subject), ("result", result)],
        )
    };
    assert_eq!(validation("user_created", "valid"), 1.0);
    assert_eq!(validation("other", "unregistered"), 1.0);
    assert_eq!(
        sum(
            "allsource_projection_errors_total",
            &[("projection", "entity_state")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            "allsource_projection_events_processed_total",
            &[("projection", "type_counts")]
        ),
        5.0
    );
    for (query_type, results) in [
        ("by_entity", 3.0),
        ("by_type", 1.0),
        ("by_entity_and_type", 1.0),
        ("all", 2.0),
        ("entity", 1.0),
    ] {
        let labels = [("query_type", query_type)];
        let queries = if query_type == "entity" { 2.0 } else { 1.0 };
        assert_eq!(
            sum("allsource_queries_total", &labels),
            queries,
            "{query_type}"
        );
        assert_eq!(
            sum("allsource_query_results_total", &labels),
            results,
            "{query_type}"
        );
        assert_eq!(
            sum("allsource_query_duration_seconds_count", &labels),
            queries,
            "{query_type}"
        );
    }
    // The library's HTTP layer, by route template and status.
    let http = |route: &str, method: &str, status: &str| {
        let labels = [
            ("http_route", route),
            ("http_request_method", method),
            ("http_response_status_code", status),
        ];
        sum("http_server_request_duration_seconds_count", &labels)
    };
    assert_eq!(http("/events", "POST", "201"), 3.0);
    assert_eq!(http("/events/batch", "POST", "201"), 1.0);
    assert_eq!(http("/events", "GET", "200"), 4.0);
    assert_eq!(http("/entities/{id}", "GET", "200"), 1.0);
    assert_eq!(http("/entities/{id}", "GET", "404"), 1.0);
    assert!(x.has("http_server_active_requests"));
}

#[test]
fn snapshots_and_compaction_follow_the_volume() {
    let service = Service::quiet();
    // 1,000 events of ten entities: each entity passes its snapshot interval many times,
    // and the simulated WAL fills, flushes and compacts.
    for round in 0..4 {
        let batch: Vec<String> = (0..250)
            .map(|i| event("order.placed", &format!("e-{}", (round * 250 + i) % 10)))
            .collect();
        let (status, body) = service.post("/events/batch", &format!("[{}]", batch.join(",")));
        assert_eq!(status, 201, "{body}");
    }
    service.wait_for_sum("allsource_events_ingested_total", &[], 1000.0);
    let x = service.exposition();
    let sum = |name: &str| x.sum(name, &[]).unwrap_or(-1.0);
    assert_eq!(sum("allsource_snapshots_created_total"), 100.0);
    assert_eq!(sum("allsource_snapshots"), 10.0);
    assert!(
        sum("allsource_compactions_total") >= 1.0,
        "no compaction after 1,000 events"
    );
    assert!(sum("allsource_compaction_files_merged_total") >= 4.0);
    assert!(sum("allsource_compaction_bytes_saved_total") > 0.0);
    assert!(sum("allsource_parquet_files") >= 1.0);
}
