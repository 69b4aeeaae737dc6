//! `alys-telemetry demo`: a simulated Alys node. A chain actor produces a block every
//! interval and hands it through engine → storage → network, each hop handled in a span that
//! is a child of the previous one, so one block is one trace; a sync actor catches up with the
//! network's height in batches. Every hop records the catalogue's metrics.

mod rng;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use tokio::sync::mpsc;
use tracing::{Instrument, Span};

use crate::catalog::labels::{ActorType, MessageType};
use crate::catalog::node as defs;
use crate::exits::health::CheckResult;
use crate::pipeline::TelemetryGuard;
use rng::Rng;

/// How the demo behaves.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Stop by itself after this long; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Time between produced blocks.
    pub block_interval: Duration,
    /// How many validators take turns producing blocks.
    pub validators: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            duration: None,
            block_interval: Duration::from_secs(1),
            validators: 3,
        }
    }
}

/// The node's instruments, created once from the catalogue.
#[derive(Clone)]
struct NodeMetrics {
    messages: Counter<u64>,
    message_latency: Histogram<f64>,
    block_production: Histogram<f64>,
    current_height: Gauge<u64>,
    target_height: Gauge<u64>,
}

impl NodeMetrics {
    fn new(meter: &Meter) -> Self {
        let gauge = |d: &crate::catalog::MetricDef| {
            meter
                .u64_gauge(d.instrument_name())
                .with_unit(d.unit)
                .with_description(d.help)
                .build()
        };
        NodeMetrics {
            messages: defs::ACTOR_MESSAGES.u64_counter(meter),
            message_latency: defs::ACTOR_MESSAGE_LATENCY.f64_histogram(meter),
            block_production: defs::BLOCK_PRODUCTION_DURATION.f64_histogram(meter),
            current_height: gauge(&defs::SYNC_CURRENT_HEIGHT),
            target_height: gauge(&defs::SYNC_TARGET_HEIGHT),
        }
    }

    fn handled(&self, actor: ActorType, message: MessageType, took: Duration) {
        self.messages.add(
            1,
            &[
                KeyValue::new("actor_type", actor.as_str()),
                KeyValue::new("message_type", message.as_str()),
            ],
        );
        self.message_latency.record(
            took.as_secs_f64(),
            &[KeyValue::new("actor_type", actor.as_str())],
        );
    }
}

/// A block on its way through the pipeline of actors, carrying the span of its sender.
struct BlockMsg {
    height: u64,
    from: ActorType,
    span: Span,
}

/// Runs the demo until `stop` resolves or the configured duration passes.
pub async fn run(
    telemetry: &TelemetryGuard,
    options: DemoOptions,
    stop: impl std::future::Future<Output = ()>,
) {
    let metrics = NodeMetrics::new(&telemetry.meter());
    let last_block_ms = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    register_health(telemetry, &last_block_ms, started, options.block_interval);

    let (to_network, network_rx) = mpsc::channel::<BlockMsg>(64);
    let (to_storage, storage_rx) = mpsc::channel::<BlockMsg>(64);
    let (to_engine, engine_rx) = mpsc::channel::<BlockMsg>(64);
    let chain_height = Arc::new(AtomicU64::new(0));

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(relay(
        ActorType::Network,
        network_rx,
        None,
        metrics.clone(),
        2..15,
    ));
    tasks.spawn(relay(
        ActorType::Storage,
        storage_rx,
        Some(to_network),
        metrics.clone(),
        3..25,
    ));
    tasks.spawn(relay(
        ActorType::Engine,
        engine_rx,
        Some(to_storage),
        metrics.clone(),
        5..40,
    ));
    tasks.spawn(chain(
        to_engine,
        metrics.clone(),
        options.clone(),
        chain_height.clone(),
        last_block_ms.clone(),
        started,
    ));
    tasks.spawn(sync(metrics, chain_height, options.block_interval));

    let deadline = async {
        match options.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stop => tracing::info!("demo node stopping"),
        _ = deadline => tracing::info!("demo node reached its duration"),
    }
    tasks.shutdown().await;
}

fn register_health(
    telemetry: &TelemetryGuard,
    last_block_ms: &Arc<AtomicU64>,
    started: Instant,
    interval: Duration,
) {
    let last = last_block_ms.clone();
    telemetry
        .health()
        .register("chain", Duration::from_millis(250), move || {
            let since_start = started.elapsed().as_millis() as u64;
            let last = last.load(Ordering::Relaxed);
            let silent_ms = since_start.saturating_sub(last);
            let limit = 5 * interval.as_millis() as u64;
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

async fn chain(
    engine: mpsc::Sender<BlockMsg>,
    metrics: NodeMetrics,
    options: DemoOptions,
    height: Arc<AtomicU64>,
    last_block_ms: Arc<AtomicU64>,
    started: Instant,
) {
    let mut rng = Rng::from_time();
    let mut ticker = tokio::time::interval(options.block_interval);
    let validators = options.validators.max(1);
    loop {
        ticker.tick().await;
        let h = height.fetch_add(1, Ordering::Relaxed) + 1;
        let validator = format!("validator-{}", h as usize % validators + 1);
        let span = tracing::info_span!(
            "chain.produce_block",
            actor = ActorType::Chain.as_str(),
            block.height = h,
            validator = validator.as_str(),
        );
        let produce = async {
            let started_at = Instant::now();
            // Simulated block building: assembling transactions, signing.
            tokio::time::sleep(Duration::from_millis(rng.range(20, 250))).await;
            let took = started_at.elapsed();
            metrics.block_production.record(
                took.as_secs_f64(),
                &[KeyValue::new("validator", validator.clone())],
            );
            metrics.handled(ActorType::Chain, MessageType::Mining, took);
            tracing::info!(height = h, validator = validator.as_str(), "block produced");
            let msg = BlockMsg {
                height: h,
                from: ActorType::Chain,
                span: Span::current(),
            };
            if engine.send(msg).await.is_err() {
                tracing::warn!("engine actor is gone");
            }
        };
        produce.instrument(span).await;
        last_block_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// An actor that handles each block in a child span of the sender's and passes it on.
async fn relay(
    actor: ActorType,
    mut inbox: mpsc::Receiver<BlockMsg>,
    next: Option<mpsc::Sender<BlockMsg>>,
    metrics: NodeMetrics,
    work_ms: std::ops::Range<u64>,
) {
    let mut rng = Rng::from_time();
    let message = match actor {
        ActorType::Storage => MessageType::Storage,
        ActorType::Network => MessageType::Network,
        _ => MessageType::Mining,
    };
    while let Some(msg) = inbox.recv().await {
        let span = tracing::info_span!(
            parent: &msg.span,
            "actor.handle",
            otel.name = format!("{}.handle_block", actor.as_str()),
            actor = actor.as_str(),
            from_actor = msg.from.as_str(),
            to_actor = actor.as_str(),
            message_type = message.as_str(),
            block.height = msg.height,
        );
        let work = Duration::from_millis(rng.range(work_ms.start, work_ms.end));
        let next = next.clone();
        async {
            let started = Instant::now();
            tokio::time::sleep(work).await;
            metrics.handled(actor, message, started.elapsed());
            if let Some(next) = next {
                let forward = BlockMsg {
                    height: msg.height,
                    from: actor,
                    span: Span::current(),
                };
                let _ = next.send(forward).await;
            }
        }
        .instrument(span)
        .await;
    }
}

/// Catches up with the network in batches, then follows the chain.
async fn sync(metrics: NodeMetrics, chain_height: Arc<AtomicU64>, interval: Duration) {
    let mut rng = Rng::from_time();
    let behind = 2_000;
    let mut current = 0u64;
    let mut ticker = tokio::time::interval(interval / 2);
    loop {
        ticker.tick().await;
        let target = behind + chain_height.load(Ordering::Relaxed);
        metrics.target_height.record(target, &[]);
        if current < target {
            let batch = rng.range(20, 120).min(target - current);
            let span = tracing::info_span!(
                "sync.process_batch",
                actor = ActorType::Sync.as_str(),
                batch.size = batch,
                from_height = current,
            );
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(rng.range(5, 40)))
                .instrument(span)
                .await;
            current += batch;
            metrics.handled(ActorType::Sync, MessageType::Sync, started.elapsed());
        }
        metrics.current_height.record(current, &[]);
    }
}
