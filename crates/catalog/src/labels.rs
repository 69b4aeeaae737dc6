//! Label values several families share, as enums: callers never pass free strings for them.
//! A family's own label enums live in its file; every one of them derives
//! [`LabelValue`](macro@crate::LabelValue).

use crate::LabelValue;

/// The node's actor kinds: the `actor_type` values the Alys actor dashboards group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
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

/// Kinds of actor messages (`message_type`). Custom messages share one value, `custom`:
/// a number per custom type would make the label unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum MessageType {
    Lifecycle,
    Sync,
    Network,
    Mining,
    Governance,
    Bridge,
    Storage,
    System,
    Custom,
}

/// Outcome of handling something (`outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum Outcome {
    Success,
    Failure,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::LabelValues;

    #[test]
    fn indices_follow_declaration_order() {
        for (i, a) in ActorType::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
            assert_eq!(ActorType::from_index(i), Some(*a));
        }
        assert_eq!(ActorType::from_index(ActorType::COUNT), None);
        assert_eq!(MessageType::COUNT, 9);
        assert_eq!(MessageType::Custom.to_string(), "custom");
    }
}
