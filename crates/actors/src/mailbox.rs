//! The metered mailbox: a bounded tokio mpsc channel whose sender stamps each message with
//! its enqueue time and the sender's trace context, and whose receiver hands out
//! [`Envelope`]s that know how long they waited and run their handling in the right span.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quanta::Instant;
use tokio_stream::Stream;

use super::channel::{Rx, Tx, channel, send_on, try_send_on};
use super::envelope::{Envelope, ReceiverRef, ReceiverShared};
use super::message::{ActorMessage, Plain, SendError, SenderContext, Stamped, TraceMode};
use super::system::{ActorEntry, ActorSystem, Inner};
use crate::kinds::ActorKinds;
use alys_telemetry_catalog::actors::{BackpressureOutcome, LifecycleState};

/// The system kinds of a message's mailbox.
type KindsOf<M> = <M as ActorMessage>::Kinds;
/// The actor kind of a message's system.
type ActorKindOf<M> = <KindsOf<M> as ActorKinds>::Actor;
use alys_telemetry_core::traces;

/// An actor of an [`ActorSystem`]: its name and kind. Only the system makes one
/// ([`ActorSystem::actor`], or [`ActorSystem::mailbox`] with [`Mailbox::actor`]), so a handle
/// always names a registered actor and no typo can make a phantom one that health counts.
/// Cloning shares it.
pub struct Actor<K: ActorKinds> {
    pub(crate) entry: Arc<ActorEntry<K>>,
}

impl<K: ActorKinds> Clone for Actor<K> {
    fn clone(&self) -> Self {
        Actor {
            entry: Arc::clone(&self.entry),
        }
    }
}

impl<K: ActorKinds> Actor<K> {
    /// Its name, the `actor` attribute of its handling spans.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Its kind, the `actor_type` label.
    pub fn kind(&self) -> K::Actor {
        self.entry.actor_type
    }

    /// Where it is in its life.
    pub fn state(&self) -> LifecycleState {
        self.entry.state()
    }
}

impl<K: ActorKinds> std::fmt::Debug for Actor<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("name", &self.name())
            .field("kind", &self.kind())
            .finish()
    }
}

/// An actor's mailbox, as the actor's neighbours hold it: it knows whose it is, and gives a
/// sender to whoever says who is speaking. Cloning shares it.
pub struct Mailbox<M: ActorMessage> {
    tx: Tx<M, ActorKindOf<M>>,
    actor: Actor<KindsOf<M>>,
    system: Arc<Inner<KindsOf<M>>>,
}

impl<M: ActorMessage> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Mailbox {
            tx: self.tx.clone(),
            actor: self.actor.clone(),
            system: self.system.clone(),
        }
    }
}

impl<M: ActorMessage> Mailbox<M> {
    /// The actor this mailbox belongs to.
    pub fn actor(&self) -> &Actor<KindsOf<M>> {
        &self.actor
    }

    /// A sender that speaks for `from`: the receiver records and traces each of its messages
    /// as sent by that actor. There is no sender without one.
    pub fn from(&self, from: &Actor<KindsOf<M>>) -> MailboxSender<M> {
        MailboxSender {
            tx: self.tx.clone(),
            from: from.kind(),
            to: self.actor.kind(),
            system: self.system.clone(),
        }
    }
}

/// The sending side, speaking for one actor (made by [`Mailbox::from`]). Cloning shares it.
pub struct MailboxSender<M: ActorMessage> {
    tx: Tx<M, ActorKindOf<M>>,
    from: ActorKindOf<M>,
    to: ActorKindOf<M>,
    system: Arc<Inner<KindsOf<M>>>,
}

impl<M: ActorMessage> Clone for MailboxSender<M> {
    fn clone(&self) -> Self {
        MailboxSender {
            tx: self.tx.clone(),
            from: self.from,
            to: self.to,
            system: self.system.clone(),
        }
    }
}

impl<M: ActorMessage> MailboxSender<M> {
    #[inline]
    fn stamp(&self, message: M) -> Stamped<M, ActorKindOf<M>> {
        let (enqueued, parent) = if traces::is_disabled() {
            (None, SenderContext::default())
        } else {
            (Some(Instant::now()), SenderContext::capture())
        };
        Stamped {
            message,
            enqueued,
            parent,
            from: self.from,
        }
    }

    #[inline]
    fn plain(&self, message: M) -> Plain<M, ActorKindOf<M>> {
        Plain {
            message,
            from: self.from,
        }
    }

    /// Sends, waiting for room if the mailbox is full (counted as back-pressure).
    pub async fn send(&self, message: M) -> Result<(), SendError<M>> {
        let blocked = || self.backpressure(BackpressureOutcome::Blocked);
        match &self.tx {
            Tx::Stamped(tx) => send_on(tx, self.stamp(message), |s| s.message, blocked).await,
            Tx::Plain(tx) => send_on(tx, self.plain(message), |p| p.message, blocked).await,
        }
    }

    /// Sends if there is room; a full mailbox refuses (counted as back-pressure).
    pub fn try_send(&self, message: M) -> Result<(), SendError<M>> {
        let refused = || self.backpressure(BackpressureOutcome::Refused);
        match &self.tx {
            Tx::Stamped(tx) => try_send_on(tx, self.stamp(message), |s| s.message, refused),
            Tx::Plain(tx) => try_send_on(tx, self.plain(message), |p| p.message, refused),
        }
    }

    fn backpressure(&self, outcome: BackpressureOutcome) {
        self.system.metrics.backpressure.add((self.to, outcome), 1);
    }
}

/// The receiving side, owned by the actor. It is also a [`Stream`] of envelopes.
pub struct MailboxReceiver<M: ActorMessage> {
    rx: Rx<M, ActorKindOf<M>>,
    shared: Arc<ReceiverShared<KindsOf<M>>>,
}

impl<M: ActorMessage> MailboxReceiver<M> {
    /// The next message, with its wait recorded; `None` when every sender is gone. The
    /// envelope borrows the receiver: handle it before receiving the next.
    pub async fn recv(&mut self) -> Option<Envelope<'_, M>> {
        let shared = ReceiverRef::Borrowed(&self.shared);
        match &mut self.rx {
            Rx::Plain(rx) => rx.recv().await.map(|plain| Envelope::plain(plain, shared)),
            Rx::Stamped(rx) => rx
                .recv()
                .await
                .map(|stamped| Envelope::received(stamped, shared)),
        }
    }

    /// Messages waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The actor that owns this mailbox (to supervise it, or to speak as it).
    pub fn actor(&self) -> Actor<KindsOf<M>> {
        Actor {
            entry: Arc::clone(&self.shared.entry),
        }
    }
}

impl<M: ActorMessage> Stream for MailboxReceiver<M> {
    type Item = Envelope<'static, M>;

    /// The next message, with its wait recorded, as [`recv`](MailboxReceiver::recv) gives it
    /// but owning its share of the receiver (a stream's items cannot borrow it).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let shared = || ReceiverRef::Shared(Arc::clone(&this.shared));
        match &mut this.rx {
            Rx::Plain(rx) => rx
                .poll_recv(cx)
                .map(|next| next.map(|plain| Envelope::plain(plain, shared()))),
            Rx::Stamped(rx) => rx
                .poll_recv(cx)
                .map(|next| next.map(|stamped| Envelope::received(stamped, shared()))),
        }
    }
}

impl<K: ActorKinds> ActorSystem<K> {
    /// Registers the actor `name` of kind `kind`, which has no mailbox (it only sends, or is
    /// only supervised). Health counts it from now.
    pub fn actor(&self, name: &str, kind: K::Actor) -> Actor<K> {
        Actor {
            entry: self.register(name, kind, Box::new(|| 0)),
        }
    }

    /// Registers the actor `name` of kind `kind` with a metered mailbox holding at most
    /// `capacity` messages (at least 1), whose handling spans join their senders' traces
    /// as `mode` says. Returns the mailbox, which carries the actor, and its receiving side.
    ///
    /// A mailbox made while the SDK is disabled (`OTEL_SDK_DISABLED`) carries its messages
    /// without clock or trace context for its whole life.
    pub fn mailbox<M: ActorMessage<Kinds = K>>(
        &self,
        name: &str,
        kind: K::Actor,
        capacity: usize,
        mode: TraceMode,
    ) -> (Mailbox<M>, MailboxReceiver<M>) {
        let (tx, rx, depth) = channel(capacity.max(1));
        let entry = self.register(name, kind, depth);
        let mailbox = Mailbox {
            tx,
            actor: Actor {
                entry: entry.clone(),
            },
            system: self.inner.clone(),
        };
        let receiver = MailboxReceiver {
            rx,
            shared: Arc::new(ReceiverShared {
                entry,
                system: self.inner.clone(),
                actor_type: kind,
                mode,
            }),
        };
        (mailbox, receiver)
    }
}
