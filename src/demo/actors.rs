//! The demo's actors: block production and its trip through engine → storage → network, and
//! validation of blocks from other validators.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry::metrics::Meter;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{Instrument, Span};

use super::Shared;
use super::rng::Rng;
use crate::catalog::actors::{MESSAGE_LATENCY, MESSAGES};
use crate::catalog::instruments::{CounterVec, HistogramVec};
use crate::catalog::labels::{ActorType, MessageOutcome, MessageType, Outcome};

/// Message counting until the metered mailboxes take it over.
pub(crate) struct ActorMetrics {
    messages: CounterVec<(ActorType, MessageType, MessageOutcome)>,
    latency: HistogramVec<ActorType>,
}

impl ActorMetrics {
    pub fn new(meter: &Meter) -> Self {
        ActorMetrics {
            messages: CounterVec::new(&MESSAGES, meter),
            latency: HistogramVec::new(&MESSAGE_LATENCY, meter),
        }
    }

    fn handled(
        &self,
        actor: ActorType,
        message: MessageType,
        outcome: MessageOutcome,
        took: Duration,
    ) {
        self.messages.add((actor, message, outcome), 1);
        self.latency.record(actor, took.as_secs_f64());
    }
}

/// A block on its way through the pipeline of actors, carrying the span of its sender.
struct BlockMsg {
    height: u64,
    transactions: u64,
    from: ActorType,
    span: Span,
}

pub(crate) fn spawn(tasks: &mut JoinSet<()>, shared: &Arc<Shared>) {
    let (to_network, network_rx) = mpsc::channel::<BlockMsg>(64);
    let (to_storage, storage_rx) = mpsc::channel::<BlockMsg>(64);
    let (to_engine, engine_rx) = mpsc::channel::<BlockMsg>(64);
    tasks.spawn(relay(
        ActorType::Network,
        network_rx,
        None,
        shared.clone(),
        2..15,
    ));
    tasks.spawn(relay(
        ActorType::Storage,
        storage_rx,
        Some(to_network),
        shared.clone(),
        3..25,
    ));
    tasks.spawn(relay(
        ActorType::Engine,
        engine_rx,
        Some(to_storage),
        shared.clone(),
        5..40,
    ));
    tasks.spawn(chain(to_engine, shared.clone()));
    tasks.spawn(validate_foreign_blocks(shared.clone()));
}

async fn chain(engine: mpsc::Sender<BlockMsg>, shared: Arc<Shared>) {
    let mut rng = Rng::from_time();
    let mut ticker = tokio::time::interval(shared.options.block_interval);
    let validators = shared.options.validators.max(1);
    let m = &shared.metrics;
    loop {
        ticker.tick().await;
        let h = shared.chain_height.fetch_add(1, Ordering::Relaxed) + 1;
        let validator = format!("validator-{}", h as usize % validators + 1);
        let span = tracing::info_span!(
            "chain.produce_block",
            actor = ActorType::Chain.as_str(),
            block.height = h,
            validator = validator.as_str(),
        );
        let produce = async {
            let started = Instant::now();
            // Building the block: take transactions from the pool, execute, sign.
            let waiting = shared.pending_transactions.load(Ordering::Relaxed);
            let transactions = waiting.min(rng.range(50, 500));
            shared
                .pending_transactions
                .fetch_sub(transactions, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(rng.range(20, 250))).await;
            let took = started.elapsed();
            let bytes = 512 + transactions * rng.range(180, 320);
            m.chain
                .block_produced(&validator, took, transactions, bytes, Instant::now());
            m.actors.handled(
                ActorType::Chain,
                MessageType::Mining,
                MessageOutcome::Processed,
                took,
            );
            tracing::info!(
                height = h,
                validator = validator.as_str(),
                transactions,
                "block produced"
            );
            let msg = BlockMsg {
                height: h,
                transactions,
                from: ActorType::Chain,
                span: Span::current(),
            };
            if engine.send(msg).await.is_err() {
                tracing::warn!("engine actor is gone");
            }
        };
        produce.instrument(span).await;
        shared.last_block_ms.store(
            shared.started.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }
}

/// An actor that handles each block in a child span of the sender's and passes it on.
async fn relay(
    actor: ActorType,
    mut inbox: mpsc::Receiver<BlockMsg>,
    next: Option<mpsc::Sender<BlockMsg>>,
    shared: Arc<Shared>,
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
            block.transactions = msg.transactions,
        );
        let work = Duration::from_millis(rng.range(work_ms.start, work_ms.end));
        // Now and then a hop fails (a storage write, a broadcast) and says so.
        let outcome = if rng.chance(0.02) {
            MessageOutcome::Failed
        } else {
            MessageOutcome::Processed
        };
        let next = next.clone();
        let m = &shared.metrics;
        async {
            let started = Instant::now();
            tokio::time::sleep(work).await;
            if outcome == MessageOutcome::Failed {
                tracing::warn!(height = msg.height, "handling the block failed");
            }
            m.actors.handled(actor, message, outcome, started.elapsed());
            if let Some(next) = next {
                let forward = BlockMsg {
                    height: msg.height,
                    transactions: msg.transactions,
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

/// Blocks from the other validators arrive from the network and are validated.
async fn validate_foreign_blocks(shared: Arc<Shared>) {
    let mut rng = Rng::from_time();
    let validators = shared.options.validators.max(1) as u64;
    let mut ticker = tokio::time::interval(shared.options.block_interval);
    loop {
        ticker.tick().await;
        let validator = format!("validator-{}", rng.range(1, validators + 1));
        let span = tracing::info_span!(
            "chain.validate_block",
            actor = ActorType::Chain.as_str(),
            validator = validator.as_str(),
        );
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(rng.range(5, 120)))
            .instrument(span)
            .await;
        let outcome = if rng.chance(0.03) {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        shared
            .metrics
            .chain
            .block_validated(&validator, started.elapsed(), outcome);
    }
}
