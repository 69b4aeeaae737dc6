//! What can go wrong with a request, typed, and how each is answered: a 4xx (or 507 when the
//! store is full) with a JSON body `{"error": "..."}` that says what is wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::labels::IngestErrorReason;
use crate::pipeline::PipelineError;
use crate::replay::ReplayError;

/// Why an event (or a batch) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not JSON of an event's shape.
    #[error("the body is not a valid event: {source}")]
    Json {
        reason: IngestErrorReason,
        #[source]
        source: serde_json::Error,
    },
    /// A field's value is not allowed.
    #[error("{message}")]
    Invalid {
        reason: IngestErrorReason,
        message: String,
    },
    /// The payload breaks its type's schema.
    #[error("the payload does not match the schema of `{subject}`: {message}")]
    Schema { subject: String, message: String },
    /// The body could not be read: too large, or cut off.
    #[error("the body could not be read: {message}")]
    Body {
        reason: IngestErrorReason,
        message: String,
    },
    /// The store holds its maximum number of events.
    #[error("the store is full: it holds {capacity} events")]
    StoreFull { capacity: usize },
    /// One event of a batch is wrong: nothing of the batch was stored.
    #[error("event {index} of the batch: {source}")]
    InBatch {
        index: usize,
        #[source]
        source: Box<IngestError>,
    },
}

impl IngestError {
    /// The label it is counted under in `allsource_ingestion_errors_total`.
    pub fn reason(&self) -> IngestErrorReason {
        match self {
            IngestError::Json { reason, .. }
            | IngestError::Invalid { reason, .. }
            | IngestError::Body { reason, .. } => *reason,
            IngestError::Schema { .. } => IngestErrorReason::SchemaViolation,
            IngestError::StoreFull { .. } => IngestErrorReason::StoreFull,
            IngestError::InBatch { source, .. } => source.reason(),
        }
    }

    /// The same error, said of event `index` of a batch.
    pub fn in_batch(self, index: usize) -> IngestError {
        IngestError::InBatch {
            index,
            source: Box::new(self),
        }
    }

    fn status(&self) -> StatusCode {
        match self.reason() {
            IngestErrorReason::MalformedJson
            | IngestErrorReason::MissingField
            | IngestErrorReason::InvalidField => StatusCode::BAD_REQUEST,
            IngestErrorReason::SchemaViolation => StatusCode::UNPROCESSABLE_ENTITY,
            IngestErrorReason::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IngestErrorReason::StoreFull => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

/// What an API request is answered with when it fails.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A query's parameters are wrong (unknown name, bad value).
    #[error("bad query: {0}")]
    Query(String),
    /// Nothing is stored under the id asked for.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A body could not be read (too large, cut off).
    #[error("the body could not be read: {message}")]
    Body { status: StatusCode, message: String },
}

impl ReplayError {
    /// A request that is not JSON of the right shape is a 400; one naming a projection the
    /// store does not have, or a replay the log makes fail, is well-formed but cannot be
    /// done: 422.
    fn status(&self) -> StatusCode {
        match self {
            ReplayError::Json(_) | ReplayError::Invalid(_) => StatusCode::BAD_REQUEST,
            ReplayError::UnknownProjection(_) | ReplayError::Failed { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }
    }
}

impl PipelineError {
    /// A name taken, or no room for one more pipeline, conflicts with what is registered:
    /// 409, which a client resolves by deleting one.
    fn status(&self) -> StatusCode {
        match self {
            PipelineError::Json(_) | PipelineError::Invalid(_) => StatusCode::BAD_REQUEST,
            PipelineError::Exists(_) | PipelineError::Full => StatusCode::CONFLICT,
            PipelineError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Ingest(e) => e.status(),
            ApiError::Query(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Replay(e) => e.status(),
            ApiError::Pipeline(e) => e.status(),
            ApiError::Body { status, .. } => *status,
        };
        let body = serde_json::json!({ "error": self.to_string() });
        (status, Json(body)).into_response()
    }
}
