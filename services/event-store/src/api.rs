//! The HTTP API: ingest (`POST /events`, `POST /events/batch`), query (`GET /events`,
//! `GET /entities/{id}`), the stream (`GET /ws`), and the control API of [`control`]
//! (`POST /replays`, `POST`/`GET /pipelines`, `DELETE /pipelines/{name}`), behind the
//! library's HTTP server layer, which measures every request by method, route template and
//! status and opens its server span. The handlers open the store's own spans under it.

use std::sync::Arc;

use alys_telemetry::child_span;
use alys_telemetry::sources::http::server::HttpServerLayer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use opentelemetry::metrics::Meter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::{self, MAX_CONTROL_BODY};
use crate::error::{ApiError, IngestError};
use crate::event::NewEvent;
use crate::labels::IngestErrorReason;
use crate::store::{EventQuery, Store};
use crate::ws::{self, Subscribers};

/// Largest body of `POST /events`.
pub const MAX_EVENT_BODY: usize = 64 * 1024;
/// Largest body of `POST /events/batch`.
pub const MAX_BATCH_BODY: usize = 1024 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Most events one query returns, and the default.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub subscribers: Arc<Subscribers>,
}

/// The API's router, measured and traced by the library's layer built on `meter`.
pub fn router(state: AppState, meter: &Meter) -> Router {
    Router::new()
        .route(
            "/events",
            post(ingest_one)
                .get(query_events)
                .layer(DefaultBodyLimit::max(MAX_EVENT_BODY)),
        )
        .route(
            "/events/batch",
            post(ingest_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/entities/{id}", get(entity))
        .route(
            "/replays",
            post(control::replay).layer(DefaultBodyLimit::max(MAX_CONTROL_BODY)),
        )
        .route(
            "/pipelines",
            post(control::register_pipeline)
                .get(control::list_pipelines)
                .layer(DefaultBodyLimit::max(MAX_CONTROL_BODY)),
        )
        .route("/pipelines/{name}", delete(control::remove_pipeline))
        .route("/ws", get(ws::upgrade))
        .fallback(no_route)
        .with_state(state)
        // `Router::layer`, so that the layer sees axum's matched route template.
        .layer(HttpServerLayer::new(meter))
}

async fn ingest_one(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let scope = child_span!(
        "event_store.ingest",
        event.count = 1,
        event.type = tracing::field::Empty,
        entity.id = tracing::field::Empty
    );
    let stored = scope.in_scope(|| {
        let event = NewEvent::parse(&read_body(body)?)?;
        if let Some(span) = scope.span() {
            span.record("event.type", event.event_type.as_str());
            span.record("entity.id", event.entity_id.as_str());
        }
        app.store.ingest(vec![event])
    });
    let sequences = stored.map_err(|e| app.store.refuse(e))?;
    let sequence = sequences.first().copied().unwrap_or_default();
    Ok((StatusCode::CREATED, Json(json!({ "sequence": sequence }))).into_response())
}

async fn ingest_batch(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let scope = child_span!("event_store.ingest", event.count = tracing::field::Empty);
    let stored = scope.in_scope(|| {
        let events = NewEvent::parse_batch(&read_body(body)?, MAX_BATCH_EVENTS)?;
        if let Some(span) = scope.span() {
            span.record("event.count", events.len());
        }
        app.store.ingest(events)
    });
    let sequences = stored.map_err(|e| app.store.refuse(e))?;
    let body = json!({ "ingested": sequences.len(), "sequences": sequences });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The body, or why it could not be read (over the limit: 413).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, IngestError> {
    body.map_err(|rejection| {
        let reason = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => IngestErrorReason::TooLarge,
            _ => IngestErrorReason::MalformedJson,
        };
        IngestError::Body {
            reason,
            message: rejection.body_text(),
        }
    })
}

/// The parameters of `GET /events`; any other is refused, so that a typo is not silently
/// an unfiltered query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsParams {
    event_type: Option<String>,
    entity_id: Option<String>,
    limit: Option<usize>,
}

async fn query_events(
    State(app): State<AppState>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let query = events_query(params).inspect_err(|_| app.store.metrics().query.errors.add(1))?;
    let scope = child_span!(
        "event_store.query",
        query.limit = query.limit,
        query.by_entity = query.entity_id.is_some(),
        query.by_type = query.event_type.is_some()
    );
    let events = scope.in_scope(|| app.store.query(&query));
    Ok(Json(json!({ "count": events.len(), "events": events })))
}

fn events_query(
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<EventQuery, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::Query(rejection.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Query(format!(
            "`limit` is 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(EventQuery {
        event_type: nonempty(params.event_type),
        entity_id: nonempty(params.entity_id),
        limit,
    })
}

async fn entity(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = child_span!("event_store.query", query.entity = true);
    match scope.in_scope(|| app.store.entity(&id)) {
        Some(view) => Ok(Json(json!(view))),
        None => Err(ApiError::NotFound(format!("no entity `{id}` is stored"))),
    }
}

async fn no_route(method: Method, uri: Uri) -> Response {
    let body = json!({ "error": format!("no route for {method} {}", uri.path()) });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
