//! HTTP and gRPC, measured and traced by the OpenTelemetry semantic conventions (1.42, the
//! version of `opentelemetry-semantic-conventions` in the workspace), as tower layers any
//! service stacks on its axum router, hyper service or tonic server and client.
//!
//! - [`server`]: [`HttpServerLayer`](server::HttpServerLayer): every request measured
//!   (`http.server.request.duration`, `http.server.active_requests`, request and response body
//!   sizes) by method, route template and status, and traced in a server span that continues
//!   the caller's W3C trace context;
//! - [`rpc`]: the gRPC server and client layers (`rpc.server.call.duration`,
//!   `rpc.client.call.duration`);
//! - [`propagation`]: W3C trace context in and out of HTTP headers, for a client that wants
//!   its trace to continue inside the service it calls.
//!
//! The metrics are declared like any other family ([`HttpServerMetrics`](server::HttpServerMetrics)),
//! under their semantic-conventions names in OTLP and the names the Prometheus exporter
//! writes for them on `/metrics` (`http_server_request_duration_seconds`, with
//! `http_request_method`, `http_route`, `http_response_status_code`).
//!
//! ```no_run
//! use alys_telemetry_http::server::HttpServerLayer;
//! use axum::{Router, routing::get};
//!
//! # fn app(meter: &opentelemetry::metrics::Meter) -> Router {
//! Router::new()
//!     .route("/events/{id}", get(|| async { "event" }))
//!     // `Router::layer`, not a layer around the router: axum names the matched route
//!     // (`/events/{id}`) to the layers it holds, and the route label is that template.
//!     .layer(HttpServerLayer::new(meter))
//! # }
//! ```
//!
//! gRPC is measured by the RPC conventions ([`rpc`]): `rpc.server.call.duration` and
//! `rpc.client.call.duration` (`rpc_server_call_duration_seconds`,
//! `rpc_client_call_duration_seconds`) by `rpc.system.name` (`grpc`), `rpc.method` (the
//! fully qualified `package.Service/Method`: 1.42 folds the deprecated `rpc.service` into
//! it), `rpc.response.status_code` (the status's name, `OK`, `UNAVAILABLE`) and, when the
//! call failed, `error.type`. A call lasts until the trailers that carry its status end its
//! response body, so a streaming call is measured for as long as it is open; a stream
//! dropped before its status is `CANCELLED`. [`RpcServerLayer`](rpc::RpcServerLayer) goes
//! on a tonic server (`Server::builder().layer(..)`), [`RpcClientLayer`](rpc::RpcClientLayer)
//! around the channel a generated client takes.

mod instruments;
pub mod propagation;
pub mod rpc;
pub mod server;
