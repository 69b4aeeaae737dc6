//! Opening the stream to the governance node: endpoint, TLS, token, bounded in time.

use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

use super::StreamConfig;
use crate::sources::catalog::governance::GrpcCode;
use crate::sources::governance::proto::governance_stream_client::GovernanceStreamClient;
use crate::sources::governance::proto::{GovernanceMessage, NodeMessage};

/// An open stream: where to write, what to read, since when.
pub(super) struct Connection {
    pub outbound: mpsc::Sender<NodeMessage>,
    pub inbound: tonic::Streaming<GovernanceMessage>,
    pub since: Instant,
}

/// Connects to the governance node and opens the stream.
pub(super) async fn open(config: &StreamConfig) -> Result<Connection, GrpcCode> {
    let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|_| GrpcCode::InvalidArgument)?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true);
    if let Some(tls) = &config.tls {
        let uri: http::Uri = config
            .endpoint
            .parse()
            .map_err(|_| GrpcCode::InvalidArgument)?;
        let domain = match &config.tls_domain {
            Some(domain) => domain.clone(),
            None => uri.host().unwrap_or("localhost").to_string(),
        };
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
    let (outbound, requests) = mpsc::channel(256);
    let mut request = tonic::Request::new(ReceiverStream::new(requests));
    if let Some(token) = &config.token {
        let value = token
            .bearer()
            .parse()
            .map_err(|_| GrpcCode::InvalidArgument)?;
        request.metadata_mut().insert("authorization", value);
    }
    let response =
        tokio::time::timeout(limit, GovernanceStreamClient::new(channel).stream(request))
            .await
            .map_err(|_| GrpcCode::DeadlineExceeded)?
            .map_err(|status| GrpcCode::from_code(status.code()))?;
    Ok(Connection {
        outbound,
        inbound: response.into_inner(),
        since: Instant::now(),
    })
}

/// The next message of the open stream; never resolves while disconnected.
pub(super) async fn next_inbound(
    conn: &mut Option<Connection>,
) -> Result<Option<GovernanceMessage>, tonic::Status> {
    match conn {
        Some(c) => c.inbound.message().await,
        None => std::future::pending().await,
    }
}
