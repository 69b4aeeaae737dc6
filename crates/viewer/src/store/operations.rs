//! Per root operation, as zPages keep them: a count of traces in each latency bucket, a count
//! of failed ones, and the latest few of each bucket and of the failed kept aside, so the
//! slowest and the failing survive a flood of ordinary traces.

use std::collections::VecDeque;
use std::time::Duration;

use opentelemetry::trace::TraceId;

/// Upper bounds of the latency buckets (zPages' boundaries); the last bucket is open.
pub const LATENCY_BOUNDS: [Duration; 8] = [
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(100),
];

/// How many latency buckets there are.
pub const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// Traces kept aside per operation and bucket, and failed traces per operation.
pub(crate) const SAMPLES_PER_BUCKET: usize = 4;
pub(crate) const FAILED_PER_OPERATION: usize = 8;

/// Operations tracked one by one; further root span names share one entry, so a span named
/// after a value cannot grow the store's bookkeeping without bound.
pub(crate) const MAX_OPERATIONS: usize = 256;

/// The entry of root span names past the first 256 (`MAX_OPERATIONS`).
pub const OTHER_OPERATIONS: &str = "(other operations)";

/// The bucket of a trace that took `d`.
pub fn bucket_of(d: Duration) -> usize {
    LATENCY_BOUNDS.iter().take_while(|b| d >= **b).count()
}

/// The bucket's range as people read it, for example `10ms–100ms`.
pub fn bucket_label(bucket: usize) -> &'static str {
    const LABELS: [&str; BUCKETS] = [
        "<10µs",
        "10µs–100µs",
        "100µs–1ms",
        "1ms–10ms",
        "10ms–100ms",
        "100ms–1s",
        "1s–10s",
        "10s–100s",
        "≥100s",
    ];
    LABELS[bucket.min(BUCKETS - 1)]
}

/// The range of bucket `bucket`: `[low, high)`, `high` `None` for the last.
pub fn bucket_range(bucket: usize) -> (Duration, Option<Duration>) {
    let low = match bucket {
        0 => Duration::ZERO,
        b => LATENCY_BOUNDS[(b - 1).min(LATENCY_BOUNDS.len() - 1)],
    };
    (low, LATENCY_BOUNDS.get(bucket).copied())
}

/// What the pages and the API show of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationStats {
    /// The root span name.
    pub name: String,
    /// Traces per latency bucket since the node started.
    pub counts: [u64; BUCKETS],
    /// Traces with an error span since the node started.
    pub errors: u64,
}

impl OperationStats {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One operation's counts and the traces kept aside for it.
#[derive(Debug, Default)]
pub(crate) struct Operation {
    pub counts: [u64; BUCKETS],
    pub errors: u64,
    pub samples: [VecDeque<TraceId>; BUCKETS],
    pub failed: VecDeque<TraceId>,
}

/// Bytes one operation's bookkeeping may take (its lists full), besides its name.
pub(crate) const OPERATION_BYTES: usize = std::mem::size_of::<Operation>()
    + BUCKETS * SAMPLES_PER_BUCKET * std::mem::size_of::<TraceId>()
    + FAILED_PER_OPERATION * std::mem::size_of::<TraceId>()
    + (BUCKETS + 1) * 16
    + 64;

impl Operation {
    /// Counts a settled trace and keeps it aside; returns the traces it pushed out of the
    /// lists (each loses one pin).
    pub fn record(&mut self, id: TraceId, bucket: usize, failed: bool) -> Vec<TraceId> {
        let mut released = Vec::new();
        self.counts[bucket] += 1;
        let samples = &mut self.samples[bucket];
        samples.push_back(id);
        if samples.len() > SAMPLES_PER_BUCKET {
            released.extend(samples.pop_front());
        }
        if failed {
            self.errors += 1;
            self.failed.push_back(id);
            if self.failed.len() > FAILED_PER_OPERATION {
                released.extend(self.failed.pop_front());
            }
        }
        released
    }

    /// How many pins a newly recorded trace got (1 for its bucket, 1 more if it failed),
    /// minus the ones it lost at once (never, with lists longer than one).
    pub fn pins(failed: bool) -> u8 {
        1 + u8::from(failed)
    }

    /// Forgets `id` wherever it is kept aside (it was evicted); returns how many pins it had.
    pub fn forget(&mut self, id: TraceId, bucket: usize) -> u8 {
        let mut pins = 0;
        if let Some(i) = self.samples[bucket].iter().position(|t| *t == id) {
            self.samples[bucket].remove(i);
            pins += 1;
        }
        if let Some(i) = self.failed.iter().position(|t| *t == id) {
            self.failed.remove(i);
            pins += 1;
        }
        pins
    }

    /// Moves a trace that grew (late spans) from one bucket to another, and counts a failure
    /// that arrived late. Returns the pin change and the traces pushed out.
    pub fn reclassify(
        &mut self,
        id: TraceId,
        from: (usize, bool),
        to: (usize, bool),
    ) -> (i16, Vec<TraceId>) {
        let mut delta = 0i16;
        let mut released = Vec::new();
        if from.0 != to.0 {
            self.counts[from.0] = self.counts[from.0].saturating_sub(1);
            self.counts[to.0] += 1;
            if let Some(i) = self.samples[from.0].iter().position(|t| *t == id) {
                self.samples[from.0].remove(i);
                delta -= 1;
            }
            self.samples[to.0].push_back(id);
            delta += 1;
            if self.samples[to.0].len() > SAMPLES_PER_BUCKET {
                released.extend(self.samples[to.0].pop_front());
            }
        }
        if to.1 && !from.1 {
            self.errors += 1;
            self.failed.push_back(id);
            delta += 1;
            if self.failed.len() > FAILED_PER_OPERATION {
                released.extend(self.failed.pop_front());
            }
        }
        (delta, released)
    }

    pub fn stats(&self, name: &str) -> OperationStats {
        OperationStats {
            name: name.to_string(),
            counts: self.counts,
            errors: self.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_zpages_boundaries() {
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert_eq!(bucket_of(Duration::from_micros(10)), 1);
        assert_eq!(bucket_of(Duration::from_millis(250)), 5);
        assert_eq!(bucket_of(Duration::from_secs(1000)), 8);
        assert_eq!(bucket_label(5), "100ms–1s");
        assert_eq!(bucket_label(8), "≥100s");
        assert_eq!(
            bucket_range(5),
            (Duration::from_millis(100), Some(Duration::from_secs(1)))
        );
        assert_eq!(bucket_range(8).1, None);
    }

    #[test]
    fn each_bucket_keeps_its_latest_few_and_releases_the_oldest() {
        let mut op = Operation::default();
        let mut released = Vec::new();
        for i in 0..(SAMPLES_PER_BUCKET as u128 + 2) {
            released.extend(op.record(TraceId::from(i + 1), 3, false));
        }
        assert_eq!(released, [TraceId::from(1), TraceId::from(2)]);
        assert_eq!(op.counts[3], SAMPLES_PER_BUCKET as u64 + 2);
        assert_eq!(op.forget(TraceId::from(3), 3), 1);
    }
}
