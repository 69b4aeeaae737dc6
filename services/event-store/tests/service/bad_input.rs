//! Bad input is answered with a 4xx whose JSON body says what is wrong, stores nothing, and
//! is counted: by status in the HTTP layer's metrics, by reason in the store's.

use serde_json::json;

use crate::support::{Service, event};

/// Sends `body` to `path` and checks the answer: `status`, and an error naming `says`.
fn refused(service: &Service, path: &str, body: &str, status: u16, says: &str) {
    let (got, answer) = service.post(path, body);
    let error = answer["error"].as_str().unwrap_or_default();
    assert_eq!(got, status, "POST {path} answered {answer}");
    assert!(
        error.contains(says),
        "POST {path}: {error:?} does not say {says:?}"
    );
}

#[test]
fn malformed_events_get_a_4xx_that_says_why_and_are_counted() {
    let service = Service::quiet();
    refused(&service, "/events", "{not json", 400, "not a valid event");
    let no_entity = json!({"event_type": "user.created", "payload": {}}).to_string();
    refused(
        &service,
        "/events",
        &no_entity,
        400,
        "missing field `entity_id`",
    );
    let empty = json!({"event_type": "user.created", "entity_id": "", "payload": {}});
    refused(
        &service,
        "/events",
        &empty.to_string(),
        400,
        "`entity_id` is empty",
    );
    let no_amount =
        json!({"event_type": "order.placed", "entity_id": "o", "payload": {"order_id": "o-1"}});
    refused(
        &service,
        "/events",
        &no_amount.to_string(),
        422,
        "`amount` is required",
    );
    let huge = json!({"event_type": "user.updated", "entity_id": "u", "payload": {"x": "y".repeat(70_000)}});
    refused(&service, "/events", &huge.to_string(), 413, "length limit");
    let batch = format!("[{},{}]", event("user.created", "u"), no_entity);
    refused(
        &service,
        "/events/batch",
        &batch,
        400,
        "event 1 of the batch",
    );

    for (query, says) in [
        ("/events?limit=abc", "limit"),
        ("/events?color=red", "unknown field `color`"),
        ("/events?limit=0", "`limit` is 1 to 1000"),
    ] {
        let (status, answer) = service.get(query);
        assert_eq!(status, 400, "GET {query} answered {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(says),
            "GET {query}: {error:?} does not say {says:?}"
        );
    }

    // The store's counters, by reason; nothing was stored, not even the batch's good event.
    service.wait_for_sum("allsource_query_errors_total", &[], 3.0);
    let x = service.exposition();
    let sum = |name: &str, labels: &[(&str, &str)]| x.sum(name, labels).unwrap_or(-1.0);
    for (reason, count) in [
        ("malformed_json", 1.0),
        ("missing_field", 2.0),
        ("invalid_field", 1.0),
        ("schema_violation", 1.0),
        ("too_large", 1.0),
        ("store_full", 0.0),
    ] {
        assert_eq!(
            sum("allsource_ingestion_errors_total", &[("reason", reason)]),
            count,
            "{reason}"
        );
    }
    assert_eq!(sum("allsource_events_ingested_total", &[]), 0.0);
    assert_eq!(
        sum(
            "allsource_schema_validations_total",
            &[("subject", "order_placed"), ("result", "invalid")]
        ),
        1.0
    );
    // The HTTP layer's, by route template and status.
    let http = |method: &str, route: &str, status: &str| {
        let labels = [
            ("http_request_method", method),
            ("http_route", route),
            ("http_response_status_code", status),
        ];
        sum("http_server_request_duration_seconds_count", &labels)
    };
    assert_eq!(http("POST", "/events", "400"), 3.0);
    assert_eq!(http("POST", "/events", "422"), 1.0);
    assert_eq!(http("POST", "/events", "413"), 1.0);
    assert_eq!(http("POST", "/events/batch", "400"), 1.0);
    assert_eq!(http("GET", "/events", "400"), 3.0);
}

#[test]
fn a_full_store_refuses_with_507() {
    let service = Service::start(
        &["--no-driver", "--max-events", "2"],
        &[("ALYS_TELEMETRY_PUSH_ENABLED", "false")],
    );
    assert_eq!(service.post("/events", &event("user.created", "a")).0, 201);
    assert_eq!(service.post("/events", &event("user.created", "b")).0, 201);
    refused(
        &service,
        "/events",
        &event("user.created", "c"),
        507,
        "the store is full",
    );
    let reason = [("reason", "store_full")];
    assert_eq!(
        service.wait_for_sum("allsource_ingestion_errors_total", &reason, 1.0),
        1.0
    );
}
