//! Exemplars: for each bucket of a histogram series, the last value recorded inside a sampled
//! trace, with that trace's ids, so that a latency on a dashboard leads to a trace.
//!
//! opentelemetry_sdk 0.33 keeps none, so the catalogue's histograms keep them beside the
//! SDK's aggregation ([`HistogramVec`](crate::instruments::HistogramVec) and
//! [`Histogram`](crate::instruments::Histogram) record into a [`SeriesExemplars`] when the
//! current context is sampled), and the pull endpoint writes them into OpenMetrics.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};

/// One exemplar: a recorded value and the sampled span it was recorded in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub value: f64,
    /// When it was recorded (wall clock).
    pub time: SystemTime,
}

/// A histogram series' exemplars: one slot per bucket (the `+Inf` bucket last).
#[derive(Debug)]
pub struct SeriesExemplars {
    bounds: &'static [f64],
    slots: Box<[Mutex<Option<Exemplar>>]>,
}

impl SeriesExemplars {
    fn new(bounds: &'static [f64]) -> SeriesExemplars {
        SeriesExemplars {
            bounds,
            slots: (0..=bounds.len()).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Keeps `value` as its bucket's exemplar when `span` is sampled.
    #[inline]
    pub fn offer(&self, value: f64, span: &SpanContext) {
        if span.is_sampled() {
            self.keep(value, span.trace_id(), span.span_id());
        }
    }

    /// Keeps `value` as its bucket's exemplar when the current context is sampled.
    #[inline]
    pub fn offer_current(&self, value: f64) {
        let ids = Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_sampled().then(|| (sc.trace_id(), sc.span_id()))
        });
        if let Some((trace_id, span_id)) = ids {
            self.keep(value, trace_id, span_id);
        }
    }

    #[cold]
    fn keep(&self, value: f64, trace_id: TraceId, span_id: SpanId) {
        // `le` is inclusive: the first bound not below the value. NaN lands in +Inf.
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        // A slot being written by another thread is skipped: its exemplar is as recent.
        if let Some(Ok(mut slot)) = self.slots.get(bucket).map(Mutex::try_lock) {
            *slot = Some(Exemplar {
                trace_id,
                span_id,
                value,
                time: SystemTime::now(),
            });
        }
    }

    /// The exemplar of the bucket whose upper bound is `le` (`f64::INFINITY` for `+Inf`).
    pub fn get(&self, le: f64) -> Option<Exemplar> {
        let bucket = if le.is_infinite() {
            self.bounds.len()
        } else {
            self.bounds.iter().position(|bound| *bound == le)?
        };
        *self
            .slots
            .get(bucket)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops exemplars recorded before `oldest`.
    fn expire(&self, oldest: SystemTime) {
        for slot in &self.slots {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_some_and(|e| e.time < oldest) {
                *slot = None;
            }
        }
    }
}

/// A series as the Prometheus exporter names it: the metric's name (without `_bucket`) and
/// its label pairs in name order, names as exported (characters outside `[a-zA-Z0-9_]`
/// become `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// The key of `name` with `labels` (in any order; names are sanitised as exported).
    pub fn new<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (sanitize(k), v.to_string()))
            .collect();
        labels.sort();
        SeriesKey {
            name: name.to_string(),
            labels,
        }
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c,
            false => '_',
        })
        .collect()
}

/// Every histogram series of the process that keeps exemplars, by the series' key.
#[derive(Debug, Default)]
pub struct ExemplarRegistry {
    series: RwLock<HashMap<SeriesKey, Arc<SeriesExemplars>>>,
}

/// The process's registry: the catalogue's histograms register here when a series is first
/// bound, and the pull endpoint reads it.
pub static EXEMPLARS: LazyLock<ExemplarRegistry> = LazyLock::new(ExemplarRegistry::default);

/// How long an exemplar is offered after it was recorded: longer than any scrape interval,
/// shorter than a trace's life in the viewer's store or Jaeger's retention.
pub const EXEMPLAR_MAX_AGE: Duration = Duration::from_secs(10 * 60);

impl ExemplarRegistry {
    /// The exemplars of `key` (registered now if new). Two instruments of the same series
    /// (two meter providers in one process) share them.
    pub fn series(&self, key: SeriesKey, bounds: &'static [f64]) -> Arc<SeriesExemplars> {
        if let Some(found) = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return found.clone();
        }
        self.series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Arc::new(SeriesExemplars::new(bounds)))
            .clone()
    }

    /// The exemplar of `key`'s bucket `le`, if one was recorded within [`EXEMPLAR_MAX_AGE`].
    pub fn get(&self, key: &SeriesKey, le: f64) -> Option<Exemplar> {
        let series = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)?
            .clone();
        let exemplar = series.get(le)?;
        let oldest = SystemTime::now().checked_sub(EXEMPLAR_MAX_AGE)?;
        if exemplar.time < oldest {
            series.expire(oldest);
            return None;
        }
        Some(exemplar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceState};

    fn span(sampled: bool) -> SpanContext {
        let flags = match sampled {
            true => TraceFlags::SAMPLED,
            false => TraceFlags::default(),
        };
        SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            flags,
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn a_sampled_value_lands_in_its_inclusive_bucket() {
        let series = SeriesExemplars::new(&[0.1, 0.5]);
        series.offer(0.1, &span(true));
        series.offer(0.7, &span(true));
        let first = series.get(0.1).expect("le=0.1 keeps 0.1");
        assert_eq!((first.value, first.trace_id), (0.1, TraceId::from(7)));
        assert_eq!(series.get(0.5), None);
        assert_eq!(series.get(f64::INFINITY).map(|e| e.value), Some(0.7));
        assert_eq!(series.get(0.3), None, "no such bound");
    }

    #[test]
    fn an_unsampled_value_keeps_nothing() {
        let series = SeriesExemplars::new(&[1.0]);
        series.offer(0.5, &span(false));
        series.offer_current(0.5);
        assert_eq!(series.get(1.0), None);
    }

    #[test]
    fn the_current_sampled_context_is_kept() {
        let series = SeriesExemplars::new(&[1.0]);
        let _attached = Context::new().with_remote_span_context(span(true)).attach();
        series.offer_current(0.5);
        assert_eq!(series.get(1.0).map(|e| e.span_id), Some(SpanId::from(9)));
    }

    #[test]
    fn keys_sort_and_sanitise_label_names() {
        let a = SeriesKey::new("m", [("http.route", "/x"), ("a", "1")]);
        let b = SeriesKey::new("m", [("a", "1"), ("http_route", "/x")]);
        assert_eq!(a, b);
    }

    #[test]
    fn stale_exemplars_are_not_offered() {
        let registry = ExemplarRegistry::default();
        let key = SeriesKey::new("stale_seconds", []);
        let series = registry.series(key.clone(), &[1.0]);
        series.offer(0.5, &span(true));
        assert!(registry.get(&key, 1.0).is_some());
        if let Ok(mut slot) = series.slots[0].lock() {
            slot.as_mut().expect("kept").time = SystemTime::UNIX_EPOCH;
        }
        assert_eq!(registry.get(&key, 1.0), None);
    }
}
