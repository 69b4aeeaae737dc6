//! Rates as counts over a time window: events in a window divided by the window's length.
//! Not 1/average latency (which says how fast one message goes, not how many go), and not
//! whole seconds (which turn 30 blocks in 1.5 s into 30 blocks/s).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Slots a window is cut into: a rate counts events to a sixtieth of its window.
const SLOTS: u64 = 60;
/// A slot is one word: the low 24 bits of its slot number, then 40 bits of count.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;

/// Events per second over a sliding window, recorded without a lock: the window is cut
/// into 60 slots, each one atomic word holding its slot number and its count, so a record is
/// one atomic add (a compare-and-swap when a slot turns over) and concurrent recorders never
/// wait for each other. A slot counts up to 2^40 events. Time is passed in, so it is a pure
/// value.
#[derive(Debug)]
pub struct WindowedRate {
    window: Duration,
    /// Nanoseconds a slot spans.
    slot_ns: u64,
    /// The first record's time: slot numbers count from it.
    started: OnceLock<Instant>,
    slots: [AtomicU64; SLOTS as usize],
}

impl WindowedRate {
    pub fn new(window: Duration) -> Self {
        let window = window.max(Duration::from_millis(60));
        WindowedRate {
            window,
            slot_ns: (window.as_nanos() / u128::from(SLOTS)).max(1) as u64,
            started: OnceLock::new(),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn slot_number(&self, started: Instant, now: Instant) -> u64 {
        now.saturating_duration_since(started).as_nanos() as u64 / self.slot_ns
    }

    /// Counts `n` events at `now`.
    pub fn record(&self, now: Instant, n: u64) {
        let started = *self.started.get_or_init(|| now);
        let number = self.slot_number(started, now);
        let tag = number & TAG_MASK;
        let cell = &self.slots[(number % SLOTS) as usize];
        let mut current = cell.load(Ordering::Relaxed);
        if current >> COUNT_BITS == tag {
            // The slot is this one: an add, which never retries under contention. (Should it
            // turn over between the load and the add, the events land a slot late.)
            cell.fetch_add(n.min(COUNT_MASK), Ordering::Relaxed);
            return;
        }
        loop {
            let current_tag = current >> COUNT_BITS;
            let next = if current_tag == tag {
                let count = ((current & COUNT_MASK) + n).min(COUNT_MASK);
                (tag << COUNT_BITS) | count
            } else if current != 0 && (current_tag.wrapping_sub(tag) & TAG_MASK) < TAG_MASK / 2 {
                // The slot already holds a later turn of the ring: this event is a whole
                // window older than that one and outside every window still to be read.
                return;
            } else {
                (tag << COUNT_BITS) | n.min(COUNT_MASK)
            };
            match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Events per second in the window ending at `now`. Before a whole window has passed,
    /// the time observed so far is the denominator, so a young rate is not understated.
    pub fn per_second(&self, now: Instant) -> f64 {
        let Some(&started) = self.started.get() else {
            return 0.0;
        };
        let tag = self.slot_number(started, now) & TAG_MASK;
        let in_window: u64 = self
            .slots
            .iter()
            .map(|cell| cell.load(Ordering::Relaxed))
            .filter(|v| *v != 0 && (tag.wrapping_sub(v >> COUNT_BITS) & TAG_MASK) < SLOTS)
            .map(|v| v & COUNT_MASK)
            .sum();
        let span = now.saturating_duration_since(started).min(self.window);
        if span.is_zero() {
            return 0.0;
        }
        in_window as f64 / span.as_secs_f64()
    }
}

/// Lets one caller through per period: derived gauges refreshed from a record path at most
/// once a period, without a lock.
#[derive(Debug)]
pub struct PeriodGate {
    period_ns: u64,
    started: OnceLock<Instant>,
    /// The last period let through, plus one (0: none yet).
    last: AtomicU64,
}

impl PeriodGate {
    pub fn new(period: Duration) -> Self {
        PeriodGate {
            period_ns: (period.as_nanos() as u64).max(1),
            started: OnceLock::new(),
            last: AtomicU64::new(0),
        }
    }

    /// Whether the caller at `now` is the first of its period.
    pub fn due(&self, now: Instant) -> bool {
        let started = *self.started.get_or_init(|| now);
        let period = now.saturating_duration_since(started).as_nanos() as u64 / self.period_ns + 1;
        let last = self.last.load(Ordering::Relaxed);
        period > last
            && self
                .last
                .compare_exchange(last, period, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
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
        let r = WindowedRate::new(Duration::from_secs(10));
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
        let r = WindowedRate::new(Duration::from_secs(10));
        r.record(t0, 1);
        r.record(t0 + Duration::from_secs(5), 1);
        assert_eq!(r.per_second(t0 + Duration::from_secs(8)), 0.25);
    }

    #[test]
    fn concurrent_records_all_count() {
        let t0 = Instant::now();
        let r = std::sync::Arc::new(WindowedRate::new(Duration::from_secs(60)));
        r.record(t0, 0);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for k in 0..10_000u64 {
                        r.record(t0 + Duration::from_millis((k + i) % 5_000), 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 40,000 events over the 10 s observed.
        assert_eq!(r.per_second(t0 + Duration::from_secs(10)), 4_000.0);
    }

    #[test]
    fn a_stale_event_does_not_wipe_a_later_turn_of_the_ring() {
        let t0 = Instant::now();
        let r = WindowedRate::new(Duration::from_secs(60));
        r.record(t0, 1);
        r.record(t0 + Duration::from_secs(61), 5);
        // Same slot, one turn earlier: dropped, not written over the 5.
        r.record(t0 + Duration::from_millis(1_100), 7);
        assert_eq!(r.per_second(t0 + Duration::from_secs(61)), 5.0 / 60.0);
    }

    #[test]
    fn a_throttle_lets_one_caller_through_per_period() {
        let t0 = Instant::now();
        let t = PeriodGate::new(Duration::from_secs(1));
        assert!(t.due(t0));
        assert!(!t.due(t0 + Duration::from_millis(999)));
        assert!(t.due(t0 + Duration::from_millis(1_000)));
        assert!(!t.due(t0 + Duration::from_millis(1_500)));
        assert!(t.due(t0 + Duration::from_secs(5)));
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
