//! Block production and validation, and the block pipeline's throughput (seed 001 phase 3).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;

use super::MetricDef;
use super::external::{KeyedCounter, KeyedHistogram};
use super::instruments::{CounterVec, GaugeVec};
use super::labels::Outcome;
use super::rate::WindowedRate;

const SEED: &str = "seed 000 (block metrics), seed 001 phase 3";

/// Validators are few (the federation); a limit far above that only catches bugs.
const VALIDATOR_LIMIT: usize = 100;

pub const PRODUCTION_DURATION: MetricDef = MetricDef::histogram(
    "alys_block_production_duration_seconds",
    "s",
    "Time to produce a block",
    &["validator"],
    &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0],
)
.from(SEED)
.limit(VALIDATOR_LIMIT);
pub const VALIDATION_DURATION: MetricDef = MetricDef::histogram(
    "alys_block_validation_duration_seconds",
    "s",
    "Time to validate a block",
    &["validator"],
    &[0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
)
.from(SEED)
.limit(VALIDATOR_LIMIT);
pub const VALIDATIONS: MetricDef = MetricDef::counter(
    "alys_block_validations_total",
    "",
    "Block validations by validator and outcome",
    &["validator", "outcome"],
)
.from("seed 001 phase 3 (validation success/failure)")
.limit(VALIDATOR_LIMIT * 2);
pub const TRANSACTIONS: MetricDef = MetricDef::counter(
    "alys_block_transactions_total",
    "",
    "Transactions included in produced blocks",
    &[],
)
.from("seed 001 phase 3 (block pipeline)");
pub const BYTES: MetricDef = MetricDef::counter(
    "alys_block_bytes_total",
    "By",
    "Bytes of produced blocks",
    &[],
)
.from("seed 001 phase 3 (block pipeline)");
pub const PIPELINE_TRANSACTIONS_PER_SECOND: MetricDef = MetricDef::gauge(
    "alys_block_pipeline_transactions_per_second",
    "",
    "Transactions in blocks produced over the last 60 s, per second",
    &[],
)
.from("seed 001 phase 3 (block pipeline throughput)");
pub const PIPELINE_BYTES_PER_SECOND: MetricDef = MetricDef::gauge(
    "alys_block_pipeline_bytes_per_second",
    "",
    "Bytes of blocks produced over the last 60 s, per second",
    &[],
)
.from("seed 001 phase 3 (block pipeline throughput)");

pub const ALL: &[MetricDef] = &[
    PRODUCTION_DURATION,
    VALIDATION_DURATION,
    VALIDATIONS,
    TRANSACTIONS,
    BYTES,
    PIPELINE_TRANSACTIONS_PER_SECOND,
    PIPELINE_BYTES_PER_SECOND,
];

/// The window of the pipeline throughput gauges.
pub const THROUGHPUT_WINDOW: Duration = Duration::from_secs(60);

/// The chain family's instruments.
pub struct ChainMetrics {
    production: KeyedHistogram,
    validation: KeyedHistogram,
    validations: KeyedCounter<Outcome>,
    transactions: CounterVec<()>,
    bytes: CounterVec<()>,
    tx_rate_gauge: GaugeVec<()>,
    byte_rate_gauge: GaugeVec<()>,
    rates: Mutex<(WindowedRate, WindowedRate)>,
}

impl ChainMetrics {
    pub fn new(meter: &Meter) -> Self {
        ChainMetrics {
            production: KeyedHistogram::new(&PRODUCTION_DURATION, meter),
            validation: KeyedHistogram::new(&VALIDATION_DURATION, meter),
            validations: KeyedCounter::new(&VALIDATIONS, meter),
            transactions: CounterVec::new(&TRANSACTIONS, meter),
            bytes: CounterVec::new(&BYTES, meter),
            tx_rate_gauge: GaugeVec::new(&PIPELINE_TRANSACTIONS_PER_SECOND, meter),
            byte_rate_gauge: GaugeVec::new(&PIPELINE_BYTES_PER_SECOND, meter),
            rates: Mutex::new((
                WindowedRate::new(THROUGHPUT_WINDOW),
                WindowedRate::new(THROUGHPUT_WINDOW),
            )),
        }
    }

    /// A block `validator` produced in `took`, with its size, at `now`.
    pub fn block_produced(
        &self,
        validator: &str,
        took: Duration,
        transactions: u64,
        bytes: u64,
        now: Instant,
    ) {
        self.production.record(validator, (), took.as_secs_f64());
        self.transactions.add((), transactions);
        self.bytes.add((), bytes);
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        rates.0.record(now, transactions);
        rates.1.record(now, bytes);
        self.tx_rate_gauge.set((), rates.0.per_second(now));
        self.byte_rate_gauge.set((), rates.1.per_second(now));
    }

    /// A validation of a block by `validator` that took `took`.
    pub fn block_validated(&self, validator: &str, took: Duration, outcome: Outcome) {
        self.validation.record(validator, (), took.as_secs_f64());
        self.validations.add(validator, outcome, 1);
    }
}
