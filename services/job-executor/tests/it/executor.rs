//! The executor behind its HTTP API: events matched to jobs, jobs run, retried,
//! dead-lettered, cached, deduplicated, refused by a full queue; every metric counting it.

use std::time::Duration;

use serde_json::json;

use super::*;

const SEED_COUNTERS: &[&str] = &[
    "events_processed_total",
    "actions_executed_total",
    "action_success_total",
    "action_failure_total",
    "action_timeout_total",
    "queue_jobs_enqueued_total",
    "queue_jobs_processed_total",
    "queue_retry_total",
    "queue_deadletter_total",
    "cache_hits_total",
    "cache_misses_total",
    "dedup_checks_total",
    "dedup_duplicates_found_total",
    "checkpoint_saves_total",
    "checkpoint_recovery_total",
];

#[test]
fn every_counter_and_gauge_is_exported_at_zero_from_the_start() {
    let harness = Harness::new();
    let _executor = harness.executor(quick_config());
    let exposition = harness.metrics.exposition();
    let text = harness.metrics.text();
    for name in SEED_COUNTERS {
        assert_eq!(exposition.sum(name, &[]), Some(0.0), "{name}\n{text}");
    }
    for name in [
        "queue_depth",
        "events_in_flight",
        "cache_hit_rate",
        "cache_size_bytes",
        "dedup_hit_rate",
    ] {
        assert_eq!(exposition.sum(name, &[]), Some(0.0), "{name}\n{text}");
    }
    // Every action's counters exist before its first run.
    for action in ["webhook", "email", "search_index", "payment"] {
        let labels = [("action", action)];
        assert_eq!(exposition.sum("action_timeout_total", &labels), Some(0.0));
    }
    // A histogram starts with its first observation.
    assert!(!text.contains("action_duration_ms"), "{text}");
}

#[test]
fn an_event_runs_its_rules_actions_and_is_counted() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(quick_config());
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        let (status, body) = post_event(
            &base,
            json!({ "id": "e1", "type": "order.created", "entity": "order-1", "payload": { "amount": 10 } }),
            http::HeaderMap::new(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "accepted");
        assert_eq!(body["jobs"].as_array().unwrap().len(), 3, "payment, email, search_index");
        assert_eq!(ended(&executor, "e1").await, "succeeded");

        let job = body["jobs"][0].as_u64().unwrap();
        let (status, job) = get_json(&format!("{base}/jobs/{job}")).await;
        assert_eq!(status, 200);
        assert_eq!((job["action"].as_str(), job["state"].as_str()), (Some("payment"), Some("succeeded")));
        assert_eq!(job["result"], "payment for order-1 settled");
        let (status, event) = get_json(&format!("{base}/events/e1")).await;
        assert_eq!((status, event["state"].as_str()), (200, Some("succeeded")));

        let h = &harness;
        assert_eq!(h.value("events_processed_total", &[("outcome", "succeeded")]), 1.0);
        assert_eq!(h.value("event_processing_duration_ms_count", &[("outcome", "succeeded")]), 1.0);
        assert_eq!(h.value("actions_executed_total", &[]), 3.0);
        assert_eq!(h.value("action_success_total", &[("action", "payment")]), 1.0);
        assert_eq!(h.value("action_duration_ms_count", &[("action", "email")]), 1.0);
        assert_eq!(h.value("queue_jobs_enqueued_total", &[]), 3.0);
        assert_eq!(h.value("queue_jobs_processed_total", &[]), 3.0);
        assert_eq!(h.value("cache_misses_total", &[]), 3.0);
        assert_eq!(h.value("events_in_flight", &[]), 0.0);
        assert!(h.value("cache_size_bytes", &[]) > 0.0);
        // Each attempt's action ran as a task of its own, under the executor's kinds.
        let succeeded = [("task", "action"), ("outcome", "succeeded")];
        assert_eq!(h.value("alys_task_outcomes_total", &succeeded), 3.0);
        assert_eq!(h.value("alys_task_instrumented_total", &[("task", "worker")]), 2.0);
        let route = [("http_route", "/events"), ("http_response_status_code", "202")];
        assert_eq!(h.value("http_server_request_duration_seconds_count", &route), 1.0);
    });
}

#[test]
fn the_same_input_is_served_from_the_cache_and_the_same_id_is_a_duplicate() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(quick_config());
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        let signup = |id: &str| json!({ "id": id, "type": "user.signup", "entity": "user-7", "payload": {} });
        assert_eq!(post_event(&base, signup("a"), Default::default()).await.0, 202);
        assert_eq!(ended(&executor, "a").await, "succeeded");
        // Another event on the same input: its two actions' results come from the cache.
        let (status, body) = post_event(&base, signup("b"), Default::default()).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(ended(&executor, "b").await, "succeeded");
        let job = executor.job(body["jobs"][1].as_u64().unwrap()).unwrap();
        assert!(job.from_cache, "{job:?}");
        assert_eq!(job.result.as_deref(), Some("user-7 indexed"));
        // The first id again: a duplicate, not processed.
        let (status, body) = post_event(&base, signup("a"), Default::default()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));

        let h = &harness;
        assert_eq!(h.value("cache_hits_total", &[]), 2.0);
        assert_eq!(h.value("cache_misses_total", &[]), 2.0);
        assert_eq!(h.value("cache_hit_rate", &[]), 50.0);
        assert_eq!(h.value("actions_executed_total", &[]), 2.0, "the cache ran nothing");
        assert_eq!(h.value("queue_jobs_processed_total", &[]), 4.0);
        assert_eq!(h.value("dedup_checks_total", &[]), 3.0);
        assert_eq!(h.value("dedup_duplicates_found_total", &[]), 1.0);
        assert!((h.value("dedup_hit_rate", &[]) - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(h.value("events_processed_total", &[]), 2.0);
    });
}

#[test]
fn an_event_no_rule_matches_is_processed_with_nothing_to_run() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(quick_config());
        let (base, _stop) = serve(&harness, &executor).await;
        let (status, body) = post_event(
            &base,
            json!({ "id": "p", "type": "audit.ping" }),
            Default::default(),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("unmatched")));
        assert_eq!(executor.event("p").unwrap().state, "unmatched");
        assert_eq!(
            harness.value("events_processed_total", &[("outcome", "unmatched")]),
            1.0
        );
        assert_eq!(harness.value("queue_jobs_enqueued_total", &[]), 0.0);
        // Not JSON, or no type: refused by the extractor, named.
        let (status, body) = post_event(&base, json!({ "entity": "x" }), Default::default()).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"].as_str().unwrap().contains("type"), "{body}");
    });
}

#[test]
fn failed_attempts_are_retried_with_backoff_then_dead_lettered() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(quick_config());
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        let event = json!({ "id": "bad", "type": "order.shipped", "entity": "order-9",
                            "payload": { "simulate": "fail" } });
        let (status, body) = post_event(&base, event, Default::default()).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(ended(&executor, "bad").await, "dead_lettered");

        let (status, letters) = get_json(&format!("{base}/deadletters")).await;
        assert_eq!(status, 200);
        let letters = letters.as_array().unwrap();
        assert_eq!(letters.len(), 2, "email and webhook: {letters:?}");
        for letter in letters {
            assert_eq!(
                letter["attempts"], 3,
                "one attempt and max_retries 2: {letter}"
            );
            assert_eq!(letter["event_id"], "bad");
        }
        let webhook = letters.iter().find(|l| l["action"] == "webhook").unwrap();
        assert_eq!(
            webhook["reason"],
            "webhook for order-9: subscriber answered HTTP 503"
        );
        let (_, job) = get_json(&format!("{base}/jobs/{}", webhook["job_id"])).await;
        assert_eq!(
            (job["state"].as_str(), job["attempts"].as_u64()),
            (Some("dead_lettered"), Some(3))
        );

        let h = &harness;
        assert_eq!(h.value("actions_executed_total", &[]), 6.0);
        assert_eq!(
            h.value("action_failure_total", &[("action", "webhook")]),
            3.0
        );
        assert_eq!(h.value("action_success_total", &[]), 0.0);
        assert_eq!(h.value("queue_retry_total", &[]), 4.0);
        assert_eq!(h.value("queue_deadletter_total", &[]), 2.0);
        assert_eq!(h.value("queue_jobs_processed_total", &[]), 0.0);
        assert_eq!(
            h.value("events_processed_total", &[("outcome", "dead_lettered")]),
            1.0
        );
        // The retries waited in timers of their own; the failed actions ended as failed tasks.
        let timers = [("task", "retry_timer"), ("outcome", "succeeded")];
        assert_eq!(h.value("alys_task_outcomes_total", &timers), 4.0);
        let failed = [("task", "action"), ("outcome", "failed")];
        assert_eq!(h.value("alys_task_outcomes_total", &failed), 6.0);
        // Nothing failed in the cache: failures are not kept.
        assert_eq!(h.value("cache_hits_total", &[]), 0.0);
    });
}

#[test]
fn a_hanging_action_is_stopped_at_its_timeout_and_its_task_counts_as_cancelled() {
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(ExecutorConfig {
            max_retries: 0,
            action_timeout: Duration::from_millis(30),
            ..quick_config()
        });
        executor.start();
        let (base, _stop) = serve(&harness, &executor).await;
        let event = json!({ "id": "slow", "type": "user.signup", "entity": "user-1",
                            "payload": { "simulate": "timeout" } });
        assert_eq!(post_event(&base, event, Default::default()).await.0, 202);
        assert_eq!(ended(&executor, "slow").await, "dead_lettered");
        let h = &harness;
        assert_eq!(h.value("action_timeout_total", &[("action", "email")]), 1.0);
        assert_eq!(h.value("action_timeout_total", &[]), 2.0);
        assert_eq!(
            h.value("action_failure_total", &[]),
            2.0,
            "a timeout is a failure too"
        );
        let cancelled = [("task", "action"), ("outcome", "cancelled")];
        assert_eq!(h.value("alys_task_outcomes_total", &cancelled), 2.0);
        let slow = h.value("action_duration_ms_sum", &[]);
        assert!(slow >= 60.0, "two attempts of at least 30 ms: {slow}");
        let letter = &executor.dead_letters()[0];
        assert_eq!(letter.reason, "timed out after 30ms");
    });
}

#[test]
fn the_queue_is_bounded_and_a_full_one_refuses_events() {
    let harness = Harness::new();
    runtime().block_on(async {
        // No workers: nothing leaves the queue.
        let executor = harness.executor(ExecutorConfig {
            workers: 0,
            queue_capacity: 4,
            ..quick_config()
        });
        let (base, _stop) = serve(&harness, &executor).await;
        let shipped = |id: &str| json!({ "id": id, "type": "order.shipped", "entity": "order-1" });
        for id in ["q1", "q2"] {
            assert_eq!(
                post_event(&base, shipped(id), Default::default()).await.0,
                202
            );
        }
        assert_eq!(harness.value("queue_depth", &[]), 4.0);
        assert_eq!(harness.value("events_in_flight", &[]), 2.0);
        let response = client()
            .post(format!("{base}/events"))
            .header("content-type", "application/json")
            .body(shipped("q3").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"], "the queue is full: retry later");
        assert_eq!(harness.value("queue_jobs_enqueued_total", &[]), 4.0);
        // A refused event is not kept, and its id is forgotten: sent again, it is refused
        // for the full queue again, not taken for a duplicate.
        assert!(executor.event("q3").is_none());
        assert_eq!(executor.queue_fill(), (4, 4));
        let (status, body) = post_event(&base, shipped("q3"), Default::default()).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(harness.value("dedup_duplicates_found_total", &[]), 0.0);
        let (status, _) = get_json(&format!("{base}/jobs/999")).await;
        assert_eq!(status, 404);
    });
}
