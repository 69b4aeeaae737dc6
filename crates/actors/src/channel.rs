//! The channel under a mailbox: a bounded tokio mpsc channel of stamped messages (enqueue
//! time and the sender's trace context beside each), or of plain ones when the SDK is
//! disabled; and sending on either, with back-pressure told to the caller.

use tokio::sync::mpsc;

use super::message::{Plain, SendError, Stamped};
use alys_telemetry_core::traces;

/// The channel under a mailbox, chosen when the mailbox is made.
pub(crate) enum Tx<M, A> {
    Stamped(mpsc::Sender<Stamped<M, A>>),
    Plain(mpsc::Sender<Plain<M, A>>),
}

impl<M, A> Clone for Tx<M, A> {
    fn clone(&self) -> Self {
        match self {
            Tx::Stamped(tx) => Tx::Stamped(tx.clone()),
            Tx::Plain(tx) => Tx::Plain(tx.clone()),
        }
    }
}

pub(crate) enum Rx<M, A> {
    Stamped(mpsc::Receiver<Stamped<M, A>>),
    Plain(mpsc::Receiver<Plain<M, A>>),
}

impl<M, A> Rx<M, A> {
    /// Messages waiting now.
    pub fn len(&self) -> usize {
        match self {
            Rx::Stamped(rx) => rx.len(),
            Rx::Plain(rx) => rx.len(),
        }
    }
}

/// A bounded channel of stamped messages, or of plain ones when the SDK is disabled.
pub(crate) fn channel<M: Send + 'static, A: Send + 'static>(
    capacity: usize,
) -> (Tx<M, A>, Rx<M, A>, Depth) {
    if traces::is_disabled() {
        let (tx, rx) = mpsc::channel(capacity);
        let depth = depth_of(&tx);
        (Tx::Plain(tx), Rx::Plain(rx), depth)
    } else {
        let (tx, rx) = mpsc::channel(capacity);
        let depth = depth_of(&tx);
        (Tx::Stamped(tx), Rx::Stamped(rx), depth)
    }
}

pub(crate) type Depth = Box<dyn Fn() -> usize + Send + Sync>;

/// Messages waiting in the channel, read through a weak sender (which keeps nothing open).
fn depth_of<T: Send + 'static>(tx: &mpsc::Sender<T>) -> Depth {
    let weak = tx.downgrade();
    Box::new(move || {
        weak.upgrade()
            .map(|s| s.max_capacity() - s.capacity())
            .unwrap_or(0)
    })
}

/// Sends `item`, waiting for room if the channel is full (`blocked` is told).
pub(crate) async fn send_on<T: Send, M>(
    tx: &mpsc::Sender<T>,
    item: T,
    message: impl Fn(T) -> M,
    blocked: impl FnOnce(),
) -> Result<(), SendError<M>> {
    // Trying first costs nothing when there is room, and tells us when there is not.
    match tx.try_send(item) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(item)) => Err(SendError::Closed(message(item))),
        Err(mpsc::error::TrySendError::Full(item)) => {
            blocked();
            // The wait is boxed: it happens only when the mailbox is full, and unboxed it
            // would make the future of every send (built and moved into the sender's handling
            // future on every message) 464 bytes instead of 192.
            Box::pin(tx.send(item))
                .await
                .map_err(|e| SendError::Closed(message(e.0)))
        }
    }
}

/// Sends `item` if there is room (`refused` is told when there is not).
pub(crate) fn try_send_on<T, M>(
    tx: &mpsc::Sender<T>,
    item: T,
    message: impl Fn(T) -> M,
    refused: impl FnOnce(),
) -> Result<(), SendError<M>> {
    tx.try_send(item).map_err(|e| match e {
        mpsc::error::TrySendError::Full(item) => {
            refused();
            SendError::Full(message(item))
        }
        mpsc::error::TrySendError::Closed(item) => SendError::Closed(message(item)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_shares_its_cache_line() {
        // A word-sized message and its sender's kind (an enum of a byte): four to a
        // 64-byte line.
        assert!(
            size_of::<Plain<u64, u8>>() <= 16,
            "{}",
            size_of::<Plain<u64, u8>>()
        );
        // What the plain form spares: the stamp fills the line on its own.
        assert!(
            size_of::<Stamped<u64, u8>>() >= 56,
            "{}",
            size_of::<Stamped<u64, u8>>()
        );
    }
}
