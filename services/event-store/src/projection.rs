//! The projections the store keeps up to date as events arrive, and the entity snapshots
//! taken from them.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::StoredEvent;
use crate::labels::EventType;

/// A snapshot of an entity is taken every this many of its events.
pub const SNAPSHOT_EVERY: u64 = 10;

/// Why a projection could not apply an event (the event is stored all the same).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    /// The entity-state projection merges object payloads only.
    #[error("event {sequence}: the payload is not an object, so it has no fields to merge")]
    NotAnObject { sequence: u64 },
}

/// An entity's state at one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// How many of the entity's events the state includes.
    pub version: u64,
    pub state: Map<String, Value>,
}

/// What the entity-state projection knows of one entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityView {
    pub entity_id: String,
    /// Its events' object payloads, merged in order (a later field wins).
    pub state: Map<String, Value>,
    /// How many events it has.
    pub version: u64,
    pub last_sequence: u64,
    /// The latest snapshot, once it has had `SNAPSHOT_EVERY` events.
    pub snapshot: Option<Snapshot>,
}

/// The projections: entity state (with snapshots) and events per type.
#[derive(Debug, Default)]
pub struct Projections {
    entities: HashMap<String, EntityView>,
    type_counts: HashMap<EventType, u64>,
    snapshots: usize,
}

impl Projections {
    /// Applies `event` to its entity's state; returns whether the entity is new.
    pub fn apply_entity_state(
        &mut self,
        event: &StoredEvent,
    ) -> (bool, Result<(), ProjectionError>) {
        let mut new = false;
        let view = self
            .entities
            .entry(event.entity_id.clone())
            .or_insert_with(|| {
                new = true;
                EntityView {
                    entity_id: event.entity_id.clone(),
                    state: Map::new(),
                    version: 0,
                    last_sequence: 0,
                    snapshot: None,
                }
            });
        view.version += 1;
        view.last_sequence = event.sequence;
        let result = match &event.payload {
            Value::Object(fields) => {
                view.state
                    .extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(())
            }
            _ => Err(ProjectionError::NotAnObject {
                sequence: event.sequence,
            }),
        };
        (new, result)
    }

    /// Counts `event` under its type.
    pub fn apply_type_counts(&mut self, event_type: EventType) {
        *self.type_counts.entry(event_type).or_default() += 1;
    }

    /// Takes a snapshot of `entity_id` if its version calls for one; returns whether it did.
    pub fn snapshot_if_due(&mut self, entity_id: &str) -> bool {
        let Some(view) = self.entities.get_mut(entity_id) else {
            return false;
        };
        if view.version % SNAPSHOT_EVERY != 0 {
            return false;
        }
        if view.snapshot.is_none() {
            self.snapshots += 1;
        }
        view.snapshot = Some(Snapshot {
            version: view.version,
            state: view.state.clone(),
        });
        true
    }

    /// Snapshots held: the latest of each entity that has one.
    pub fn snapshots(&self) -> usize {
        self.snapshots
    }

    /// Entities it knows.
    pub fn entities(&self) -> usize {
        self.entities.len()
    }

    pub fn entity(&self, entity_id: &str) -> Option<&EntityView> {
        self.entities.get(entity_id)
    }

    pub fn type_count(&self, event_type: EventType) -> u64 {
        self.type_counts.get(&event_type).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(sequence: u64, payload: Value) -> StoredEvent {
        StoredEvent {
            sequence,
            event_type: "user.updated".into(),
            entity_id: "u-1".into(),
            payload,
            metadata: None,
            timestamp_ms: 0,
        }
    }

    #[test]
    fn states_merge_and_snapshots_follow_the_version() {
        let mut p = Projections::default();
        assert!(p.apply_entity_state(&event(1, json!({"a": 1, "b": 1}))).0);
        let (new, result) = p.apply_entity_state(&event(2, json!({"b": 2})));
        assert!(!new && result.is_ok());
        let (_, result) = p.apply_entity_state(&event(3, json!("text")));
        assert_eq!(result, Err(ProjectionError::NotAnObject { sequence: 3 }));
        let view = p.entity("u-1").expect("entity exists");
        assert_eq!((view.version, view.state.get("b")), (3, Some(&json!(2))));
        assert!(!p.snapshot_if_due("u-1"));
        for seq in 4..=SNAPSHOT_EVERY {
            let _ = p.apply_entity_state(&event(seq, json!({})));
        }
        assert!(p.snapshot_if_due("u-1"));
        assert_eq!(p.snapshots(), 1);
    }
}
