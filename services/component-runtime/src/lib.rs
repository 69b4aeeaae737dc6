//! `component-runtime`: a runtime of components (a source, two transformers, a sink) run as
//! actors of the service's own kinds under a supervisor, on the `alys-telemetry` library's
//! public API. Components pass records along a pipeline; some fail now and then and are
//! restarted by policy. It exports the component metrics of its seed (WASM-TASK-010) beside
//! the library's actor, HTTP and task metrics, reports each component's health on `/health`,
//! and traces each record from the caller of its HTTP API through every component.
//!
//! - [`kinds`]: the closed sets of label values (components, actor and message kinds, …);
//! - [`metrics`]: the component family, declared with `#[derive(MetricFamily)]`;
//! - [`record`], [`work`]: what travels and what each component does to it;
//! - [`state`], [`health`]: what the runtime knows of each component, and its health;
//! - [`actor`], [`runtime`]: components as supervised actors, wired into a pipeline;
//! - [`api`], [`driver`], [`service`]: the HTTP API, the load that drives it, the whole;
//! - [`catalog`]: the catalogue page (docs/services/component-runtime.md).

pub mod actor;
pub mod api;
pub mod catalog;
pub mod driver;
pub mod health;
pub mod kinds;
pub mod metrics;
pub mod record;
pub mod runtime;
pub mod service;
pub mod state;
pub mod work;
