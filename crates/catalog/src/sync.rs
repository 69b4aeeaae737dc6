//! Chain synchronisation: heights, speed, state and progress. Speed and progress are derived
//! here from the heights the node reports.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::instruments::{CounterVec, Gauge, LabelValues};
use crate::rate::WindowedSpeed;
use crate::{LabelValue, MetricFamily};

/// The name the Alys sync dashboard and the sync alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys sync dashboard and the sync alert rules query";

/// The sync family's instruments and the state its derived gauges need. Build once at
/// start-up.
#[derive(MetricFamily)]
#[family(title = "sync", crate = crate)]
pub struct SyncMetrics {
    /// Current synchronized block height
    #[metric(
        name = "alys_sync_current_height",
        start = absent("height 0 would read as a node at genesis"),
        why = DASHBOARD_NAME
    )]
    current: Gauge,
    /// Target block height reported by peers
    #[metric(
        name = "alys_sync_target_height",
        start = absent("the target is unknown until peers report it"),
        why = DASHBOARD_NAME
    )]
    target: Gauge,
    /// Sync speed: height gained over the last 30 s divided by the time it took (0 when stalled)
    #[metric(
        name = "alys_sync_blocks_per_second",
        start = absent("0 blocks/s would read as a stall before sync began"),
        why = DASHBOARD_NAME
    )]
    speed: Gauge,
    /// Sync state (0=discovering, 1=headers, 2=blocks, 3=catchup, 4=synced, 5=failed)
    #[metric(
        name = "alys_sync_state",
        start = absent("0 is the discovering state, not \"unknown\""),
        why = DASHBOARD_NAME
    )]
    state: Gauge,
    /// Sync state changes
    #[metric(
        name = "alys_sync_state_transitions_total",
        labels(from_state, to_state),
        why = "operators follow how often sync falls back from synced to catching up"
    )]
    transitions: CounterVec<(SyncState, SyncState)>,
    /// Current height as a percentage of the target height
    #[metric(
        name = "alys_sync_progress_percent",
        unit = "%",
        start = absent("0 % would read as no progress before the target is known"),
        why = "the sync dashboard shows progress as a percentage"
    )]
    progress: Gauge,
    #[state(init = Tracked {
        state: AtomicU8::new(NO_STATE),
        target: AtomicU64::new(0),
        speed: Mutex::new(WindowedSpeed::new(SPEED_WINDOW)),
    })]
    tracked: Tracked,
}

/// Sync states; `alys_sync_state` exports the position (0 discovering … 5 failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum SyncState {
    Discovering,
    Headers,
    Blocks,
    Catchup,
    Synced,
    Failed,
}

/// The window over which sync speed is measured.
pub const SPEED_WINDOW: Duration = Duration::from_secs(30);

/// `Tracked::state` before the first state.
const NO_STATE: u8 = u8::MAX;

/// What the derived gauges are computed from. State and target are atomics; the speed's
/// samples are ordered pairs behind a mutex, taken once per reported height (a few times a
/// second, by one reporter: uncontended, docs/performance.md has its cost).
struct Tracked {
    state: AtomicU8,
    target: AtomicU64,
    speed: Mutex<WindowedSpeed>,
}

/// Sync progress in percent: 0 while the target is unknown, never above 100.
pub fn sync_percentage(current: u64, target: u64) -> f64 {
    if target == 0 {
        return 0.0;
    }
    (current as f64 / target as f64 * 100.0).min(100.0)
}

impl SyncMetrics {
    /// Moves to `state`, counting the transition when it is one.
    pub fn set_state(&self, state: SyncState) {
        let previous = self
            .tracked
            .state
            .swap(state.index() as u8, Ordering::Relaxed);
        if let Some(previous) = SyncState::from_index(previous as usize).filter(|p| *p != state) {
            self.transitions.add((previous, state), 1);
        }
        self.state.set(state as usize as f64);
    }

    pub fn set_target_height(&self, target: u64) {
        self.tracked.target.store(target, Ordering::Relaxed);
        self.target.set(target as f64);
    }

    /// Records the current height at `now`; updates speed and progress.
    pub fn set_current_height(&self, height: u64, now: Instant) {
        let speed = {
            let mut speed = self.tracked.speed.lock().unwrap_or_else(|p| p.into_inner());
            speed.sample(now, height);
            speed.per_second()
        };
        self.current.set(height as f64);
        self.speed.set(speed);
        let target = self.tracked.target.load(Ordering::Relaxed);
        self.progress.set(sync_percentage(height, target));
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

    #[test]
    fn the_state_gauge_encodes_the_states_in_order() {
        assert_eq!(SyncState::Discovering.index(), 0);
        assert_eq!(SyncState::Failed.index(), 5);
    }
}
