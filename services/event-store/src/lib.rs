//! An in-memory event store, a simulation of AllSource's core, on `alys-telemetry`: events
//! ingested over HTTP (one or a batch), checked against their type's schema, appended to a
//! log indexed by entity and type, applied to projections (entity state, counts per type)
//! with periodic snapshots, written to a simulated WAL that flushes into Parquet files that
//! are compacted, queried over HTTP, and streamed to WebSocket subscribers.
//!
//! Every part records the metrics the AllSource metrics guide names ([`metrics`]), the API is
//! measured and traced by the library's HTTP server layer, and ingest, query and replay open
//! spans under the request's server span.

pub mod api;
pub mod catalog;
pub mod control;
pub mod error;
pub mod event;
pub mod labels;
pub mod metrics;
pub mod pipeline;
pub mod projection;
pub mod replay;
pub mod schema;
pub mod server;
pub mod storage;
pub mod store;
pub mod ws;

pub use server::{Running, ServeError, start};
pub use store::{EventQuery, Store, StoreConfig};
