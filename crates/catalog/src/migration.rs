//! The migration from Alys V1 to V2: which phase runs, how far it got, and what went wrong on
//! the way.

use crate::instruments::{CounterVec, Gauge};
use crate::labels::Outcome;
use crate::{LabelValue, MetricFamily};

/// The name the Alys migration dashboard and the migration alert rules query.
const DASHBOARD_NAME: &str =
    "the name the Alys migration dashboard and the migration alert rules query";

/// The migration family's instruments. Build once at start-up.
#[derive(MetricFamily)]
#[family(title = "migration", crate = crate)]
pub struct MigrationMetrics {
    /// Current migration phase: its position in the phase list (0 foundation … 9 final_validation)
    #[metric(
        name = "alys_migration_phase",
        start = absent("0 is the foundation phase, not \"no migration\""),
        why = DASHBOARD_NAME
    )]
    phase: Gauge,
    /// Migration progress of the current phase
    #[metric(
        name = "alys_migration_progress_percent",
        unit = "%",
        start = absent("the MigrationStalled alert would read 0 % as a stalled migration"),
        why = DASHBOARD_NAME
    )]
    progress: Gauge,
    /// Migration errors encountered
    #[metric(name = "alys_migration_errors_total", labels(phase, error_type), why = DASHBOARD_NAME)]
    pub errors: CounterVec<(MigrationPhase, ErrorType)>,
    /// Migration rollbacks performed
    #[metric(name = "alys_migration_rollbacks_total", labels(phase, reason), why = DASHBOARD_NAME)]
    pub rollbacks: CounterVec<(MigrationPhase, RollbackReason)>,
    /// Migration validation checks, by phase and outcome
    #[metric(
        name = "alys_migration_validations_total",
        labels(phase, outcome),
        why = "the migration plan asks for validation successes and failures per phase"
    )]
    pub validations: CounterVec<(MigrationPhase, Outcome)>,
}

/// Migration phases, in the order the migration plan runs them. `alys_migration_phase`
/// exports the position in this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum MigrationPhase {
    Foundation,
    ActorSystem,
    SyncEngine,
    FederationV2,
    LighthouseV2,
    Migration,
    Validation,
    RollbackSafety,
    PerformanceVerification,
    FinalValidation,
}

/// Error categories, the `error_type` values the Alys dashboards break errors down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum ErrorType {
    Timeout,
    Connection,
    Validation,
    Parsing,
    Storage,
    Network,
    Consensus,
    Execution,
    Migration,
    System,
}

/// Why a migration was rolled back (`reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum RollbackReason {
    ValidationFailed,
    ErrorThreshold,
    Timeout,
    ConsensusFailure,
    Manual,
}

impl MigrationMetrics {
    /// Enters `phase` with its progress.
    pub fn set_phase(&self, phase: MigrationPhase, progress_percent: f64) {
        self.phase.set(phase as usize as f64);
        self.set_progress(progress_percent);
    }

    /// Progress of the current phase, clamped to 0..=100.
    pub fn set_progress(&self, percent: f64) {
        self.progress.set(clamp_percent(percent));
    }
}

/// A percentage in 0..=100; NaN (a broken computation upstream) reads as 0.
pub fn clamp_percent(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::LabelValues;

    #[test]
    fn percentages_are_clamped() {
        assert_eq!(clamp_percent(67.8), 67.8);
        assert_eq!(clamp_percent(130.0), 100.0);
        assert_eq!(clamp_percent(-1.0), 0.0);
        assert_eq!(clamp_percent(f64::NAN), 0.0);
    }

    #[test]
    fn the_phase_gauge_counts_from_foundation() {
        assert_eq!(MigrationPhase::COUNT, 10);
        assert_eq!(MigrationPhase::Foundation.index(), 0);
        assert_eq!(MigrationPhase::FinalValidation.index(), 9);
    }
}
