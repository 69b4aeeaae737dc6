//! The result cache: an action's result on the same input (action, entity, payload) is reused
//! for a while instead of running the action again, so a redelivered or repeated event costs
//! no second webhook or e-mail. Bounded by a time to live and by bytes, the oldest entries
//! going first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::metrics::ExecutorMetrics;

/// What a lookup or an insert does to the cache's counters and size, kept here for the
/// observed gauges (the metrics' counters cannot be read back).
#[derive(Debug, Default)]
pub struct CacheTotals {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub bytes: AtomicU64,
}

pub struct ResultCache {
    ttl: Duration,
    capacity_bytes: u64,
    entries: Mutex<Entries>,
    totals: CacheTotals,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    /// Insertions in order, for eviction: a key replaced since is skipped by its number.
    order: VecDeque<Insertion>,
    bytes: u64,
    inserted: u64,
}

struct Insertion {
    key: String,
    number: u64,
    at: Instant,
}

struct Entry {
    result: String,
    number: u64,
}

fn size(key: &str, result: &str) -> u64 {
    (key.len() + result.len()) as u64
}

impl ResultCache {
    pub fn new(ttl: Duration, capacity_bytes: u64) -> ResultCache {
        ResultCache {
            ttl,
            capacity_bytes,
            entries: Mutex::new(Entries::default()),
            totals: CacheTotals::default(),
        }
    }

    pub fn totals(&self) -> &CacheTotals {
        &self.totals
    }

    /// The cached result for `key`, counted as a hit or a miss.
    pub fn get(&self, key: &str, metrics: &ExecutorMetrics) -> Option<String> {
        let found = {
            let mut entries = self.lock();
            entries.expire(self.ttl);
            entries.by_key.get(key).map(|e| e.result.clone())
        };
        self.publish_size();
        if found.is_some() {
            self.totals.hits.fetch_add(1, Ordering::Relaxed);
            metrics.cache_hits.add(1);
        } else {
            self.totals.misses.fetch_add(1, Ordering::Relaxed);
            metrics.cache_misses.add(1);
        }
        found
    }

    /// Keeps `result` for `key`, evicting the oldest entries beyond the capacity. A result
    /// larger than the whole capacity is not kept.
    pub fn insert(&self, key: String, result: String) {
        let bytes = size(&key, &result);
        if bytes > self.capacity_bytes {
            return;
        }
        {
            let mut entries = self.lock();
            entries.expire(self.ttl);
            if let Some(old) = entries.by_key.remove(&key) {
                entries.bytes -= size(&key, &old.result);
            }
            entries.inserted += 1;
            let number = entries.inserted;
            entries.order.push_back(Insertion {
                key: key.clone(),
                number,
                at: Instant::now(),
            });
            entries.by_key.insert(key, Entry { result, number });
            entries.bytes += bytes;
            while entries.bytes > self.capacity_bytes {
                if !entries.evict_oldest() {
                    break;
                }
            }
        }
        self.publish_size();
    }

    fn publish_size(&self) {
        let bytes = self.lock().bytes;
        self.totals.bytes.store(bytes, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A poisoned lock only means a thread panicked holding it; the map is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Entries {
    /// Drops the entries older than `ttl`.
    fn expire(&mut self, ttl: Duration) {
        while let Some(oldest) = self.order.front() {
            if oldest.at.elapsed() < ttl {
                break;
            }
            self.evict_oldest();
        }
    }

    /// Drops the oldest entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some(Insertion { key, number, .. }) = self.order.pop_front() else {
            return false;
        };
        // When the key was replaced after this insertion, its newer entry stays.
        if self.by_key.get(&key).is_some_and(|e| e.number == number)
            && let Some(entry) = self.by_key.remove(&key)
        {
            self.bytes -= size(&key, &entry.result);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> ExecutorMetrics {
        ExecutorMetrics::new(&opentelemetry::global::meter("cache-test"))
    }

    #[test]
    fn a_result_is_found_until_it_expires() {
        let metrics = metrics();
        let cache = ResultCache::new(Duration::from_millis(30), 1024);
        assert_eq!(cache.get("k", &metrics), None);
        cache.insert("k".into(), "done".into());
        assert_eq!(cache.get("k", &metrics).as_deref(), Some("done"));
        assert_eq!(cache.totals().bytes.load(Ordering::Relaxed), 5);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("k", &metrics), None);
        assert_eq!(cache.totals().bytes.load(Ordering::Relaxed), 0);
        assert_eq!(cache.totals().hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.totals().misses.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_oldest_entries_make_room() {
        let metrics = metrics();
        let cache = ResultCache::new(Duration::from_secs(60), 10);
        cache.insert("a".into(), "1234".into()); // 5 bytes
        cache.insert("b".into(), "1234".into()); // 10
        cache.insert("a".into(), "12".into()); // replaces a: 8
        cache.insert("c".into(), "1234".into()); // 13: b goes, then 8
        assert_eq!(cache.get("b", &metrics), None);
        assert_eq!(cache.get("a", &metrics).as_deref(), Some("12"));
        assert_eq!(cache.get("c", &metrics).as_deref(), Some("1234"));
        assert_eq!(cache.totals().bytes.load(Ordering::Relaxed), 8);
        cache.insert("big".into(), "x".repeat(20));
        assert_eq!(
            cache.get("big", &metrics),
            None,
            "larger than the whole cache"
        );
    }
}
