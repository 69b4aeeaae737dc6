//! The metered mailbox: a bounded tokio mpsc channel whose sender stamps each message with
//! its enqueue time and the sender's trace context, and whose receiver hands out
//! [`Envelope`]s that know how long they waited and run their handling in the right span.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::envelope::{Envelope, SenderContext};
use super::system::{ActorEntry, ActorSystem, Inner};
use super::{ActorMessage, TraceMode};
use crate::sources::catalog::actors::BackpressureOutcome;
use crate::sources::catalog::labels::ActorType;

/// A message on its way, with what the receiver needs to measure and trace it.
pub(crate) struct Stamped<M> {
    pub message: M,
    pub enqueued: Instant,
    pub parent: SenderContext,
    pub from: ActorType,
}

/// Why a send did not deliver; the message comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<M> {
    /// The mailbox is full (`try_send` only).
    Full(M),
    /// The receiving actor is gone.
    Closed(M),
}

impl<M> std::fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("mailbox full"),
            SendError::Closed(_) => f.write_str("mailbox closed"),
        }
    }
}

impl<M: std::fmt::Debug> std::error::Error for SendError<M> {}

/// The sending side. Clone it per sending actor with [`from`](Self::from), so the receiver
/// knows who spoke.
pub struct MailboxSender<M> {
    tx: mpsc::Sender<Stamped<M>>,
    from: ActorType,
    to: ActorType,
    system: Arc<Inner>,
}

impl<M> Clone for MailboxSender<M> {
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
    /// A sender that speaks for `actor`.
    pub fn from(&self, actor: ActorType) -> Self {
        MailboxSender {
            from: actor,
            ..self.clone()
        }
    }

    fn stamp(&self, message: M) -> Stamped<M> {
        Stamped {
            message,
            enqueued: Instant::now(),
            parent: SenderContext::capture(),
            from: self.from,
        }
    }

    /// Sends, waiting for room if the mailbox is full (counted as back-pressure).
    pub async fn send(&self, message: M) -> Result<(), SendError<M>> {
        // Trying first costs nothing when there is room, and tells us when there is not.
        match self.tx.try_send(self.stamp(message)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(s)) => Err(SendError::Closed(s.message)),
            Err(mpsc::error::TrySendError::Full(stamped)) => {
                self.system
                    .metrics
                    .backpressure
                    .add((self.to, BackpressureOutcome::Blocked), 1);
                self.tx
                    .send(stamped)
                    .await
                    .map_err(|e| SendError::Closed(e.0.message))
            }
        }
    }

    /// Sends if there is room; a full mailbox refuses (counted as back-pressure).
    pub fn try_send(&self, message: M) -> Result<(), SendError<M>> {
        self.tx.try_send(self.stamp(message)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(s) => {
                self.system
                    .metrics
                    .backpressure
                    .add((self.to, BackpressureOutcome::Refused), 1);
                SendError::Full(s.message)
            }
            mpsc::error::TrySendError::Closed(s) => SendError::Closed(s.message),
        })
    }
}

/// What every envelope of one mailbox shares.
pub(crate) struct ReceiverShared {
    pub entry: Arc<ActorEntry>,
    pub system: Arc<Inner>,
    pub actor_type: ActorType,
    pub mode: TraceMode,
}

/// The receiving side, owned by the actor.
pub struct MailboxReceiver<M> {
    rx: mpsc::Receiver<Stamped<M>>,
    shared: Arc<ReceiverShared>,
}

impl<M: ActorMessage> MailboxReceiver<M> {
    /// The next message, with its wait recorded; `None` when every sender is gone.
    pub async fn recv(&mut self) -> Option<Envelope<M>> {
        let stamped = self.rx.recv().await?;
        Some(Envelope::received(stamped, Arc::clone(&self.shared)))
    }

    /// Messages waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The actor's registered name.
    pub fn name(&self) -> &str {
        &self.shared.entry.name
    }
}

impl ActorSystem {
    /// A metered mailbox for the actor `name` of kind `actor_type`, holding at most
    /// `capacity` messages (at least 1), with handling spans in `mode`.
    pub fn mailbox<M: ActorMessage>(
        &self,
        name: &str,
        actor_type: ActorType,
        capacity: usize,
        mode: TraceMode,
    ) -> (MailboxSender<M>, MailboxReceiver<M>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let weak = tx.downgrade();
        let depth = Box::new(move || {
            weak.upgrade()
                .map(|s| s.max_capacity() - s.capacity())
                .unwrap_or(0)
        });
        let entry = self.register(name, actor_type, depth);
        let sender = MailboxSender {
            tx,
            from: ActorType::System,
            to: actor_type,
            system: self.inner.clone(),
        };
        let receiver = MailboxReceiver {
            rx,
            shared: Arc::new(ReceiverShared {
                entry,
                system: self.inner.clone(),
                actor_type,
                mode,
            }),
        };
        (sender, receiver)
    }
}
