//! Checkpoints: saved while the executor runs and at its stop, read at the next start, whose
//! pending jobs then run to the end in the trace of their event.

use std::collections::HashMap;
use std::time::Duration;

use job_executor::checkpoint::{CheckpointStore, DeadLetter, PendingEvent, PendingJob, Snapshot};
use job_executor::metrics::{ActionKind, RecoveryOutcome};
use serde_json::json;

use super::*;

fn with_checkpoint(path: &std::path::Path) -> ExecutorConfig {
    ExecutorConfig {
        checkpoint_path: Some(path.to_path_buf()),
        checkpoint_interval: Duration::from_millis(20),
        ..quick_config()
    }
}

#[test]
fn jobs_pending_at_a_stop_run_after_the_next_start() {
    let dir = alys_test_support::TempDir::new("job-executor-restart");
    let path = dir.join("checkpoint.json");
    let first = Harness::new();
    let trace_id = runtime().block_on(async {
        // No workers: the event's jobs are still queued when the executor stops.
        let executor = first.executor(ExecutorConfig {
            workers: 0,
            ..with_checkpoint(&path)
        });
        assert_eq!(executor.recover(), RecoveryOutcome::Empty);
        executor.start();
        let (base, _stop) = serve(&first, &executor).await;
        let event = json!({ "id": "r1", "type": "order.created", "entity": "order-5" });
        let (status, body) = post_event(&base, event, Default::default()).await;
        assert_eq!(status, 202, "{body}");
        // The checkpointer saves on its own, every interval.
        alys_test_support::wait_until_async("periodic saves", Duration::from_secs(5), || {
            first.value("checkpoint_saves_total", &[]) >= 2.0
        })
        .await;
        executor.shutdown(Duration::from_millis(100)).await;
        body["trace_id"].as_str().unwrap().to_string()
    });
    assert_eq!(
        first.value("checkpoint_recovery_total", &[("outcome", "empty")]),
        1.0
    );
    assert!(
        first.value("checkpoint_save_duration_ms_count", &[]) >= 3.0,
        "and one at the stop"
    );
    let saved = CheckpointStore::new(&path).load().unwrap().unwrap();
    assert_eq!(saved.jobs.len(), 3, "{saved:?}");
    assert_eq!(saved.events[0].id, "r1");
    assert!(saved.events[0].trace["traceparent"].contains(&trace_id));

    let second = Harness::new();
    runtime().block_on(async {
        let executor = second.executor(with_checkpoint(&path));
        assert_eq!(executor.recover(), RecoveryOutcome::Restored);
        executor.start();
        assert_eq!(ended(&executor, "r1").await, "succeeded");
        assert_eq!(
            executor.event("r1").unwrap().trace_id.as_deref(),
            Some(trace_id.as_str())
        );
        executor.shutdown(Duration::from_millis(100)).await;
    });
    let h = &second;
    assert_eq!(
        h.value("checkpoint_recovery_total", &[("outcome", "restored")]),
        1.0
    );
    assert_eq!(
        h.value("queue_jobs_enqueued_total", &[]),
        3.0,
        "the recovered jobs"
    );
    assert_eq!(h.value("queue_jobs_processed_total", &[]), 3.0);
    assert_eq!(
        h.value("events_processed_total", &[("outcome", "succeeded")]),
        1.0
    );
    // The attempts after the restart are in the event's trace.
    let spans = h.finished();
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("action "))
        .collect();
    assert_eq!(attempts.len(), 3);
    for attempt in attempts {
        assert_eq!(attempt.span_context.trace_id().to_string(), trace_id);
    }
    let after = CheckpointStore::new(&path).load().unwrap().unwrap();
    assert!(
        after.jobs.is_empty() && after.events.is_empty(),
        "{after:?}"
    );
}

#[test]
fn a_checkpoint_keeps_attempts_so_far_and_the_dead_letters() {
    let dir = alys_test_support::TempDir::new("job-executor-recover");
    let path = dir.join("checkpoint.json");
    let letter = DeadLetter {
        job_id: 3,
        event_id: "old".into(),
        event_type: "order.cancelled".into(),
        entity: "order-1".into(),
        action: ActionKind::Payment,
        attempts: 4,
        reason: "payment for order-1: processor declined".into(),
        dead_lettered_at_ms: 1,
        trace_id: String::new(),
    };
    let snapshot = Snapshot {
        version: job_executor::checkpoint::VERSION,
        saved_at_ms: 1,
        next_job: 10,
        events: vec![PendingEvent {
            id: "e9".into(),
            event_type: "order.shipped".into(),
            entity: "order-9".into(),
            payload: json!({ "simulate": "fail" }),
            accepted_at_ms: 1,
            jobs: vec![8, 9],
            dead_lettered: false,
            trace: HashMap::new(),
        }],
        // Job 8 had ended before the checkpoint; job 9 had failed twice.
        jobs: vec![PendingJob {
            id: 9,
            event_id: "e9".into(),
            action: ActionKind::Webhook,
            attempts: 2,
            last_error: Some("HTTP 503".into()),
        }],
        dead_letters: vec![letter.clone()],
    };
    CheckpointStore::new(&path).save(&snapshot).unwrap();
    let harness = Harness::new();
    runtime().block_on(async {
        let executor = harness.executor(with_checkpoint(&path));
        assert_eq!(executor.recover(), RecoveryOutcome::Restored);
        executor.start();
        // max_retries 2: the recovered job has one attempt left, which fails.
        assert_eq!(ended(&executor, "e9").await, "dead_lettered");
        let letters = executor.dead_letters();
        assert_eq!(letters[0], letter);
        assert_eq!((letters[1].job_id, letters[1].attempts), (9, 3));
        // New jobs continue after the checkpoint's ids.
        let (base, _stop) = serve(&harness, &executor).await;
        let event = json!({ "type": "user.signup", "entity": "user-3" });
        let (_, body) = post_event(&base, event, Default::default()).await;
        assert_eq!(body["jobs"], json!([10, 11]));
        executor.shutdown(Duration::from_millis(100)).await;
    });
    assert_eq!(
        harness.value("actions_executed_total", &[("action", "webhook")]),
        1.0
    );
    assert_eq!(harness.value("queue_retry_total", &[]), 0.0);
}

#[test]
fn an_unreadable_checkpoint_is_moved_aside_and_the_executor_starts_empty() {
    let dir = alys_test_support::TempDir::new("job-executor-unreadable");
    let path = dir.join("checkpoint.json");
    std::fs::write(&path, "{ half a checkpoint").unwrap();
    let harness = Harness::new();
    let executor = harness.executor(with_checkpoint(&path));
    assert_eq!(executor.recover(), RecoveryOutcome::Unreadable);
    assert_eq!(
        harness.value("checkpoint_recovery_total", &[("outcome", "unreadable")]),
        1.0
    );
    assert!(!path.exists());
    let aside = dir.join("checkpoint.json.unreadable");
    assert_eq!(
        std::fs::read_to_string(aside).unwrap(),
        "{ half a checkpoint"
    );
}
