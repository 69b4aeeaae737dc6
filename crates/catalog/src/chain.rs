//! Block production and validation, and the block pipeline's throughput derived from what is
//! produced.

use std::time::{Duration, Instant};

use crate::MetricFamily;
use crate::external::{KeyedCounterVec, KeyedHistogram};
use crate::instruments::{Counter, Gauge};
use crate::labels::Outcome;
use crate::rate::{PeriodGate, WindowedRate};

/// Validators are few (the federation); a limit far above that only catches bugs.
const VALIDATOR_LIMIT: usize = 100;

/// The name the Alys chain dashboard and the block alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys chain dashboard and the block alert rules query";

/// The chain family's instruments and the windows of its throughput gauges. Build once
/// at start-up.
#[derive(MetricFamily)]
#[family(title = "chain", crate = crate)]
pub struct ChainMetrics {
    /// Time to produce a block
    #[metric(
        name = "alys_block_production_duration_seconds",
        unit = "s",
        labels(validator),
        buckets = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0],
        limit = VALIDATOR_LIMIT,
        why = DASHBOARD_NAME
    )]
    production: KeyedHistogram,
    /// Time to validate a block
    #[metric(
        name = "alys_block_validation_duration_seconds",
        unit = "s",
        labels(validator),
        buckets = [0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
        limit = VALIDATOR_LIMIT,
        why = DASHBOARD_NAME
    )]
    validation: KeyedHistogram,
    /// Block validations by validator and outcome
    #[metric(
        name = "alys_block_validations_total",
        labels(validator, outcome),
        limit = VALIDATOR_LIMIT * 2,
        why = "operators see which validator's blocks fail validation"
    )]
    validations: KeyedCounterVec<Outcome>,
    /// Transactions included in produced blocks
    #[metric(
        name = "alys_block_transactions_total",
        why = "the block pipeline's throughput, as a counter for rate()"
    )]
    transactions: Counter,
    /// Bytes of produced blocks
    #[metric(
        name = "alys_block_bytes_total",
        unit = "By",
        why = "the block pipeline's throughput, as a counter for rate()"
    )]
    bytes: Counter,
    /// Transactions in blocks produced over the last 60 s, per second
    #[metric(
        name = "alys_block_pipeline_transactions_per_second",
        start = zero,
        why = "the chain dashboard shows block pipeline throughput without a PromQL rate()"
    )]
    transaction_rate: Gauge,
    /// Bytes of blocks produced over the last 60 s, per second
    #[metric(
        name = "alys_block_pipeline_bytes_per_second",
        start = zero,
        why = "the chain dashboard shows block pipeline throughput without a PromQL rate()"
    )]
    byte_rate: Gauge,
    #[state(init = Rates {
        transactions: WindowedRate::new(THROUGHPUT_WINDOW),
        bytes: WindowedRate::new(THROUGHPUT_WINDOW),
        refresh: PeriodGate::new(Duration::from_secs(1)),
    })]
    rates: Rates,
}

/// The window of the pipeline throughput gauges.
pub const THROUGHPUT_WINDOW: Duration = Duration::from_secs(60);

/// What the throughput gauges are computed from, recorded without a lock.
struct Rates {
    transactions: WindowedRate,
    bytes: WindowedRate,
    /// The gauges are refreshed at most once a second.
    refresh: PeriodGate,
}

impl ChainMetrics {
    /// A block `validator` produced in `took`, with its size, at `now`.
    pub fn block_produced(
        &self,
        validator: &str,
        took: Duration,
        transactions: u64,
        bytes: u64,
        now: Instant,
    ) {
        self.production.record(validator, took.as_secs_f64());
        self.transactions.add(transactions);
        self.bytes.add(bytes);
        let rates = &self.rates;
        rates.transactions.record(now, transactions);
        rates.bytes.record(now, bytes);
        if rates.refresh.due(now) {
            self.transaction_rate
                .set(rates.transactions.per_second(now));
            self.byte_rate.set(rates.bytes.per_second(now));
        }
    }

    /// A validation of a block by `validator` that took `took`.
    pub fn block_validated(&self, validator: &str, took: Duration, outcome: Outcome) {
        self.validation.record(validator, took.as_secs_f64());
        self.validations.add(validator, outcome, 1);
    }
}
