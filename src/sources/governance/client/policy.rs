//! When to reconnect, and what to keep while disconnected: pure values, tested without time.

use std::collections::VecDeque;
use std::time::Duration;

use crate::sources::backoff::Backoff;

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

/// Messages kept while disconnected, oldest first. When full, the oldest is dropped to make
/// room: the newest state matters more, and every drop is counted by the caller.
#[derive(Debug)]
pub struct OutboundBuffer<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> OutboundBuffer<T> {
    pub fn new(capacity: usize) -> Self {
        OutboundBuffer {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `item`; returns the item dropped to make room, if any.
    pub fn push(&mut self, item: T) -> Option<T> {
        let dropped = if self.items.len() >= self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        dropped
    }

    /// Puts back an item that could not be delivered, ahead of the rest.
    pub fn push_front(&mut self, item: T) -> Option<T> {
        let dropped = if self.items.len() >= self.capacity {
            self.items.pop_back()
        } else {
            None
        };
        self.items.push_front(item);
        dropped
    }

    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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

    #[test]
    fn the_buffer_drops_the_oldest_when_full_and_keeps_order() {
        let mut b = OutboundBuffer::new(3);
        assert_eq!(b.push(1), None);
        assert_eq!(b.push(2), None);
        assert_eq!(b.push(3), None);
        assert_eq!(b.push(4), Some(1));
        assert_eq!(b.push_front(9), Some(4));
        let drained: Vec<_> = std::iter::from_fn(|| b.pop()).collect();
        assert_eq!(drained, [9, 2, 3]);
        assert!(b.is_empty());
    }
}
