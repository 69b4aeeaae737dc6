//! The control API: replays (`POST /replays`) and stream pipelines (`POST /pipelines`,
//! `GET /pipelines`, `DELETE /pipelines/{name}`). A replay runs in a span of its own under
//! the request's server span, as ingest and query do.

use alys_telemetry::child_span;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::error::ApiError;
use crate::pipeline::PipelineSpec;
use crate::replay::{ReplayError, ReplayRequest};

/// Largest body of `POST /replays` and `POST /pipelines`: a few short fields.
pub const MAX_CONTROL_BODY: usize = 16 * 1024;

/// `POST /replays`: rebuilds a projection from the log and answers what it holds; a request
/// refused before the replay starts is no replay, a replay the log makes fail is a 422.
pub async fn replay(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let scope = child_span!(
        "event_store.replay",
        replay.projection = tracing::field::Empty,
        replay.from = tracing::field::Empty,
        replay.event_type = tracing::field::Empty,
        replay.events = tracing::field::Empty,
        replay.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty
    );
    let replayed = scope.in_scope(|| {
        let request = ReplayRequest::parse(&read_body(body)?)?;
        let span = scope.span();
        if let Some(span) = span {
            span.record("replay.projection", request.projection.as_str());
            span.record("replay.from", request.from);
            if let Some(event_type) = &request.event_type {
                span.record("replay.event_type", event_type.as_str());
            }
        }
        let replayed = app.store.replay(&request);
        if let Some(span) = span {
            match &replayed {
                Ok(summary) => {
                    span.record("replay.events", summary.events_processed);
                    span.record("replay.outcome", "completed");
                }
                Err(ReplayError::Failed { processed, .. }) => {
                    span.record("replay.events", *processed);
                    span.record("replay.outcome", "failed");
                    span.record("otel.status_code", "error");
                }
                Err(_) => {}
            }
        }
        replayed.map_err(ApiError::from)
    });
    Ok(Json(json!(replayed?)))
}

/// `POST /pipelines`: registers a pipeline (201), or says why not.
pub async fn register_pipeline(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let spec = PipelineSpec::parse(&read_body(body)?)?;
    let pipeline = app.store.register_pipeline(spec)?;
    tracing::info!(pipeline = %pipeline.name, "stream pipeline registered");
    Ok((StatusCode::CREATED, Json(json!(pipeline))).into_response())
}

/// `GET /pipelines`: the registered pipelines and what each has seen.
pub async fn list_pipelines(State(app): State<AppState>) -> Json<Value> {
    let pipelines = app.store.pipelines();
    Json(json!({ "count": pipelines.len(), "pipelines": pipelines }))
}

/// `DELETE /pipelines/{name}`: removes the pipeline; answers it, with what it saw.
pub async fn remove_pipeline(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pipeline = app.store.remove_pipeline(&name)?;
    tracing::info!(pipeline = %pipeline.name, "stream pipeline removed");
    Ok(Json(json!(pipeline)))
}

/// The body, or why it could not be read (over the limit: 413).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| ApiError::Body {
        status: rejection.status(),
        message: rejection.body_text(),
    })
}
