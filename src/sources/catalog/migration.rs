//! The migration from Alys V1 to V2: which phase runs, how far it got, and what went wrong on
//! the way.

use super::family::metric_family;
use super::labels::{Outcome, label_enum};

/// The name the Alys migration dashboard and the migration alert rules query.
const DASHBOARD_NAME: &str =
    "the name the Alys migration dashboard and the migration alert rules query";

metric_family! {
    /// The migration family's instruments. Build once at start-up.
    pub struct MigrationMetrics, "migration" {
        /// Current migration phase: its position in the phase list (0 foundation … 9 final_validation)
        phase: gauge("alys_migration_phase") {
            start: absent("0 is the foundation phase, not \"no migration\""),
            why: DASHBOARD_NAME,
        },
        /// Migration progress of the current phase
        progress: gauge("alys_migration_progress_percent") {
            unit: "%",
            start: absent("the MigrationStalled alert would read 0 % as a stalled migration"),
            why: DASHBOARD_NAME,
        },
        /// Migration errors encountered
        pub errors: counter("alys_migration_errors_total") {
            labels: { phase: MigrationPhase, error_type: ErrorType },
            why: DASHBOARD_NAME,
        },
        /// Migration rollbacks performed
        pub rollbacks: counter("alys_migration_rollbacks_total") {
            labels: { phase: MigrationPhase, reason: RollbackReason },
            why: DASHBOARD_NAME,
        },
        /// Migration validation checks, by phase and outcome
        pub validations: counter("alys_migration_validations_total") {
            labels: { phase: MigrationPhase, outcome: Outcome },
            why: "the migration plan asks for validation successes and failures per phase",
        },
    }
}

label_enum! {
    /// Migration phases, in the order the migration plan runs them. `alys_migration_phase`
    /// exports the position in this list.
    pub enum MigrationPhase {
        Foundation => "foundation",
        ActorSystem => "actor_system",
        SyncEngine => "sync_engine",
        FederationV2 => "federation_v2",
        LighthouseV2 => "lighthouse_v2",
        Migration => "migration",
        Validation => "validation",
        RollbackSafety => "rollback_safety",
        PerformanceVerification => "performance_verification",
        FinalValidation => "final_validation",
    }
}

label_enum! {
    /// Error categories, the `error_type` values the Alys dashboards break errors down by.
    pub enum ErrorType {
        Timeout => "timeout",
        Connection => "connection",
        Validation => "validation",
        Parsing => "parsing",
        Storage => "storage",
        Network => "network",
        Consensus => "consensus",
        Execution => "execution",
        Migration => "migration",
        System => "system",
    }
}

label_enum! {
    /// Why a migration was rolled back (`reason` label).
    pub enum RollbackReason {
        ValidationFailed => "validation_failed",
        ErrorThreshold => "error_threshold",
        Timeout => "timeout",
        ConsensusFailure => "consensus_failure",
        Manual => "manual",
    }
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
    use crate::sources::catalog::instruments::LabelValues;

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
