//! Label values from closed sets, as enums: callers never pass free strings for them.

/// Declares a closed set of label values: the enum, its label strings, `ALL`, and its
/// [`LabelValues`](super::instruments::LabelValues) impl so it can index bound instruments.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::sources::catalog::instruments::LabelValues for $name {
            const ARITY: usize = 1;
            const COUNT: usize = $name::ALL.len();
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            fn push_values(self, out: &mut Vec<&'static str>) {
                out.push(self.as_str());
            }
        }
    };
}

label_enum! {
    /// The node's actor kinds (seed 001, `ActorType`).
    pub enum ActorType {
        Chain => "chain",
        Engine => "engine",
        Network => "network",
        Bridge => "bridge",
        Storage => "storage",
        Sync => "sync",
        Stream => "stream",
        Supervisor => "supervisor",
        System => "system",
    }
}

label_enum! {
    /// Kinds of actor messages (seed 001, `MessageType`). The seed's `Custom(u16)` is one
    /// label value, `custom`: a number per custom type would make the label unbounded.
    pub enum MessageType {
        Lifecycle => "lifecycle",
        Sync => "sync",
        Network => "network",
        Mining => "mining",
        Governance => "governance",
        Bridge => "bridge",
        Storage => "storage",
        System => "system",
        Custom => "custom",
    }
}

label_enum! {
    /// Direction of disk I/O (`operation` label).
    pub enum DiskOperation {
        Read => "read",
        Write => "write",
    }
}

label_enum! {
    /// Direction of network I/O (`direction` label).
    pub enum NetworkDirection {
        Receive => "receive",
        Transmit => "transmit",
    }
}

label_enum! {
    /// One source of the system resource collector (`source` label).
    pub enum ResourceSource {
        Process => "process",
        Memory => "memory",
        Disk => "disk",
        Network => "network",
        Threads => "threads",
        FileDescriptors => "file_descriptors",
    }
}

label_enum! {
    /// Outcome of handling something (`outcome` label).
    pub enum Outcome {
        Success => "success",
        Failure => "failure",
    }
}

label_enum! {
    /// Migration phases, in order (seed 001, `MIGRATION_PHASES`). `alys_migration_phase`
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
    /// Error categories (seed 001, `ERROR_TYPES`).
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
    /// Why a migration was rolled back (`reason` label; the seed leaves it open).
    pub enum RollbackReason {
        ValidationFailed => "validation_failed",
        ErrorThreshold => "error_threshold",
        Timeout => "timeout",
        ConsensusFailure => "consensus_failure",
        Manual => "manual",
    }
}

label_enum! {
    /// Sync states; `alys_sync_state` exports the position (0 discovering … 5 failed).
    pub enum SyncState {
        Discovering => "discovering",
        Headers => "headers",
        Blocks => "blocks",
        Catchup => "catchup",
        Synced => "synced",
        Failed => "failed",
    }
}

label_enum! {
    /// Why the transaction pool refused a transaction (seed 001, the 12 reasons).
    pub enum TransactionRejectionReason {
        InsufficientFee => "insufficient_fee",
        InvalidNonce => "invalid_nonce",
        InsufficientBalance => "insufficient_balance",
        GasLimitExceeded => "gas_limit_exceeded",
        InvalidSignature => "invalid_signature",
        AccountNotFound => "account_not_found",
        PoolFull => "pool_full",
        DuplicateTransaction => "duplicate_transaction",
        InvalidTransaction => "invalid_transaction",
        NetworkCongestion => "network_congestion",
        RateLimited => "rate_limited",
        Other => "other",
    }
}

label_enum! {
    /// Where a transaction waits in the pool (`state` label).
    pub enum TxPoolState {
        Pending => "pending",
        Queued => "queued",
    }
}

label_enum! {
    /// Peer regions (seed 001, `PeerRegion`).
    pub enum PeerRegion {
        NorthAmerica => "north_america",
        Europe => "europe",
        Asia => "asia",
        SouthAmerica => "south_america",
        Africa => "africa",
        Oceania => "oceania",
        Unknown => "unknown",
    }
}

impl PeerRegion {
    /// The six regions a peer can be placed in (`Unknown` is not a place: it does not
    /// count towards geographic diversity).
    pub const KNOWN: usize = 6;

    /// Parses the seed's region names and aliases ("eu", "us", "ap", …); anything else is
    /// `Unknown`.
    pub fn parse(text: &str) -> PeerRegion {
        match text.trim().to_ascii_lowercase().as_str() {
            "north_america" | "na" | "us" | "ca" => PeerRegion::NorthAmerica,
            "europe" | "eu" => PeerRegion::Europe,
            "asia" | "ap" => PeerRegion::Asia,
            "south_america" | "sa" => PeerRegion::SouthAmerica,
            "africa" | "af" => PeerRegion::Africa,
            "oceania" | "oc" | "au" => PeerRegion::Oceania,
            _ => PeerRegion::Unknown,
        }
    }
}

label_enum! {
    /// Which block timer (seed 001, `BlockTimerType`): production or validation.
    pub enum BlockTimerType {
        Production => "production",
        Validation => "validation",
    }
}

label_enum! {
    /// Actor lifecycle states (`from_state`, `to_state`).
    pub enum LifecycleState {
        Spawning => "spawning",
        Running => "running",
        Stopping => "stopping",
        Stopped => "stopped",
        Failed => "failed",
        Restarting => "restarting",
        Recovering => "recovering",
    }
}

label_enum! {
    /// Why a supervisor restarted an actor (`reason`, `restart_reason`).
    pub enum RestartReason {
        Panic => "panic",
        Error => "error",
        Timeout => "timeout",
        HealthCheck => "health_check",
        Dependency => "dependency",
        Manual => "manual",
    }
}

label_enum! {
    /// What happened to a send into a full mailbox (`outcome` of back-pressure).
    pub enum BackpressureOutcome {
        /// The sender waited for room.
        Blocked => "blocked",
        /// The message was refused (try_send on a full mailbox).
        Refused => "refused",
    }
}

label_enum! {
    /// Messages on the governance stream (`message_type`).
    pub enum GovernanceMessageType {
        SignatureRequest => "signature_request",
        SignatureResponse => "signature_response",
        FederationUpdate => "federation_update",
        Heartbeat => "heartbeat",
        Acknowledgement => "acknowledgement",
        Unknown => "unknown",
    }
}

label_enum! {
    /// Why a received stream message was skipped (`reason`).
    pub enum InvalidMessageReason {
        /// A payload this version does not know.
        UnknownType => "unknown_type",
        /// A known payload missing what it needs (an empty request id, a zero version).
        Malformed => "malformed",
        /// A response to no pending request (late, after its timeout, or never asked).
        Uncorrelated => "uncorrelated",
    }
}

label_enum! {
    /// gRPC status codes (`code`), as the gRPC specification names them.
    pub enum GrpcCode {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

impl GrpcCode {
    /// The label of a tonic status code.
    pub fn from_code(code: tonic::Code) -> GrpcCode {
        use tonic::Code as C;
        match code {
            C::Ok => GrpcCode::Ok,
            C::Cancelled => GrpcCode::Cancelled,
            C::Unknown => GrpcCode::Unknown,
            C::InvalidArgument => GrpcCode::InvalidArgument,
            C::DeadlineExceeded => GrpcCode::DeadlineExceeded,
            C::NotFound => GrpcCode::NotFound,
            C::AlreadyExists => GrpcCode::AlreadyExists,
            C::PermissionDenied => GrpcCode::PermissionDenied,
            C::ResourceExhausted => GrpcCode::ResourceExhausted,
            C::FailedPrecondition => GrpcCode::FailedPrecondition,
            C::Aborted => GrpcCode::Aborted,
            C::OutOfRange => GrpcCode::OutOfRange,
            C::Unimplemented => GrpcCode::Unimplemented,
            C::Internal => GrpcCode::Internal,
            C::Unavailable => GrpcCode::Unavailable,
            C::DataLoss => GrpcCode::DataLoss,
            C::Unauthenticated => GrpcCode::Unauthenticated,
        }
    }
}

label_enum! {
    /// How handling a message ended (`outcome` of `alys_actor_messages_total`).
    pub enum MessageOutcome {
        Processed => "processed",
        Failed => "failed",
    }
}

label_enum! {
    /// Which lifecycle step a duration measures (`step`).
    pub enum LifecycleStep {
        Spawn => "spawn",
        Stop => "stop",
        Recovery => "recovery",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::catalog::instruments::LabelValues;

    #[test]
    fn indices_follow_declaration_order() {
        for (i, a) in ActorType::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
        assert_eq!(MessageType::COUNT, 9);
        assert_eq!(MessageType::Custom.to_string(), "custom");
    }

    #[test]
    fn the_seed_fixes_counts_and_encodings() {
        assert_eq!(TransactionRejectionReason::COUNT, 12);
        assert_eq!(SyncState::Discovering.index(), 0);
        assert_eq!(SyncState::Failed.index(), 5);
        assert_eq!(PeerRegion::COUNT, 7);
        assert_eq!(MigrationPhase::COUNT, 10);
    }

    #[test]
    fn regions_parse_the_seeds_aliases() {
        assert_eq!(PeerRegion::parse("EU"), PeerRegion::Europe);
        assert_eq!(PeerRegion::parse("us"), PeerRegion::NorthAmerica);
        assert_eq!(PeerRegion::parse("au"), PeerRegion::Oceania);
        assert_eq!(PeerRegion::parse("mars"), PeerRegion::Unknown);
    }
}
