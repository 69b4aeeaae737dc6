//! The paced workload: a source sends to actor 1, which forwards to 2, 3 and 4, each doing
//! about 2 µs of hashing per message, on a two-worker runtime as a node has. Three ways to
//! pass the messages: bare tokio channels, a metered channel recording with the `metrics`
//! crate, and the library's metered mailboxes.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alys_telemetry::sources::actors::{ActorMessage, ActorSystem, MailboxSender, TraceMode};
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use tokio::sync::{mpsc, watch};

/// The kinds the actor system here is labelled by: the node's.
pub type Kinds = (ActorType, MessageType);

/// Actors in the pipeline.
pub const HOPS: u64 = 4;
/// Mailbox capacity.
const CAPACITY: usize = 1024;

/// The work a message costs an actor: `iterations` rounds of a multiply-xorshift hash.
pub fn work(seed: u64, iterations: u64) -> u64 {
    let mut h = seed | 1;
    for _ in 0..iterations {
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
    black_box(h)
}

/// Iterations of [`work`] that take about `target`, measured here.
pub fn calibrate(target: Duration) -> u64 {
    let probe = 2_000_000;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        work(7, probe);
        best = best.min(started.elapsed());
    }
    (probe as f64 * target.as_secs_f64() / best.as_secs_f64()).max(1.0) as u64
}

pub struct Message(u64);

impl ActorMessage for Message {
    type Kinds = Kinds;

    fn message_type(&self) -> MessageType {
        MessageType::Network
    }
    fn name(&self) -> &'static str {
        "relay"
    }
}

/// Where the source puts a message.
pub trait Inlet: Send + 'static {
    /// Sends message `n`; false when the pipeline is gone.
    fn put(&self, n: u64) -> impl std::future::Future<Output = bool> + Send;
}

impl Inlet for mpsc::Sender<Message> {
    async fn put(&self, n: u64) -> bool {
        self.send(Message(n)).await.is_ok()
    }
}

impl Inlet for MailboxSender<Message> {
    async fn put(&self, n: u64) -> bool {
        self.send(Message(n)).await.is_ok()
    }
}

/// How a source sends: `per_second` messages a second, counted in `sent`, while `gate` is
/// open.
#[derive(Clone)]
pub struct Pace {
    pub per_second: u64,
    pub sent: Arc<AtomicU64>,
    pub gate: Gate,
}

/// When a source sends: always, or while a switch is on (the paired variant runs two
/// pipelines in one process and switches between them).
#[derive(Clone)]
pub enum Gate {
    Open,
    Switch(watch::Receiver<bool>),
}

impl Gate {
    /// Waits until the gate is open; false when its switch is gone.
    async fn opened(&mut self) -> bool {
        match self {
            Gate::Open => true,
            Gate::Switch(on) => on.wait_for(|on| *on).await.is_ok(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Gate::Open => true,
            Gate::Switch(on) => *on.borrow(),
        }
    }
}

/// Sends `pace.per_second` messages a second into `inlet` while the gate is open, in bursts
/// each millisecond as a tokio interval allows, counting what it sent.
pub async fn source(mut pace: Pace, inlet: impl Inlet) {
    let mut total = 0u64;
    while pace.gate.opened().await {
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let mut n = 0u64;
        while pace.gate.is_open() {
            ticker.tick().await;
            let due = (started.elapsed().as_secs_f64() * pace.per_second as f64) as u64;
            while n < due {
                if !inlet.put(total).await {
                    return;
                }
                n += 1;
                total += 1;
                pace.sent.store(total, Ordering::Relaxed);
            }
        }
    }
}

/// Bare tokio channels, no telemetry.
pub fn bare(iterations: u64, pace: Pace) {
    let (first, mut rx) = mpsc::channel::<Message>(CAPACITY);
    for hop in 0..HOPS {
        let (tx, next_rx) = mpsc::channel::<Message>(CAPACITY);
        let last = hop == HOPS - 1;
        tokio::spawn(async move {
            while let Some(Message(n)) = rx.recv().await {
                let h = work(n, iterations);
                if !last && tx.send(Message(h)).await.is_err() {
                    return;
                }
            }
        });
        rx = next_rx;
    }
    drop(rx);
    tokio::spawn(source(pace, first));
}

/// A metered channel in the style of reth's, recording with the `metrics` crate through
/// handles kept per channel: messages sent and received, the wait in the channel and the
/// handling time as histograms, messages handled: what the library's mailbox records, by the
/// means a user would pick instead.
pub mod metered {
    use super::*;
    use metrics::{Counter, Histogram, counter, histogram};

    pub struct Stamped(Message, Instant);

    /// The first channel's sender with its meters.
    struct First(mpsc::Sender<Stamped>, Meters);

    impl Inlet for First {
        async fn put(&self, n: u64) -> bool {
            self.1.sent.increment(1);
            self.0
                .send(Stamped(Message(n), Instant::now()))
                .await
                .is_ok()
        }
    }

    #[derive(Clone)]
    struct Meters {
        sent: Counter,
        received: Counter,
        handled: Counter,
        wait: Histogram,
        handling: Histogram,
    }

    impl Meters {
        fn new(channel: &'static str) -> Meters {
            Meters {
                sent: counter!("channel_messages_sent_total", "channel" => channel),
                received: counter!("channel_messages_received_total", "channel" => channel),
                handled: counter!("actor_messages_handled_total", "channel" => channel),
                wait: histogram!("channel_wait_seconds", "channel" => channel),
                handling: histogram!("actor_handling_seconds", "channel" => channel),
            }
        }
    }

    const CHANNELS: [&str; 4] = ["one", "two", "three", "four"];

    pub fn run(iterations: u64, pace: Pace) {
        let (first, mut rx) = mpsc::channel::<Stamped>(CAPACITY);
        let mut meters = Meters::new(CHANNELS[0]);
        let first_meters = meters.clone();
        for hop in 0..HOPS as usize {
            let (tx, next_rx) = mpsc::channel::<Stamped>(CAPACITY);
            let next_meters = Meters::new(CHANNELS[(hop + 1) % CHANNELS.len()]);
            let last = hop == HOPS as usize - 1;
            let (mine, theirs) = (meters, next_meters.clone());
            tokio::spawn(async move {
                while let Some(Stamped(Message(n), enqueued)) = rx.recv().await {
                    let received = Instant::now();
                    mine.received.increment(1);
                    mine.wait.record(received.duration_since(enqueued));
                    let h = work(n, iterations);
                    mine.handling.record(received.elapsed());
                    mine.handled.increment(1);
                    if !last {
                        theirs.sent.increment(1);
                        if tx.send(Stamped(Message(h), Instant::now())).await.is_err() {
                            return;
                        }
                    }
                }
            });
            rx = next_rx;
            meters = next_meters;
        }
        drop(rx);
        tokio::spawn(source(pace, First(first, first_meters)));
    }
}

/// The library's metered mailboxes: each actor handles inside `Envelope::handle` (its trace
/// scope, wait and handling histograms, counters, health counts) and forwards from there.
pub fn mailboxes(system: &ActorSystem<Kinds>, iterations: u64, pace: Pace) {
    let kinds = [
        ActorType::Chain,
        ActorType::Engine,
        ActorType::Storage,
        ActorType::Network,
    ];
    let names = ["one", "two", "three", "four"];
    let boxes: Vec<_> = kinds
        .iter()
        .zip(names)
        .map(|(kind, name)| system.mailbox::<Message>(name, *kind, CAPACITY, TraceMode::Child))
        .collect();
    let mut receivers = Vec::new();
    let mut mailboxes = Vec::new();
    for (mailbox, receiver) in boxes {
        mailboxes.push(mailbox);
        receivers.push(receiver);
    }
    for (hop, mut inbox) in receivers.into_iter().enumerate() {
        let next: Option<MailboxSender<Message>> = mailboxes
            .get(hop + 1)
            .map(|next| next.from(mailboxes[hop].actor()));
        tokio::spawn(async move {
            let next = next.as_ref();
            while let Some(envelope) = inbox.recv().await {
                let _ = envelope
                    .handle(|Message(n)| async move {
                        let h = work(n, iterations);
                        match next {
                            Some(next) => next.send(Message(h)).await.map_err(|_| ()),
                            None => Ok(()),
                        }
                    })
                    .await;
            }
        });
    }
    let source_actor = system.actor("source", ActorType::System);
    tokio::spawn(source(pace, mailboxes[0].from(&source_actor)));
}
