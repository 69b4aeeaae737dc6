//! When to reconnect: a pure value, tested without time.

use std::time::Duration;

use alys_telemetry_core::backoff::Backoff;

/// When to try again after a failed or lost connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    /// The wait before each attempt of a run of failures. Jittered: every node cut off by
    /// one governance node comes back to that same node, and must not all come at once.
    pub backoff: Backoff,
    /// A connection that stayed up this long resets the backoff.
    pub reset_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30))
                .with_jitter(0.2),
            reset_after: Duration::from_secs(30),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `n` (0-based) of a run of failures, for a uniform `random`
    /// in 0..1.
    pub fn delay(&self, n: u32, random: f64) -> Duration {
        self.backoff.jittered(n, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_to_the_cap_with_bounded_jitter() {
        let p = ReconnectPolicy::default();
        let ms = |n, r| p.delay(n, r).as_millis();
        assert_eq!(
            [ms(0, 0.5), ms(1, 0.5), ms(2, 0.5), ms(3, 0.5)],
            [100, 200, 400, 800]
        );
        assert_eq!(ms(20, 0.5), 30_000, "capped");
        assert_eq!(ms(0, 0.0), 80, "-20 %");
        assert_eq!(ms(0, 1.0), 120, "+20 %");
        let flat = ReconnectPolicy {
            backoff: p.backoff.with_factor(f64::NAN).with_jitter(0.0),
            ..p
        };
        assert_eq!(flat.delay(5, 0.9), Duration::from_millis(100));
    }
}
