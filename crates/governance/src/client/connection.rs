//! Opening the stream to the governance node: endpoint, TLS, token, session, HTTP/2
//! keep-alive, each step bounded in time.

use std::sync::Arc;
use std::time::Instant;

use opentelemetry::metrics::Meter;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tower_layer::Layer as _;

use super::StreamConfig;
use crate::proto::governance_stream_client::GovernanceStreamClient;
use crate::proto::{GovernanceMessage, NodeMessage};
use alys_telemetry_catalog::governance::GrpcCode;
use alys_telemetry_http::rpc::RpcClientLayer;

/// The metadata key naming the StreamActor's session on every stream it opens: the
/// governance node recognises re-sent message ids within a session.
pub const SESSION_METADATA: &str = "alys-session-id";

/// Messages queued towards one connection. Small on purpose: what is not yet taken by the
/// transport stays in the outbox, where a reconnect finds it.
const QUEUE: usize = 16;

/// The stream's client layer: measured by the RPC conventions, its server named by the
/// endpoint. Built once per actor (each build registers the instrument); the actor's own
/// spans trace the stream, so the layer adds none.
pub(super) fn rpc_layer(config: &StreamConfig, meter: &Meter) -> RpcClientLayer {
    let layer = RpcClientLayer::new(meter);
    let Ok(uri) = config.endpoint.parse::<http::Uri>() else {
        return layer;
    };
    let Some(host) = uri.host() else {
        return layer;
    };
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    });
    // An IPv6 literal is written bracketed in a URI; `server.address` takes the address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    layer.with_server_address(host, port)
}

/// An open stream: where to write, what to read, since when.
pub(super) struct Link {
    pub outbound: mpsc::Sender<NodeMessage>,
    pub inbound: tonic::Streaming<GovernanceMessage>,
    pub since: Instant,
}

/// Connects to the governance node and opens the stream. Each step is bounded by the
/// connect timeout: a governance node that accepts TCP and says nothing (frozen) fails the
/// attempt instead of holding it.
pub(super) async fn open(
    config: Arc<StreamConfig>,
    session: Arc<str>,
    rpc: RpcClientLayer,
) -> Result<Link, GrpcCode> {
    let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|_| GrpcCode::InvalidArgument)?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        // A governance node that stops answering (frozen, or a path that drops packets)
        // fails its connection after interval + timeout, while idle too.
        .http2_keep_alive_interval(config.keepalive_interval)
        .keep_alive_timeout(config.keepalive_timeout)
        .keep_alive_while_idle(true);
    if let Some(tls) = &config.tls {
        let domain = config.tls_domain()?;
        let tls = tls.client(&domain).map_err(|e| {
            tracing::error!("governance TLS: {e}");
            GrpcCode::FailedPrecondition
        })?;
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|_| GrpcCode::FailedPrecondition)?;
    }
    let limit = config.connect_timeout;
    let channel = tokio::time::timeout(limit, endpoint.connect())
        .await
        .map_err(|_| GrpcCode::DeadlineExceeded)?
        .map_err(|_| GrpcCode::Unavailable)?;
    let (outbound, requests) = mpsc::channel(QUEUE);
    let mut request = tonic::Request::new(ReceiverStream::new(requests));
    let metadata = request.metadata_mut();
    if let Some(token) = &config.token {
        let value = token
            .bearer()
            .parse()
            .map_err(|_| GrpcCode::InvalidArgument)?;
        metadata.insert("authorization", value);
    }
    let value = session.parse().map_err(|_| GrpcCode::InvalidArgument)?;
    metadata.insert(SESSION_METADATA, value);
    let mut client = GovernanceStreamClient::new(rpc.layer(channel));
    let response = tokio::time::timeout(limit, client.stream(request))
        .await
        .map_err(|_| GrpcCode::DeadlineExceeded)?
        .map_err(|status| GrpcCode::from_number(status.code() as i32))?;
    Ok(Link {
        outbound,
        inbound: response.into_inner(),
        since: Instant::now(),
    })
}

/// The next message of the open stream; never resolves while disconnected.
pub(super) async fn next_inbound(
    link: &mut Option<Link>,
) -> Result<Option<GovernanceMessage>, tonic::Status> {
    match link {
        Some(l) => l.inbound.message().await,
        None => std::future::pending().await,
    }
}

/// Room for one message on the open stream; never resolves while disconnected.
pub(super) async fn room(
    outbound: Option<mpsc::Sender<NodeMessage>>,
) -> Result<mpsc::OwnedPermit<NodeMessage>, mpsc::error::SendError<()>> {
    match outbound {
        Some(tx) => tx.reserve_owned().await,
        None => std::future::pending().await,
    }
}
