//! `/api/`: the viewer's data as JSON, for `alys-telemetry traces`, `top` and other tools.
//!
//! - `/api/traces?…` (the filters of `/traces`) and `/api/traces/{trace_id}`: OTLP JSON
//!   `TracesData`, one `resourceSpans` entry per trace, in the list's order; any OTLP reader
//!   takes it (ids in hex, times in nanoseconds as strings, as the OTLP JSON mapping says);
//! - `/api/operations`: per root operation, zPages' `TracezCounts` (`spanname`, `latency`:
//!   one count per bucket, `error`; `running` is always 0, the store sees ended spans only),
//!   with the buckets' bounds;
//! - `/api/health`: the health report and each check's recent history;
//! - `/api/store`: what the store holds against its bound.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use opentelemetry::trace::TraceId;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use opentelemetry_proto::tonic::tracez::v1::TracezCounts;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use serde::Serialize;

use super::Viewer;
use super::history::Sample;
use super::query::TraceParams;
use super::store::{LATENCY_BOUNDS, StoreStats, Trace, TraceStore};
use alys_telemetry_core::health::HealthReport;

/// The traces as OTLP `TracesData`: one `ResourceSpans` per trace, spans grouped by scope.
pub fn traces_data<'a>(
    store: &TraceStore,
    traces: impl IntoIterator<Item = &'a Trace>,
) -> TracesData {
    let resource = ResourceAttributesWithSchema::from(&store.resource());
    TracesData {
        resource_spans: traces
            .into_iter()
            .flat_map(|t| group_spans_by_resource_and_scope(t.spans().to_vec(), &resource))
            .collect::<Vec<ResourceSpans>>(),
    }
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        Json(ApiError {
            error: message.into(),
        }),
    )
        .into_response()
}

fn no_store() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no traces are kept: the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED)",
    )
}

/// `GET /api/`: what is here.
pub async fn index() -> Response {
    Json(serde_json::json!({
        "traces": "/api/traces?view=recent|slowest|failed&operation=&service=&min_duration=250ms&bucket=0..8&error=true&q=&limit=50",
        "trace": "/api/traces/{trace_id}",
        "operations": "/api/operations",
        "health": "/api/health",
        "store": "/api/store",
    }))
    .into_response()
}

/// `GET /api/traces`
pub async fn traces(State(viewer): State<Viewer>, Query(params): Query<TraceParams>) -> Response {
    let Some(store) = &viewer.store else {
        return no_store();
    };
    let query = match params.to_query() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let traces = store.query(&query);
    Json(traces_data(store, traces.iter().map(|t| &**t))).into_response()
}

/// Parses a trace id as the pages and Jaeger write it: 32 hex digits (shorter ones are
/// left-padded, as Jaeger's are).
pub fn parse_trace_id(text: &str) -> Option<TraceId> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    TraceId::from_hex(text)
        .ok()
        .filter(|id| *id != TraceId::INVALID)
}

/// `GET /api/traces/{trace_id}`
pub async fn trace(State(viewer): State<Viewer>, Path(id): Path<String>) -> Response {
    let Some(store) = &viewer.store else {
        return no_store();
    };
    let Some(trace_id) = parse_trace_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("invalid trace id {id:?}: expected up to 32 hex digits"),
        );
    };
    match store.get(trace_id) {
        Some(trace) => Json(traces_data(store, [&*trace])).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("trace {trace_id} is not kept (evicted, never sampled, or not from this node)"),
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Operations {
    /// The buckets' upper bounds, in nanoseconds; the last bucket is open.
    latency_bounds_nanos: Vec<u64>,
    operations: Vec<TracezCounts>,
}

/// `GET /api/operations`
pub async fn operations(State(viewer): State<Viewer>) -> Response {
    let Some(store) = &viewer.store else {
        return no_store();
    };
    let operations = store
        .operations()
        .into_iter()
        .map(|op| TracezCounts {
            spanname: op.name,
            latency: op
                .counts
                .iter()
                .map(|&c| c.min(u32::MAX as u64) as u32)
                .collect(),
            running: 0,
            error: op.errors.min(u32::MAX as u64) as u32,
        })
        .collect();
    Json(Operations {
        latency_bounds_nanos: LATENCY_BOUNDS.iter().map(|d| d.as_nanos() as u64).collect(),
        operations,
    })
    .into_response()
}

#[derive(Serialize)]
struct Health {
    report: HealthReport,
    /// Per check, oldest first; the whole process under `""`.
    history: BTreeMap<String, Vec<Sample>>,
}

/// `GET /api/health`: always 200 (the report's status says how the node is); `/health`
/// is the one whose code probes read.
pub async fn health(State(viewer): State<Viewer>) -> Response {
    let report = viewer.health.report().await;
    Json(Health {
        report,
        history: viewer.history.snapshot(),
    })
    .into_response()
}

#[derive(Serialize)]
struct Store {
    service: String,
    memory_limit_bytes: usize,
    memory_bytes: usize,
    traces: usize,
    gathering: usize,
    evicted_traces: u64,
    dropped_spans: u64,
}

/// `GET /api/store`
pub async fn store(State(viewer): State<Viewer>) -> Response {
    let Some(store) = &viewer.store else {
        return no_store();
    };
    let StoreStats {
        memory_limit,
        memory_bytes,
        traces,
        gathering,
        evicted_traces,
        dropped_spans,
    } = store.stats();
    Json(Store {
        service: store.service_name(),
        memory_limit_bytes: memory_limit,
        memory_bytes,
        traces,
        gathering,
        evicted_traces,
        dropped_spans,
    })
    .into_response()
}
