//! The HTTP server family, as the semantic conventions name it, and the attributes of one
//! request.

use http::{Method, Request, Version};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as attr;

use crate::instruments::{AttributeHistogram, AttributeUpDownCounter};
use alys_telemetry_catalog::MetricFamily;

/// Why a service's operators read these metrics.
const WHY: &str = "the HTTP server semantic conventions: every dashboard and backend that knows \
                   them reads a service's requests without being told its metric names";

/// Requests, measured by the OpenTelemetry HTTP server semantic conventions.
#[derive(MetricFamily)]
#[family(
    title = "HTTP server (OpenTelemetry semantic conventions 1.42)",
    crate = ::alys_telemetry_catalog
)]
pub struct HttpServerMetrics {
    /// Duration of HTTP server requests
    #[metric(
        name = "http_server_request_duration_seconds",
        otel_name = "http.server.request.duration",
        unit = "s",
        labels(
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "url.scheme",
            "network.protocol.version",
            "error.type"
        ),
        // The conventions' advice.
        buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
        why = WHY
    )]
    pub(crate) duration: AttributeHistogram<6>,
    /// Number of active HTTP server requests
    #[metric(
        name = "http_server_active_requests",
        otel_name = "http.server.active_requests",
        unit = "{request}",
        labels("http.request.method", "url.scheme"),
        start = absent("a series appears with the first request of its method and scheme"),
        why = WHY
    )]
    pub(crate) active: AttributeUpDownCounter<2>,
    /// Size of HTTP server request bodies
    #[metric(
        name = "http_server_request_body_size_bytes",
        otel_name = "http.server.request.body.size",
        unit = "By",
        labels(
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "url.scheme",
            "network.protocol.version",
            "error.type"
        ),
        buckets = [0.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0],
        why = WHY
    )]
    pub(crate) request_size: AttributeHistogram<6>,
    /// Size of HTTP server response bodies
    #[metric(
        name = "http_server_response_body_size_bytes",
        otel_name = "http.server.response.body.size",
        unit = "By",
        labels(
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "url.scheme",
            "network.protocol.version",
            "error.type"
        ),
        buckets = [0.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0],
        why = WHY
    )]
    pub(crate) response_size: AttributeHistogram<6>,
}

/// The method as the conventions record it: a known method's name, or `_OTHER`, so that a
/// client inventing methods cannot grow the series.
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "_OTHER",
    }
}

/// What is known of a request when it arrives: the attributes of its in-flight count and the
/// start of those of its duration.
#[derive(Debug, Clone)]
pub(crate) struct RequestAttributes {
    pub method: &'static str,
    pub scheme: &'static str,
    pub version: &'static str,
    /// The route template; `None` when no route matched (the conventions leave it out).
    pub route: Option<std::sync::Arc<str>>,
}

impl RequestAttributes {
    pub(crate) fn of<B>(request: &Request<B>, route: Option<std::sync::Arc<str>>) -> Self {
        RequestAttributes {
            method: method_name(request.method()),
            scheme: match request.uri().scheme_str() {
                Some("https") => "https",
                _ => "http",
            },
            version: protocol_version(request.version()),
            route,
        }
    }

    /// The attributes of `http.server.active_requests`.
    pub(crate) fn active(&self) -> [KeyValue; 2] {
        [
            KeyValue::new(attr::HTTP_REQUEST_METHOD, self.method),
            KeyValue::new(attr::URL_SCHEME, self.scheme),
        ]
    }

    /// The attributes of a finished request: with its status and, for a server error or a
    /// failure before any response, `error.type`.
    pub(crate) fn finished(
        &self,
        status: Option<u16>,
        error: Option<&'static str>,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(6);
        attributes.push(KeyValue::new(attr::HTTP_REQUEST_METHOD, self.method));
        if let Some(route) = &self.route {
            let route = opentelemetry::StringValue::from(std::sync::Arc::clone(route));
            attributes.push(KeyValue::new(attr::HTTP_ROUTE, route));
        }
        if let Some(status) = status {
            attributes.push(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        attributes.push(KeyValue::new(attr::URL_SCHEME, self.scheme));
        attributes.push(KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, self.version));
        if let Some(error) = error {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, error));
        }
        attributes
    }
}

/// `error.type` of a response: the status code for a server error (5xx), as the conventions
/// say; a client error is the client's, not the server's.
pub(crate) fn status_error(status: u16) -> Option<&'static str> {
    const CODES: [&str; 12] = [
        "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "510", "511",
    ];
    match status {
        500..=511 => CODES.get(usize::from(status - 500)).copied(),
        512..=599 => Some("_OTHER"),
        _ => None,
    }
}
