//! Instrumented tasks: each kind of a service's tasks counted by how it ended, and its polls,
//! busy time and scheduling delay read from tokio-metrics at collection.

use std::time::{Duration, Instant};

use alys_telemetry::sources::catalog::LabelValue;
use alys_telemetry::sources::tasks::TaskMonitor;
use alys_test_support::sample_sum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
enum Job {
    Index,
    Compact,
}

fn outcome(text: &str, task: &str, outcome: &str) -> Option<f64> {
    sample_sum(
        text,
        "alys_task_outcomes_total",
        &[("task", task), ("outcome", outcome)],
    )
}

#[test]
fn each_kind_of_task_is_counted_by_how_it_ended_and_how_it_ran() {
    let registry = alys_test_support::metrics::Registry::new();
    let tasks = TaskMonitor::<Job>::new(&registry.meter());
    let before = registry.text();
    for (task, ended) in [("index", "succeeded"), ("compact", "cancelled")] {
        assert_eq!(outcome(&before, task, ended), Some(0.0), "{before}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let yielded = tasks.spawn(Job::Index, async {
            tokio::task::yield_now().await;
            Ok::<_, String>(1)
        });
        assert_eq!(yielded.await.unwrap(), Ok(1));
        let failed = tasks.spawn(Job::Index, async { Err::<(), _>("bad input") });
        assert_eq!(failed.await.unwrap(), Err("bad input"));
        let stuck = tasks.spawn(Job::Compact, std::future::pending::<()>());
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
        // Busy for at least 20 ms inside one poll.
        tasks
            .instrument(Job::Compact, async {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(20) {
                    std::hint::spin_loop();
                }
            })
            .await;
    });
    let text = registry.text();
    assert_eq!(outcome(&text, "index", "succeeded"), Some(1.0), "{text}");
    assert_eq!(outcome(&text, "index", "failed"), Some(1.0), "{text}");
    assert_eq!(outcome(&text, "compact", "cancelled"), Some(1.0), "{text}");
    assert_eq!(outcome(&text, "compact", "succeeded"), Some(1.0), "{text}");
    let index = [("task", "index")];
    let compact = [("task", "compact")];
    assert_eq!(
        sample_sum(&text, "alys_task_instrumented_total", &index),
        Some(2.0)
    );
    // The yielding task was polled twice, the failing one once.
    let polls = sample_sum(&text, "alys_task_polls_total", &index).unwrap();
    assert!(polls >= 3.0, "{polls} polls\n{text}");
    let busy = sample_sum(&text, "alys_task_busy_seconds_total", &compact).unwrap();
    assert!(busy >= 0.02, "{busy} s busy\n{text}");
    for name in [
        "alys_task_scheduled_seconds_total",
        "alys_task_first_poll_delay_seconds_total",
    ] {
        let seconds = sample_sum(&text, name, &index).unwrap();
        assert!(seconds >= 0.0, "{name}: {seconds}\n{text}");
    }
}
