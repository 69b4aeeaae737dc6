//! The executor's gauges, observed rather than kept up to date.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

use opentelemetry::metrics::Meter;

use super::{Inner, lock};
use crate::metrics::{ExecutorMetrics, percent};

/// The gauges, read at each collection from what they describe.
pub(super) fn observe_gauges(inner: &Arc<Inner>, meter: &Meter) {
    type M = ExecutorMetrics;
    let observe = |def: &alys_telemetry::sources::catalog::MetricDef, read: fn(&Inner) -> f64| {
        let weak: Weak<Inner> = Arc::downgrade(inner);
        def.observe_f64_gauge(meter, move |obs| {
            if let Some(inner) = weak.upgrade() {
                obs.observe(read(&inner), &[]);
            }
        });
    };
    observe(&M::QUEUE_DEPTH, |inner| {
        let queue = &inner.queue;
        (queue.max_capacity() - queue.capacity()) as f64
    });
    observe(&M::EVENTS_IN_FLIGHT, |inner| {
        lock(&inner.state).in_flight as f64
    });
    observe(&M::CACHE_SIZE, |inner| {
        inner.cache.totals().bytes.load(Relaxed) as f64
    });
    observe(&M::CACHE_HIT_RATE, |inner| {
        let totals = inner.cache.totals();
        let hits = totals.hits.load(Relaxed);
        percent(hits, hits + totals.misses.load(Relaxed))
    });
    observe(&M::DEDUP_HIT_RATE, |inner| {
        percent(
            inner.dedup.duplicates.load(Relaxed),
            inner.dedup.checks.load(Relaxed),
        )
    });
}
