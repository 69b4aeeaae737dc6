//! Tests that own a process global (the `tracing` subscriber, the trace policy, the
//! OpenTelemetry providers) live in the shared test binaries inside `rusty_fork_test!`, which
//! runs each in a process of its own. Its test functions cannot be `async`: these run their
//! bodies as `#[tokio::test]` would.

use std::future::Future;

/// Runs `test` on a current-thread runtime, as `#[tokio::test]` does.
pub fn block_on<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(test)
}

/// Runs `test` on a runtime of `workers` threads, as
/// `#[tokio::test(flavor = "multi_thread", worker_threads = workers)]` does.
pub fn block_on_workers<F: Future>(workers: usize, test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a multi-thread runtime")
        .block_on(test)
}
