//! gRPC calls measured by the OpenTelemetry RPC semantic conventions (1.42), as tower layers
//! for a tonic server ([`RpcServerLayer`]) and a tonic client ([`RpcClientLayer`]), or any
//! HTTP/2 service and client that speak gRPC.
//!
//! Each call is one record of `rpc.server.call.duration` or `rpc.client.call.duration`
//! (Prometheus: `rpc_server_call_duration_seconds`, `rpc_client_call_duration_seconds`),
//! with:
//!
//! - `rpc.system.name`: `grpc`;
//! - `rpc.method`: the fully qualified method, `package.Service/Method`, from the request
//!   path. Semantic conventions 1.42 deprecate `rpc.service` and fold the service into
//!   `rpc.method`, so there is no `rpc.service`. A path that names no method, and on the
//!   server a method it answers `UNIMPLEMENTED` (tonic's answer to a method it does not
//!   have), are `_OTHER`;
//! - `rpc.response.status_code`: the gRPC status's name (`OK`, `UNAVAILABLE`);
//! - `error.type`: the status's name when the call failed: on a client every status but
//!   `OK`; on a server `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`,
//!   `UNAVAILABLE` and `DATA_LOSS`, as the conventions list them (a caller's bad request
//!   is not the server's failure);
//! - on the client, `server.address` and `server.port` when the layer is told them
//!   ([`RpcClientLayer::with_server_address`]).
//!
//! A call lasts from its request to the end of its response body, so a streaming call is
//! measured for as long as its stream is open. Its status is the first of:
//!
//! 1. `grpc-status` in the response's headers (a trailers-only response: tonic's refusals);
//! 2. gRPC's code for a response that is not HTTP 200 and has no `grpc-status` (503 is
//!    `UNAVAILABLE`, 404 `UNIMPLEMENTED`, as gRPC and tonic map them);
//! 3. `grpc-status` in the trailers that end the body (every normal and streaming call);
//! 4. a body that ends without one: `UNKNOWN` (a stream cut short, as tonic reads it);
//! 5. a body dropped before any of these (the peer reset the stream, the caller stopped
//!    reading): `CANCELLED`, an error on the client and none on the server.
//!
//! A failure before any status (the inner service's error, a transport error, a body that
//! fails) records no status code and `error.type = "_OTHER"`: the layer sits outside the
//! client that turns the error into a status (tonic makes most of them `UNAVAILABLE` or
//! `UNKNOWN`), and cannot read the error's type.
//!
//! Only gRPC requests (`content-type: application/grpc…`) are measured; gRPC-Web and plain
//! HTTP on the same server pass through untouched.
//!
//! The layers measure; they trace only when asked ([`RpcServerLayer::with_spans`],
//! [`RpcClientLayer::with_spans`]), for a service that has no spans of its own: a server
//! span that continues the caller's W3C context, a client span whose context goes out in the
//! request's headers, each named by the method and ended with the call.
//!
//! ```no_run
//! use alys_telemetry_http::rpc::{RpcClientLayer, RpcServerLayer};
//! use tonic::transport::{Endpoint, Server};
//! use tower::ServiceBuilder;
//!
//! # async fn example(meter: &opentelemetry::metrics::Meter) -> Result<(), Box<dyn std::error::Error>> {
//! // The server: every call its services take (a generated `FooServer::new(..)` goes in
//! // the routes, with `add_service`).
//! let routes = tonic::service::Routes::builder().routes();
//! Server::builder()
//!     .layer(RpcServerLayer::new(meter))
//!     .add_routes(routes)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//!
//! // The client: the layered channel is what a generated client takes
//! // (`FooClient::new(channel)`, `FooClient::with_interceptor(channel, ..)`).
//! let channel = Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
//! let channel = ServiceBuilder::new()
//!     .layer(RpcClientLayer::new(meter).with_server_address("127.0.0.1", Some(50051)))
//!     .service(channel);
//! let mut client = tonic::client::Grpc::new(channel);
//! client.ready().await?;
//! # Ok(()) }
//! ```

mod body;
mod call;
mod metrics;
mod service;
mod span;
mod status;

use std::sync::Arc;

use opentelemetry::metrics::Meter;
use tower_layer::Layer;

pub use body::ResponseBody;
pub use metrics::{RpcClientMetrics, RpcServerMetrics};
pub use service::{ResponseFuture, RpcService};

use metrics::Durations;

/// What every call of a layer shares: its instruments and how it reports.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) durations: Arc<Durations>,
    pub(crate) spans: bool,
    /// The client's `server.address` and `server.port`.
    pub(crate) address: Option<Arc<str>>,
    pub(crate) port: Option<u16>,
}

impl Settings {
    fn new(durations: Durations) -> Settings {
        Settings {
            durations: Arc::new(durations),
            spans: false,
            address: None,
            port: None,
        }
    }
}

/// Measures every gRPC call a server takes (see the [module](self)).
#[derive(Clone)]
pub struct RpcServerLayer {
    settings: Settings,
}

impl RpcServerLayer {
    /// The layer, its instrument built on `meter` (the pipeline's, `telemetry.meter()`).
    /// Build it once and clone it: each build registers the instrument again.
    pub fn new(meter: &Meter) -> Self {
        RpcServerLayer {
            settings: Settings::new(Durations::Server(RpcServerMetrics::new(meter))),
        }
    }

    /// Also opens a server span per call, continuing the caller's W3C trace context. Leave
    /// it off for services that trace their calls themselves: the span would be a second.
    pub fn with_spans(mut self) -> Self {
        self.settings.spans = true;
        self
    }
}

impl<S> Layer<S> for RpcServerLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService::new(inner, self.settings.clone())
    }
}

/// Measures every gRPC call a client makes (see the [module](self)).
#[derive(Clone)]
pub struct RpcClientLayer {
    settings: Settings,
}

impl RpcClientLayer {
    /// The layer, its instrument built on `meter` (the pipeline's, `telemetry.meter()`).
    /// Build it once and clone it: each build registers the instrument again.
    pub fn new(meter: &Meter) -> Self {
        RpcClientLayer {
            settings: Settings::new(Durations::Client(RpcClientMetrics::new(meter))),
        }
    }

    /// The server the client calls, as its configuration names it (`governance`, `50051`):
    /// `server.address` and `server.port` on every call. The conventions take them from the
    /// channel's target, which the requests the layer sees do not carry.
    pub fn with_server_address(mut self, address: impl Into<Arc<str>>, port: Option<u16>) -> Self {
        self.settings.address = Some(address.into());
        self.settings.port = port;
        self
    }

    /// Also opens a client span per call, a child of the current span, and sends its
    /// context in the request's W3C headers. Leave it off for clients that trace their calls
    /// themselves.
    pub fn with_spans(mut self) -> Self {
        self.settings.spans = true;
        self
    }
}

impl<S> Layer<S> for RpcClientLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService::new(inner, self.settings.clone())
    }
}

#[cfg(test)]
mod span_tests;
#[cfg(test)]
mod tests;
