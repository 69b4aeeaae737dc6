//! Rates as counts over a time window: events in a window divided by the window's length.
//! Not 1/average latency (which says how fast one message goes, not how many go), and not
//! whole seconds (which turn 30 blocks in 1.5 s into 30 blocks/s).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Events per second over a sliding window. Time is passed in, so it is a pure value.
#[derive(Debug, Clone)]
pub struct WindowedRate {
    window: Duration,
    started: Option<Instant>,
    events: VecDeque<(Instant, u64)>,
    in_window: u64,
}

impl WindowedRate {
    pub fn new(window: Duration) -> Self {
        WindowedRate {
            window: window.max(Duration::from_millis(1)),
            started: None,
            events: VecDeque::new(),
            in_window: 0,
        }
    }

    /// Counts `n` events at `now`.
    pub fn record(&mut self, now: Instant, n: u64) {
        self.started.get_or_insert(now);
        self.events.push_back((now, n));
        self.in_window += n;
        self.expire(now);
    }

    /// Events per second in the window ending at `now`. Before a whole window has passed,
    /// the time observed so far is the denominator, so a young rate is not understated.
    pub fn per_second(&mut self, now: Instant) -> f64 {
        self.expire(now);
        let Some(started) = self.started else {
            return 0.0;
        };
        let span = now.saturating_duration_since(started).min(self.window);
        if span.is_zero() {
            return 0.0;
        }
        self.in_window as f64 / span.as_secs_f64()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, n)) = self.events.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.events.pop_front();
                self.in_window -= n;
            } else {
                break;
            }
        }
    }
}

/// Speed from a monotonic position sampled over time (sync height): the change across the
/// window divided by the time between the oldest and newest sample in it.
#[derive(Debug, Clone)]
pub struct WindowedSpeed {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl WindowedSpeed {
    pub fn new(window: Duration) -> Self {
        WindowedSpeed {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Notes the position at `now`.
    pub fn sample(&mut self, now: Instant, position: u64) {
        self.samples.push_back((now, position));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= self.window)
        {
            self.samples.pop_front();
        }
    }

    /// Units per second; 0 without progress or with fewer than two samples.
    pub fn per_second(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, p0)), Some(&(t1, p1))) if t1 > t0 && p1 > p0 => {
                (p1 - p0) as f64 / (t1 - t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_events_in_the_window() {
        let t0 = Instant::now();
        let mut r = WindowedRate::new(Duration::from_secs(10));
        assert_eq!(r.per_second(t0), 0.0);
        r.record(t0, 10);
        r.record(t0 + Duration::from_secs(2), 10);
        // 20 events over the 4 s observed so far.
        assert_eq!(r.per_second(t0 + Duration::from_secs(4)), 5.0);
        // At 11 s the first batch (t0) has left the 10 s window; 10 events over 10 s.
        assert_eq!(r.per_second(t0 + Duration::from_secs(11)), 1.0);
        // Idle: everything expired.
        assert_eq!(r.per_second(t0 + Duration::from_secs(30)), 0.0);
    }

    #[test]
    fn rate_is_not_one_over_latency() {
        // Two messages in 8 s are 0.25 msg/s, however long each took to handle.
        let t0 = Instant::now();
        let mut r = WindowedRate::new(Duration::from_secs(10));
        r.record(t0, 1);
        r.record(t0 + Duration::from_secs(5), 1);
        assert_eq!(r.per_second(t0 + Duration::from_secs(8)), 0.25);
    }

    #[test]
    fn speed_uses_fractional_seconds_and_drops_to_zero_on_a_stall() {
        let t0 = Instant::now();
        let mut s = WindowedSpeed::new(Duration::from_secs(30));
        s.sample(t0, 100);
        assert_eq!(s.per_second(), 0.0, "one sample is no speed");
        s.sample(t0 + Duration::from_millis(1500), 130);
        // 30 blocks in 1.5 s (whole seconds would say 30/1 = 30).
        assert_eq!(s.per_second(), 20.0);
        // A stall longer than the window: the window holds only equal positions.
        s.sample(t0 + Duration::from_secs(40), 130);
        s.sample(t0 + Duration::from_secs(75), 130);
        assert_eq!(s.per_second(), 0.0);
    }
}
