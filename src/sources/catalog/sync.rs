//! Chain synchronisation (seed 000 sync metrics, seed 001 phase 3).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;

use super::MetricDef;
use super::instruments::{CounterVec, GaugeVec};
use super::labels::SyncState;
use super::rate::WindowedSpeed;

const SEED: &str = "seed 000 (sync), seed 001 phase 3";

pub const CURRENT_HEIGHT: MetricDef = MetricDef::gauge(
    "alys_sync_current_height",
    "",
    "Current synchronized block height",
    &[],
)
.from(SEED);
pub const TARGET_HEIGHT: MetricDef = MetricDef::gauge(
    "alys_sync_target_height",
    "",
    "Target block height reported by peers",
    &[],
)
.from(SEED);
pub const BLOCKS_PER_SECOND: MetricDef = MetricDef::gauge(
    "alys_sync_blocks_per_second",
    "",
    "Sync speed: height gained over the last 30 s divided by the time it took (0 when stalled)",
    &[],
)
.from(SEED);
pub const STATE: MetricDef = MetricDef::gauge(
    "alys_sync_state",
    "",
    "Sync state (0=discovering, 1=headers, 2=blocks, 3=catchup, 4=synced, 5=failed)",
    &[],
)
.from(SEED);
pub const STATE_TRANSITIONS: MetricDef = MetricDef::counter(
    "alys_sync_state_transitions_total",
    "",
    "Sync state changes",
    &["from_state", "to_state"],
)
.from("seed 001 phase 3 (state transitions)");
pub const PROGRESS: MetricDef = MetricDef::gauge(
    "alys_sync_progress_percent",
    "%",
    "Current height as a percentage of the target height",
    &[],
)
.from("seed 001 phase 3 (sync percentage)");

pub const ALL: &[MetricDef] = &[
    CURRENT_HEIGHT,
    TARGET_HEIGHT,
    BLOCKS_PER_SECOND,
    STATE,
    STATE_TRANSITIONS,
    PROGRESS,
];

/// The window over which sync speed is measured.
pub const SPEED_WINDOW: Duration = Duration::from_secs(30);

/// Sync progress in percent: 0 while the target is unknown, never above 100.
pub fn sync_percentage(current: u64, target: u64) -> f64 {
    if target == 0 {
        return 0.0;
    }
    (current as f64 / target as f64 * 100.0).min(100.0)
}

/// The sync family's instruments and the state its derived gauges need.
pub struct SyncMetrics {
    current: GaugeVec<()>,
    target: GaugeVec<()>,
    speed_gauge: GaugeVec<()>,
    state_gauge: GaugeVec<()>,
    transitions: CounterVec<(SyncState, SyncState)>,
    progress: GaugeVec<()>,
    tracked: Mutex<Tracked>,
}

struct Tracked {
    state: Option<SyncState>,
    target: u64,
    speed: WindowedSpeed,
}

impl SyncMetrics {
    pub fn new(meter: &Meter) -> Self {
        SyncMetrics {
            current: GaugeVec::new(&CURRENT_HEIGHT, meter),
            target: GaugeVec::new(&TARGET_HEIGHT, meter),
            speed_gauge: GaugeVec::new(&BLOCKS_PER_SECOND, meter),
            state_gauge: GaugeVec::new(&STATE, meter),
            transitions: CounterVec::new(&STATE_TRANSITIONS, meter),
            progress: GaugeVec::new(&PROGRESS, meter),
            tracked: Mutex::new(Tracked {
                state: None,
                target: 0,
                speed: WindowedSpeed::new(SPEED_WINDOW),
            }),
        }
    }

    /// Moves to `state`, counting the transition when it is one.
    pub fn set_state(&self, state: SyncState) {
        let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = t.state.filter(|p| *p != state) {
            self.transitions.add((previous, state), 1);
        }
        t.state = Some(state);
        self.state_gauge.set((), state as usize as f64);
    }

    pub fn set_target_height(&self, target: u64) {
        let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        t.target = target;
        self.target.set((), target as f64);
    }

    /// Records the current height at `now`; updates speed and progress.
    pub fn set_current_height(&self, height: u64, now: Instant) {
        let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        t.speed.sample(now, height);
        self.current.set((), height as f64);
        self.speed_gauge.set((), t.speed.per_second());
        self.progress.set((), sync_percentage(height, t.target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_against_hand_computed_values() {
        assert_eq!(sync_percentage(0, 0), 0.0);
        assert_eq!(sync_percentage(500, 1000), 50.0);
        assert_eq!(sync_percentage(999, 1000), 99.9);
        assert_eq!(
            sync_percentage(1200, 1000),
            100.0,
            "ahead of peers is done, not 120 %"
        );
    }
}
