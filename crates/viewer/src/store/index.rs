//! The store's index: spans gathered per trace until the trace settles, settled traces by age,
//! the operations' buckets, and eviction within the memory bound.
//!
//! A trace *settles* when its root has ended and no span of it has ended for the quiet time
//! (a handed-on message may still be on its way when the sender's span ends, so the root's end
//! alone does not close a trace), or, without a local root, after five quiet times, or at the
//! latest a minute after its first span. A span that ends after its trace settled joins it.
//!
//! Eviction, when the bound is reached: the oldest trace that no operation keeps aside goes
//! first; the kept-aside ones (each bucket's latest few, the latest failed) go only when they
//! hold more than half the bound, or when nothing else is left; traces still gathering go
//! last. Only the ingest thread calls into the index, under the index's lock.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;

use super::operations::{
    MAX_OPERATIONS, OPERATION_BYTES, OTHER_OPERATIONS, Operation, OperationStats, bucket_of,
};
use super::trace::Trace;
use super::{Counters, DropReason};

/// A trace without a local root settles after this many quiet times.
const ORPHAN_QUIET_FACTOR: u32 = 5;
/// No trace gathers for longer than this.
const MAX_GATHERING: Duration = Duration::from_secs(60);

/// Spans of a trace that has not settled yet.
struct Gathering {
    spans: Vec<SpanData>,
    /// Heap bytes of the spans (their slots in `spans` not included).
    heap: usize,
    bytes: usize,
    /// Its place in the order traces began gathering (`Index::gathering_order`).
    seq: u64,
    first: Instant,
    last: Instant,
    has_root: bool,
}

impl Gathering {
    fn new(now: Instant, seq: u64) -> Gathering {
        Gathering {
            spans: Vec::new(),
            heap: 0,
            bytes: GATHERING_OVERHEAD,
            seq,
            first: now,
            last: now,
            has_root: false,
        }
    }

    /// Adds a span; returns the change in bytes.
    fn push(&mut self, span: SpanData, bytes: usize, now: Instant) -> isize {
        let before = self.bytes;
        self.has_root |= span.parent_span_id == SpanId::INVALID;
        self.spans.push(span);
        self.heap += bytes - size_of::<SpanData>();
        self.bytes = GATHERING_OVERHEAD + self.heap + self.spans.capacity() * size_of::<SpanData>();
        self.last = now;
        self.bytes as isize - before as isize
    }

    fn settles(&self, now: Instant, quiet: Duration) -> bool {
        let quiet_for = now.saturating_duration_since(self.last);
        (self.has_root && quiet_for >= quiet)
            || quiet_for >= quiet * ORPHAN_QUIET_FACTOR
            || now.saturating_duration_since(self.first) >= MAX_GATHERING
    }
}

/// A settled trace and where it stands.
struct Settled {
    trace: Arc<Trace>,
    seq: u64,
    /// How many operation lists keep it aside.
    pins: u8,
    operation: usize,
    bucket: usize,
}

/// Bookkeeping beside each trace's spans: its entry in the maps and sets, the `Arc`.
const TRACE_OVERHEAD: usize =
    size_of::<Trace>() + size_of::<(TraceId, Settled)>() + 3 * 48 + 2 * 16;
const GATHERING_OVERHEAD: usize =
    size_of::<(TraceId, Gathering)>() + 16 + size_of::<(u64, TraceId)>() + 16;

pub(crate) struct Index {
    limit: usize,
    quiet: Duration,
    gathering: HashMap<TraceId, Gathering>,
    /// The gathering traces, oldest first: eviction takes the first without a scan (a scan
    /// per evicted trace made ingest quadratic once gathering traces alone passed the bound,
    /// as they do at tens of thousands of spans a second).
    gathering_order: BTreeMap<u64, TraceId>,
    gathering_bytes: usize,
    settled: HashMap<TraceId, Settled>,
    by_age: BTreeMap<u64, TraceId>,
    unpinned: BTreeSet<u64>,
    pinned: BTreeSet<u64>,
    settled_bytes: usize,
    pinned_bytes: usize,
    operations: Vec<(String, Operation)>,
    operation_ids: HashMap<String, usize>,
    next_seq: u64,
    counters: Arc<Counters>,
}

impl Index {
    /// An index that holds at most `limit` bytes (its own bookkeeping included).
    pub fn new(limit: usize, quiet: Duration, counters: Arc<Counters>) -> Index {
        Index {
            limit,
            quiet,
            gathering: HashMap::new(),
            gathering_order: BTreeMap::new(),
            gathering_bytes: 0,
            settled: HashMap::new(),
            by_age: BTreeMap::new(),
            unpinned: BTreeSet::new(),
            pinned: BTreeSet::new(),
            settled_bytes: 0,
            pinned_bytes: 0,
            operations: Vec::new(),
            operation_ids: HashMap::new(),
            next_seq: 0,
            counters,
        }
    }

    /// The bytes the index holds: spans, bookkeeping, and the maps' spare room.
    pub fn bytes(&self) -> usize {
        self.gathering_bytes
            + self.settled_bytes
            + self.operations.len() * OPERATION_BYTES
            + self
                .operations
                .iter()
                .map(|(n, _)| 2 * n.len())
                .sum::<usize>()
            + (self.settled.capacity() - self.settled.len()) * size_of::<(TraceId, Settled)>()
            + (self.gathering.capacity() - self.gathering.len()) * size_of::<(TraceId, Gathering)>()
    }

    pub fn settled_len(&self) -> usize {
        self.settled.len()
    }

    pub fn gathering_len(&self) -> usize {
        self.gathering.len()
    }

    /// Takes in one ended span of `bytes` bytes.
    pub fn add(&mut self, span: SpanData, bytes: usize, now: Instant) {
        let id = span.span_context.trace_id();
        if self.settled.contains_key(&id) {
            self.add_late(id, span, bytes);
        } else {
            let entry = match self.gathering.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.gathering_order.insert(seq, id);
                    e.insert(Gathering::new(now, seq))
                }
            };
            if entry.bytes + bytes > self.limit / 4 {
                self.counters.dropped(DropReason::TraceTooLarge);
                if entry.spans.is_empty() {
                    let seq = entry.seq;
                    self.gathering.remove(&id);
                    self.gathering_order.remove(&seq);
                }
                return;
            }
            if entry.spans.is_empty() {
                self.gathering_bytes += GATHERING_OVERHEAD;
            }
            let delta = entry.push(span, bytes, now);
            self.gathering_bytes = self.gathering_bytes.saturating_add_signed(delta);
        }
        self.enforce();
    }

    /// Settles the traces that are done gathering at `now`.
    pub fn settle(&mut self, now: Instant) {
        let quiet = self.quiet;
        let done: Vec<TraceId> = self
            .gathering
            .iter()
            .filter(|(_, g)| g.settles(now, quiet))
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.settle_one(id);
        }
        self.shrink();
        self.enforce();
    }

    /// Settles every gathering trace now (flush).
    pub fn settle_all(&mut self) {
        let ids: Vec<TraceId> = self.gathering.keys().copied().collect();
        for id in ids {
            self.settle_one(id);
        }
        self.enforce();
    }

    fn settle_one(&mut self, id: TraceId) {
        let Some(g) = self.gathering.remove(&id) else {
            return;
        };
        self.gathering_order.remove(&g.seq);
        self.gathering_bytes = self.gathering_bytes.saturating_sub(g.bytes);
        let bytes = TRACE_OVERHEAD + g.heap + g.spans.len() * size_of::<SpanData>();
        let trace = Trace::new(id, g.spans, bytes);
        self.insert(trace);
    }

    fn insert(&mut self, trace: Trace) {
        let id = trace.trace_id();
        let bucket = bucket_of(trace.duration());
        let failed = trace.has_error();
        let operation = self.operation_id(trace.operation());
        let released = self.operations[operation].1.record(id, bucket, failed);
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = trace.bytes();
        self.settled_bytes += bytes;
        self.pinned_bytes += bytes;
        self.by_age.insert(seq, id);
        self.pinned.insert(seq);
        self.settled.insert(
            id,
            Settled {
                trace: Arc::new(trace),
                seq,
                pins: Operation::pins(failed),
                operation,
                bucket,
            },
        );
        for r in released {
            self.change_pins(r, -1);
        }
    }

    fn operation_id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.operation_ids.get(name) {
            return i;
        }
        let name = if self.operations.len() >= MAX_OPERATIONS {
            OTHER_OPERATIONS
        } else {
            name
        };
        if let Some(&i) = self.operation_ids.get(name) {
            return i;
        }
        self.operations
            .push((name.to_string(), Operation::default()));
        self.operation_ids
            .insert(name.to_string(), self.operations.len() - 1);
        self.operations.len() - 1
    }

    /// A span of a settled trace: the trace is rebuilt with it and moved if its bucket or
    /// its failure changed.
    fn add_late(&mut self, id: TraceId, span: SpanData, bytes: usize) {
        let Some(s) = self.settled.get_mut(&id) else {
            return;
        };
        if s.trace.bytes() + bytes > self.limit / 4 {
            self.counters.dropped(DropReason::TraceTooLarge);
            return;
        }
        let before = (s.bucket, s.trace.has_error());
        let grown = s.trace.with_late(vec![span], bytes);
        let after = (bucket_of(grown.duration()), grown.has_error());
        s.trace = Arc::new(grown);
        s.bucket = after.0;
        let (operation, pins) = (s.operation, s.pins);
        self.settled_bytes += bytes;
        if pins > 0 {
            self.pinned_bytes += bytes;
        }
        let (delta, released) = self.operations[operation].1.reclassify(id, before, after);
        self.change_pins(id, delta);
        for r in released {
            self.change_pins(r, -1);
        }
    }

    fn change_pins(&mut self, id: TraceId, delta: i16) {
        let Some(s) = self.settled.get_mut(&id) else {
            return;
        };
        let was = s.pins;
        s.pins = (i16::from(s.pins) + delta).clamp(0, 255) as u8;
        let bytes = s.trace.bytes();
        match (was > 0, s.pins > 0) {
            (true, false) => {
                self.pinned.remove(&s.seq);
                self.unpinned.insert(s.seq);
                self.pinned_bytes -= bytes;
            }
            (false, true) => {
                self.unpinned.remove(&s.seq);
                self.pinned.insert(s.seq);
                self.pinned_bytes += bytes;
            }
            _ => {}
        }
    }

    /// Evicts until the index is within its bound.
    fn enforce(&mut self) {
        while self.bytes() > self.limit {
            let victim = if self.pinned_bytes > self.limit / 2 {
                self.pinned.first().copied()
            } else {
                None
            };
            let victim = victim
                .or_else(|| self.unpinned.first().copied())
                .or_else(|| self.pinned.first().copied());
            match victim {
                Some(seq) => self.evict(seq),
                None => {
                    if !self.evict_oldest_gathering() {
                        break;
                    }
                }
            }
        }
    }

    fn evict(&mut self, seq: u64) {
        let Some(id) = self.by_age.remove(&seq) else {
            return;
        };
        self.unpinned.remove(&seq);
        self.pinned.remove(&seq);
        if let Some(s) = self.settled.remove(&id) {
            let bytes = s.trace.bytes();
            self.settled_bytes -= bytes;
            if s.pins > 0 {
                self.pinned_bytes -= bytes;
                self.operations[s.operation].1.forget(id, s.bucket);
            }
        }
        self.counters.evicted_traces.fetch_add(1, Ordering::Relaxed);
    }

    fn evict_oldest_gathering(&mut self) -> bool {
        let Some((_, id)) = self.gathering_order.pop_first() else {
            return false;
        };
        if let Some(g) = self.gathering.remove(&id) {
            self.gathering_bytes = self.gathering_bytes.saturating_sub(g.bytes);
        }
        self.counters.evicted_traces.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Gives back the maps' spare room after a burst.
    fn shrink(&mut self) {
        if self.settled.capacity() > 64 && self.settled.len() < self.settled.capacity() / 4 {
            self.settled.shrink_to(self.settled.len() * 2);
        }
        if self.gathering.capacity() > 64 && self.gathering.len() < self.gathering.capacity() / 4 {
            self.gathering.shrink_to(self.gathering.len() * 2);
        }
    }

    /// A settled trace, or a snapshot of one still gathering.
    pub fn get(&self, id: TraceId) -> Option<Arc<Trace>> {
        if let Some(s) = self.settled.get(&id) {
            return Some(Arc::clone(&s.trace));
        }
        self.gathering
            .get(&id)
            .map(|g| Arc::new(Trace::new(id, g.spans.clone(), g.bytes)))
    }

    /// Every settled trace, newest first.
    pub fn newest_first(&self) -> Vec<Arc<Trace>> {
        self.by_age
            .values()
            .rev()
            .filter_map(|id| self.settled.get(id))
            .map(|s| Arc::clone(&s.trace))
            .collect()
    }

    pub fn operations(&self) -> Vec<OperationStats> {
        self.operations
            .iter()
            .map(|(name, op)| op.stats(name))
            .collect()
    }

    /// Whether `id` is kept aside by its operation (for tests and the pages' badges).
    pub fn is_kept_aside(&self, id: TraceId) -> bool {
        self.settled.get(&id).is_some_and(|s| s.pins > 0)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::Status;

    use super::super::trace::span_bytes;
    use super::super::trace::tests::span;
    use super::*;

    fn index(limit: usize) -> Index {
        Index::new(limit, Duration::from_secs(1), Arc::default())
    }

    fn add(ix: &mut Index, s: SpanData, now: Instant) {
        let bytes = span_bytes(&s);
        ix.add(s, bytes, now);
    }

    #[test]
    fn a_trace_settles_after_its_root_ended_and_a_quiet_second() {
        let mut ix = index(1 << 20);
        let t0 = Instant::now();
        add(&mut ix, span(1, 1, 0, "chain.produce_block", 0, 250), t0);
        ix.settle(t0 + Duration::from_millis(500));
        assert_eq!(ix.settled_len(), 0);
        // The engine's hop ends after the root: the trace keeps gathering.
        add(
            &mut ix,
            span(1, 2, 1, "engine.execute_block", 249, 300),
            t0 + Duration::from_millis(600),
        );
        ix.settle(t0 + Duration::from_millis(1200));
        assert_eq!(ix.settled_len(), 0);
        ix.settle(t0 + Duration::from_millis(1700));
        assert_eq!(ix.settled_len(), 1);
        let t = ix.get(TraceId::from(1)).unwrap();
        assert_eq!(t.spans().len(), 2);
        // A late span joins the settled trace and moves it to the failed list.
        let mut late = span(1, 3, 2, "storage.store_block", 299, 2_000);
        late.status = Status::error("disk full");
        add(&mut ix, late, t0 + Duration::from_secs(3));
        let t = ix.get(TraceId::from(1)).unwrap();
        assert_eq!(t.spans().len(), 3);
        assert!(t.has_error());
        let ops = ix.operations();
        assert_eq!(ops[0].errors, 1);
        assert_eq!(ops[0].counts[bucket_of(Duration::from_secs(2))], 1);
        assert_eq!(ops[0].total(), 1);
    }

    #[test]
    fn a_trace_without_a_local_root_settles_after_five_quiet_times() {
        let mut ix = index(1 << 20);
        let t0 = Instant::now();
        add(&mut ix, span(7, 2, 99, "remote.child", 0, 10), t0);
        ix.settle(t0 + Duration::from_secs(2));
        assert_eq!(ix.settled_len(), 0);
        ix.settle(t0 + Duration::from_secs(5));
        assert_eq!(ix.settled_len(), 1);
    }

    #[test]
    fn the_bound_holds_and_the_kept_aside_outlive_the_ordinary() {
        let limit = 256 * 1024;
        let mut ix = index(limit);
        let t0 = Instant::now();
        let mut slow = span(1, 1, 0, "op", 0, 5_000);
        slow.status = Status::Unset;
        add(&mut ix, slow, t0);
        let mut failed = span(2, 1, 0, "op", 0, 5);
        failed.status = Status::error("boom");
        add(&mut ix, failed, t0);
        ix.settle_all();
        for i in 3..20_000u128 {
            add(&mut ix, span(i, 1, 0, "op", 0, 20), t0);
            ix.settle_all();
            assert!(ix.bytes() <= limit, "{} > {limit}", ix.bytes());
        }
        assert!(
            ix.get(TraceId::from(1)).is_some(),
            "the slow trace was evicted"
        );
        assert!(
            ix.get(TraceId::from(2)).is_some(),
            "the failed trace was evicted"
        );
        assert!(ix.get(TraceId::from(3)).is_none());
        assert!(ix.settled_len() > 100);
    }

    #[test]
    fn gathering_traces_past_the_bound_go_oldest_first() {
        let limit = 256 * 1024;
        let mut ix = index(limit);
        let t0 = Instant::now();
        // Spans whose parent is elsewhere: their traces keep gathering (no local root).
        let n = 5_000u128;
        for i in 1..=n {
            let now = t0 + Duration::from_micros(i as u64);
            add(&mut ix, span(i, 2, 1, "op", 0, 20), now);
            assert!(ix.bytes() <= limit, "{} > {limit}", ix.bytes());
            assert_eq!(ix.gathering_order.len(), ix.gathering.len());
        }
        assert_eq!(ix.settled_len(), 0);
        let kept = ix.gathering_len() as u128;
        assert!(kept > 10 && kept < n, "{kept} of {n} gathering");
        // Exactly the newest are left.
        for i in 1..=n {
            assert_eq!(
                ix.get(TraceId::from(i)).is_some(),
                i > n - kept,
                "trace {i}"
            );
        }
        ix.settle_all();
        assert!(ix.gathering_order.is_empty());
    }
}
