//! The ways out of the process: the Prometheus pull endpoint with health and readiness here;
//! the OTLP push exporters live beside the SDK providers in `pipeline::otlp`.

pub mod health;
pub mod pull;
