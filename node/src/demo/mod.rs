//! `alys-telemetry demo`: a simulated Alys node that exercises every part of the pipeline.
//!
//! - actors ([`actors`]): a chain actor produces a block every interval and hands it through
//!   engine → storage → network, each hop a child span of the previous one, so one block is
//!   one trace; the network actor also validates blocks from other validators;
//! - the node's world ([`world`]): migration phases advancing with errors and a rollback,
//!   sync moving through its states, a transaction pool with rejections, peers in several
//!   regions with changing quality.

mod actors;
mod fault;
pub mod first_run;

mod world;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use fault::Fault;

use opentelemetry::metrics::Meter;

use crate::governance_node::{GovernanceServer, ServerConfig, ServerHandle};
use alys_telemetry::sources::governance::client::{
    StartError, StreamActor, StreamConfig, StreamHandle,
};
use alys_telemetry::sources::governance::{TlsFiles, Token};
use fault::FaultWindow;

use alys_telemetry::health::CheckResult;
use alys_telemetry::pipeline::{StopRequest, TelemetryGuard};
use alys_telemetry::sources::actors::ActorSystem;
use alys_telemetry::sources::catalog::chain::ChainMetrics;
use alys_telemetry::sources::catalog::migration::MigrationMetrics;
use alys_telemetry::sources::catalog::peers::PeerMetrics;
use alys_telemetry::sources::catalog::sync::SyncMetrics;
use alys_telemetry::sources::catalog::txpool::TxPoolMetrics;

/// How the demo behaves.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Stop by itself after this long; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Time between produced blocks.
    pub block_interval: Duration,
    /// How many validators take turns producing blocks.
    pub validators: usize,
    /// A fault to inject from the start, and for how long (`None`: until stopped).
    pub fault: Option<(Fault, Option<Duration>)>,
    /// The governance node the StreamActor talks to.
    pub governance: Governance,
    /// The collector pushed to (`None`: push is off); without one, the demo says where to
    /// look instead.
    pub collector: Option<String>,
}

/// Where the demo's StreamActor connects.
#[derive(Debug, Clone, Default)]
pub struct Governance {
    /// An external governance node; `None` starts an embedded one on a loopback port.
    pub endpoint: Option<String>,
    pub token: Option<Token>,
    pub tls: Option<TlsFiles>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            duration: None,
            block_interval: Duration::from_secs(1),
            validators: 3,
            fault: None,
            governance: Governance::default(),
            collector: None,
        }
    }
}

/// The transaction pool's capacity in the simulation.
pub const TXPOOL_CAPACITY: u64 = 50_000;

/// Every family's instruments, built once at start-up and shared by the simulated actors.
pub(crate) struct NodeMetrics {
    pub chain: ChainMetrics,
    pub migration: MigrationMetrics,
    pub sync: SyncMetrics,
    pub txpool: TxPoolMetrics,
    pub peers: PeerMetrics,
}

/// State the simulated parts share.
pub(crate) struct Shared {
    pub metrics: NodeMetrics,
    pub options: DemoOptions,
    /// Height of our chain.
    pub chain_height: AtomicU64,
    /// Transactions waiting to be included in a block.
    pub pending_transactions: AtomicU64,
    /// Milliseconds since start at which the last block was produced (0: none yet).
    pub last_block_ms: AtomicU64,
    pub started: Instant,
    pub fault: Option<FaultWindow>,
}

impl Shared {
    /// Every family's instruments on `meter`, and the simulation's starting state.
    fn new(meter: &Meter, options: &DemoOptions) -> Shared {
        Shared {
            metrics: NodeMetrics {
                chain: ChainMetrics::new(meter),
                migration: MigrationMetrics::new(meter),
                sync: SyncMetrics::new(meter),
                txpool: TxPoolMetrics::with_capacity(meter, TXPOOL_CAPACITY),
                peers: PeerMetrics::new(meter),
            },
            options: options.clone(),
            chain_height: AtomicU64::new(0),
            pending_transactions: AtomicU64::new(0),
            last_block_ms: AtomicU64::new(0),
            started: Instant::now(),
            fault: options.fault.map(|(fault, duration)| FaultWindow {
                fault,
                from: Instant::now(),
                duration,
            }),
        }
    }

    /// Whether `fault` is being injected now.
    pub fn fault_active(&self, fault: Fault) -> bool {
        FaultWindow::active(self.fault.as_ref(), fault, Instant::now())
    }
}

/// Runs the demo until `stop` resolves or the configured duration passes, then stops its
/// components within a quarter of the shutdown timeout (whatever the governance node does:
/// requests in flight are cancelled, queued work is dropped). Returns when the stop began,
/// so that the flush that follows ends within the shutdown timeout of that moment.
pub async fn run(
    telemetry: &TelemetryGuard,
    options: DemoOptions,
    stop: impl std::future::Future<Output = StopRequest>,
) -> Result<Instant, GovernanceStartError> {
    let meter = telemetry.meter();
    let shared = Arc::new(Shared::new(&meter, &options));
    if let Some((fault, duration)) = options.fault {
        tracing::warn!(?fault, ?duration, "injecting a fault");
    }
    register_health(telemetry, &shared);

    let system = ActorSystem::<actors::AlysKinds>::new(&meter);
    system.register_health(telemetry.health());
    let (embedded, stream) = connect_governance(&options, &meter).await?;
    let mut tasks = tokio::task::JoinSet::new();
    let (to_sync, children) = actors::spawn(&mut tasks, &shared, &system, stream.clone());
    world::spawn(&mut tasks, &shared, to_sync);

    let deadline = async {
        match options.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let first_run = async {
        if let Some(collector) = &options.collector {
            first_run::watch(telemetry, collector.clone()).await;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        request = stop => tracing::info!(%request, "demo node stopping"),
        _ = deadline => tracing::info!("demo node reached its duration"),
        _ = first_run => {}
    }
    let began = Instant::now();
    telemetry.mark_stopping();
    let bound = telemetry.shutdown_timeout() / 4;
    let teardown = async move {
        // Nothing new is produced; the stream stops first, so that work waiting on the
        // governance node ends at once (Cancelled, counted) instead of at its timeout.
        tasks.shutdown().await;
        stream.shutdown().await;
        let mut stopping = tokio::task::JoinSet::new();
        for child in children {
            stopping.spawn(child.stop());
        }
        while stopping.join_next().await.is_some() {}
        if let Some(server) = embedded {
            server.shutdown().await;
        }
    };
    if tokio::time::timeout(bound, teardown).await.is_err() {
        tracing::warn!(
            bound_ms = bound.as_millis() as u64,
            "the node's components did not stop within their share of the stop; no longer waiting"
        );
    }
    Ok(began)
}

/// Why the demo's governance stream did not start.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceStartError {
    #[error("the embedded governance node did not start: {0}")]
    Node(#[from] crate::governance_node::ServerError),
    #[error("the StreamActor did not start: {0}")]
    Stream(#[from] StartError),
}

/// Starts the StreamActor, and the embedded governance node unless an external one is given.
/// The embedded node drops the stream now and then, so reconnection shows on the dashboards.
async fn connect_governance(
    options: &DemoOptions,
    meter: &Meter,
) -> Result<(Option<ServerHandle>, StreamHandle), GovernanceStartError> {
    let g = &options.governance;
    let (embedded, endpoint) = match &g.endpoint {
        Some(endpoint) => (None, endpoint.clone()),
        None => {
            let server = GovernanceServer::start(
                ServerConfig {
                    listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    token: g.token.clone(),
                    tls: None,
                    latency: Duration::from_millis(50),
                    error_rate: 0.02,
                    federation_interval: Some(options.block_interval * 10),
                    drop_every: Some(options.block_interval * 60),
                    journal: None,
                },
                meter,
            )
            .await?;
            let endpoint = server.endpoint();
            (Some(server), endpoint)
        }
    };
    let mut config = StreamConfig::new(endpoint);
    config.token = g.token.clone();
    config.tls = g.tls.clone();
    let stream = StreamActor::spawn(config, meter)?;
    Ok((embedded, stream))
}

fn register_health(telemetry: &TelemetryGuard, shared: &Arc<Shared>) {
    let shared = Arc::clone(shared);
    telemetry
        .health()
        .register("chain", Duration::from_millis(250), move || {
            let since_start = shared.started.elapsed().as_millis() as u64;
            let last = shared.last_block_ms.load(Ordering::Relaxed);
            let silent_ms = since_start.saturating_sub(last);
            let limit = 5 * shared.options.block_interval.as_millis() as u64;
            async move {
                if last == 0 && since_start < limit {
                    CheckResult::healthy("starting: no block yet")
                } else if silent_ms <= limit {
                    CheckResult::healthy(format!("last block {silent_ms} ms ago"))
                } else {
                    CheckResult::degraded(format!("no block for {silent_ms} ms"))
                }
            }
        });
}
