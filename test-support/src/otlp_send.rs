//! Spans made to measure, sent over OTLP/gRPC: the tests choose trace ids, parents, services,
//! durations and statuses exactly, so that what a sampling tier keeps can be counted against
//! what was sent.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

/// One span to send.
#[derive(Debug, Clone)]
pub struct TestSpan {
    pub service: String,
    pub name: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub start: SystemTime,
    pub duration: Duration,
    pub error: bool,
}

impl TestSpan {
    /// A root span of a new trace (random ids).
    pub fn root(service: &str, name: &str, duration: Duration) -> TestSpan {
        let mut trace_id = [0u8; 16];
        trace_id.iter_mut().for_each(|b| *b = fastrand::u8(..));
        TestSpan {
            service: service.to_string(),
            name: name.to_string(),
            trace_id,
            span_id: random_span_id(),
            parent: None,
            start: SystemTime::now() - duration,
            duration,
            error: false,
        }
    }

    /// A child of `self`, in its trace, inside its time.
    pub fn child(&self, service: &str, name: &str) -> TestSpan {
        TestSpan {
            service: service.to_string(),
            name: name.to_string(),
            trace_id: self.trace_id,
            span_id: random_span_id(),
            parent: Some(self.span_id),
            start: self.start + self.duration / 4,
            duration: self.duration / 2,
            error: false,
        }
    }

    pub fn failed(mut self) -> TestSpan {
        self.error = true;
        self
    }

    /// The trace id as W3C trace context and Jaeger write it.
    pub fn trace_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn random_span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    id.iter_mut().for_each(|b| *b = fastrand::u8(..));
    id
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// One export request with `spans`, grouped by service.
pub fn request(spans: &[TestSpan]) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for s in spans {
        by_service.entry(&s.service).or_default().push(Span {
            trace_id: s.trace_id.to_vec(),
            span_id: s.span_id.to_vec(),
            parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: s.name.clone(),
            kind: 1,
            start_time_unix_nano: nanos(s.start),
            end_time_unix_nano: nanos(s.start + s.duration),
            status: s.error.then(|| Status {
                message: "failed on purpose".into(),
                code: status::StatusCode::Error as i32,
            }),
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attribute("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "alys-test".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// Sends `spans` to the OTLP/gRPC receiver at `endpoint` (`http://host:port`) in one export.
pub fn send_spans(endpoint: &str, spans: &[TestSpan]) -> Result<(), String> {
    let endpoint = endpoint.to_string();
    let request = request(spans);
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let mut client = TraceServiceClient::connect(endpoint.clone())
                        .await
                        .map_err(|e| format!("connect {endpoint}: {e}"))?;
                    client
                        .export(request)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("export to {endpoint}: {e}"))
                })
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
