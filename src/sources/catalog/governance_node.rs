//! The governance node's own metrics (`alys-telemetry governance-server`, a program of the
//! `alys-node` package): what it answered and whom it refused.

use std::sync::atomic::{AtomicI64, Ordering};

use super::family::metric_family;
use super::labels::{Outcome, label_enum};

metric_family! {
    /// The governance node's instruments.
    pub struct GovernanceNodeMetrics, "governance node" {
        /// Signature requests a governance node answered, by outcome
        pub requests: counter("alys_governance_server_requests_total") {
            labels: { outcome: Outcome },
            why: "the governance dashboard shows the node's answers next to the client's view",
        },
        /// Streams a governance node refused for a missing or wrong token
        pub auth_failures: counter("alys_governance_server_auth_failures_total") {
            why: "a node presenting a wrong token shows here, never its token",
        },
        /// Tracked node messages a governance node did not act on: re-sent duplicates and work past its deadline
        pub skipped: counter("alys_governance_server_messages_skipped_total") {
            labels: { reason: SkipReason },
            why: "a re-sent message is recognised by its id and processed once; late work is refused",
        },
        /// Node streams a governance node holds open
        streams: gauge("alys_governance_server_streams") {
            start: zero,
            why: "the governance dashboard shows how many nodes are connected",
        },
    }
    state {
        open: AtomicI64 = AtomicI64::new(0),
    }
}

label_enum! {
    /// Why a governance node skipped a node message (`reason`).
    pub enum SkipReason {
        /// Its id was received before (the node re-sent it after a reconnect).
        Duplicate => "duplicate",
        /// Its deadline had passed: nobody waits for the answer.
        Expired => "expired",
    }
}

impl GovernanceNodeMetrics {
    /// A stream opened (`+1`) or closed (`-1`).
    pub fn stream_delta(&self, delta: i64) {
        let now = self.open.fetch_add(delta, Ordering::Relaxed) + delta;
        self.streams.set(now.max(0) as f64);
    }
}
