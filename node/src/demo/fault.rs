//! Faults the demo can inject, so that alerts can be seen to fire and resolve.

use std::time::{Duration, Instant};

/// A fault that makes one alert's condition true while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Sync enters the failed state (alert SyncFailed).
    SyncFailed,
    /// The migration rolls back again and again (alert MigrationRollback).
    MigrationRollback,
    /// Every peer disconnects (alert LowPeerCount).
    PeerLoss,
    /// The bridge actor fails on every message and is restarted until given up (alert
    /// ActorRestartLoop; ActorSystemUnhealthy's warning: the system health gauge drops to 0,
    /// while 6 of 7 actors stay healthy, above the critical 80 %).
    ActorCrash,
}

/// A fault and when it is active.
#[derive(Debug, Clone, Copy)]
pub struct FaultWindow {
    pub fault: Fault,
    pub from: Instant,
    /// `None`: until the demo stops.
    pub duration: Option<Duration>,
}

impl FaultWindow {
    /// Whether `fault` is active at `now`.
    pub fn active(window: Option<&FaultWindow>, fault: Fault, now: Instant) -> bool {
        window.is_some_and(|w| {
            w.fault == fault
                && now >= w.from
                && w.duration.is_none_or(|d| now.duration_since(w.from) < d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_active_only_for_its_duration() {
        let t0 = Instant::now();
        let w = FaultWindow {
            fault: Fault::SyncFailed,
            from: t0,
            duration: Some(Duration::from_secs(10)),
        };
        assert!(FaultWindow::active(Some(&w), Fault::SyncFailed, t0));
        assert!(!FaultWindow::active(Some(&w), Fault::PeerLoss, t0));
        assert!(!FaultWindow::active(
            Some(&w),
            Fault::SyncFailed,
            t0 + Duration::from_secs(10)
        ));
        assert!(!FaultWindow::active(None, Fault::SyncFailed, t0));
    }
}
