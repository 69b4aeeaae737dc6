//! Exits: the ways out of the process. [`pull`] serves Prometheus `/metrics` with `/health`
//! and `/ready`, its connections held within limits by [`connections`], secured (TLS, basic
//! auth, bearer tokens) by a web configuration file when one is set; [`otlp`] pushes
//! traces, metrics and logs to a collector, counting what it delivers. The viewer (crate `alys-telemetry-viewer`) keeps
//! recent traces in the process and shows them, with health, on the pull endpoint's listener.

pub mod connections;
pub mod openmetrics;
pub mod otlp;
pub mod pull;
