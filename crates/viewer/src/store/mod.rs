//! The in-process trace store: a span processor beside the exporters that keeps, within a
//! fixed memory bound, the most recent complete sampled traces, and per root operation the
//! slowest and the failed ones (zPages' latency buckets), for the viewer's pages and API.
//!
//! The span's end path does constant work: it sizes the span, takes a short lock, and pushes
//! the span into a hand-off queue (no allocation: the queue's room is reserved up front). A
//! thread of the store's own takes the queue every 100 ms (sooner when it fills halfway),
//! gathers spans per trace, settles traces, counts them per operation and evicts within the
//! bound. Readers copy out `Arc`s under the index's lock and render outside it. Nothing here
//! depends on the exporters: the store works with push off or the collector down.
//!
//! ```
//! use alys_telemetry_viewer::store::{StoreConfig, TraceQuery, TraceStore};
//! use opentelemetry::trace::{Tracer, TracerProvider as _};
//!
//! let store = TraceStore::start(StoreConfig::new(16 << 20)).unwrap();
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_span_processor(store.processor())
//!     .build();
//! provider.tracer("example").in_span("chain.produce_block", |_| {});
//! store.settle_now();
//! let recent = store.query(&TraceQuery::default());
//! assert_eq!(recent[0].operation(), "chain.produce_block");
//! ```

mod index;
mod operations;
mod query;
mod shape;
mod trace;

#[cfg(test)]
mod tests;

use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;
use opentelemetry::trace::TraceId;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

pub use operations::{
    BUCKETS, LATENCY_BOUNDS, OTHER_OPERATIONS, OperationStats, bucket_label, bucket_of,
    bucket_range,
};
pub use query::{TraceQuery, View};
pub use shape::{Segment, Timing, critical_path, critical_path_of, tree_order};
pub use trace::Trace;

use alys_telemetry_catalog::trace_store::{DropReason, TraceStoreMetrics};
use index::Index;
use trace::span_bytes;

/// How the store is sized and paced.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Bound on everything the store holds, in bytes.
    pub memory_bytes: usize,
    /// A trace whose root ended settles after this long without a span ending.
    pub quiet: Duration,
    /// How often the store's thread takes in the queued spans.
    pub tick: Duration,
}

impl StoreConfig {
    /// A store of `memory_bytes`, settling traces after a quiet second, ingesting every 100 ms.
    pub fn new(memory_bytes: usize) -> StoreConfig {
        StoreConfig {
            memory_bytes,
            quiet: Duration::from_secs(1),
            tick: Duration::from_millis(100),
        }
    }
}

/// What the store holds, for the pages and its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub memory_limit: usize,
    /// Bytes held now: the index and the hand-off queue's reserved room.
    pub memory_bytes: usize,
    pub traces: usize,
    /// Traces still gathering spans.
    pub gathering: usize,
    pub evicted_traces: u64,
    pub dropped_spans: u64,
}

/// The store. Cloning shares it.
#[derive(Clone)]
pub struct TraceStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStore")
            .field("stats", &self.stats())
            .finish()
    }
}

struct Shared {
    config: StoreConfig,
    handoff: Handoff,
    index: Mutex<Index>,
    counters: Arc<Counters>,
    resource: RwLock<Resource>,
    worker: OnceLock<Thread>,
    stopped: AtomicBool,
}

/// What the store counts, read by its metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    evicted_traces: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_too_large: AtomicU64,
    memory_bytes: AtomicU64,
    traces: AtomicU64,
}

impl Counters {
    pub(crate) fn dropped(&self, reason: DropReason) {
        let counter = match reason {
            DropReason::QueueFull => &self.dropped_queue_full,
            DropReason::TraceTooLarge => &self.dropped_too_large,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn dropped_total(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed)
            + self.dropped_too_large.load(Ordering::Relaxed)
    }
}

impl TraceStore {
    /// Starts a store and its ingest thread (named `trace-store`). The thread ends when the
    /// last handle is dropped or the processor is shut down.
    pub fn start(config: StoreConfig) -> std::io::Result<TraceStore> {
        let counters = Arc::new(Counters::default());
        let handoff = Handoff::new(config.memory_bytes);
        let limit = config.memory_bytes.saturating_sub(handoff.reserved());
        let shared = Arc::new(Shared {
            index: Mutex::new(Index::new(limit, config.quiet, Arc::clone(&counters))),
            handoff,
            counters,
            resource: RwLock::new(Resource::builder_empty().build()),
            worker: OnceLock::new(),
            stopped: AtomicBool::new(false),
            config,
        });
        let weak = Arc::downgrade(&shared);
        let worker = std::thread::Builder::new()
            .name("trace-store".into())
            .spawn(move || run(weak))?;
        let _ = shared.worker.set(worker.thread().clone());
        Ok(TraceStore { shared })
    }

    /// The span processor to add to the tracer provider (beside the exporters').
    pub fn processor(&self) -> StoreProcessor {
        StoreProcessor {
            store: self.clone(),
        }
    }

    /// A trace by id: settled, or a snapshot of one still gathering.
    pub fn get(&self, id: TraceId) -> Option<Arc<Trace>> {
        self.index().get(id)
    }

    /// The traces `query` selects, in its view's order.
    pub fn query(&self, query: &TraceQuery) -> Vec<Arc<Trace>> {
        let all = self.index().newest_first();
        query.apply(all, &self.service_name())
    }

    /// Every root operation's counts, by name.
    pub fn operations(&self) -> Vec<OperationStats> {
        let mut ops = self.index().operations();
        ops.sort_by(|a, b| a.name.cmp(&b.name));
        ops
    }

    pub fn stats(&self) -> StoreStats {
        let (bytes, traces, gathering) = {
            let index = self.index();
            (index.bytes(), index.settled_len(), index.gathering_len())
        };
        StoreStats {
            memory_limit: self.shared.config.memory_bytes,
            memory_bytes: bytes + self.shared.handoff.reserved(),
            traces,
            gathering,
            evicted_traces: self.shared.counters.evicted_traces.load(Ordering::Relaxed),
            dropped_spans: self.shared.counters.dropped_total(),
        }
    }

    /// The resource of the spans (the tracer provider's).
    pub fn resource(&self) -> Resource {
        self.shared
            .resource
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The resource's `service.name`.
    pub fn service_name(&self) -> String {
        self.resource()
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned())
            .unwrap_or_default()
    }

    /// Takes in the queued spans now.
    pub fn ingest_now(&self) {
        ingest(&self.shared, Instant::now());
    }

    /// Takes in the queued spans and settles every trace at once, quiet or not (tests,
    /// shutdown).
    pub fn settle_now(&self) {
        self.ingest_now();
        self.index().settle_all();
        self.publish();
    }

    /// Whether `id` is kept aside by its operation (among its bucket's latest or the failed).
    pub fn is_kept_aside(&self, id: TraceId) -> bool {
        self.index().is_kept_aside(id)
    }

    /// Publishes the store's metrics on `meter` (read at collection).
    pub fn register_metrics(&self, meter: &Meter) {
        let c = Arc::clone(&self.shared.counters);
        TraceStoreMetrics::EVICTED_TRACES.observe_u64_counter(meter, move |obs| {
            obs.observe(c.evicted_traces.load(Ordering::Relaxed), &[]);
        });
        let c = Arc::clone(&self.shared.counters);
        TraceStoreMetrics::DROPPED_SPANS.observe_u64_counter(meter, move |obs| {
            for &reason in DropReason::ALL {
                let n = match reason {
                    DropReason::QueueFull => &c.dropped_queue_full,
                    DropReason::TraceTooLarge => &c.dropped_too_large,
                };
                obs.observe(
                    n.load(Ordering::Relaxed),
                    &[KeyValue::new("reason", reason.as_str())],
                );
            }
        });
        let c = Arc::clone(&self.shared.counters);
        TraceStoreMetrics::MEMORY.observe_f64_gauge(meter, move |obs| {
            obs.observe(c.memory_bytes.load(Ordering::Relaxed) as f64, &[]);
        });
        let c = Arc::clone(&self.shared.counters);
        TraceStoreMetrics::TRACES.observe_f64_gauge(meter, move |obs| {
            obs.observe(c.traces.load(Ordering::Relaxed) as f64, &[]);
        });
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.shared
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self) {
        publish(&self.shared);
    }
}

/// The ingest thread: every tick (or when woken), takes the queue in and settles.
fn run(shared: Weak<Shared>) {
    let mut spare = Vec::new();
    loop {
        let Some(s) = shared.upgrade() else { return };
        if s.stopped.load(Ordering::Acquire) {
            return;
        }
        let tick = s.config.tick;
        take_in(&s, &mut spare, Instant::now());
        drop(s);
        std::thread::park_timeout(tick);
    }
}

fn ingest(shared: &Shared, now: Instant) {
    take_in(shared, &mut Vec::new(), now);
}

/// Takes the queue in and settles; `spare` is the empty vector to swap in (its room kept).
fn take_in(shared: &Shared, spare: &mut Vec<Slot>, now: Instant) {
    {
        let mut index = shared.index.lock().unwrap_or_else(PoisonError::into_inner);
        // The queue is taken under the index's lock: with two ingesters (this thread, and
        // `ingest_now` or a flush from any other), one could otherwise take its spans first
        // and the other add its later ones first, a block's hops before its root.
        let mut spans = shared.handoff.swap(std::mem::take(spare));
        for (span, bytes) in spans.drain(..) {
            index.add(span, bytes, now);
        }
        *spare = spans;
        index.settle(now);
    }
    publish(shared);
}

fn publish(shared: &Shared) {
    let (bytes, traces) = {
        let index = shared.index.lock().unwrap_or_else(PoisonError::into_inner);
        (index.bytes(), index.settled_len())
    };
    let c = &shared.counters;
    c.memory_bytes.store(
        (bytes + shared.handoff.reserved()) as u64,
        Ordering::Relaxed,
    );
    c.traces.store(traces as u64, Ordering::Relaxed);
}

/// The span processor: hands sampled, ended spans to the store.
#[derive(Debug)]
pub struct StoreProcessor {
    store: TraceStore,
}

impl SpanProcessor for StoreProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Record-only spans (recording, not sampled) are nobody's trace.
        if !span.span_context.is_sampled() {
            return;
        }
        let shared = &self.store.shared;
        if shared.handoff.push(span, &shared.counters)
            && let Some(worker) = shared.worker.get()
        {
            worker.unpark();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.store.ingest_now();
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.store.ingest_now();
        let shared = &self.store.shared;
        shared.stopped.store(true, Ordering::Release);
        if let Some(worker) = shared.worker.get() {
            worker.unpark();
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        *self
            .store
            .shared
            .resource
            .write()
            .unwrap_or_else(PoisonError::into_inner) = resource.clone();
    }
}

/// The hand-off between the span's end path and the ingest thread: a vector whose room is
/// reserved up front (two of them, swapped), bounded in spans and in bytes.
struct Handoff {
    queue: Mutex<Queue>,
    max_len: usize,
    max_heap: usize,
}

struct Queue {
    spans: Vec<(SpanData, usize)>,
    heap: usize,
    woken: bool,
}

type Slot = (SpanData, usize);

impl Handoff {
    /// A sixteenth of the bound for the two vectors' slots, a sixteenth for what the queued
    /// spans own.
    fn new(memory_bytes: usize) -> Handoff {
        let max_len = (memory_bytes / 16 / 2 / size_of::<Slot>()).max(16);
        Handoff {
            queue: Mutex::new(Queue {
                spans: Vec::with_capacity(max_len),
                heap: 0,
                woken: false,
            }),
            max_len,
            max_heap: memory_bytes / 16,
        }
    }

    /// Bytes the hand-off may hold at most.
    fn reserved(&self) -> usize {
        2 * self.max_len * size_of::<Slot>() + self.max_heap
    }

    /// Queues `span`; true when the ingest thread should be woken (once per fill).
    fn push(&self, span: SpanData, counters: &Counters) -> bool {
        let bytes = span_bytes(&span);
        let heap = bytes - size_of::<SpanData>();
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.spans.len() >= self.max_len || q.heap + heap > self.max_heap {
            drop(q);
            counters.dropped(DropReason::QueueFull);
            // `span` is freed here, outside the lock.
            return false;
        }
        q.spans.push((span, bytes));
        q.heap += heap;
        let wake = !q.woken && q.spans.len() >= self.max_len / 2;
        q.woken |= wake;
        wake
    }

    /// Swaps the queue's vector for `empty` (whose room it keeps) and returns the spans.
    fn swap(&self, mut empty: Vec<Slot>) -> Vec<Slot> {
        empty.clear();
        empty.reserve_exact(self.max_len);
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.heap = 0;
        q.woken = false;
        std::mem::replace(&mut q.spans, empty)
    }
}
