//! The bound on what waits for export. The SDK's batch processors drop an item when their
//! queue is full and say so only in their own diagnostics (spans, on the global meter
//! provider; log records, nowhere but a warning at shutdown). During a collector outage the
//! exporter holds a batch while it retries, and everything produced meanwhile waits in the
//! queue, so the queue is where an outage longer than it can hold loses data. We keep the
//! bound ourselves, in front of the SDK's queue (sized to the same bound, so it never drops
//! first): every item either takes a place here or is counted as dropped, and a place is
//! given back when the export that carried the item finishes, delivered or not.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Places for items between their end and the end of the export that carries them.
#[derive(Debug)]
pub struct Backlog {
    waiting: AtomicUsize,
    bound: usize,
}

impl Backlog {
    /// At most `bound` items wait at once.
    pub fn new(bound: usize) -> Backlog {
        Backlog {
            waiting: AtomicUsize::new(0),
            bound,
        }
    }

    /// Takes a place for one item; `false` when all are taken (the item is to be dropped).
    pub fn admit(&self) -> bool {
        // One atomic add on the way that succeeds: a span ends on every message at ratio 1.0.
        if self.waiting.fetch_add(1, Ordering::AcqRel) < self.bound {
            true
        } else {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            false
        }
    }

    /// Gives back the places of `items` whose export finished.
    pub fn release(&self, items: usize) {
        // Never below zero: an export of items that took no place (none today) must not open
        // room that the bound does not have.
        let _ = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(w.saturating_sub(items))
            });
    }

    /// Items waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn bound(&self) -> usize {
        self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_again_after_a_release() {
        let backlog = Backlog::new(3);
        assert_eq!(
            (0..5).map(|_| backlog.admit()).collect::<Vec<_>>(),
            [true, true, true, false, false]
        );
        assert_eq!(backlog.waiting(), 3);
        backlog.release(2);
        assert!(backlog.admit());
        assert!(backlog.admit());
        assert!(!backlog.admit());
    }

    #[test]
    fn a_release_past_what_waits_stops_at_zero() {
        let backlog = Backlog::new(2);
        assert!(backlog.admit());
        backlog.release(5);
        assert_eq!(backlog.waiting(), 0);
        assert!(backlog.admit() && backlog.admit() && !backlog.admit());
    }
}
