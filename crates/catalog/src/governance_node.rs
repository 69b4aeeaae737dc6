//! The governance node's own metrics (`alys-telemetry governance-server`, a program of the
//! `alys-node` package): what it answered and whom it refused.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::instruments::{Counter, CounterVec, Gauge};
use crate::labels::Outcome;
use crate::{LabelValue, MetricFamily};

/// The governance node's instruments.
#[derive(MetricFamily)]
#[family(title = "governance node", crate = crate)]
pub struct GovernanceNodeMetrics {
    /// Signature requests a governance node answered, by outcome
    #[metric(
        name = "alys_governance_server_requests_total",
        labels(outcome),
        why = "the governance dashboard shows the node's answers next to the client's view"
    )]
    pub requests: CounterVec<Outcome>,
    /// Streams a governance node refused for a missing or wrong token
    #[metric(
        name = "alys_governance_server_auth_failures_total",
        why = "a node presenting a wrong token shows here, never its token"
    )]
    pub auth_failures: Counter,
    /// Tracked node messages a governance node did not act on: re-sent duplicates and work past its deadline
    #[metric(
        name = "alys_governance_server_messages_skipped_total",
        labels(reason),
        why = "a re-sent message is recognised by its id and processed once; late work is refused"
    )]
    pub skipped: CounterVec<SkipReason>,
    /// Node streams a governance node holds open
    #[metric(
        name = "alys_governance_server_streams",
        start = zero,
        why = "the governance dashboard shows how many nodes are connected"
    )]
    streams: Gauge,
    open: AtomicI64,
}

/// Why a governance node skipped a node message (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum SkipReason {
    /// Its id was received before (the node re-sent it after a reconnect).
    Duplicate,
    /// Its deadline had passed: nobody waits for the answer.
    Expired,
}

impl GovernanceNodeMetrics {
    /// A stream opened (`+1`) or closed (`-1`).
    pub fn stream_delta(&self, delta: i64) {
        let now = self.open.fetch_add(delta, Ordering::Relaxed) + delta;
        self.streams.set(now.max(0) as f64);
    }
}
