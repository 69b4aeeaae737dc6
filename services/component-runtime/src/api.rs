//! The HTTP API, measured and traced by the library's `HttpServerLayer`: every request counted
//! by method, route template and status, and handled in a server span that continues the
//! caller's W3C trace context, so that a message's trace runs from the caller through every
//! component it passes.
//!
//! - `POST /components/{id}/messages` puts a message into the pipeline at component `id`
//!   (`{"payload": "sensor=s1 temperature=21.5", "fields": {…}, "crash_at": "enricher"}`);
//!   202 with its id and trace id;
//! - `GET /components` lists the components, `GET /components/{id}` shows one: lifecycle
//!   state, health, counts, queue depth, last failure.
//!
//! Every refusal is a JSON body `{"error": "…"}` that says what is wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use alys_telemetry::sources::http::server::HttpServerLayer;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::metrics::Meter;
use opentelemetry::trace::TraceContextExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actor::Undelivered;
use crate::kinds::ComponentId;
use crate::runtime::{InjectError, Injection, Runtime};

/// The longest payload taken, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// The most fields a message may bring.
pub const MAX_FIELDS: usize = 32;

/// The API over `runtime`, its requests measured on `meter`.
pub fn router(runtime: Arc<Runtime>, meter: &Meter) -> Router {
    Router::new()
        .route("/components", get(list))
        .route("/components/{id}", get(show))
        .route("/components/{id}/messages", post(inject))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(runtime)
        // `Router::layer`: the layer sees the matched route's template.
        .layer(HttpServerLayer::new(meter))
}

/// A message to put into the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// `key=value` pairs separated by spaces.
    pub payload: String,
    /// Fields the message already has (for a message put in past the parser).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// A fault to inject: this component fails while processing the message.
    #[serde(default)]
    pub crash_at: Option<ComponentId>,
}

/// The answer to an accepted message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub message_id: u64,
    pub component: ComponentId,
    /// The trace the message travels in (hex), when it is traced.
    pub trace_id: Option<String>,
}

/// A refusal: its status and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // axum's own statuses: 400 for bad JSON, 415 without a JSON content type, 422 for
        // JSON of the wrong shape; its text names the problem and where.
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<InjectError> for ApiError {
    fn from(e: InjectError) -> Self {
        let status = match e {
            InjectError::Undelivered(Undelivered::Full(_)) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

fn component(id: &str) -> Result<ComponentId, ApiError> {
    id.parse().map_err(|e: crate::kinds::UnknownComponent| {
        ApiError::new(StatusCode::NOT_FOUND, e.to_string())
    })
}

async fn list(State(runtime): State<Arc<Runtime>>) -> Json<serde_json::Value> {
    Json(json!({ "components": runtime.snapshots() }))
}

async fn show(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = component(&id)?;
    Ok(Json(runtime.snapshot(id)).into_response())
}

async fn inject(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: Result<Json<MessageRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let at = component(&id)?;
    let Json(request) = body?;
    let injection = validate(request)?;
    let message_id = runtime.inject(at, injection)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message_id,
            component: at,
            trace_id: current_trace_id(),
        }),
    ))
}

/// What the JSON's shape does not say: sizes and an empty payload.
pub fn validate(request: MessageRequest) -> Result<Injection, ApiError> {
    let invalid = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message);
    if request.payload.trim().is_empty() {
        return Err(invalid("payload is empty".into()));
    }
    if request.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(invalid(format!(
            "payload is {} bytes; at most {MAX_PAYLOAD_BYTES} are taken",
            request.payload.len()
        )));
    }
    if request.fields.len() > MAX_FIELDS {
        return Err(invalid(format!(
            "{} fields; at most {MAX_FIELDS} are taken",
            request.fields.len()
        )));
    }
    Ok(Injection {
        payload: request.payload,
        fields: request.fields,
        crash_at: request.crash_at,
    })
}

/// The trace of the request being handled (its server span's), when it is traced.
fn current_trace_id() -> Option<String> {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {method} {}: the API has GET /components, GET /components/{{id}} and \
             POST /components/{{id}}/messages",
            uri.path()
        ),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(payload: &str) -> MessageRequest {
        MessageRequest {
            payload: payload.into(),
            fields: BTreeMap::new(),
            crash_at: None,
        }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert!(validate(request("sensor=s1")).is_ok());
        let empty = validate(request("  ")).unwrap_err();
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(empty.message, "payload is empty");
        let long = validate(request(&"a".repeat(MAX_PAYLOAD_BYTES + 1))).unwrap_err();
        assert!(long.message.contains("4097 bytes"), "{}", long.message);
        let mut many = request("sensor=s1");
        many.fields = (0..=MAX_FIELDS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert!(validate(many).unwrap_err().message.contains("33 fields"));
    }

    #[test]
    fn an_unknown_field_or_component_is_refused_by_serde() {
        let unknown: Result<MessageRequest, _> =
            serde_json::from_str(r#"{"payload": "a=1", "crashat": "sink"}"#);
        assert!(unknown.unwrap_err().to_string().contains("crashat"));
        let crash: Result<MessageRequest, _> =
            serde_json::from_str(r#"{"payload": "a=1", "crash_at": "mixer"}"#);
        assert!(crash.unwrap_err().to_string().contains("mixer"));
        assert_eq!(
            component("mixer").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_full_mailbox_asks_to_come_back_and_a_stopped_component_is_unavailable() {
        let full = ApiError::from(InjectError::Undelivered(Undelivered::Full(
            ComponentId::Sink,
        )));
        assert_eq!(full.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(full.message, "the mailbox of sink is full");
        let stopped = ApiError::from(InjectError::Stopped(ComponentId::Parser));
        assert_eq!(stopped.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
