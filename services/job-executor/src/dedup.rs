//! Deduplication: an event whose id arrived recently (the last `capacity` ids) is a
//! redelivery and is not processed again.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::ExecutorMetrics;

pub struct Dedup {
    capacity: usize,
    seen: Mutex<Seen>,
    pub(crate) checks: AtomicU64,
    pub(crate) duplicates: AtomicU64,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Dedup {
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
            checks: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        }
    }

    /// Whether `id` arrived recently; if not, it is remembered from now on. Counted either way.
    pub fn is_duplicate(&self, id: &str, metrics: &ExecutorMetrics) -> bool {
        let duplicate = {
            let mut seen = self.lock();
            if seen.ids.contains(id) {
                true
            } else {
                if seen.order.len() >= self.capacity
                    && let Some(oldest) = seen.order.pop_front()
                {
                    seen.ids.remove(&oldest);
                }
                seen.ids.insert(id.to_string());
                seen.order.push_back(id.to_string());
                false
            }
        };
        self.checks.fetch_add(1, Ordering::Relaxed);
        metrics.dedup_checks.add(1);
        if duplicate {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            metrics.dedup_duplicates.add(1);
        }
        duplicate
    }

    /// Forgets `id`: its event was refused after the check, so a redelivery is welcome.
    pub fn forget(&self, id: &str) {
        let mut seen = self.lock();
        if seen.ids.remove(id) {
            seen.order.retain(|kept| kept != id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_duplicate_while_it_is_remembered() {
        let metrics = ExecutorMetrics::new(&opentelemetry::global::meter("dedup-test"));
        let dedup = Dedup::new(2);
        assert!(!dedup.is_duplicate("a", &metrics));
        assert!(dedup.is_duplicate("a", &metrics));
        assert!(!dedup.is_duplicate("b", &metrics));
        assert!(!dedup.is_duplicate("c", &metrics)); // a is forgotten
        assert!(!dedup.is_duplicate("a", &metrics));
        dedup.forget("a");
        assert!(!dedup.is_duplicate("a", &metrics));
        assert_eq!(dedup.checks.load(Ordering::Relaxed), 6);
        assert_eq!(dedup.duplicates.load(Ordering::Relaxed), 1);
    }
}
