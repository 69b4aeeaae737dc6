//! The transaction pool (seed 000, seed 001 phase 3).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;

use super::MetricDef;
use super::instruments::{CounterVec, GaugeVec};
use super::labels::{TransactionRejectionReason, TxPoolState};
use super::rate::WindowedRate;

const SEED: &str = "seed 000 (txpool), seed 001 phase 3";

pub const SIZE: MetricDef =
    MetricDef::gauge("alys_txpool_size", "", "Transactions in the pool", &[]).from(SEED);
pub const TRANSACTIONS: MetricDef = MetricDef::gauge(
    "alys_txpool_transactions",
    "",
    "Transactions in the pool by state (pending: executable now; queued: waiting on a nonce gap)",
    &["state"],
)
.from("seed 001 phase 3 (pending/queued)");
pub const PROCESSED: MetricDef = MetricDef::counter(
    "alys_txpool_processed_total",
    "",
    "Transactions the pool accepted",
    &[],
)
.from(SEED);
pub const PROCESSED_PER_SECOND: MetricDef = MetricDef::gauge(
    "alys_txpool_processed_per_second",
    "",
    "Transactions accepted over the last 60 s, per second",
    &[],
)
.from("seed 001 phase 3 (processing rate)");
pub const REJECTIONS: MetricDef = MetricDef::counter(
    "alys_txpool_rejections_total",
    "",
    "Transactions the pool refused, by reason",
    &["reason"],
)
.from(SEED);
pub const HEALTH_SCORE: MetricDef = MetricDef::gauge(
    "alys_txpool_health_score",
    "",
    "Pool health from 0 to 1: utilisation and rejection ratio, equally weighted",
    &[],
)
.from("seed 001 phase 3 (pool health score)");

pub const ALL: &[MetricDef] = &[
    SIZE,
    TRANSACTIONS,
    PROCESSED,
    PROCESSED_PER_SECOND,
    REJECTIONS,
    HEALTH_SCORE,
];

pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Pool health in 0..=1 from utilisation (size / capacity) and the rejection ratio
/// (rejected / offered, over the rate window).
///
/// The seed's score has cliffs (it jumps from 0.6 to 0.1 at 80 % utilisation and from 0.5 to
/// 0.1 at 5 % rejections) and never reaches 0. This keeps its slopes below those thresholds
/// and falls linearly to 0 above them: at a full pool, or at 10 % rejections.
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

/// The transaction pool family's instruments.
pub struct TxPoolMetrics {
    capacity: u64,
    size: GaugeVec<()>,
    by_state: GaugeVec<TxPoolState>,
    processed: CounterVec<()>,
    processed_rate_gauge: GaugeVec<()>,
    rejections: CounterVec<TransactionRejectionReason>,
    health: GaugeVec<()>,
    window: Mutex<Window>,
}

struct Window {
    accepted: WindowedRate,
    rejected: WindowedRate,
    size: u64,
}

impl TxPoolMetrics {
    /// `capacity`: the pool's maximum size, for utilisation.
    pub fn new(meter: &Meter, capacity: u64) -> Self {
        TxPoolMetrics {
            capacity: capacity.max(1),
            size: GaugeVec::new(&SIZE, meter),
            by_state: GaugeVec::new(&TRANSACTIONS, meter),
            processed: CounterVec::new(&PROCESSED, meter),
            processed_rate_gauge: GaugeVec::new(&PROCESSED_PER_SECOND, meter),
            rejections: CounterVec::new(&REJECTIONS, meter),
            health: GaugeVec::new(&HEALTH_SCORE, meter),
            window: Mutex::new(Window {
                accepted: WindowedRate::new(RATE_WINDOW),
                rejected: WindowedRate::new(RATE_WINDOW),
                size: 0,
            }),
        }
    }

    pub fn accepted(&self, n: u64, now: Instant) {
        self.processed.add((), n);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.accepted.record(now, n);
        self.refresh(&mut w, now);
    }

    pub fn rejected(&self, reason: TransactionRejectionReason, now: Instant) {
        self.rejections.add(reason, 1);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.rejected.record(now, 1);
        self.refresh(&mut w, now);
    }

    /// The pool's content now.
    pub fn set_contents(&self, pending: u64, queued: u64, now: Instant) {
        self.by_state.set(TxPoolState::Pending, pending as f64);
        self.by_state.set(TxPoolState::Queued, queued as f64);
        self.size.set((), (pending + queued) as f64);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.size = pending + queued;
        self.refresh(&mut w, now);
    }

    fn refresh(&self, w: &mut Window, now: Instant) {
        let accepted = w.accepted.per_second(now);
        let rejected = w.rejected.per_second(now);
        let offered = accepted + rejected;
        let rejection_ratio = if offered > 0.0 {
            rejected / offered
        } else {
            0.0
        };
        self.processed_rate_gauge.set((), accepted);
        self.health.set(
            (),
            health_score(w.size as f64 / self.capacity as f64, rejection_ratio),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A full pool rejecting everything is 0, not the seed's floor of 0.1.
        assert!(close(health_score(1.0, 1.0), 0.0));
        assert!(
            close(health_score(f64::NAN, 0.0), 0.5),
            "NaN reads as the worst case"
        );
    }
}
