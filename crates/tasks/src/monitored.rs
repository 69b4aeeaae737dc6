//! A future measured as a task: tokio-metrics' instrumented future, and its outcome counted
//! once, when it completes or is dropped before it does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use alys_telemetry_catalog::tasks::TaskOutcome;
use pin_project_lite::pin_project;

/// How a task's output says it ended: `Ok` succeeded and `Err` failed; a value that is not a
/// `Result` succeeded.
pub trait TaskResult {
    fn outcome(&self) -> TaskOutcome;
}

impl<T, E> TaskResult for Result<T, E> {
    fn outcome(&self) -> TaskOutcome {
        match self {
            Ok(_) => TaskOutcome::Succeeded,
            Err(_) => TaskOutcome::Failed,
        }
    }
}

impl TaskResult for () {
    fn outcome(&self) -> TaskOutcome {
        TaskOutcome::Succeeded
    }
}

type Record = Box<dyn FnOnce(TaskOutcome) + Send + Sync>;

pin_project! {
    /// A future measured as a task of some kind (made by `TaskMonitor::instrument`).
    pub struct Monitored<F> {
        #[pin]
        future: tokio_metrics::Instrumented<F>,
        // Taken when the outcome is counted, so that it is counted once.
        record: Option<Record>,
    }

    impl<F> PinnedDrop for Monitored<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(record) = this.project().record.take() {
                record(TaskOutcome::Cancelled);
            }
        }
    }
}

impl<F> Monitored<F> {
    pub(crate) fn new(
        future: tokio_metrics::Instrumented<F>,
        record: impl FnOnce(TaskOutcome) + Send + Sync + 'static,
    ) -> Self {
        Monitored {
            future,
            record: Some(Box::new(record)),
        }
    }
}

impl<F> Future for Monitored<F>
where
    F: Future,
    F::Output: TaskResult,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = std::task::ready!(this.future.poll(cx));
        if let Some(record) = this.record.take() {
            record(output.outcome());
        }
        Poll::Ready(output)
    }
}
