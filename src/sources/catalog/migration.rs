//! Migration from Alys V1 to V2 (seed 000 metrics, seed 001 labels).

use opentelemetry::metrics::Meter;

use super::MetricDef;
use super::instruments::{CounterVec, GaugeVec};
use super::labels::{ErrorType, MigrationPhase, Outcome, RollbackReason};

const SEED: &str = "seed 000 (migration), seed 001 phase 1";

pub const PHASE: MetricDef = MetricDef::gauge(
    "alys_migration_phase",
    "",
    "Current migration phase: its position in the phase list (0 foundation … 9 final_validation)",
    &[],
)
.from(SEED);
pub const PROGRESS: MetricDef = MetricDef::gauge(
    "alys_migration_progress_percent",
    "%",
    "Migration progress of the current phase",
    &[],
)
.from(SEED);
pub const ERRORS: MetricDef = MetricDef::counter(
    "alys_migration_errors_total",
    "",
    "Migration errors encountered",
    &["phase", "error_type"],
)
.from(SEED);
pub const ROLLBACKS: MetricDef = MetricDef::counter(
    "alys_migration_rollbacks_total",
    "",
    "Migration rollbacks performed",
    &["phase", "reason"],
)
.from(SEED);
pub const VALIDATIONS: MetricDef = MetricDef::counter(
    "alys_migration_validations_total",
    "",
    "Migration validation checks, by phase and outcome",
    &["phase", "outcome"],
)
.from("seed 001 (\"validation successes and failures per phase\")");

pub const ALL: &[MetricDef] = &[PHASE, PROGRESS, ERRORS, ROLLBACKS, VALIDATIONS];

/// The migration family's instruments.
pub struct MigrationMetrics {
    phase: GaugeVec<()>,
    progress: GaugeVec<()>,
    errors: CounterVec<(MigrationPhase, ErrorType)>,
    rollbacks: CounterVec<(MigrationPhase, RollbackReason)>,
    validations: CounterVec<(MigrationPhase, Outcome)>,
}

impl MigrationMetrics {
    pub fn new(meter: &Meter) -> Self {
        MigrationMetrics {
            phase: GaugeVec::new(&PHASE, meter),
            progress: GaugeVec::new(&PROGRESS, meter),
            errors: CounterVec::new(&ERRORS, meter),
            rollbacks: CounterVec::new(&ROLLBACKS, meter),
            validations: CounterVec::new(&VALIDATIONS, meter),
        }
    }

    /// Enters `phase` with its progress.
    pub fn set_phase(&self, phase: MigrationPhase, progress_percent: f64) {
        self.phase.set((), phase as usize as f64);
        self.set_progress(progress_percent);
    }

    /// Progress of the current phase, clamped to 0..=100.
    pub fn set_progress(&self, percent: f64) {
        self.progress.set((), clamp_percent(percent));
    }

    pub fn error(&self, phase: MigrationPhase, error: ErrorType) {
        self.errors.add((phase, error), 1);
    }

    pub fn rollback(&self, phase: MigrationPhase, reason: RollbackReason) {
        self.rollbacks.add((phase, reason), 1);
    }

    pub fn validation(&self, phase: MigrationPhase, outcome: Outcome) {
        self.validations.add((phase, outcome), 1);
    }
}

/// A percentage in 0..=100; NaN (a broken computation upstream) reads as 0.
pub fn clamp_percent(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_clamped() {
        assert_eq!(clamp_percent(67.8), 67.8);
        assert_eq!(clamp_percent(130.0), 100.0);
        assert_eq!(clamp_percent(-1.0), 0.0);
        assert_eq!(clamp_percent(f64::NAN), 0.0);
    }
}
