//! Replays over HTTP: a projection rebuilt from the log answers what it holds, and the
//! replay metrics count exactly the replays started, completed and failed, and the events of
//! each replay's scope.

use serde_json::json;

use crate::support::{Service, event};

/// Sends a replay request: (status, answer).
fn replay(service: &Service, body: serde_json::Value) -> (u16, serde_json::Value) {
    service.post("/replays", &body.to_string())
}

#[test]
fn replays_rebuild_projections_and_are_counted_exactly() {
    let service = Service::quiet();
    // Sequences 1 to 5; the fourth's payload is text, which the entity state cannot merge.
    let text = json!({"event_type": "audit.note", "entity_id": "u-3", "payload": "text"});
    for body in [
        event("user.created", "u-1"),
        event("order.placed", "u-1"),
        event("order.placed", "u-2"),
        text.to_string(),
        event("order.shipped", "u-1"),
    ] {
        assert_eq!(service.post("/events", &body).0, 201);
    }

    let (status, body) = replay(&service, json!({"projection": "type_counts"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["events_processed"].as_u64(),
            body["last_sequence"].as_u64()
        ),
        (Some(5), Some(5))
    );
    let counts = &body["rebuilt"]["counts"];
    assert_eq!(
        (counts["order.placed"].as_u64(), counts["other"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );

    let by_type = json!({"projection": "entity_state", "event_type": "order.placed"});
    let (status, body) = replay(&service, by_type);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events_processed"], 2);
    assert_eq!(body["rebuilt"]["entities"], 2, "{body}");

    let (status, body) = replay(&service, json!({"projection": "entity_state", "from": 5}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["events_processed"].as_u64(), body["from"].as_u64()),
        (Some(1), Some(5))
    );

    // The whole log fails at the text payload, after the three events before it.
    let (status, body) = replay(&service, json!({"projection": "entity_state"}));
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("failed after 3 events") && error.contains("event 4"),
        "{error}"
    );

    // Refused before it starts: no replay.
    let (status, body) = replay(&service, json!({"projection": "balances"}));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no projection `balances`")),
        "{body}"
    );

    service.wait_for_sum("allsource_replays_failed_total", &[], 1.0);
    let x = service.exposition();
    let sum =
        |name: &str, projection: &str| x.sum(name, &[("projection", projection)]).unwrap_or(-1.0);
    for (name, entity_state, type_counts) in [
        ("allsource_replays_started_total", 3.0, 1.0),
        ("allsource_replays_completed_total", 2.0, 1.0),
        ("allsource_replays_failed_total", 1.0, 0.0),
        // 2 of `order.placed`, 1 from sequence 5, 3 before the failure; the whole log.
        ("allsource_replay_events_processed_total", 6.0, 5.0),
        ("allsource_replay_duration_seconds_count", 3.0, 1.0),
    ] {
        assert_eq!(sum(name, "entity_state"), entity_state, "{name}");
        assert_eq!(sum(name, "type_counts"), type_counts, "{name}");
    }
    // Replays read the log: the live projections saw each event once, at ingest.
    assert_eq!(
        sum("allsource_projection_events_processed_total", "type_counts"),
        5.0
    );
    let http = |status: &str| {
        let labels = [
            ("http_route", "/replays"),
            ("http_request_method", "POST"),
            ("http_response_status_code", status),
        ];
        x.sum("http_server_request_duration_seconds_count", &labels)
    };
    assert_eq!((http("200"), http("422")), (Some(3.0), Some(2.0)));
}
