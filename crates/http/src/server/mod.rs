//! The HTTP server layer: every request measured by the semantic conventions and traced in
//! a server span that continues the caller's trace.
//!
//! ```
//! use alys_telemetry_http::server::{HttpServerLayer, HttpServerMetrics};
//! use alys_telemetry_catalog::MetricFamily;
//! use axum::{Router, routing::post};
//!
//! let meter = opentelemetry::global::meter("event-store");
//! let app: Router = Router::new()
//!     .route("/events", post(|body: String| async move { body.len().to_string() }))
//!     .layer(HttpServerLayer::new(&meter));
//! // The family documents itself like any other (docs::tables renders it).
//! assert_eq!(
//!     HttpServerMetrics::DURATION.instrument_name(),
//!     "http.server.request.duration"
//! );
//! ```
//!
//! The route label is the route's template, never the path: with axum it is the
//! `MatchedPath` the router gives the layers it holds (so add the layer with
//! `Router::layer`); elsewhere a service puts a [`RouteTemplate`] in the request's
//! extensions before the layer sees it. A request no route matched has no `http.route`,
//! as the conventions say, so that any number of unknown paths make one series per status.

mod body;
mod exchange;
mod metrics;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::metrics::Meter;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use alys_telemetry_core::traces::TraceScope;

pub use body::{RequestBody, ResponseBody};
pub use metrics::HttpServerMetrics;

use exchange::Exchange;
use metrics::RequestAttributes;

/// The route template of a request, for services that route without axum: put it in the
/// request's extensions before the layer (axum's `MatchedPath` is read without it).
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub Arc<str>);

/// What every request of a layer shares: its instruments.
pub(crate) struct Shared {
    pub(crate) metrics: HttpServerMetrics,
}

/// Measures and traces every request of the service it wraps (see the [module](self)).
#[derive(Clone)]
pub struct HttpServerLayer {
    shared: Arc<Shared>,
}

impl HttpServerLayer {
    /// The layer, its instruments built on `meter` (the pipeline's, `telemetry.meter()`).
    /// Build it once and clone it: each build registers the instruments again.
    pub fn new(meter: &Meter) -> Self {
        HttpServerLayer {
            shared: Arc::new(Shared {
                metrics: HttpServerMetrics::new(meter),
            }),
        }
    }
}

impl<S> Layer<S> for HttpServerLayer {
    type Service = HttpServer<S>;

    fn layer(&self, inner: S) -> HttpServer<S> {
        HttpServer {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`HttpServerLayer`] makes.
#[derive(Clone)]
pub struct HttpServer<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpServer<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let attributes = RequestAttributes::of(&request, route_of(&request));
        let scope = server_scope(&request, &attributes);
        let read = Arc::new(AtomicU64::new(0));
        let exchange = Exchange::begin(
            Arc::clone(&self.shared),
            attributes,
            Arc::clone(&read),
            scope.clone(),
        );
        let request = request.map(|body| RequestBody::new(body, read));
        let future = scope.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner: scope.instrument(future),
            exchange: Some(exchange),
        }
    }
}

/// The route template: axum's `MatchedPath`, else a [`RouteTemplate`] the service set.
fn route_of<B>(request: &Request<B>) -> Option<Arc<str>> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(Arc::from(matched.as_str()));
    }
    request
        .extensions()
        .get::<RouteTemplate>()
        .map(|route| Arc::clone(&route.0))
}

/// The request's server span, continuing the caller's W3C context when it sent one (and
/// no span at all when the caller's trace is not sampled: the decision travels on).
fn server_scope<B>(request: &Request<B>, attributes: &RequestAttributes) -> TraceScope {
    let parent = crate::propagation::extract(request.headers());
    TraceScope::follow(parent, || {
        let name = match &attributes.route {
            Some(route) => format!("{} {route}", attributes.method),
            None => attributes.method.to_string(),
        };
        tracing::info_span!(
            parent: None,
            "http.server.request",
            otel.name = name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = attributes.method,
            http.route = attributes.route.as_deref(),
            url.path = request.uri().path(),
            url.scheme = attributes.scheme,
            network.protocol.version = attributes.version,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    })
}

pin_project! {
    /// The response of an [`HttpServer`]: the inner future, polled in the request's span.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: alys_telemetry_core::traces::Scoped<F>,
        exchange: Option<Exchange>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let Some(mut exchange) = this.exchange.take() else {
            // Polled again after it completed, which the caller must not do; library code
            // does not panic, so the future just stays pending.
            return Poll::Pending;
        };
        Poll::Ready(match result {
            Ok(response) => {
                exchange.responded(response.status().as_u16());
                Ok(response.map(|body| ResponseBody::new(body, exchange)))
            }
            Err(error) => {
                exchange.failed();
                Err(error)
            }
        })
    }
}

#[cfg(test)]
mod tests;
