//! The HTTP API, every request measured and traced by the library's HTTP server layer (its
//! server span continues the caller's W3C trace, and an event's span is its child):
//!
//! | route | what |
//! |---|---|
//! | `POST /events` | submit an event (`{"id"?, "type", "entity", "payload"}`): 202 with its jobs, 200 when unmatched or a duplicate, 503 when the queue is full |
//! | `GET /events/{id}` | an event, its jobs and whether it ended |
//! | `GET /jobs/{id}` | a job: state, attempts, last error, result |
//! | `GET /deadletters` | the dead-letter queue, oldest first |
//! | `GET /rules` | which event types run which actions |

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, extract::rejection::JsonRejection};
use opentelemetry::metrics::Meter;

use alys_telemetry::sources::http::server::HttpServerLayer;

use crate::actions::RULES;
use crate::checkpoint::JobId;
use crate::executor::{EventIn, Executor, SubmitError, Submitted};

/// The API's routes over `executor`, measured on `meter` (build it once: each call registers
/// the HTTP instruments again).
pub fn router(executor: Executor, meter: &Meter) -> Router {
    Router::new()
        .route("/events", post(submit))
        .route("/events/{id}", get(event))
        .route("/jobs/{id}", get(job))
        .route("/deadletters", get(dead_letters))
        .route("/rules", get(rules))
        .with_state(executor)
        // `Router::layer`: the layer sees the matched route's template (`/jobs/{id}`).
        .layer(HttpServerLayer::new(meter))
}

async fn submit(
    State(executor): State<Executor>,
    event: Result<Json<EventIn>, JsonRejection>,
) -> Response {
    let Json(event) = match event {
        Ok(event) => event,
        Err(rejection) => return error(rejection.status(), &rejection.body_text()),
    };
    match executor.submit(event).await {
        Ok(submitted @ Submitted::Accepted { .. }) => {
            (StatusCode::ACCEPTED, Json(submitted)).into_response()
        }
        Ok(submitted) => (StatusCode::OK, Json(submitted)).into_response(),
        Err(refused @ (SubmitError::QueueFull | SubmitError::Stopping)) => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, &refused.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(refused @ SubmitError::TooManyJobs { .. }) => {
            error(StatusCode::SERVICE_UNAVAILABLE, &refused.to_string())
        }
    }
}

async fn event(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.event(&id) {
        Some(event) => Json(event).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no event {id} is kept")),
    }
}

async fn job(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<JobId>() else {
        return error(StatusCode::BAD_REQUEST, &format!("{id:?} is not a job id"));
    };
    match executor.job(id) {
        Some(job) => Json(job).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no job {id} is kept")),
    }
}

async fn dead_letters(State(executor): State<Executor>) -> Response {
    Json(executor.dead_letters()).into_response()
}

async fn rules() -> Response {
    let rules: serde_json::Map<String, serde_json::Value> = RULES
        .iter()
        .map(|(event_type, actions)| {
            let actions = actions.iter().map(|a| a.as_str().into()).collect();
            (event_type.to_string(), serde_json::Value::Array(actions))
        })
        .collect();
    Json(rules).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
