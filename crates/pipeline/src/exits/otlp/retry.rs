//! Retries through a collector outage. opentelemetry-otlp retries a failed export itself,
//! with exponential backoff and jitter, on the failures the OTLP specification calls
//! retryable (gRPC UNAVAILABLE, CANCELLED, ABORTED, OUT_OF_RANGE, DATA_LOSS, DEADLINE_EXCEEDED,
//! and RESOURCE_EXHAUSTED when the server sends RetryInfo; HTTP 429, 502, 503, 504 and a
//! failed connection), waiting at least what Retry-After or RetryInfo asks (capped at 30 s).
//! It stops when a time budget, the exporter's `timeout`, has passed. So that budget is our
//! outage budget, and the time one attempt may take (`push.timeout_ms`) is set where the
//! transport is built: on the gRPC channel, and on the HTTP client.
//!
//! The retries run on the batch processor's thread, so while a batch waits, what is produced
//! meanwhile waits in the queue behind it ([`Backlog`](super::Backlog) bounds it). A stop does
//! not wait for them: each processor's shutdown is bounded by `shutdown.timeout_ms`.

use std::time::Duration;

use opentelemetry_otlp::{ExporterBuildError, RetryPolicy};
use tonic::transport::{Channel, Endpoint};

use alys_telemetry_config::{EndpointUrl, PushConfig};

/// The first wait after a failure; it doubles up to [`MAX_DELAY`].
const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two attempts: a collector back from an outage receives what
/// waited within this (plus jitter).
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Up to this is added to each wait, so that nodes restarted together do not retry together.
pub const MAX_JITTER: Duration = Duration::from_millis(100);

/// How an exporter retries, and for how long.
#[derive(Debug, Clone)]
pub(crate) struct Retries {
    pub policy: RetryPolicy,
    /// The exporter's `timeout`: opentelemetry-otlp starts no attempt past it.
    pub deadline: Duration,
}

impl Retries {
    /// Retries for `push.outage_budget`; none when it is zero.
    pub(crate) fn for_push(push: &PushConfig) -> Retries {
        if push.outage_budget.is_zero() {
            return Retries {
                policy: RetryPolicy::disabled(),
                deadline: push.timeout,
            };
        }
        Retries {
            policy: RetryPolicy::recommended()
                // Bounded by the deadline, not by a count: an outage of the budget's length
                // takes as many attempts as the backoff makes in it.
                .with_max_retries(usize::MAX)
                .with_initial_delay(INITIAL_DELAY)
                .with_max_delay(MAX_DELAY)
                .with_max_jitter(MAX_JITTER),
            // opentelemetry-otlp gives up once the next wait would pass its deadline, so the
            // deadline is the budget plus one wait: an outage that ends within the budget is
            // always followed by one more attempt.
            deadline: push.outage_budget + MAX_DELAY + MAX_JITTER,
        }
    }
}

/// Whether a failed export gave up on the budget (it kept failing for about that long), or
/// was refused by an error a retry cannot mend (it returned sooner).
pub(crate) fn spent_the_budget(elapsed: Duration, budget: Duration) -> bool {
    // A retried export returns once less than one wait (at most MAX_DELAY plus jitter) is
    // left before the deadline, which is at least budget + MAX_DELAY + MAX_JITTER.
    elapsed + MAX_JITTER >= budget
}

/// The gRPC channel, each call bounded by `push.timeout` (one attempt, not the retries).
pub(crate) fn grpc_channel(
    endpoint: &EndpointUrl,
    push: &PushConfig,
) -> Result<Channel, ExporterBuildError> {
    let endpoint = Endpoint::from_shared(endpoint.as_str().to_string()).map_err(|e| {
        ExporterBuildError::InvalidConfiguration(format!("not a gRPC endpoint: {e}"))
    })?;
    if endpoint
        .uri()
        .scheme()
        .is_some_and(|s| *s == tonic::codegen::http::uri::Scheme::HTTPS)
    {
        // As opentelemetry-otlp itself answers without a TLS feature: we enable none for
        // the exporters (the collector beside a node is reached in plain text).
        return Err(ExporterBuildError::InvalidConfiguration(
            "an https:// endpoint needs TLS, which this build's OTLP exporter does not have".into(),
        ));
    }
    Ok(endpoint.timeout(push.timeout).connect_lazy())
}

/// The blocking HTTP client, each request bounded by `push.timeout`. Built on a thread of
/// its own: reqwest's blocking client must not be built (or dropped) inside a runtime.
pub(crate) fn http_client(
    push: &PushConfig,
) -> Result<reqwest::blocking::Client, ExporterBuildError> {
    let timeout = push.timeout;
    std::thread::Builder::new()
        .name("otlp-http-client".into())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .map_err(|e| ExporterBuildError::InternalFailure(format!("cannot spawn a thread: {e}")))?
        .join()
        .map_err(|_| {
            ExporterBuildError::InternalFailure("building the HTTP client panicked".into())
        })?
        .map_err(|e| {
            ExporterBuildError::InternalFailure(format!("cannot build the HTTP client: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alys_telemetry_config::TelemetryConfig;

    fn push(budget_ms: u64) -> PushConfig {
        let mut push = TelemetryConfig::default().push;
        push.outage_budget = Duration::from_millis(budget_ms);
        push
    }

    #[test]
    fn a_budget_of_zero_makes_one_attempt_bounded_by_the_timeout() {
        let retries = Retries::for_push(&push(0));
        assert_eq!(retries.deadline, push(0).timeout);
        assert!(format!("{:?}", retries.policy).contains("max_retries: 0"));
    }

    #[test]
    fn the_deadline_leaves_one_attempt_after_an_outage_of_the_budget() {
        let retries = Retries::for_push(&push(30_000));
        assert_eq!(retries.deadline, Duration::from_millis(35_100));
    }

    #[test]
    fn a_failure_after_the_budget_spent_it_and_a_quick_one_was_refused() {
        let budget = Duration::from_secs(30);
        assert!(spent_the_budget(Duration::from_millis(29_950), budget));
        assert!(spent_the_budget(Duration::from_secs(34), budget));
        assert!(!spent_the_budget(Duration::from_millis(20), budget));
        assert!(spent_the_budget(Duration::ZERO, Duration::ZERO));
    }
}
