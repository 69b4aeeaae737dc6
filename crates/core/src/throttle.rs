//! The one rate limit on repeated warnings: a condition that can recur thousands of times a
//! second (an export failing, a governance node sending garbage, a peer flooding a stream)
//! is logged at most once per interval, with the number of occurrences since the last line.
//! The metrics count every occurrence; the log says that it happens and how often.
//!
//! ```
//! use std::time::Duration;
//! use alys_telemetry_core::throttle::Throttle;
//!
//! static MALFORMED: Throttle = Throttle::new(Duration::from_secs(30));
//! for _ in 0..10_000 {
//!     if let Some(occurrences) = MALFORMED.occurred() {
//!         tracing::warn!(occurrences, "skipped a malformed message");
//!     }
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts occurrences of one condition and says when a log line is due. Lock-free; shared
/// by reference (a `static`, or a field of whatever meets the condition).
#[derive(Debug)]
pub struct Throttle {
    interval_ms: u64,
    /// When the last line was logged, in ms since `epoch()`, plus one (0: never).
    last_line: AtomicU64,
    /// Occurrences not yet reported.
    unreported: AtomicU64,
}

/// The clock the throttles share: monotonic, so a wall-clock jump neither floods nor
/// silences.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Throttle {
    /// At most one line per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Throttle {
            interval_ms: interval.as_millis() as u64,
            last_line: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence. `Some(n)` when a line is due now: `n` occurrences since the
    /// last line, this one included (the first occurrence is always logged).
    pub fn occurred(&self) -> Option<u64> {
        self.occurred_at(epoch().elapsed().as_millis() as u64 + 1)
    }

    /// Counts one occurrence without claiming a line, while something else tells the user
    /// about the condition; the next line reports these too.
    pub fn occurred_silently(&self) {
        self.unreported.fetch_add(1, Ordering::Relaxed);
    }

    /// [`occurred`](Self::occurred) at `now_ms` (ms since the shared epoch, plus one).
    fn occurred_at(&self, now_ms: u64) -> Option<u64> {
        self.unreported.fetch_add(1, Ordering::Relaxed);
        let last = self.last_line.load(Ordering::Relaxed);
        let due = last == 0 || now_ms.saturating_sub(last) >= self.interval_ms;
        // One caller wins the line for this interval; the others only count.
        if due
            && self
                .last_line
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.unreported.swap(0, Ordering::Relaxed).max(1))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_carries_the_count_since_the_last() {
        let t = Throttle::new(Duration::from_millis(1_000));
        assert_eq!(t.occurred_at(1), Some(1), "the first is logged");
        let quiet = (0..35_199)
            .filter_map(|i| t.occurred_at(2 + i / 100))
            .count();
        assert_eq!(quiet, 0, "35,199 more within the interval: no line");
        assert_eq!(t.occurred_at(1_001), Some(35_200));
        assert_eq!(t.occurred_at(1_500), None);
        assert_eq!(t.occurred_at(2_001), Some(2));
    }

    #[test]
    fn concurrent_callers_log_once_and_lose_no_count() {
        let t = std::sync::Arc::new(Throttle::new(Duration::from_secs(3600)));
        let lines: u64 = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..10_000).filter_map(|_| t.occurred()).sum::<u64>())
            })
            .map(|h| h.join().unwrap())
            .sum();
        // One line (with whatever had been counted by then); the rest still unreported.
        assert!(lines >= 1);
        assert_eq!(lines + t.unreported.load(Ordering::Relaxed), 40_000);
    }
}
