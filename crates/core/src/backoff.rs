//! One backoff for every source that retries: the supervisor restarting an actor, the
//! StreamActor reconnecting to its governance node and the system collector stretching its
//! interval after failed collections.
//!
//! The exponential sequence comes from [`backon`]; this type adds what the three need on top:
//! a pure `delay(retry)` (tests and loops ask for the n-th wait instead of driving an
//! iterator), sane handling of odd settings, and symmetric jitter for the one source where
//! many nodes retry against one server at once.
//!
//! ```
//! use std::time::Duration;
//! use alys_telemetry_core::backoff::Backoff;
//!
//! let reconnect = Backoff::new(Duration::from_millis(100), Duration::from_secs(30)).with_jitter(0.2);
//! assert_eq!(reconnect.delay(3), Duration::from_millis(800));
//! // Spread by up to 20 % either way, from a uniform random number in 0..1.
//! assert_eq!(reconnect.jittered(0, 0.0), Duration::from_millis(80));
//! ```

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Beyond this many doublings every sane policy has long reached its maximum; bounding the
/// step keeps `delay` cheap however long a failure lasts.
const MAX_STEPS: u32 = 64;

/// `initial`, multiplied by `factor` for each further retry, never above `max`, spread by
/// up to `jitter` (a share, 0..1) either way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry.
    pub initial: Duration,
    /// Each further wait is this many times the previous one; below 1 or not finite reads
    /// as 1 (a constant wait), since a backoff must never shrink.
    pub factor: f64,
    /// The longest wait; below `initial` reads as `initial`.
    pub max: Duration,
    /// Each wait is spread by up to this share either way (0 for none), so that many
    /// clients cut off at once do not all come back in the same instant.
    pub jitter: f64,
}

impl Backoff {
    /// Doubling from `initial` up to `max`, without jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            factor: 2.0,
            max,
            jitter: 0.0,
        }
    }

    /// The same policy growing by `factor`.
    pub const fn with_factor(self, factor: f64) -> Self {
        Backoff { factor, ..self }
    }

    /// The same policy with waits spread by up to `share` either way.
    pub const fn with_jitter(self, share: f64) -> Self {
        Backoff {
            jitter: share,
            ..self
        }
    }

    /// The wait before retry `retry` (0-based) of a run of consecutive failures.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor as f32
        } else {
            1.0
        };
        let max = self.max.max(self.initial);
        let step = ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(max)
            .with_factor(factor)
            .without_max_times()
            .build()
            .nth(retry.min(MAX_STEPS) as usize)
            .unwrap_or(max);
        // backon multiplies in f32: a step of 100 ms comes back as 100.0000015 ms. Our
        // policies are in whole microseconds at the finest, so rounding removes only noise.
        round_to_micros(step.min(max))
    }

    /// [`delay`](Self::delay) spread by the jitter, for a uniform `random` in 0..1 (the
    /// caller's random number, so that this stays a pure function).
    pub fn jittered(&self, retry: u32, random: f64) -> Duration {
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let spread = 1.0 + jitter * (2.0 * random - 1.0);
        round_to_micros(self.delay(retry).mul_f64(spread))
    }
}

fn round_to_micros(d: Duration) -> Duration {
    Duration::from_micros((d.as_secs_f64() * 1e6).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn waits_grow_by_the_factor_up_to_the_cap() {
        let b = Backoff::new(MS(100), MS(500));
        let waits: Vec<u128> = (0..5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        let b = Backoff::new(S(5), S(60));
        let waits: Vec<u64> = (0..7).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(Backoff::new(MS(10), S(1)).with_factor(3.0).delay(2), MS(90));
    }

    #[test]
    fn odd_settings_never_shrink_the_wait() {
        // A factor below 1 or not a number is a constant wait.
        for factor in [f64::NAN, 0.5, f64::INFINITY, -2.0] {
            let b = Backoff::new(MS(100), S(10)).with_factor(factor);
            assert_eq!(b.delay(3), MS(100), "factor {factor}");
        }
        // A maximum below the initial wait never shortens it.
        assert_eq!(Backoff::new(S(10), S(1)).delay(1), S(10));
        // Endless failure stays at the cap, and cheap.
        assert_eq!(Backoff::new(S(5), S(60)).delay(u32::MAX), S(60));
    }

    #[test]
    fn jitter_spreads_both_ways_within_its_share() {
        let b = Backoff::new(MS(100), S(30)).with_jitter(0.2);
        assert_eq!(b.jittered(0, 0.5), MS(100));
        assert_eq!(b.jittered(0, 0.0), MS(80), "-20 %");
        assert_eq!(b.jittered(0, 1.0), MS(120), "+20 %");
        assert_eq!(b.jittered(20, 0.5), S(30), "capped before the spread");
        // Without jitter, the random number changes nothing.
        assert_eq!(Backoff::new(MS(100), S(1)).jittered(1, 0.9), MS(200));
        // A random number outside 0..1 is clamped, a jitter above 1 too.
        assert_eq!(b.jittered(0, 7.0), MS(120));
        assert_eq!(b.with_jitter(5.0).jittered(0, 0.0), Duration::ZERO);
    }
}
