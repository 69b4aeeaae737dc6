//! Stream pipelines over HTTP: every stored event goes through every registered pipeline,
//! which processes it or filters it out, counted exactly under the pipeline's name; a
//! removed pipeline sees nothing more.

use serde_json::json;

use crate::support::{Service, event};

#[test]
fn every_event_goes_through_every_pipeline_and_is_counted() {
    let service = Service::quiet();
    for pipeline in [
        json!({"name": "orders", "event_type": "order.placed"}),
        json!({"name": "eur", "field": "currency", "equals": "EUR"}),
        json!({"name": "has-amount", "field": "amount"}),
    ] {
        let (status, body) = service.post("/pipelines", &pipeline.to_string());
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["name"], pipeline["name"]);
    }
    let usd = json!({"event_type": "payment.processed", "entity_id": "p-2",
                     "payload": {"amount": 4.0, "currency": "USD"}});
    // Sequences 1 to 4: orders passes 1; eur passes 2; has-amount passes 1, 2 and 3.
    for body in [
        event("order.placed", "o-1"),
        event("payment.processed", "p-1"),
        usd.to_string(),
        event("user.created", "u-1"),
    ] {
        assert_eq!(service.post("/events", &body).0, 201);
    }
    let (status, body) = service.get("/pipelines");
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)), "{body}");
    assert_eq!(body["pipelines"][1]["last_sequence"], 2, "{body}");

    let (status, removed) = service.delete("/pipelines/has-amount");
    assert_eq!(status, 200, "{removed}");
    assert_eq!(
        (removed["processed"].as_u64(), removed["filtered"].as_u64()),
        (Some(3), Some(1))
    );
    // Sequence 5: through the two pipelines left.
    assert_eq!(
        service.post("/events", &event("order.placed", "o-2")).0,
        201
    );

    service.wait_for_sum("allsource_events_ingested_total", &[], 5.0);
    let x = service.exposition();
    let sum = |name: &str, pipeline: &str| x.sum(name, &[("pipeline", pipeline)]);
    for (pipeline, processed, filtered) in [
        ("orders", 2.0, 3.0),
        ("eur", 1.0, 4.0),
        ("has-amount", 3.0, 1.0),
    ] {
        let events = processed + filtered;
        assert_eq!(
            sum("allsource_pipeline_events_processed_total", pipeline),
            Some(processed),
            "{pipeline}"
        );
        assert_eq!(
            sum("allsource_pipeline_events_filtered_total", pipeline),
            Some(filtered),
            "{pipeline}"
        );
        assert_eq!(
            sum(
                "allsource_pipeline_processing_duration_seconds_count",
                pipeline
            ),
            Some(events),
            "{pipeline}"
        );
    }
    assert_eq!(x.sum("allsource_pipelines_registered", &[]), Some(2.0));
    crate::api::assert_catalogue_exported(&x, false);
    let deleted = [
        ("http_route", "/pipelines/{name}"),
        ("http_request_method", "DELETE"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(
        x.sum("http_server_request_duration_seconds_count", &deleted),
        Some(1.0)
    );
}
