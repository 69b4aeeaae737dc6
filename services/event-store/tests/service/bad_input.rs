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

#[test]
fn bad_pipelines_and_replays_get_a_4xx_that_says_why() {
    let service = Service::quiet();
    let long = "p".repeat(33);
    for (body, status, says) in [
        (
            r#"{"name": "Big Orders", "field": "amount"}"#,
            400,
            "1 to 32 characters of [a-z0-9_-]",
        ),
        (
            &*format!(r#"{{"name": "{long}", "field": "amount"}}"#),
            400,
            "longer than 32",
        ),
        (
            r#"{"name": "none"}"#,
            400,
            "filters on `event_type`, `field`, or both",
        ),
        (
            r#"{"name": "x", "equals": 1}"#,
            400,
            "`equals` compares a payload `field`",
        ),
        (
            r#"{"name": "x", "field": "a", "colour": 1}"#,
            400,
            "unknown field `colour`",
        ),
        ("{not json", 400, "not a valid pipeline"),
    ] {
        refused(&service, "/pipelines", body, status, says);
    }
    // Sixteen are the most the store runs; a name is registered once.
    for i in 0..16 {
        let pipeline = json!({"name": format!("p{i}"), "event_type": "user.created"});
        assert_eq!(service.post("/pipelines", &pipeline.to_string()).0, 201);
    }
    let again = r#"{"name": "p0", "field": "a"}"#;
    refused(
        &service,
        "/pipelines",
        again,
        409,
        "`p0` is already registered",
    );
    let one_more = r#"{"name": "p16", "field": "a"}"#;
    refused(
        &service,
        "/pipelines",
        one_more,
        409,
        "16 pipelines are registered",
    );
    let (status, answer) = service.delete("/pipelines/nope");
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("no pipeline named `nope`"))
    );

    for (body, status, says) in [
        (
            r#"{"projection": "balances"}"#,
            422,
            "no projection `balances`: the store's projections are `entity_state`, `type_counts`",
        ),
        (
            r#"{"projection": "type_counts", "from": 0}"#,
            400,
            "sequences start at 1",
        ),
        (
            r#"{"projection": "type_counts", "event_type": ""}"#,
            400,
            "`event_type` is 1 to 128 bytes",
        ),
        (r#"{"projection": 5}"#, 400, "not a valid replay request"),
        (
            r#"{"projection": "type_counts", "to": 9}"#,
            400,
            "unknown field `to`",
        ),
    ] {
        refused(&service, "/replays", body, status, says);
    }

    // One event through the sixteen: the refused names made no series.
    assert_eq!(service.post("/events", &event("user.created", "u")).0, 201);
    service.wait_for_sum("allsource_pipeline_events_processed_total", &[], 16.0);
    let x = service.exposition();
    let mut names: Vec<String> = x
        .matching("allsource_pipeline_events_processed_total", &[])
        .filter_map(|s| s.labels.get("pipeline").cloned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("p{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(x.sum("allsource_pipelines_registered", &[]), Some(16.0));
    assert_eq!(x.sum("allsource_replays_started_total", &[]), Some(0.0));
    assert_eq!(
        x.sum("allsource_replay_events_processed_total", &[]),
        Some(0.0)
    );
}
