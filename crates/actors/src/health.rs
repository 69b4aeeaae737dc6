//! Actor health over a window: per-actor success rates and the system verdict, healthy when
//! at least 80 % of actors are healthy and the success rate is at least 95 % (the thresholds
//! of the Alys operators' ActorSystemUnhealthy alert).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// An actor is healthy when at least this share of its recent messages succeeded.
pub const ACTOR_SUCCESS_THRESHOLD: f64 = 0.95;
/// The system is healthy when at least this share of its actors is healthy …
pub const HEALTHY_ACTOR_SHARE: f64 = 0.8;
/// … and at least this share of all recent messages succeeded.
pub const SYSTEM_SUCCESS_THRESHOLD: f64 = 0.95;

/// One actor's activity within the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActorWindow {
    pub processed: u64,
    pub failed: u64,
    /// Running (not failed, stopped or given up).
    pub running: bool,
}

impl ActorWindow {
    /// Success rate in the window; `None` without messages.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.processed + self.failed;
        (total > 0).then(|| self.processed as f64 / total as f64)
    }

    /// Failures per message in the window; `None` without messages.
    pub fn error_rate(&self) -> Option<f64> {
        self.success_rate().map(|s| 1.0 - s)
    }

    /// Running, and (when it handled anything) successful enough.
    pub fn is_healthy(&self) -> bool {
        self.running
            && self
                .success_rate()
                .is_none_or(|s| s >= ACTOR_SUCCESS_THRESHOLD)
    }
}

/// The actor system's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemHealth {
    pub healthy_actors: usize,
    pub total_actors: usize,
    /// Over all actors' messages in the window; 1 without messages.
    pub success_rate: f64,
    pub healthy: bool,
}

/// Folds the actors' windows into the system verdict.
pub fn system_health(actors: &[ActorWindow]) -> SystemHealth {
    let total_actors = actors.len();
    let healthy_actors = actors.iter().filter(|a| a.is_healthy()).count();
    let processed: u64 = actors.iter().map(|a| a.processed).sum();
    let failed: u64 = actors.iter().map(|a| a.failed).sum();
    let success_rate = if processed + failed == 0 {
        1.0
    } else {
        processed as f64 / (processed + failed) as f64
    };
    let healthy = total_actors == 0
        || (healthy_actors as f64 / total_actors as f64 >= HEALTHY_ACTOR_SHARE
            && success_rate >= SYSTEM_SUCCESS_THRESHOLD);
    SystemHealth {
        healthy_actors,
        total_actors,
        success_rate,
        healthy,
    }
}

/// Cumulative counts sampled over time; the difference across the window is the window's
/// activity. Sampled when metrics are collected or health is asked, never per message.
#[derive(Debug, Clone)]
pub struct CountHistory {
    window: Duration,
    samples: VecDeque<(Instant, u64, u64)>,
}

impl CountHistory {
    pub fn new(window: Duration) -> Self {
        CountHistory {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Notes the cumulative counts at `now` and returns the counts within the window, and
    /// the time they span.
    pub fn observe(&mut self, now: Instant, processed: u64, failed: u64) -> (u64, u64, Duration) {
        self.samples.push_back((now, processed, failed));
        // Keep one sample at or before the window's start as the baseline.
        while self.samples.len() > 1
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) >= self.window)
        {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some(&(t0, p0, f0)) if t0 < now => (
                processed.saturating_sub(p0),
                failed.saturating_sub(f0),
                now - t0,
            ),
            // The first sample: everything so far is the window.
            _ => (processed, failed, Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(processed: u64, failed: u64, running: bool) -> ActorWindow {
        ActorWindow {
            processed,
            failed,
            running,
        }
    }

    #[test]
    fn an_actor_is_healthy_at_95_percent_and_while_running() {
        assert!(actor(95, 5, true).is_healthy());
        assert!(!actor(94, 6, true).is_healthy());
        assert!(actor(0, 0, true).is_healthy(), "idle is healthy");
        assert!(!actor(100, 0, false).is_healthy(), "a failed actor is not");
        assert_eq!(actor(3, 1, true).error_rate(), Some(0.25));
    }

    #[test]
    fn the_system_needs_80_percent_healthy_actors_and_95_percent_success() {
        let mut actors = vec![actor(100, 0, true); 4];
        actors.push(actor(0, 0, false));
        let h = system_health(&actors);
        assert_eq!((h.healthy_actors, h.total_actors), (4, 5));
        assert!(h.healthy, "4 of 5 is exactly 80 %");

        actors.push(actor(0, 0, false));
        assert!(!system_health(&actors).healthy, "4 of 6 is below 80 %");

        // All actors healthy on their own, but overall success below 95 %: one busy actor
        // at 96 % and one at 90 % (unhealthy) out of five.
        let actors = [
            actor(900, 100, true),
            actor(96, 4, true),
            actor(10, 0, true),
            actor(10, 0, true),
            actor(10, 0, true),
        ];
        let h = system_health(&actors);
        assert_eq!(h.healthy_actors, 4);
        assert!(h.success_rate < 0.95);
        assert!(!h.healthy);
        assert!(system_health(&[]).healthy);
    }

    #[test]
    fn history_reports_the_activity_inside_the_window() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut h = CountHistory::new(s(60));
        assert_eq!(h.observe(t0, 10, 1), (10, 1, Duration::ZERO));
        assert_eq!(h.observe(t0 + s(30), 40, 2), (30, 1, s(30)));
        // The baseline is the newest sample at or before the window's start (t0 here).
        assert_eq!(h.observe(t0 + s(70), 100, 2), (90, 1, s(70)));
        // Now t30 is old enough to be the baseline, and t0 goes.
        assert_eq!(h.observe(t0 + s(100), 130, 5), (90, 3, s(70)));
    }
}
