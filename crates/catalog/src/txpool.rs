//! The transaction pool: what it holds, what it accepts and refuses, and a health score
//! derived from both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::instruments::{Counter, CounterVec, Gauge, GaugeVec};
use crate::rate::{PeriodGate, WindowedRate};
use crate::{LabelValue, MetricFamily};

/// The name the Alys transaction pool dashboard and alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys transaction pool dashboard and alert rules query";

/// The transaction pool family's instruments and the window its derived gauges need.
/// Build once at start-up, with [`with_capacity`](Self::with_capacity).
#[derive(MetricFamily)]
#[family(title = "transaction pool", crate = crate)]
pub struct TxPoolMetrics {
    /// Transactions in the pool
    #[metric(
        name = "alys_txpool_size",
        start = absent("the TransactionPoolFull alert reads the size; it is unknown until the pool reports"),
        why = DASHBOARD_NAME
    )]
    size: Gauge,
    /// Transactions in the pool by state (pending: executable now; queued: waiting on a nonce gap)
    #[metric(
        name = "alys_txpool_transactions",
        labels(state),
        start = absent("unknown until the pool reports its contents"),
        why = "operators tell a pool stuck on nonce gaps (queued) from a busy one (pending)"
    )]
    by_state: GaugeVec<TxPoolState>,
    /// Transactions the pool accepted
    #[metric(name = "alys_txpool_processed_total", why = DASHBOARD_NAME)]
    processed: Counter,
    /// Transactions accepted over the last 60 s, per second
    #[metric(
        name = "alys_txpool_processed_per_second",
        start = zero,
        why = "the pool dashboard shows the processing rate without a PromQL rate()"
    )]
    processed_rate: Gauge,
    /// Transactions the pool refused, by reason
    #[metric(name = "alys_txpool_rejections_total", labels(reason), why = DASHBOARD_NAME)]
    rejections: CounterVec<TransactionRejectionReason>,
    /// Pool health from 0 to 1: utilisation and rejection ratio, equally weighted
    #[metric(
        name = "alys_txpool_health_score",
        start = absent("a score is computed from the pool's first report"),
        why = "the overview dashboard shows one health figure for the pool"
    )]
    health: Gauge,
    #[state(init = 1)]
    capacity: u64,
    #[state(init = Window {
        accepted: WindowedRate::new(RATE_WINDOW),
        rejected: WindowedRate::new(RATE_WINDOW),
        size: AtomicU64::new(0),
        refresh: PeriodGate::new(REFRESH_PERIOD),
    })]
    window: Window,
}

/// Why the transaction pool refused a transaction: the twelve reasons the Alys pool
/// reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum TransactionRejectionReason {
    InsufficientFee,
    InvalidNonce,
    InsufficientBalance,
    GasLimitExceeded,
    InvalidSignature,
    AccountNotFound,
    PoolFull,
    DuplicateTransaction,
    InvalidTransaction,
    NetworkCongestion,
    RateLimited,
    Other,
}

/// Where a transaction waits in the pool (`state` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum TxPoolState {
    Pending,
    Queued,
}

/// The window of the processing rate and the rejection ratio.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// How often records refresh the derived gauges (the rate window's slot).
const REFRESH_PERIOD: Duration = Duration::from_secs(1);

/// What the derived gauges are computed from: atomics, so that recording takes no lock
/// (two threads recording through one mutex took 221 ns a call).
struct Window {
    accepted: WindowedRate,
    rejected: WindowedRate,
    size: AtomicU64,
    refresh: PeriodGate,
}

/// Pool health in 0..=1 from utilisation (size / capacity) and the rejection ratio
/// (rejected / offered, over the rate window).
///
/// The score the Alys pool first used had cliffs (it jumped from 0.6 to 0.1 at 80 %
/// utilisation and from 0.5 to 0.1 at 5 % rejections) and never reached 0. This keeps its
/// slopes below those thresholds and falls linearly to 0 above them: at a full pool, or at
/// 10 % rejections.
pub fn health_score(utilization: f64, rejection_ratio: f64) -> f64 {
    let u = clamp_unit(utilization);
    let r = clamp_unit(rejection_ratio);
    let utilization_score = if u < 0.8 {
        1.0 - 0.5 * u
    } else {
        0.6 * (1.0 - u) / 0.2
    };
    let rejection_score = if r < 0.05 {
        1.0 - 10.0 * r
    } else {
        (0.5 * (0.10 - r) / 0.05).max(0.0)
    };
    (utilization_score + rejection_score) / 2.0
}

fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() { 1.0 } else { x.clamp(0.0, 1.0) }
}

impl TxPoolMetrics {
    /// The family's instruments for a pool holding at most `capacity` transactions (for
    /// utilisation).
    pub fn with_capacity(meter: &opentelemetry::metrics::Meter, capacity: u64) -> Self {
        TxPoolMetrics {
            capacity: capacity.max(1),
            ..Self::new(meter)
        }
    }

    /// `n` transactions accepted at `now`. Lock-free: a counter, a window slot, and the
    /// derived gauges refreshed at most once a second.
    pub fn accepted(&self, n: u64, now: Instant) {
        self.processed.add(n);
        self.window.accepted.record(now, n);
        if self.window.refresh.due(now) {
            self.refresh(now);
        }
    }

    /// A transaction refused for `reason` at `now`; lock-free like [`accepted`](Self::accepted).
    pub fn rejected(&self, reason: TransactionRejectionReason, now: Instant) {
        self.rejections.add(reason, 1);
        self.window.rejected.record(now, 1);
        if self.window.refresh.due(now) {
            self.refresh(now);
        }
    }

    /// The pool's content now.
    pub fn set_contents(&self, pending: u64, queued: u64, now: Instant) {
        self.by_state.set(TxPoolState::Pending, pending as f64);
        self.by_state.set(TxPoolState::Queued, queued as f64);
        self.size.set((pending + queued) as f64);
        self.window.size.store(pending + queued, Ordering::Relaxed);
        self.refresh(now);
    }

    fn refresh(&self, now: Instant) {
        let w = &self.window;
        let accepted = w.accepted.per_second(now);
        let rejected = w.rejected.per_second(now);
        let offered = accepted + rejected;
        let rejection_ratio = if offered > 0.0 {
            rejected / offered
        } else {
            0.0
        };
        self.processed_rate.set(accepted);
        self.health.set(health_score(
            w.size.load(Ordering::Relaxed) as f64 / self.capacity as f64,
            rejection_ratio,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::LabelValues;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn health_score_against_hand_computed_values() {
        assert!(close(health_score(0.0, 0.0), 1.0));
        // Half full, no rejections: (0.75 + 1.0) / 2.
        assert!(close(health_score(0.5, 0.0), 0.875));
        // 20 % full, 2 % rejected: (0.9 + 0.8) / 2.
        assert!(close(health_score(0.2, 0.02), 0.85));
        // At the thresholds the score is continuous: 0.6 and 0.5.
        assert!(close(health_score(0.8, 0.05), 0.55));
        assert!(close(health_score(0.7999999999, 0.0499999999), 0.55));
        // 90 % full, 7.5 % rejected: (0.3 + 0.25) / 2.
        assert!(close(health_score(0.9, 0.075), 0.275));
        // A full pool rejecting everything is 0, not the old score's floor of 0.1.
        assert!(close(health_score(1.0, 1.0), 0.0));
        assert!(
            close(health_score(f64::NAN, 0.0), 0.5),
            "NaN reads as the worst case"
        );
    }

    #[test]
    fn the_pool_reports_twelve_rejection_reasons() {
        assert_eq!(TransactionRejectionReason::COUNT, 12);
    }
}
