//! The viewer: the node shows its own recent traces and health, on the pull endpoint's
//! listener, with no collector, Jaeger or Docker.
//!
//! - [`store`]: the span processor that keeps recent, slow and failed traces in a memory bound;
//! - [`history`]: the recent results of every health check;
//! - [`pages`]: HTML (`/`, `/traces`, `/traces/{trace_id}`, `/health` for browsers),
//!   self-contained and escaped;
//! - [`api`]: the same data as JSON under `/api/`, traces in the OTLP JSON shape.
//!
//! `Telemetry::init` builds it when `viewer.enabled` (the default) and the pull endpoint runs.

pub mod api;
pub mod history;
pub mod pages;
pub mod query;
pub mod store;

use axum::Router;
use axum::routing::get;

use alys_telemetry_core::health::HealthRegistry;
use history::HealthHistory;
use store::TraceStore;

/// What the pages and the API read.
#[derive(Clone)]
pub struct Viewer {
    /// `None` when the SDK is disabled: no spans exist to keep.
    pub store: Option<TraceStore>,
    pub history: HealthHistory,
    pub health: HealthRegistry,
}

impl Viewer {
    /// The viewer's routes: `/`, `/traces`, `/traces/{trace_id}`, and `/api/…`. `/health`
    /// stays the pull endpoint's, which asks [`pages::wants_html`] and renders
    /// [`pages::health`] for browsers.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/", get(pages::index))
            .route("/traces", get(pages::traces))
            .route("/traces/{trace_id}", get(pages::trace))
            .route("/api", get(api::index))
            .route("/api/", get(api::index))
            .route("/api/traces", get(api::traces))
            .route("/api/traces/{trace_id}", get(api::trace))
            .route("/api/operations", get(api::operations))
            .route("/api/health", get(api::health))
            .route("/api/store", get(api::store))
            .with_state(self.clone())
    }
}
