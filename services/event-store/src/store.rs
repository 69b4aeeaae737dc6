//! The store: an append-only log of events in memory, indexed by entity and by type, with
//! its projections, snapshots and simulated storage kept up to date on every event, and a
//! broadcast of every stored event for the WebSocket stream, and the stream pipelines every
//! stored event goes through. Every ingest, query and replay is measured here, where the
//! work is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alys_telemetry::child_span;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::error::IngestError;
use crate::event::{NewEvent, StoredEvent};
use crate::labels::{EventType, Projection, QueryType, ValidationResult};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineError, PipelineSpec, Pipelines};
use crate::projection::{EntityView, Projections};
use crate::replay::{self, ReplayError, ReplayRequest, ReplaySummary};
use crate::schema::SchemaRegistry;
use crate::storage::{Storage, StorageConfig};

/// Events the stream buffers for a slow subscriber before it skips some for it.
const STREAM_BUFFER: usize = 1024;

/// Limits and sizes of a store.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// Most events held: memory is the only storage, so it is bounded.
    pub max_events: usize,
    pub storage: StorageConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_events: 1_000_000,
            storage: StorageConfig::default(),
        }
    }
}

/// A query of `GET /events`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    pub entity_id: Option<String>,
    /// The most recent `limit` matches are returned, oldest first.
    pub limit: usize,
}

impl EventQuery {
    fn kind(&self) -> QueryType {
        match (&self.entity_id, &self.event_type) {
            (Some(_), Some(_)) => QueryType::ByEntityAndType,
            (Some(_), None) => QueryType::ByEntity,
            (None, Some(_)) => QueryType::ByType,
            (None, None) => QueryType::All,
        }
    }
}

#[derive(Debug)]
struct State {
    events: Vec<StoredEvent>,
    by_entity: HashMap<String, Vec<usize>>,
    by_type: HashMap<String, Vec<usize>>,
    projections: Projections,
    storage: Storage,
    pipelines: Pipelines,
}

/// The event store (see the [module](self)).
pub struct Store {
    config: StoreConfig,
    state: Mutex<State>,
    schemas: SchemaRegistry,
    metrics: Arc<Metrics>,
    stream: broadcast::Sender<Utf8Bytes>,
}

impl Store {
    /// An empty store with the built-in schemas registered.
    pub fn new(config: StoreConfig, metrics: Arc<Metrics>) -> Store {
        let schemas = SchemaRegistry::builtin();
        metrics.schema.registered.add(schemas.len() as u64);
        let (stream, _) = broadcast::channel(STREAM_BUFFER);
        let state = State {
            events: Vec::new(),
            by_entity: HashMap::new(),
            by_type: HashMap::new(),
            projections: Projections::default(),
            storage: Storage::new(config.storage),
            pipelines: Pipelines::default(),
        };
        let store = Store {
            config,
            state: Mutex::new(state),
            schemas,
            metrics,
            stream,
        };
        store.lock().publish_gauges(&store.metrics);
        store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every event stored from now on, as the JSON the API returns.
    pub fn subscribe(&self) -> broadcast::Receiver<Utf8Bytes> {
        self.stream.subscribe()
    }

    /// Counts a refused ingest under its reason and hands the error back.
    pub fn refuse(&self, error: IngestError) -> IngestError {
        self.metrics.ingest.errors.add(error.reason(), 1);
        error
    }

    /// Validates every event of `events`, then stores them all, or none (a batch is
    /// all-or-nothing); returns their sequence numbers. The caller counts an error with
    /// [`Store::refuse`].
    pub fn ingest(&self, events: Vec<NewEvent>) -> Result<Vec<u64>, IngestError> {
        let batch = events.len() > 1;
        let mut validated = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let started = Instant::now();
            let kind = EventType::of(&event.event_type);
            self.validate(kind, &event).map_err(|e| match batch {
                true => e.in_batch(index),
                false => e,
            })?;
            validated.push((event, kind, started.elapsed()));
        }
        let mut state = self.lock();
        if state.events.len() + validated.len() > self.config.max_events {
            return Err(IngestError::StoreFull {
                capacity: self.config.max_events,
            });
        }
        let mut sequences = Vec::with_capacity(validated.len());
        for (event, kind, validation) in validated {
            let started = Instant::now();
            sequences.push(self.append(&mut state, event, kind));
            let took = validation + started.elapsed();
            self.metrics.ingest.duration.record(took.as_secs_f64());
        }
        state.publish_gauges(&self.metrics);
        Ok(sequences)
    }

    fn validate(&self, kind: EventType, event: &NewEvent) -> Result<(), IngestError> {
        let started = Instant::now();
        let (result, problem) = self.schemas.validate(kind, &event.payload);
        let schema = &self.metrics.schema;
        schema.duration.record(started.elapsed().as_secs_f64());
        schema.validations.add((kind, result), 1);
        match (result, problem) {
            (ValidationResult::Invalid, problem) => Err(IngestError::Schema {
                subject: event.event_type.clone(),
                message: problem.unwrap_or_default(),
            }),
            _ => Ok(()),
        }
    }

    /// Stores one validated event: log, indexes, projections, snapshot, storage, stream.
    fn append(&self, state: &mut State, event: NewEvent, kind: EventType) -> u64 {
        let sequence = state.events.len() as u64 + 1;
        let stored = StoredEvent {
            sequence,
            event_type: event.event_type,
            entity_id: event.entity_id,
            payload: event.payload,
            metadata: event.metadata,
            timestamp_ms: now_ms(),
        };
        let index = state.events.len();
        state
            .by_entity
            .entry(stored.entity_id.clone())
            .or_default()
            .push(index);
        state
            .by_type
            .entry(stored.event_type.clone())
            .or_default()
            .push(index);
        self.project(state, &stored, kind);
        state.pipelines.run(&stored, &self.metrics.pipeline);
        // The serialised event is what the WAL would hold and what subscribers receive.
        let json = serde_json::to_string(&stored).unwrap_or_default();
        state.storage.append(json.len() as u64);
        if state.storage.needs_compaction() {
            self.compact(&mut state.storage);
        }
        state.events.push(stored);
        // No subscriber is no error: the event is stored all the same.
        let _ = self.stream.send(Utf8Bytes::from(json));
        let m = &self.metrics;
        m.ingest.ingested.add(1);
        m.ingest.ingested_by_type.add(kind, 1);
        m.storage.events.add(1);
        sequence
    }

    fn project(&self, state: &mut State, event: &StoredEvent, kind: EventType) {
        let m = &self.metrics.projection;
        let started = Instant::now();
        let (new, result) = state.projections.apply_entity_state(event);
        m.duration
            .record(Projection::EntityState, started.elapsed().as_secs_f64());
        m.processed.add(Projection::EntityState, 1);
        if let Err(error) = result {
            m.errors.add(Projection::EntityState, 1);
            tracing::debug!(%error, "entity state projection skipped an event");
        }
        if new {
            self.metrics.storage.entities.add(1);
        }
        let started = Instant::now();
        state.projections.apply_type_counts(kind);
        m.duration
            .record(Projection::TypeCounts, started.elapsed().as_secs_f64());
        m.processed.add(Projection::TypeCounts, 1);
        let started = Instant::now();
        if state.projections.snapshot_if_due(&event.entity_id) {
            let maintenance = &self.metrics.maintenance;
            maintenance
                .snapshot_duration
                .record(started.elapsed().as_secs_f64());
            maintenance.snapshots_created.add(1);
        }
    }

    fn compact(&self, storage: &mut Storage) {
        let scope = child_span!("event_store.compaction");
        let started = Instant::now();
        let done = scope.in_scope(|| storage.compact());
        let m = &self.metrics.maintenance;
        m.compaction_duration
            .record(started.elapsed().as_secs_f64());
        m.compactions.add(1);
        m.files_merged.add(done.files_merged);
        m.bytes_saved.add(done.bytes_saved);
    }

    /// The most recent `query.limit` events matching `query`, oldest first.
    pub fn query(&self, query: &EventQuery) -> Vec<StoredEvent> {
        let started = Instant::now();
        let kind = query.kind();
        let found = {
            let state = self.lock();
            let events = &state.events;
            let limit = query.limit;
            let of_type = |i: &usize| match &query.event_type {
                Some(t) => events.get(*i).is_some_and(|e| &e.event_type == t),
                None => true,
            };
            // Newest first from the index, then put back in order.
            let picked: Vec<usize> = match (&query.entity_id, &query.event_type) {
                (Some(entity), _) => state.by_entity.get(entity).map_or_else(Vec::new, |ix| {
                    ix.iter()
                        .rev()
                        .copied()
                        .filter(of_type)
                        .take(limit)
                        .collect()
                }),
                (None, Some(t)) => state.by_type.get(t).map_or_else(Vec::new, |ix| {
                    ix.iter().rev().copied().take(limit).collect()
                }),
                (None, None) => (0..events.len()).rev().take(limit).collect(),
            };
            picked
                .into_iter()
                .rev()
                .filter_map(|i| events.get(i).cloned())
                .collect::<Vec<StoredEvent>>()
        };
        self.measure_query(kind, started, found.len());
        found
    }

    /// What the entity-state projection knows of `entity_id`.
    pub fn entity(&self, entity_id: &str) -> Option<EntityView> {
        let started = Instant::now();
        let view = self.lock().projections.entity(entity_id).cloned();
        self.measure_query(QueryType::Entity, started, usize::from(view.is_some()));
        view
    }

    /// Events stored of `kind`, from the type-counts projection.
    pub fn count_of(&self, kind: EventType) -> u64 {
        self.lock().projections.type_count(kind)
    }

    /// Rebuilds `request.projection` from the log (see [`replay`]). It holds the store while
    /// it runs, so that the log it replays is the log at one moment.
    pub fn replay(&self, request: &ReplayRequest) -> Result<ReplaySummary, ReplayError> {
        let state = self.lock();
        replay::run(&state.events, &state.by_type, request, &self.metrics.replay)
    }

    /// Registers a stream pipeline: every event stored from now on goes through it.
    pub fn register_pipeline(&self, spec: PipelineSpec) -> Result<Pipeline, PipelineError> {
        let mut state = self.lock();
        let pipeline = state.pipelines.register(spec)?;
        state.publish_gauges(&self.metrics);
        Ok(pipeline)
    }

    /// Removes the pipeline `name`; returns it, with what it saw.
    pub fn remove_pipeline(&self, name: &str) -> Result<Pipeline, PipelineError> {
        let mut state = self.lock();
        let pipeline = state.pipelines.remove(name)?;
        state.publish_gauges(&self.metrics);
        Ok(pipeline)
    }

    /// The registered pipelines, in the order they were registered.
    pub fn pipelines(&self) -> Vec<Pipeline> {
        self.lock().pipelines.list().to_vec()
    }

    fn measure_query(&self, kind: QueryType, started: Instant, results: usize) {
        let m = &self.metrics.query;
        m.duration.record(kind, started.elapsed().as_secs_f64());
        m.queries.add(kind, 1);
        m.results.add(kind, results as u64);
    }

    /// The state, even if a thread panicked holding it: every update leaves it consistent
    /// enough to read (an index may miss the event that was being appended).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn publish_gauges(&self, metrics: &Metrics) {
        metrics.storage.size.set(self.storage.size_bytes() as f64);
        metrics
            .storage
            .wal_segments
            .set(self.storage.wal_segments() as f64);
        metrics
            .storage
            .parquet_files
            .set(self.storage.parquet_files() as f64);
        metrics
            .maintenance
            .snapshots
            .set(self.projections.snapshots() as f64);
        metrics.pipeline.registered.set(self.pipelines.len() as f64);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
