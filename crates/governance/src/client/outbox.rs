//! What the node has sent or will send and the governance node has not acknowledged: pure
//! values, tested without time or a network.
//!
//! Every tracked message gets the next id of the session and waits here, in order, until a
//! receipt covers it. A connection writes the entries it has not written yet; a new
//! connection writes all of them again, in their original order. When the outbox is full
//! the oldest entry makes room (the caller counts it); a request whose deadline passes
//! leaves it (counted too).

use std::collections::VecDeque;
use std::time::Instant;

/// One tracked message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry<T> {
    /// Its number in the session, from 1.
    pub id: u64,
    pub item: T,
    /// After this nobody waits for its result (requests only).
    pub deadline: Option<Instant>,
}

/// Unacknowledged messages, oldest first.
#[derive(Debug)]
pub(super) struct Outbox<T> {
    entries: VecDeque<Entry<T>>,
    /// How many entries, from the oldest, are written to the current connection (entries
    /// are written in order, so the written ones are always a prefix).
    written: usize,
    capacity: usize,
    last_id: u64,
}

impl<T> Outbox<T> {
    pub fn new(capacity: usize) -> Self {
        Outbox {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            written: 0,
            capacity: capacity.max(1),
            last_id: 0,
        }
    }

    /// The id the next [`push`](Self::push) will give.
    pub fn next_id(&self) -> u64 {
        self.last_id + 1
    }

    /// Keeps `item` under the next id; returns the entry dropped to make room, if any.
    pub fn push(&mut self, item: T, deadline: Option<Instant>) -> Option<Entry<T>> {
        let dropped = if self.entries.len() >= self.capacity {
            self.written = self.written.saturating_sub(1);
            self.entries.pop_front()
        } else {
            None
        };
        self.last_id += 1;
        self.entries.push_back(Entry {
            id: self.last_id,
            item,
            deadline,
        });
        dropped
    }

    /// The oldest entry not yet written to the current connection, now counted written.
    pub fn write_next(&mut self) -> Option<&Entry<T>> {
        let entry = self.entries.get(self.written)?;
        self.written += 1;
        Some(entry)
    }

    pub fn has_unwritten(&self) -> bool {
        self.written < self.entries.len()
    }

    /// A connection was lost: everything left is written again on the next one.
    pub fn unwrite_all(&mut self) {
        self.written = 0;
    }

    /// A receipt for every id up to `up_to`: those entries leave, oldest first.
    pub fn acknowledge(&mut self, up_to: u64) -> Vec<Entry<T>> {
        let n = self.entries.iter().take_while(|e| e.id <= up_to).count();
        self.written = self.written.saturating_sub(n);
        self.entries.drain(..n).collect()
    }

    /// Removes the entry `id`, wherever it is (an answer came before its receipt, or its
    /// caller gave up).
    pub fn remove(&mut self, id: u64) -> Option<Entry<T>> {
        let at = self.entries.iter().position(|e| e.id == id)?;
        if at < self.written {
            self.written -= 1;
        }
        self.entries.remove(at)
    }

    /// The entries whose deadline is past at `now`, removed.
    pub fn expire(&mut self, now: Instant) -> Vec<Entry<T>> {
        if !self
            .entries
            .iter()
            .any(|e| e.deadline.is_some_and(|d| d <= now))
        {
            return Vec::new();
        }
        let mut expired = Vec::new();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for (at, e) in self.entries.drain(..).enumerate() {
            if e.deadline.is_some_and(|d| d <= now) {
                if at < self.written {
                    self.written -= 1;
                }
                expired.push(e);
            } else {
                kept.push_back(e);
            }
        }
        self.entries = kept;
        expired
    }

    /// Everything left, for a stop.
    pub fn drain(&mut self) -> Vec<Entry<T>> {
        self.written = 0;
        self.entries.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ids<T>(entries: &[Entry<T>]) -> Vec<u64> {
        entries.iter().map(|e| e.id).collect()
    }

    #[test]
    fn ids_follow_the_order_of_pushes_and_receipts_remove_the_prefix() {
        let mut o = Outbox::new(10);
        for c in ['a', 'b', 'c', 'd'] {
            assert!(o.push(c, None).is_none());
        }
        assert_eq!(o.write_next().map(|e| (e.id, e.item)), Some((1, 'a')));
        assert_eq!(o.write_next().map(|e| e.id), Some(2));
        assert_eq!(ids(&o.acknowledge(1)), [1]);
        // A receipt for an id not yet written (or beyond) still only covers what exists.
        assert_eq!(ids(&o.acknowledge(3)), [2, 3]);
        assert_eq!(o.len(), 1);
        assert_eq!(o.next_id(), 5);
    }

    #[test]
    fn a_lost_connection_writes_everything_again_in_order() {
        let mut o = Outbox::new(10);
        for n in 0..3 {
            o.push(n, None);
        }
        while o.write_next().is_some() {}
        assert!(!o.has_unwritten());
        o.unwrite_all();
        let again: Vec<u64> = std::iter::from_fn(|| o.write_next().map(|e| e.id)).collect();
        assert_eq!(again, [1, 2, 3]);
    }

    #[test]
    fn when_full_the_oldest_makes_room() {
        let mut o = Outbox::new(3);
        for n in 1..=3 {
            assert!(o.push(n, None).is_none());
        }
        assert_eq!(o.push(4, None).map(|e| e.item), Some(1));
        assert_eq!(ids(&o.drain()), [2, 3, 4]);
    }

    #[test]
    fn removals_before_the_write_position_keep_it_on_the_next_unwritten() {
        let t0 = Instant::now();
        let mut o = Outbox::new(3);
        o.push('a', Some(t0));
        o.push('b', None);
        o.push('c', None);
        assert_eq!(o.write_next().map(|e| e.item), Some('a'));
        assert_eq!(o.write_next().map(|e| e.item), Some('b'));
        assert_eq!(o.expire(t0).len(), 1, "a, written, expires");
        assert_eq!(o.write_next().map(|e| e.item), Some('c'));
        o.push('d', None);
        o.push('e', None);
        // Full: b (written) makes room for e; d and e are still to write.
        assert_eq!(o.remove(3).map(|e| e.item), Some('c'));
        assert_eq!(o.write_next().map(|e| e.item), Some('d'));
        assert_eq!(o.write_next().map(|e| e.item), Some('e'));
        assert!(!o.has_unwritten());
    }

    #[test]
    fn expired_entries_leave_wherever_they_are_and_the_rest_keep_their_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut o = Outbox::new(10);
        o.push('a', Some(t0 + s(5)));
        o.push('b', Some(t0 + s(1)));
        o.push('c', None);
        o.push('d', Some(t0 + s(2)));
        assert_eq!(ids(&o.expire(t0 + s(2))), [2, 4]);
        assert_eq!(o.remove(3).map(|e| e.item), Some('c'));
        assert_eq!(o.remove(3), None);
        assert_eq!(ids(&o.drain()), [1]);
    }
}
