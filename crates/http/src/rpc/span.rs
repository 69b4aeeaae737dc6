//! The optional spans of the layers (`with_spans`): a server span continuing the caller's
//! W3C context, a client span whose context travels in the request's headers, both named by
//! the method and ended with the call, so that their duration is the metric's.

use http::Request;
use opentelemetry_semantic_conventions::attribute as attr;
use tracing::field::Empty;

use super::Settings;
use super::call::Outcome;
use super::status::Side;
use alys_telemetry_core::traces::TraceScope;

/// The call's span (or the unsampled context that stands for it).
pub(crate) fn open<B>(
    settings: &Settings,
    request: &Request<B>,
    method: Option<&str>,
) -> TraceScope {
    // The conventions name an RPC span by its method, or by its system when the method is
    // unknown.
    let name = method.unwrap_or("grpc");
    // An unknown method is `_OTHER`, and its span keeps what the request named.
    let original = method
        .is_none()
        .then(|| request.uri().path().trim_start_matches('/'));
    match settings.durations.side() {
        Side::Server => {
            let parent = crate::propagation::extract(request.headers());
            TraceScope::follow(parent, || {
                tracing::info_span!(
                    parent: None,
                    "rpc.server.call",
                    otel.name = name,
                    otel.kind = "server",
                    otel.status_code = Empty,
                    rpc.system.name = "grpc",
                    rpc.method = Empty,
                    rpc.method_original = original,
                    rpc.response.status_code = Empty,
                    error.type = Empty,
                )
            })
        }
        Side::Client => TraceScope::child(|| {
            tracing::info_span!(
                "rpc.client.call",
                otel.name = name,
                otel.kind = "client",
                otel.status_code = Empty,
                rpc.system.name = "grpc",
                rpc.method = Empty,
                rpc.method_original = original,
                rpc.response.status_code = Empty,
                error.type = Empty,
                server.address = settings.address.as_deref(),
                server.port = settings.port,
            )
        }),
    }
}

/// The call's end on its span: status, error, and the method when it turned out unknown.
pub(crate) fn finish(scope: &TraceScope, outcome: &Outcome) {
    let Some(span) = scope.span() else {
        return;
    };
    // Recorded at the end, once: a method the server turns out not to have is `_OTHER`, as
    // on the metric (a field recorded twice would be two attributes). The span keeps the name
    // it started with: a started span's name cannot change through `tracing`.
    span.record(attr::RPC_METHOD, outcome.method.as_str());
    if let Some(original) = &outcome.original {
        span.record("rpc.method_original", original.as_ref());
    }
    if let Some(code) = outcome.status {
        span.record(attr::RPC_RESPONSE_STATUS_CODE, code.name());
    }
    if let Some(error) = outcome.error {
        span.record(attr::ERROR_TYPE, error);
        span.record("otel.status_code", "error");
    }
}
