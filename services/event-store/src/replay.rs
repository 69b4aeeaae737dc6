//! Replays: a projection rebuilt from the event log. A replay runs the projection, fresh,
//! over the stored events of its scope (from a sequence on, of one event type or all), in
//! order, and answers what the rebuilt projection holds.
//!
//! The rebuilt state is returned, not swapped in: the live projection is kept up to date on
//! every event, so a replay of the whole log rebuilds what it already holds, and a scoped
//! replay is a view of part of the log. A replay is strict where live ingestion cannot be:
//! an event is stored before it is projected, so the live projection skips (and counts) an
//! event it cannot apply, but a replay that meets one fails, naming it, because a rebuilt
//! state that silently lacks an event is not the state the log implies.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::event::{MAX_NAME_LEN, StoredEvent};
use crate::labels::{EventType, Projection};
use crate::metrics::ReplayMetrics;
use crate::projection::{ProjectionError, Projections};

/// Why a replay was not started, or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The body is not JSON of a replay request's shape.
    #[error("the body is not a valid replay request: {0}")]
    Json(#[source] serde_json::Error),
    /// A field's value is not allowed.
    #[error("{0}")]
    Invalid(String),
    /// The request names a projection the store does not have: no replay is started.
    #[error("no projection `{0}`: the store's projections are {known}", known = known())]
    UnknownProjection(String),
    /// The projection could not apply an event of the scope: the replay failed.
    #[error("the replay of `{projection}` failed after {processed} events: {source}")]
    Failed {
        projection: Projection,
        processed: u64,
        #[source]
        source: ProjectionError,
    },
}

fn known() -> String {
    let names: Vec<String> = Projection::ALL
        .iter()
        .map(|p| format!("`{}`", p.as_str()))
        .collect();
    names.join(", ")
}

/// A replay request as a client sends it (`POST /replays`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    projection: String,
    from: Option<u64>,
    event_type: Option<String>,
}

/// A checked replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    pub projection: Projection,
    /// The first sequence replayed (sequences start at 1).
    pub from: u64,
    /// Only events of this type, when given.
    pub event_type: Option<String>,
}

impl ReplayRequest {
    /// A request from a body, or what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<ReplayRequest, ReplayError> {
        let body: ReplayBody = serde_json::from_slice(body).map_err(ReplayError::Json)?;
        let projection = Projection::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == body.projection)
            .ok_or(ReplayError::UnknownProjection(body.projection))?;
        let from = body.from.unwrap_or(1);
        if from == 0 {
            return Err(ReplayError::Invalid(
                "`from` is a sequence number, and sequences start at 1".to_string(),
            ));
        }
        if let Some(t) = &body.event_type
            && (t.is_empty() || t.len() > MAX_NAME_LEN)
        {
            return Err(ReplayError::Invalid(format!(
                "`event_type` is 1 to {MAX_NAME_LEN} bytes, not {}",
                t.len()
            )));
        }
        Ok(ReplayRequest {
            projection,
            from,
            event_type: body.event_type,
        })
    }
}

/// What a completed replay answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplaySummary {
    pub projection: &'static str,
    pub from: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub events_processed: u64,
    /// The sequence of the last event replayed; none when the scope is empty.
    pub last_sequence: Option<u64>,
    pub duration_seconds: f64,
    /// What the rebuilt projection holds.
    pub rebuilt: Value,
}

/// How far a replay got.
#[derive(Debug, Default)]
struct Progress {
    processed: u64,
    last_sequence: Option<u64>,
}

/// Runs `request` over `events` (the log, `by_type` its index by type), measured in
/// `metrics`: started, then completed or failed, with its events and its time.
pub fn run(
    events: &[StoredEvent],
    by_type: &HashMap<String, Vec<usize>>,
    request: &ReplayRequest,
    metrics: &ReplayMetrics,
) -> Result<ReplaySummary, ReplayError> {
    let projection = request.projection;
    metrics.started.add(projection, 1);
    let started = Instant::now();
    let mut progress = Progress::default();
    let rebuilt = rebuild(projection, scope(events, by_type, request), &mut progress);
    let took = started.elapsed().as_secs_f64();
    metrics.duration.record(projection, took);
    metrics.processed.add(projection, progress.processed);
    match rebuilt {
        Ok(rebuilt) => {
            metrics.completed.add(projection, 1);
            Ok(ReplaySummary {
                projection: projection.as_str(),
                from: request.from,
                event_type: request.event_type.clone(),
                events_processed: progress.processed,
                last_sequence: progress.last_sequence,
                duration_seconds: took,
                rebuilt,
            })
        }
        Err(source) => {
            metrics.failed.add(projection, 1);
            Err(ReplayError::Failed {
                projection,
                processed: progress.processed,
                source,
            })
        }
    }
}

/// The events of the request's scope, in order. Sequences are positions from 1, so `from`
/// is an index into the log and into each type's (ordered) index.
fn scope<'a>(
    events: &'a [StoredEvent],
    by_type: &'a HashMap<String, Vec<usize>>,
    request: &ReplayRequest,
) -> Box<dyn Iterator<Item = &'a StoredEvent> + 'a> {
    let start = usize::try_from(request.from.saturating_sub(1)).unwrap_or(usize::MAX);
    match &request.event_type {
        None => Box::new(events.get(start..).unwrap_or_default().iter()),
        Some(event_type) => {
            let of_type = by_type.get(event_type).map_or(&[][..], Vec::as_slice);
            let first = of_type.partition_point(|i| *i < start);
            let rest = of_type.get(first..).unwrap_or_default();
            Box::new(rest.iter().filter_map(|i| events.get(*i)))
        }
    }
}

/// Runs a fresh `projection` over `scope`; what it holds at the end, or the event it could
/// not apply. `progress` counts the events applied.
fn rebuild<'a>(
    projection: Projection,
    scope: impl Iterator<Item = &'a StoredEvent>,
    progress: &mut Progress,
) -> Result<Value, ProjectionError> {
    let mut fresh = Projections::default();
    for event in scope {
        match projection {
            Projection::EntityState => {
                fresh.apply_entity_state(event).1?;
                fresh.snapshot_if_due(&event.entity_id);
            }
            Projection::TypeCounts => fresh.apply_type_counts(EventType::of(&event.event_type)),
        }
        progress.processed += 1;
        progress.last_sequence = Some(event.sequence);
    }
    Ok(match projection {
        Projection::EntityState => {
            json!({"entities": fresh.entities(), "snapshots": fresh.snapshots()})
        }
        Projection::TypeCounts => {
            let mut counts: Map<String, Value> = EventType::KNOWN
                .iter()
                .map(|(kind, name)| (name.to_string(), json!(fresh.type_count(*kind))))
                .collect();
            counts.insert("other".into(), json!(fresh.type_count(EventType::Other)));
            json!({ "counts": counts })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<ReplayRequest, ReplayError> {
        ReplayRequest::parse(body.to_string().as_bytes())
    }

    #[test]
    fn requests_name_a_projection_and_a_sequence_from_1() {
        let r = request(json!({"projection": "type_counts", "from": 3})).expect("valid");
        assert_eq!((r.projection, r.from), (Projection::TypeCounts, 3));
        let r = request(json!({"projection": "entity_state"})).expect("valid");
        assert_eq!((r.from, r.event_type), (1, None));
        let unknown = request(json!({"projection": "nope"})).expect_err("unknown");
        assert_eq!(
            unknown.to_string(),
            "no projection `nope`: the store's projections are `entity_state`, `type_counts`"
        );
        assert!(matches!(
            request(json!({"projection": "type_counts", "from": 0})),
            Err(ReplayError::Invalid(_))
        ));
        assert!(matches!(
            request(json!({"projection": "type_counts", "to": 9})),
            Err(ReplayError::Json(_))
        ));
    }

    fn log() -> (Vec<StoredEvent>, HashMap<String, Vec<usize>>) {
        let payloads = [
            json!({"a": 1}),
            json!({"b": 2}),
            json!("text"),
            json!({"c": 3}),
        ];
        let types = ["x", "y", "x", "x"];
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let events = payloads
            .into_iter()
            .zip(types)
            .enumerate()
            .map(|(i, (payload, t))| {
                by_type.entry(t.to_string()).or_default().push(i);
                StoredEvent {
                    sequence: i as u64 + 1,
                    event_type: t.into(),
                    entity_id: format!("e-{}", i % 2),
                    payload,
                    metadata: None,
                    timestamp_ms: 0,
                }
            })
            .collect();
        (events, by_type)
    }

    #[test]
    fn the_scope_starts_at_from_and_keeps_one_type() {
        let (events, by_type) = log();
        let sequences = |from, event_type: Option<&str>| -> Vec<u64> {
            let r = ReplayRequest {
                projection: Projection::TypeCounts,
                from,
                event_type: event_type.map(str::to_string),
            };
            scope(&events, &by_type, &r).map(|e| e.sequence).collect()
        };
        assert_eq!(sequences(1, None), [1, 2, 3, 4]);
        assert_eq!(sequences(3, None), [3, 4]);
        assert_eq!(sequences(2, Some("x")), [3, 4]);
        assert_eq!(sequences(9, None), Vec::<u64>::new());
        assert_eq!(sequences(1, Some("none")), Vec::<u64>::new());
    }

    #[test]
    fn a_rebuild_stops_at_the_event_it_cannot_apply() {
        let (events, _) = log();
        let mut progress = Progress::default();
        let failed = rebuild(Projection::EntityState, events.iter(), &mut progress);
        assert_eq!(failed, Err(ProjectionError::NotAnObject { sequence: 3 }));
        assert_eq!((progress.processed, progress.last_sequence), (2, Some(2)));
        let mut progress = Progress::default();
        let counts = rebuild(Projection::TypeCounts, events.iter(), &mut progress);
        assert_eq!(counts.expect("counts")["counts"]["other"], 4);
        assert_eq!(progress.processed, 4);
    }
}
