//! The OTLP exit through failures, against scripted receivers on loopback: what is retried
//! (and after how long), what is dropped and counted, and that a stop does not wait for a
//! retry.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter as _,
};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::*;
use crate::span_batches::SpanBatches;
use alys_telemetry_catalog::pipeline::ExportDropReason;
use alys_telemetry_config::{ExportBatch, Layer, Origin, TelemetryConfig, settings};

/// What a scripted receiver answers, one export at a time.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    /// A gRPC status, or an HTTP status for the HTTP receiver.
    Fail(Code),
    /// RESOURCE_EXHAUSTED with RetryInfo asking for this delay.
    Exhausted(Duration),
    Http(u16, Option<u64>),
}

/// The script and what arrived: the time of each attempt and the spans accepted.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    /// When the script is spent.
    then: Mutex<Option<Answer>>,
    attempts: Mutex<Vec<Instant>>,
    spans: Mutex<usize>,
}

impl Script {
    fn new(answers: &[Answer], then: Answer) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.iter().copied().collect()),
            then: Mutex::new(Some(then)),
            ..Script::default()
        })
    }

    fn next(&self) -> Answer {
        self.attempts.lock().unwrap().push(Instant::now());
        let scripted = self.answers.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| self.then.lock().unwrap().unwrap_or(Answer::Ok))
    }

    fn attempts(&self) -> Vec<Instant> {
        self.attempts.lock().unwrap().clone()
    }

    fn spans(&self) -> usize {
        *self.spans.lock().unwrap()
    }
}

#[derive(Clone)]
struct Grpc(Arc<Script>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.0.next() {
            Answer::Ok | Answer::Http(..) => {
                let spans: usize = request
                    .get_ref()
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                *self.0.spans.lock().unwrap() += spans;
                Ok(Response::new(ExportTraceServiceResponse::default()))
            }
            Answer::Fail(code) => Err(Status::new(code, "scripted")),
            Answer::Exhausted(delay) => Err(Status::with_error_details(
                Code::ResourceExhausted,
                "scripted",
                ErrorDetails::with_retry_info(Some(delay)),
            )),
        }
    }
}

async fn grpc_receiver(script: &Arc<Script>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(Grpc(script.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

/// An OTLP/HTTP receiver answering `/v1/traces` from the script (it does not decode).
async fn http_receiver(script: &Arc<Script>) -> SocketAddr {
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = script.clone();
    let route = axum::routing::post(move || {
        let script = script.clone();
        async move {
            match script.next() {
                Answer::Http(code, retry_after) => {
                    let mut response = StatusCode::from_u16(code).unwrap().into_response();
                    if let Some(seconds) = retry_after {
                        response.headers_mut().insert(
                            "retry-after",
                            HeaderValue::from_str(&seconds.to_string()).unwrap(),
                        );
                    }
                    response
                }
                _ => StatusCode::OK.into_response(),
            }
        }
    });
    let app = axum::Router::new().route("/v1/traces", route);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn push(protocol: &str, endpoint: String, budget_ms: u64) -> PushConfig {
    TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
        .set(settings::PROTOCOL, protocol)
        .set(settings::ENDPOINT, endpoint)
        .set(settings::OUTAGE_BUDGET, budget_ms.to_string())
        .set(settings::TIMEOUT, "2000")])
    .expect("a valid configuration")
    .push
}

fn spans(n: usize) -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("test");
    for i in 0..n {
        tracer.start(format!("span {i}")).end();
    }
    memory.get_finished_spans().expect("spans")
}

fn stats() -> Arc<ExportStats> {
    ExportStats::new(Duration::from_secs(3600))
}

/// One batch of `n` spans through the first span exporter built for `push`.
async fn export(push: &PushConfig, stats: &Arc<ExportStats>, n: usize) -> OTelSdkResultOf {
    let exporters = Exporters::build(push, stats).expect("exporters build");
    let exporter = exporters.spans.into_iter().next().expect("a span exporter");
    let batch = spans(n);
    // On a thread of its own, as the batch processor runs it.
    tokio::task::spawn_blocking(move || futures_executor::block_on(exporter.export(batch)))
        .await
        .expect("export thread")
}

type OTelSdkResultOf = opentelemetry_sdk::error::OTelSdkResult;

fn gaps(attempts: &[Instant]) -> Vec<Duration> {
    attempts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unavailable_is_retried_until_the_receiver_is_back_and_nothing_is_lost() {
    // More failures than opentelemetry-otlp's own policy retries (three).
    let script = Script::new(&[Answer::Fail(Code::Unavailable); 5], Answer::Ok);
    let addr = grpc_receiver(&script).await;
    let stats = stats();
    let result = export(&push("grpc", format!("http://{addr}"), 30_000), &stats, 7).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        script.attempts().len(),
        6,
        "five failures, then the delivery"
    );
    assert_eq!(script.spans(), 7);
    let traces = stats.signal(Signal::Traces);
    // Each attempt is counted, and each failed one, though the call itself succeeded.
    assert_eq!(
        (
            traces.items(),
            traces.attempts(),
            traces.failures(),
            traces.dropped_total()
        ),
        (7, 6, 5, 0)
    );
    // Backoff: each wait at least the one before it (100 ms, doubling; jitter adds).
    let waits = gaps(&script.attempts());
    assert!(waits[0] >= Duration::from_millis(100), "{waits:?}");
    assert!(waits[2] >= Duration::from_millis(400), "{waits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_resource_exhausted_waits_what_retry_info_asks() {
    let ask = Duration::from_millis(1_200);
    let script = Script::new(&[Answer::Exhausted(ask)], Answer::Ok);
    let addr = grpc_receiver(&script).await;
    let result = export(&push("grpc", format!("http://{addr}"), 30_000), &stats(), 3).await;
    assert!(result.is_ok(), "{result:?}");
    let waits = gaps(&script.attempts());
    assert_eq!(waits.len(), 1);
    assert!(
        waits[0] >= ask,
        "retried after {:?}, RetryInfo asked {ask:?}",
        waits[0]
    );
    assert_eq!(script.spans(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_resource_exhausted_without_retry_info_is_not_retried_as_otlp_says() {
    // The OTLP specification: RESOURCE_EXHAUSTED is retryable only when the server says
    // recovery is possible, with RetryInfo. The collector's own back-pressure (its memory
    // limiter) answers UNAVAILABLE, which is retried.
    let script = Script::new(&[], Answer::Fail(Code::ResourceExhausted));
    let addr = grpc_receiver(&script).await;
    let stats = stats();
    let result = export(&push("grpc", format!("http://{addr}"), 30_000), &stats, 2).await;
    assert!(result.is_err());
    assert_eq!(script.attempts().len(), 1);
    let traces = stats.signal(Signal::Traces);
    assert_eq!(traces.dropped(ExportDropReason::Rejected), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_no_retry_can_mend_is_dropped_at_once_and_counted_as_rejected() {
    let script = Script::new(&[], Answer::Fail(Code::InvalidArgument));
    let addr = grpc_receiver(&script).await;
    let stats = stats();
    let result = export(&push("grpc", format!("http://{addr}"), 30_000), &stats, 5).await;
    assert!(result.is_err());
    assert_eq!(
        script.attempts().len(),
        1,
        "INVALID_ARGUMENT is not retried"
    );
    let traces = stats.signal(Signal::Traces);
    assert_eq!(traces.dropped(ExportDropReason::Rejected), 5);
    assert_eq!(traces.dropped(ExportDropReason::OutageBudget), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_budget_drops_the_batch_and_counts_it() {
    let script = Script::new(&[], Answer::Fail(Code::Unavailable));
    let addr = grpc_receiver(&script).await;
    let stats = stats();
    let budget = Duration::from_millis(800);
    let began = Instant::now();
    let call = tokio::spawn({
        let stats = stats.clone();
        async move { export(&push("grpc", format!("http://{addr}"), 800), &stats, 4).await }
    });
    // The failures show while the call still retries, not only when it gives up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.signal(Signal::Traces).failures() < 2 {
        assert!(Instant::now() < deadline, "no failed attempt was counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!call.is_finished(), "the call was still retrying");
    let result = call.await.expect("export task");
    let took = began.elapsed();
    assert!(result.is_err());
    assert!(
        took >= budget - RETRY_MAX_JITTER
            && took <= budget + RETRY_MAX_DELAY + Duration::from_secs(1),
        "gave up after {took:?}, the budget is {budget:?}"
    );
    assert!(
        script.attempts().len() >= 3,
        "{:?}",
        script.attempts().len()
    );
    let traces = stats.signal(Signal::Traces);
    assert_eq!(traces.dropped(ExportDropReason::OutageBudget), 4);
    assert_eq!(traces.dropped(ExportDropReason::Rejected), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_502_503_504_are_retried_and_retry_after_is_honoured() {
    let script = Script::new(
        &[
            Answer::Http(429, None),
            Answer::Http(502, None),
            Answer::Http(504, None),
            Answer::Http(503, Some(1)),
        ],
        Answer::Ok,
    );
    let addr = http_receiver(&script).await;
    let stats = stats();
    let result = export(
        &push("http/protobuf", format!("http://{addr}"), 30_000),
        &stats,
        2,
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    let attempts = script.attempts();
    assert_eq!(attempts.len(), 5);
    let waits = gaps(&attempts);
    assert!(
        waits[3] >= Duration::from_secs(1),
        "Retry-After: 1 waited {:?}",
        waits[3]
    );
    assert_eq!(stats.signal(Signal::Traces).dropped_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_400_is_not_retried() {
    let script = Script::new(&[], Answer::Http(400, None));
    let addr = http_receiver(&script).await;
    let stats = stats();
    let result = export(
        &push("http/protobuf", format!("http://{addr}"), 30_000),
        &stats,
        2,
    )
    .await;
    assert!(result.is_err());
    assert_eq!(script.attempts().len(), 1);
    assert_eq!(
        stats
            .signal(Signal::Traces)
            .dropped(ExportDropReason::Rejected),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_retry_is_bounded_by_its_timeout() {
    let script = Script::new(&[], Answer::Fail(Code::Unavailable));
    let addr = grpc_receiver(&script).await;
    let stats = stats();
    let push = push("grpc", format!("http://{addr}"), 60_000);
    let exporters = Exporters::build(&push, &stats).expect("exporters build");
    let batch = ExportBatch {
        max_queue_size: 1_024,
        max_export_batch_size: 64,
        schedule_delay: Duration::from_millis(10),
    };
    let processor = SpanBatches::new(exporters.spans, batch);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("test");
    for _ in 0..100 {
        tracer.start("waiting").end();
    }
    // The exports are in their retries once the receiver has seen an attempt.
    let deadline = Instant::now() + Duration::from_secs(10);
    while script.attempts().len() < 2 {
        assert!(Instant::now() < deadline, "no export reached the receiver");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bound = Duration::from_millis(500);
    let began = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(bound))
        .await
        .expect("shutdown thread");
    let took = began.elapsed();
    assert!(
        stopped.is_err(),
        "the stop reports what it could not deliver"
    );
    assert!(
        took < bound + Duration::from_millis(500),
        "the stop took {took:?} with a bound of {bound:?} and a 60 s budget"
    );
}
