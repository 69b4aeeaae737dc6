//! The OTLP/gRPC receivers, in the parent: they count spans and keep nothing.
//!
//! Not benches/system/blackhole.rs: it serves a plain `TcpListenerStream`, whose accepted
//! sockets keep Nagle's algorithm on (tonic applies `tcp_nodelay` only to the incoming it
//! builds itself), and each export's small response then waits out the client's delayed
//! ACK: against it the exporter sat idle most of the time (72,000 spans/s, 0.13 cores, at
//! batches of 2,048; 260,000 with Nagle off). The Collector answers with Nagle off (Go's net
//! package turns it off on every TCP connection); so do these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codegen::{Body, BoxFuture, StdError, http};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// Where the two receivers listen; both add to one count (one child runs at a time).
pub struct Receivers {
    /// Decodes every request in full, as a collector must: the realistic peer.
    pub decode: SocketAddr,
    /// Skims: splits each request down to its spans' bytes and counts them, no span
    /// decoded, so that the receiver's own decode leaves the exporter's figure.
    pub skim: SocketAddr,
    pub spans: Arc<AtomicU64>,
}

pub fn start(runtime: &tokio::runtime::Runtime) -> Receivers {
    let spans = Arc::new(AtomicU64::new(0));
    let (decode, incoming) = bind(runtime);
    let full = TraceServiceServer::new(Decode(spans.clone()));
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(full)
            .serve_with_incoming(incoming),
    );
    let (skim, incoming) = bind(runtime);
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(Skim(spans.clone()))
            .serve_with_incoming(incoming),
    );
    Receivers {
        decode,
        skim,
        spans,
    }
}

/// An ephemeral loopback port whose connections have Nagle off.
fn bind(runtime: &tokio::runtime::Runtime) -> (SocketAddr, TcpIncoming) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port for a receiver");
    let addr = listener.local_addr().expect("its address");
    (addr, TcpIncoming::from(listener).with_nodelay(Some(true)))
}

struct Decode(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Decode {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// `ExportTraceServiceRequest` down to its spans, each left encoded (the same field
/// numbers; the fields not named here are skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct SkimRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<SkimResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SkimResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<SkimScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SkimScopeSpans {
    /// `bytes::Bytes`: a slice of the request's buffer, not a copy.
    #[prost(bytes = "bytes", repeated, tag = "2")]
    spans: Vec<prost::bytes::Bytes>,
}

/// The trace service by hand (as tonic's generated code does it), to decode with the
/// skimming message: the generated server fixes the full one.
#[derive(Clone)]
struct Skim(Arc<AtomicU64>);

impl tonic::server::NamedService for Skim {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl tonic::server::UnaryService<SkimRequest> for Skim {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<Response<Self::Response>, Status>>;

    fn call(&mut self, request: Request<SkimRequest>) -> Self::Future {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        std::future::ready(Ok(Response::new(ExportTraceServiceResponse::default())))
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for Skim
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    /// Every path is taken for Export: the exporter calls nothing else.
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(method, request).await)
        })
    }
}
