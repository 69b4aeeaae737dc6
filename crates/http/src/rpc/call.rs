//! One call in flight, from its request to the end of its response body: the status it
//! learns on the way (the response's headers, then its trailers), and the one record of its
//! duration when it ends, however it ends (its trailers came, its body ended or failed, or
//! the body was dropped by a peer that went away or a caller that stopped reading). A
//! streaming call lasts as long as its stream.

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, Response, StatusCode};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as attr;
use quanta::Instant;

use super::Settings;
use super::span;
use super::status::{Code, OTHER, Side, method_of};
use alys_telemetry_core::traces::TraceScope;

pub(crate) struct Call {
    settings: Settings,
    /// `None` for a path that names no method (`_OTHER`).
    method: Option<Arc<str>>,
    started: Instant,
    http_status: StatusCode,
    status: Option<Code>,
    /// An error before any status: the service's or the body's, of a type the layer cannot
    /// read (`error.type = "_OTHER"`).
    failed: bool,
    scope: Option<TraceScope>,
}

/// How a call ended, as its record and span carry it.
pub(crate) struct Outcome {
    pub method: StringValue,
    /// The method the request named when the record says `_OTHER` for it.
    pub original: Option<Arc<str>>,
    pub status: Option<Code>,
    pub error: Option<&'static str>,
}

impl Call {
    /// The call `request` starts, or `None` when it is no gRPC call (gRPC-Web, plain HTTP on
    /// the same server): those are not measured here.
    pub(crate) fn begin<B>(settings: &Settings, request: &Request<B>) -> Option<Call> {
        if !is_grpc(request.headers()) {
            return None;
        }
        let method = method_of(request.uri().path()).map(Arc::from);
        let scope = settings
            .spans
            .then(|| span::open(settings, request, method.as_deref()));
        Some(Call {
            settings: settings.clone(),
            method,
            started: Instant::now(),
            http_status: StatusCode::OK,
            status: None,
            failed: false,
            scope,
        })
    }

    pub(crate) fn scope(&self) -> Option<&TraceScope> {
        self.scope.as_ref()
    }

    /// The response's head: a trailers-only response carries the status in its headers; a
    /// failed HTTP exchange (no `grpc-status`, not 200) has gRPC's code for its HTTP status.
    pub(crate) fn responded<B>(&mut self, response: &Response<B>) {
        self.http_status = response.status();
        self.status = Code::of(response.headers()).or_else(|| {
            (response.status() != StatusCode::OK).then(|| Code::from_http(response.status()))
        });
    }

    /// The trailers at the end of the body: the status of a normal or streaming call.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        if self.status.is_none() {
            self.status = Code::of(trailers);
        }
    }

    /// The body ended: without a status so far, the call has the code its HTTP status maps
    /// to (`UNKNOWN` for a 200 cut short), as the client reading it concludes.
    pub(crate) fn ended(&mut self) {
        if self.status.is_none() && !self.failed {
            self.status = Some(Code::from_http(self.http_status));
        }
    }

    /// The service or the body failed before any status.
    pub(crate) fn failed(&mut self) {
        if self.status.is_none() {
            self.failed = true;
        }
    }

    fn outcome(&self) -> Outcome {
        let side = self.settings.durations.side();
        // Dropped before any status: the peer or the caller gave up on the call, which gRPC
        // calls CANCELLED.
        let status = match (self.status, self.failed) {
            (Some(code), _) => Some(code),
            (None, true) => None,
            (None, false) => Some(Code::CANCELLED),
        };
        let error = match status {
            Some(code) => code.is_error(side).then(|| code.name()),
            None => Some(OTHER),
        };
        // A server answers UNIMPLEMENTED to a method it does not have (tonic's router does):
        // the conventions want `_OTHER` for it, and a client inventing methods then makes
        // one series, not one per invention.
        let unknown = side == Side::Server && status == Some(Code::UNIMPLEMENTED);
        match (&self.method, unknown) {
            (Some(method), false) => Outcome {
                method: StringValue::from(Arc::clone(method)),
                original: None,
                status,
                error,
            },
            (method, _) => Outcome {
                method: StringValue::from(OTHER),
                original: method.clone(),
                status,
                error,
            },
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let outcome = self.outcome();
        let mut attributes = Vec::with_capacity(6);
        attributes.push(KeyValue::new(attr::RPC_SYSTEM_NAME, "grpc"));
        attributes.push(KeyValue::new(attr::RPC_METHOD, outcome.method.clone()));
        if let Some(code) = outcome.status {
            attributes.push(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, code.name()));
        }
        if let Some(error) = outcome.error {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, error));
        }
        if let Some(address) = &self.settings.address {
            let address = StringValue::from(Arc::clone(address));
            attributes.push(KeyValue::new(attr::SERVER_ADDRESS, address));
            if let Some(port) = self.settings.port {
                attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
            }
        }
        let seconds = self.started.elapsed().as_secs_f64();
        self.settings.durations.record(seconds, &attributes);
        if let Some(scope) = &self.scope {
            span::finish(scope, &outcome);
        }
    }
}

/// Whether a request is a gRPC call: `application/grpc`, alone or with a codec
/// (`application/grpc+proto`) or parameters. gRPC-Web carries its status inside the body,
/// where the layer does not read.
fn is_grpc(headers: &HeaderMap) -> bool {
    const GRPC: &str = "application/grpc";
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let is_prefix = value
        .get(..GRPC.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(GRPC));
    let rest = value.get(GRPC.len()..).unwrap_or("");
    is_prefix && (rest.is_empty() || rest.starts_with('+') || rest.starts_with(';'))
}
