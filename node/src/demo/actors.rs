//! The demo's actors, on metered mailboxes under one supervisor: the chain actor produces
//! blocks that travel engine → storage → network in one trace; the sync actor takes batches
//! (each its own trace, linked to the sender's); the bridge now and then fails and is
//! restarted; blocks from other validators are validated.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::{Fault, Shared};
use alys_telemetry::root_span;
use alys_telemetry::sources::actors::{
    ActorFailure, ActorMessage, ActorSystem, ChildHandle, Mailbox, MailboxReceiver, MailboxSender,
    RestartPolicy, StopSignal, Supervisor, TraceMode,
};
use alys_telemetry::sources::catalog::actors::RestartReason;
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType, Outcome};
use alys_telemetry::sources::governance::client::StreamHandle;
use fastrand::Rng;

/// The node's kinds of actor and of message, which its actor system is labelled by.
pub type AlysKinds = (ActorType, MessageType);

/// A block on its way through the actors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    height: u64,
    transactions: u64,
    step: Step,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Execute,
    Store,
    Broadcast,
}

impl ActorMessage for Block {
    type Kinds = AlysKinds;

    fn message_type(&self) -> MessageType {
        match self.step {
            Step::Execute => MessageType::Mining,
            Step::Store => MessageType::Storage,
            Step::Broadcast => MessageType::Network,
        }
    }
    fn name(&self) -> &'static str {
        match self.step {
            Step::Execute => "execute_block",
            Step::Store => "store_block",
            Step::Broadcast => "broadcast_block",
        }
    }
}

/// Blocks fetched from peers, for the sync actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncBatch {
    pub size: u64,
}

impl ActorMessage for SyncBatch {
    type Kinds = AlysKinds;

    fn message_type(&self) -> MessageType {
        MessageType::Sync
    }
    fn name(&self) -> &'static str {
        "import_batch"
    }
}

/// A peg-in or peg-out for the bridge.
#[derive(Debug, Clone, Copy)]
struct PegOperation;

impl ActorMessage for PegOperation {
    type Kinds = AlysKinds;

    fn message_type(&self) -> MessageType {
        MessageType::Bridge
    }
    fn name(&self) -> &'static str {
        "process_peg"
    }
}

/// A heartbeat from the governance stream, for the stream actor.
#[derive(Debug, Clone, Copy)]
struct Heartbeat;

impl ActorMessage for Heartbeat {
    type Kinds = AlysKinds;

    fn message_type(&self) -> MessageType {
        MessageType::Governance
    }
    fn name(&self) -> &'static str {
        "heartbeat"
    }
}

/// Where the world sends sync batches, speaking for the network actor.
pub(crate) type SyncMailbox = MailboxSender<SyncBatch>;

/// The actors' mailboxes, each carrying its actor.
struct Mailboxes {
    engine: Mailbox<Block>,
    storage: Mailbox<Block>,
    network: Mailbox<Block>,
    sync: Mailbox<SyncBatch>,
    bridge: Mailbox<PegOperation>,
    stream: Mailbox<Heartbeat>,
}

/// Starts the actors; returns the sync actor's mailbox and the supervised children.
pub(crate) fn spawn(
    tasks: &mut JoinSet<()>,
    shared: &Arc<Shared>,
    system: &ActorSystem<AlysKinds>,
    governance: StreamHandle,
) -> (SyncMailbox, Vec<ChildHandle>) {
    let supervisor = Supervisor::new(system, ActorType::Supervisor, RestartPolicy::default());
    let (to, inboxes) = mailboxes(system);
    let chain = system.actor("chain", ActorType::Chain);
    let mut children = vec![
        relay(
            &supervisor,
            inboxes.engine,
            Some(to.storage.from(to.engine.actor())),
            5..40,
        ),
        relay(
            &supervisor,
            inboxes.storage,
            Some(to.network.from(to.storage.actor())),
            3..25,
        ),
        relay(&supervisor, inboxes.network, None, 2..15),
        supervised(
            &supervisor,
            inboxes.sync,
            |batch: SyncBatch, mut rng| async move {
                tokio::time::sleep(Duration::from_millis(rng.u64(5..40))).await;
                tracing::debug!(size = batch.size, "batch imported");
                Ok::<_, String>(())
            },
        ),
        supervised(&supervisor, inboxes.stream, |_: Heartbeat, _| async {
            Ok::<_, String>(())
        }),
        supervised(&supervisor, inboxes.bridge, bridge_work(shared, governance)),
    ];
    let chain_shared = shared.clone();
    let to_engine = to.engine.from(&chain);
    children.push(supervisor.supervise(&chain, move |stop| {
        chain_actor(to_engine.clone(), chain_shared.clone(), stop)
    }));
    let interval = shared.options.block_interval;
    every(tasks, interval * 2, to.bridge.from(&chain), || PegOperation);
    every(tasks, interval, to.stream.from(to.network.actor()), || {
        Heartbeat
    });
    tasks.spawn(validate_foreign_blocks(shared.clone()));
    tasks.spawn(report_dependencies(system.clone()));
    (to.sync.from(to.network.actor()), children)
}

/// The receiving sides, each owned by its actor.
struct Inboxes {
    engine: MailboxReceiver<Block>,
    storage: MailboxReceiver<Block>,
    network: MailboxReceiver<Block>,
    sync: MailboxReceiver<SyncBatch>,
    bridge: MailboxReceiver<PegOperation>,
    stream: MailboxReceiver<Heartbeat>,
}

fn mailboxes(system: &ActorSystem<AlysKinds>) -> (Mailboxes, Inboxes) {
    let (engine, engine_in) = system.mailbox("engine", ActorType::Engine, 64, TraceMode::Child);
    let (storage, storage_in) = system.mailbox("storage", ActorType::Storage, 64, TraceMode::Child);
    let (network, network_in) = system.mailbox("network", ActorType::Network, 64, TraceMode::Child);
    // Sync is a long-lived flow: each batch is its own trace, linked to whoever sent it.
    let (sync, sync_in) = system.mailbox("sync", ActorType::Sync, 64, TraceMode::Link);
    let (bridge, bridge_in) = system.mailbox("bridge", ActorType::Bridge, 16, TraceMode::Child);
    // The governance stream is long-lived: each heartbeat its own trace.
    let (stream, stream_in) = system.mailbox("stream", ActorType::Stream, 16, TraceMode::Link);
    (
        Mailboxes {
            engine,
            storage,
            network,
            sync,
            bridge,
            stream,
        },
        Inboxes {
            engine: engine_in,
            storage: storage_in,
            network: network_in,
            sync: sync_in,
            bridge: bridge_in,
            stream: stream_in,
        },
    )
}

/// The bridge's handling of a peg: now and then it loses its connection to the federation
/// and fails (the supervisor restarts it); otherwise a peg-out asks the federation to sign.
fn bridge_work(
    shared: &Arc<Shared>,
    governance: StreamHandle,
) -> impl Fn(PegOperation, Rng) -> BoxedWork + Clone + Send + Sync + 'static {
    let shared = shared.clone();
    let handled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    move |_peg: PegOperation, mut rng: Rng| {
        let crashing = shared.fault_active(Fault::ActorCrash);
        // The third peg-out fails once, so a restart shows early; after that, rarely
        // enough that a healthy demo raises no restart-loop alert.
        let n = handled.fetch_add(1, Ordering::Relaxed) + 1;
        let fails = crashing || n == 3 || rng.f64() < 0.01;
        let governance = governance.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(rng.u64(10..60))).await;
            if fails {
                return Err("lost the federation connection".to_string());
            }
            // A peg-out needs the federation's signature, over the governance stream: the
            // request continues this handling span's trace.
            let payload = rng.u64(..).to_be_bytes().to_vec();
            if let Err(e) = governance.request_signature(payload).await {
                tracing::warn!("peg-out not signed: {e}");
            }
            Ok(())
        })
    }
}

/// The bridge's work, boxed so that its type can be named.
type BoxedWork = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Sends `message()` from `sender` every `period`, refused (and counted) when the mailbox is
/// full.
fn every<M: ActorMessage>(
    tasks: &mut JoinSet<()>,
    period: Duration,
    sender: MailboxSender<M>,
    message: fn() -> M,
) {
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            let _ = sender.try_send(message());
        }
    });
}

/// The actors this one depends on are reported healthy every second.
async fn report_dependencies(system: ActorSystem<AlysKinds>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        for (actor, dependency) in [
            (ActorType::Chain, ActorType::Engine),
            (ActorType::Engine, ActorType::Storage),
            (ActorType::Storage, ActorType::Network),
        ] {
            system.set_dependency_health(actor, dependency, true);
        }
    }
}

/// Supervises an actor that handles each message of `inbox` with `work`; an `Err` from
/// `work` fails the actor (after counting the message as failed), which is restarted.
fn supervised<M, F, Fut>(
    supervisor: &Supervisor<AlysKinds>,
    inbox: MailboxReceiver<M>,
    work: F,
) -> ChildHandle
where
    M: ActorMessage<Kinds = AlysKinds>,
    F: Fn(M, Rng) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let actor = inbox.actor();
    // The mailbox outlives each instance: a restarted actor picks up where the last stopped.
    let inbox = Arc::new(Mutex::new(inbox));
    supervisor.supervise(&actor, move |mut stop: StopSignal| {
        let inbox = inbox.clone();
        let work = work.clone();
        async move {
            let mut inbox = inbox.lock().await;
            loop {
                // A stop wins over queued messages: once it begins, nothing queued is
                // handled (the message in hand finishes; what it waits on is stopped first).
                let envelope = tokio::select! {
                    biased;
                    _ = stop.stopped() => return Ok(()),
                    e = inbox.recv() => e,
                };
                let Some(envelope) = envelope else {
                    return Ok(());
                };
                let rng = Rng::new();
                envelope
                    .handle(|m| work(m, rng))
                    .await
                    .map_err(|e| ActorFailure::new(RestartReason::Error, e))?;
            }
        }
    })
}

/// An actor that handles each block and passes it on to `next`.
fn relay(
    supervisor: &Supervisor<AlysKinds>,
    inbox: MailboxReceiver<Block>,
    next: Option<MailboxSender<Block>>,
    work_ms: std::ops::Range<u64>,
) -> ChildHandle {
    supervised(supervisor, inbox, move |block: Block, mut rng| {
        let next = next.clone();
        let work_ms = work_ms.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(rng.u64(work_ms))).await;
            tracing::debug!(
                height = block.height,
                transactions = block.transactions,
                "block handled"
            );
            if let Some(next) = next {
                let step = match block.step {
                    Step::Execute => Step::Store,
                    _ => Step::Broadcast,
                };
                // A full downstream mailbox waits here: back-pressure, counted.
                let _ = next.send(Block { step, ..block }).await;
            }
            Ok(())
        }
    })
}

async fn chain_actor(
    engine: MailboxSender<Block>,
    shared: Arc<Shared>,
    mut stop: StopSignal,
) -> Result<(), ActorFailure> {
    let mut rng = Rng::new();
    let mut ticker = tokio::time::interval(shared.options.block_interval);
    let validators = shared.options.validators.max(1);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.stopped() => return Ok(()),
        }
        let height = shared.chain_height.fetch_add(1, Ordering::Relaxed) + 1;
        let validator = format!("validator-{}", height as usize % validators + 1);
        // Each block is a trace, sampled before anything is built: an unsampled block costs
        // no span here or in the actors it passes through, and the decision goes with it.
        let trace = root_span!(
            "chain.produce_block",
            actor = ActorType::Chain.as_str(),
            block.height = height,
            validator = validator.as_str(),
        );
        let block = trace
            .clone()
            .instrument(produce_block(&shared, &mut rng, height, &validator))
            .await;
        if trace.instrument(engine.send(block)).await.is_err() {
            tracing::warn!("engine actor is gone");
        }
        shared.last_block_ms.store(
            shared.started.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }
}

/// Builds block `height`: takes transactions from the pool, executes and signs them.
async fn produce_block(shared: &Shared, rng: &mut Rng, height: u64, validator: &str) -> Block {
    let started = Instant::now();
    let waiting = shared.pending_transactions.load(Ordering::Relaxed);
    let transactions = waiting.min(rng.u64(50..500));
    shared
        .pending_transactions
        .fetch_sub(transactions, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(rng.u64(20..250))).await;
    let bytes = 512 + transactions * rng.u64(180..320);
    shared.metrics.chain.block_produced(
        validator,
        started.elapsed(),
        transactions,
        bytes,
        Instant::now(),
    );
    tracing::info!(height, validator, transactions, "block produced");
    Block {
        height,
        transactions,
        step: Step::Execute,
    }
}

/// Blocks from the other validators arrive from the network and are validated.
async fn validate_foreign_blocks(shared: Arc<Shared>) {
    let mut rng = Rng::new();
    let validators = shared.options.validators.max(1) as u64;
    let mut ticker = tokio::time::interval(shared.options.block_interval);
    loop {
        ticker.tick().await;
        let validator = format!("validator-{}", rng.u64(1..=validators));
        let trace = root_span!(
            "chain.validate_block",
            actor = ActorType::Chain.as_str(),
            validator = validator.as_str(),
        );
        let started = Instant::now();
        trace
            .instrument(tokio::time::sleep(Duration::from_millis(rng.u64(5..120))))
            .await;
        let outcome = if rng.f64() < 0.03 {
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
