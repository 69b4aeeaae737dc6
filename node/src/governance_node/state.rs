//! What the service, the tickers and the handle share: the open streams, the counters the
//! handle reports, and federation updates.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use opentelemetry::metrics::Meter;
use tokio::sync::{mpsc, oneshot};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::ServerConfig;
use super::sessions::{JournalError, Sessions};
use alys_telemetry::sources::catalog::governance_node::GovernanceNodeMetrics;
use alys_telemetry::sources::governance::proto::governance_message::Payload;
use alys_telemetry::sources::governance::proto::{FederationUpdate, GovernanceMessage};
use alys_telemetry::sources::governance::{Token, propagation};
use alys_telemetry::sources::throttle::Throttle;

/// How many request ids [`super::ServerHandle::requests_seen`] keeps.
const SEEN_LIMIT: usize = 10_000;
/// At most one line per interval for each repeated warning.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// A lock that survives a panicked holder: every guarded value stays consistent between
/// statements, so the data is still good.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One open stream, as the rest of the server reaches it.
pub(super) struct StreamEntry {
    pub(super) tx: mpsc::Sender<GovernanceMessage>,
    pub(super) stop_reader: oneshot::Sender<()>,
    pub(super) stop_outbound: oneshot::Sender<()>,
}

/// State shared by the service, the tickers and the handle.
pub(super) struct Shared {
    pub(super) token: Option<Token>,
    pub(super) latency: Duration,
    pub(super) error_rate: f64,
    pub(super) metrics: GovernanceNodeMetrics,
    pub(super) streams: Mutex<HashMap<u64, StreamEntry>>,
    pub(super) next_stream: AtomicU64,
    pub(super) closing: AtomicBool,
    pub(super) seen: Mutex<VecDeque<String>>,
    pub(super) received: AtomicU64,
    pub(super) federation_version: AtomicU64,
    /// What each node session has sent, for receipts and duplicates.
    pub(super) sessions: Mutex<Sessions>,
    pub(super) warnings: Warnings,
}

/// The rate limits of the governance node's repeated warnings.
pub(super) struct Warnings {
    pub(super) unknown: Throttle,
    pub(super) not_reading: Throttle,
}

impl Shared {
    pub(super) fn new(config: &ServerConfig, meter: &Meter) -> Result<Shared, JournalError> {
        Ok(Shared {
            token: config.token.clone(),
            latency: config.latency,
            error_rate: config.error_rate,
            metrics: GovernanceNodeMetrics::new(meter),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            seen: Mutex::new(VecDeque::new()),
            received: AtomicU64::new(0),
            federation_version: AtomicU64::new(0),
            sessions: Mutex::new(Sessions::open(config.journal.as_deref())?),
            warnings: Warnings {
                unknown: Throttle::new(WARN_INTERVAL),
                not_reading: Throttle::new(WARN_INTERVAL),
            },
        })
    }

    pub(super) fn record_seen(&self, request_id: &str) {
        let mut seen = lock(&self.seen);
        if seen.len() >= SEEN_LIMIT {
            seen.pop_front();
        }
        seen.push_back(request_id.to_string());
    }

    pub(super) fn drop_streams(&self) {
        let dropped: Vec<StreamEntry> = lock(&self.streams)
            .drain()
            .map(|(_, entry)| entry)
            .collect();
        if dropped.is_empty() {
            return;
        }
        tracing::info!(streams = dropped.len(), "dropping every open stream");
        for entry in dropped {
            let _ = entry.stop_outbound.send(());
            let _ = entry.stop_reader.send(());
        }
    }

    /// Queues `message` on every open stream; returns how many took it.
    pub(super) fn broadcast(&self, message: GovernanceMessage) -> usize {
        // Senders are cloned out so no stream's queue is touched under the lock.
        let senders: Vec<_> = lock(&self.streams).values().map(|e| e.tx.clone()).collect();
        let mut reached = 0;
        for tx in senders {
            match tx.try_send(message.clone()) {
                Ok(()) => reached += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if let Some(occurrences) = self.warnings.not_reading.occurred() {
                        tracing::warn!(
                            occurrences,
                            "a node is not reading its stream; skipped broadcast messages for it"
                        );
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        reached
    }

    pub(super) fn push_federation_update(&self) {
        let version = self.federation_version.fetch_add(1, Ordering::Relaxed) + 1;
        let count = fastrand::u64(3..6);
        let members: Vec<String> = (1..=count).map(|n| format!("member-{n}")).collect();
        let span = tracing::info_span!(
            parent: None,
            "governance_node.federation_update",
            otel.name = "governance_node.federation_update",
            message_type = "federation_update",
            version,
            streams = tracing::field::Empty,
        );
        let _entered = span.enter();
        let message = GovernanceMessage {
            trace_context: propagation::inject(&span.context()),
            payload: Some(Payload::FederationUpdate(FederationUpdate {
                version,
                members,
            })),
        };
        let reached = self.broadcast(message);
        span.record("streams", reached);
        tracing::debug!(
            version,
            members = count,
            streams = reached,
            "pushed a federation update"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_list_keeps_the_newest_in_order() {
        let meter = opentelemetry::global::meter("test");
        let shared = Shared::new(&ServerConfig::default(), &meter).unwrap();
        for i in 0..SEEN_LIMIT + 5 {
            shared.record_seen(&i.to_string());
        }
        let seen = lock(&shared.seen);
        assert_eq!(seen.len(), SEEN_LIMIT);
        assert_eq!(seen.front().map(String::as_str), Some("5"));
        assert_eq!(
            seen.back().map(String::as_str),
            Some((SEEN_LIMIT + 4).to_string().as_str())
        );
    }
}
