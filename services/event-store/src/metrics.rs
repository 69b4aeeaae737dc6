//! The store's metrics, named as the AllSource metrics guide (seed 002) names them, declared
//! with the library's derives: typed labels from closed sets, counters at 0 from start-up,
//! the naming rules checked when it compiles.
//!
//! Two rules of the build shape some names. The Prometheus exporter appends `_total` to
//! every counter, so a counter the guide names without it (`…_by_type`, `…_processed`,
//! `…_sent`, `…_merged`, `…_saved`) is exported, and declared here, with it. Only counters
//! end in `_total`: a count that can fall (WAL segments, Parquet files, snapshots held) is a
//! gauge and loses the guide's `_total`; a count that only grows (events and entities
//! stored: the store is append-only) is a counter and keeps it.
//!
//! One label takes values from outside the closed sets: `pipeline`, the name a client gives a
//! stream pipeline. It is recorded through the library's keyed instruments, which keep at
//! most [`PIPELINE_SERIES`] names apart and count the rest as overflow, and the store bounds
//! it before that: a name is 1 to 32 characters of `[a-z0-9_-]`, and at most 16 pipelines
//! are registered at once ([`crate::pipeline`]).

use alys_telemetry::sources::catalog::external::{KeyedCounter, KeyedHistogram};
use alys_telemetry::sources::catalog::instruments::{
    Counter, CounterVec, Gauge, Histogram, HistogramVec,
};
use alys_telemetry::sources::catalog::{Family, MetricFamily};
use opentelemetry::metrics::Meter;

use crate::labels::{
    EventType, IngestErrorReason, Projection, QueryType, Subject, ValidationResult, WsErrorReason,
};
use crate::pipeline::PIPELINE_SERIES;

const WHY_INGEST: &str = "the guide's event ingestion metrics: throughput, latency and errors";
const WHY_QUERY: &str = "the guide's query performance metrics";
const WHY_STORAGE: &str = "the guide's storage metrics: what the store holds";
const WHY_PROJECTION: &str = "the guide's projection metrics, by projection";
const WHY_SCHEMA: &str = "the guide's schema registry metrics";
const WHY_SNAPSHOT: &str = "the guide's snapshot metrics";
const WHY_COMPACTION: &str = "the guide's compaction metrics";
const WHY_WS: &str = "the guide's WebSocket metrics";
const WHY_REPLAY: &str = "the guide's event replay metrics, by projection";
const WHY_PIPELINE: &str = "the guide's stream pipeline metrics, by pipeline: a client's name, \
                            1 to 32 of [a-z0-9_-], at most 16 registered at once";

// Every histogram measures in-memory work: its buckets run from 10 µs to a tenth of a second,
// but for replays, which run over up to the whole log and reach 5 s.

#[derive(MetricFamily)]
#[family(title = "event store: ingestion")]
pub struct IngestMetrics {
    /// Events stored
    #[metric(name = "allsource_events_ingested_total", why = WHY_INGEST)]
    pub ingested: Counter,
    /// Events stored, by event type (the store's known types, `other` for the rest)
    #[metric(
        name = "allsource_events_ingested_by_type_total",
        labels(event_type),
        why = "the guide's allsource_events_ingested_by_type, a counter: the Prometheus exporter \
               appends _total to every counter, so it is exported (and declared) with it"
    )]
    pub ingested_by_type: CounterVec<EventType>,
    /// Time to validate, store and project one event
    #[metric(name = "allsource_ingestion_duration_seconds", unit = "s", buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1], why = WHY_INGEST)]
    pub duration: Histogram,
    /// Ingest requests refused, by reason
    #[metric(name = "allsource_ingestion_errors_total", labels(reason), why = WHY_INGEST)]
    pub errors: CounterVec<IngestErrorReason>,
}

#[derive(MetricFamily)]
#[family(title = "event store: queries")]
pub struct QueryMetrics {
    /// Queries answered, by query type
    #[metric(name = "allsource_queries_total", labels(query_type), why = WHY_QUERY)]
    pub queries: CounterVec<QueryType>,
    /// Time to answer a query, by query type
    #[metric(
        name = "allsource_query_duration_seconds",
        unit = "s",
        labels(query_type),
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_QUERY
    )]
    pub duration: HistogramVec<QueryType>,
    /// Events (or entities) returned, by query type
    #[metric(name = "allsource_query_results_total", labels(query_type), why = WHY_QUERY)]
    pub results: CounterVec<QueryType>,
    /// Query requests refused for bad parameters
    #[metric(
        name = "allsource_query_errors_total",
        why = "not in the guide: a malformed query is no ingestion error, so it is counted \
               apart from allsource_ingestion_errors_total"
    )]
    pub errors: Counter,
}

#[derive(MetricFamily)]
#[family(title = "event store: storage")]
pub struct StorageMetrics {
    /// Events the store holds (it is append-only: the count only grows)
    #[metric(name = "allsource_storage_events_total", why = WHY_STORAGE)]
    pub events: Counter,
    /// Distinct entities the store holds (none is ever removed)
    #[metric(name = "allsource_storage_entities_total", why = WHY_STORAGE)]
    pub entities: Counter,
    /// Bytes of the simulated WAL and Parquet files
    #[metric(name = "allsource_storage_size_bytes", unit = "By", start = zero, why = WHY_STORAGE)]
    pub size: Gauge,
    /// Simulated WAL segments, the open one included
    #[metric(
        name = "allsource_wal_segments",
        start = zero,
        why = "the guide's allsource_wal_segments_total: a gauge (a flush removes segments), \
               and only counters may end in _total"
    )]
    pub wal_segments: Gauge,
    /// Simulated Parquet files
    #[metric(
        name = "allsource_parquet_files",
        start = zero,
        why = "the guide's allsource_parquet_files_total: a gauge (compaction merges files), \
               and only counters may end in _total"
    )]
    pub parquet_files: Gauge,
}

#[derive(MetricFamily)]
#[family(title = "event store: projections")]
pub struct ProjectionMetrics {
    /// Events applied to a projection, by projection
    #[metric(
        name = "allsource_projection_events_processed_total",
        labels(projection),
        why = "the guide's allsource_projection_events_processed, a counter: exported with the \
               _total the Prometheus exporter appends"
    )]
    pub processed: CounterVec<Projection>,
    /// Events a projection could not apply, by projection
    #[metric(name = "allsource_projection_errors_total", labels(projection), why = WHY_PROJECTION)]
    pub errors: CounterVec<Projection>,
    /// Time to apply one event to a projection, by projection
    #[metric(
        name = "allsource_projection_processing_duration_seconds",
        unit = "s",
        labels(projection),
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_PROJECTION
    )]
    pub duration: HistogramVec<Projection>,
}

#[derive(MetricFamily)]
#[family(title = "event store: schema registry")]
pub struct SchemaMetrics {
    /// Schemas registered
    #[metric(name = "allsource_schemas_registered_total", why = WHY_SCHEMA)]
    pub registered: Counter,
    /// Payloads validated, by subject (event type) and result
    #[metric(
        name = "allsource_schema_validations_total",
        labels(subject, result),
        why = WHY_SCHEMA
    )]
    pub validations: CounterVec<(Subject, ValidationResult)>,
    /// Time to validate one payload
    #[metric(
        name = "allsource_schema_validation_duration_seconds",
        unit = "s",
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_SCHEMA
    )]
    pub duration: Histogram,
}

#[derive(MetricFamily)]
#[family(title = "event store: snapshots and compaction")]
pub struct MaintenanceMetrics {
    /// Entity snapshots taken
    #[metric(name = "allsource_snapshots_created_total", why = WHY_SNAPSHOT)]
    pub snapshots_created: Counter,
    /// Time to take one snapshot
    #[metric(
        name = "allsource_snapshot_creation_duration_seconds",
        unit = "s",
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_SNAPSHOT
    )]
    pub snapshot_duration: Histogram,
    /// Snapshots held (the latest of each entity; a new one replaces it)
    #[metric(
        name = "allsource_snapshots",
        start = zero,
        why = "the guide's allsource_snapshots_total: a gauge of the snapshots held, and only \
               counters may end in _total"
    )]
    pub snapshots: Gauge,
    /// Compactions of the simulated Parquet files
    #[metric(name = "allsource_compactions_total", why = WHY_COMPACTION)]
    pub compactions: Counter,
    /// Time of one compaction
    #[metric(
        name = "allsource_compaction_duration_seconds",
        unit = "s",
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_COMPACTION
    )]
    pub compaction_duration: Histogram,
    /// Parquet files merged by compactions
    #[metric(
        name = "allsource_compaction_files_merged_total",
        why = "the guide's allsource_compaction_files_merged, a counter: exported with the \
               _total the Prometheus exporter appends"
    )]
    pub files_merged: Counter,
    /// Bytes compactions saved
    #[metric(
        name = "allsource_compaction_bytes_saved_total",
        why = "the guide's allsource_compaction_bytes_saved, a counter: exported with the _total \
               the Prometheus exporter appends; no unit, which would put _bytes at the end"
    )]
    pub bytes_saved: Counter,
}

#[derive(MetricFamily)]
#[family(title = "event store: WebSocket stream")]
pub struct WebSocketMetrics {
    /// WebSocket subscribers connected now
    #[metric(name = "allsource_websocket_connections_active", start = zero, why = WHY_WS)]
    pub active: Gauge,
    /// WebSocket subscribers ever connected
    #[metric(name = "allsource_websocket_connections_total", why = WHY_WS)]
    pub connections: Counter,
    /// Events sent to subscribers
    #[metric(
        name = "allsource_websocket_messages_sent_total",
        why = "the guide's allsource_websocket_messages_sent, a counter: exported with the \
               _total the Prometheus exporter appends"
    )]
    pub messages_sent: Counter,
    /// Errors on subscriber connections, by reason
    #[metric(name = "allsource_websocket_errors_total", labels(reason), why = WHY_WS)]
    pub errors: CounterVec<WsErrorReason>,
}

#[derive(MetricFamily)]
#[family(title = "event store: replays")]
pub struct ReplayMetrics {
    /// Replays started, by projection (a request refused before it starts is not one)
    #[metric(name = "allsource_replays_started_total", labels(projection), why = WHY_REPLAY)]
    pub started: CounterVec<Projection>,
    /// Replays that rebuilt their projection over their whole scope, by projection
    #[metric(name = "allsource_replays_completed_total", labels(projection), why = WHY_REPLAY)]
    pub completed: CounterVec<Projection>,
    /// Replays stopped by an event the projection could not apply, by projection
    #[metric(name = "allsource_replays_failed_total", labels(projection), why = WHY_REPLAY)]
    pub failed: CounterVec<Projection>,
    /// Events replayed through a projection (up to the failure in a failed replay)
    #[metric(
        name = "allsource_replay_events_processed_total",
        labels(projection),
        why = "the guide's allsource_replay_events_processed, a counter: exported with the \
               _total the Prometheus exporter appends"
    )]
    pub processed: CounterVec<Projection>,
    /// Time of one replay, completed or failed, by projection
    #[metric(
        name = "allsource_replay_duration_seconds",
        unit = "s",
        labels(projection),
        buckets = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        why = WHY_REPLAY
    )]
    pub duration: HistogramVec<Projection>,
}

#[derive(MetricFamily)]
#[family(title = "event store: stream pipelines")]
pub struct PipelineMetrics {
    /// Stream pipelines registered now
    #[metric(
        name = "allsource_pipelines_registered",
        start = zero,
        why = "the guide's allsource_pipelines_registered_total (\"active pipelines\"): a gauge \
               (DELETE /pipelines/{name} removes one), and only counters may end in _total"
    )]
    pub registered: Gauge,
    /// Events a pipeline's filter passed, by pipeline
    #[metric(
        name = "allsource_pipeline_events_processed_total",
        labels(pipeline),
        limit = PIPELINE_SERIES,
        why = "the guide's allsource_pipeline_events_processed, a counter: exported with the \
               _total the Prometheus exporter appends; `pipeline` is a client's name, 1 to 32 \
               of [a-z0-9_-], at most 16 registered at once"
    )]
    pub processed: KeyedCounter,
    /// Events a pipeline's filter dropped, by pipeline
    #[metric(
        name = "allsource_pipeline_events_filtered_total",
        labels(pipeline),
        limit = PIPELINE_SERIES,
        why = "the guide's allsource_pipeline_events_filtered, a counter: exported with the \
               _total the Prometheus exporter appends; `pipeline` is a client's name, 1 to 32 \
               of [a-z0-9_-], at most 16 registered at once"
    )]
    pub filtered: KeyedCounter,
    /// Time to run one event through one pipeline, by pipeline
    #[metric(
        name = "allsource_pipeline_processing_duration_seconds",
        unit = "s",
        labels(pipeline),
        limit = PIPELINE_SERIES,
        buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1],
        why = WHY_PIPELINE
    )]
    pub duration: KeyedHistogram,
}

/// Every family of the store, built once at start-up on the pipeline's meter.
pub struct Metrics {
    pub ingest: IngestMetrics,
    pub query: QueryMetrics,
    pub storage: StorageMetrics,
    pub projection: ProjectionMetrics,
    pub schema: SchemaMetrics,
    pub maintenance: MaintenanceMetrics,
    pub websocket: WebSocketMetrics,
    pub replay: ReplayMetrics,
    pub pipeline: PipelineMetrics,
}

impl Metrics {
    /// The store's families, in the catalogue's order.
    pub const FAMILIES: [Family; 9] = [
        IngestMetrics::FAMILY,
        QueryMetrics::FAMILY,
        StorageMetrics::FAMILY,
        ProjectionMetrics::FAMILY,
        SchemaMetrics::FAMILY,
        MaintenanceMetrics::FAMILY,
        WebSocketMetrics::FAMILY,
        ReplayMetrics::FAMILY,
        PipelineMetrics::FAMILY,
    ];

    /// Every instrument, on `meter` (call once: each call registers them again).
    pub fn new(meter: &Meter) -> Metrics {
        Metrics {
            ingest: IngestMetrics::new(meter),
            query: QueryMetrics::new(meter),
            storage: StorageMetrics::new(meter),
            projection: ProjectionMetrics::new(meter),
            schema: SchemaMetrics::new(meter),
            maintenance: MaintenanceMetrics::new(meter),
            websocket: WebSocketMetrics::new(meter),
            replay: ReplayMetrics::new(meter),
            pipeline: PipelineMetrics::new(meter),
        }
    }
}
