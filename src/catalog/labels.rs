//! Label values from closed sets, as enums: callers never pass free strings for them.

/// The node's actor kinds (seed 001, `ActorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorType {
    Chain,
    Engine,
    Network,
    Bridge,
    Storage,
    Sync,
    Stream,
    Supervisor,
    System,
}

impl ActorType {
    pub const ALL: [ActorType; 9] = [
        ActorType::Chain,
        ActorType::Engine,
        ActorType::Network,
        ActorType::Bridge,
        ActorType::Storage,
        ActorType::Sync,
        ActorType::Stream,
        ActorType::Supervisor,
        ActorType::System,
    ];

    /// The `actor_type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Chain => "chain",
            ActorType::Engine => "engine",
            ActorType::Network => "network",
            ActorType::Bridge => "bridge",
            ActorType::Storage => "storage",
            ActorType::Sync => "sync",
            ActorType::Stream => "stream",
            ActorType::Supervisor => "supervisor",
            ActorType::System => "system",
        }
    }
}

/// Kinds of actor messages (seed 001, `MessageType`). The seed's `Custom(u16)` is one
/// label value, `custom`: a number per custom type would make the label unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Lifecycle,
    Sync,
    Network,
    Mining,
    Governance,
    Bridge,
    Storage,
    System,
    Custom(u16),
}

impl MessageType {
    /// The `message_type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Lifecycle => "lifecycle",
            MessageType::Sync => "sync",
            MessageType::Network => "network",
            MessageType::Mining => "mining",
            MessageType::Governance => "governance",
            MessageType::Bridge => "bridge",
            MessageType::Storage => "storage",
            MessageType::System => "system",
            MessageType::Custom(_) => "custom",
        }
    }
}
