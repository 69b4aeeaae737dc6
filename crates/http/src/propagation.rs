//! W3C trace context in HTTP headers, through the global propagator (the one
//! `Telemetry::init` installs, or a host's own): what a server layer extracts and what a
//! client injects so that its trace continues across the call.

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};

/// The caller's context, from `headers` (empty when they carry none).
pub fn extract(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes `cx` into `headers` (`traceparent`, `tracestate`, `baggage`), so that the server
/// called continues the trace.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut HeaderInjector(headers))
    });
}

/// Writes the current span's context into `headers`.
pub fn inject_current(headers: &mut HeaderMap) {
    inject(&Context::current(), headers);
}
