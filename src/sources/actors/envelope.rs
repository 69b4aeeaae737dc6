//! An envelope: a received message with the time it waited, the sender's trace context as a
//! value, and a way to run its handling inside the right span.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::mailbox::{ReceiverShared, Stamped};
use super::{ActorMessage, TraceMode, root_spans_enabled};
use crate::sources::catalog::actors::MessageOutcome;
use crate::sources::catalog::labels::ActorType;

/// The sender's trace context, handed over as a value: inside one process, W3C text
/// (inject + extract, about 1 µs a hop) buys nothing. Mailboxes capture it on send; code that
/// passes work through other channels can do the same.
#[derive(Debug, Clone)]
pub enum SenderContext {
    /// Sent outside any span: the sampler decides whether handling starts a trace.
    None,
    /// Sent inside a sampled span: handling continues (or links to) it. The context itself
    /// travels, boxed so that an unsampled message stays small.
    Sampled(Box<Context>),
    /// Sent inside a span the sampler dropped: handling makes no span at all.
    Unsampled,
}

impl SenderContext {
    /// The current OpenTelemetry context (tracing-opentelemetry activates it on span entry).
    pub fn capture() -> SenderContext {
        Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            if !sc.is_valid() {
                SenderContext::None
            } else if sc.is_sampled() {
                SenderContext::Sampled(Box::new(cx.clone()))
            } else {
                SenderContext::Unsampled
            }
        })
    }

    /// The context to parent the receiver's span on, for a sampled sender.
    pub fn parent_context(&self) -> Option<&Context> {
        match self {
            SenderContext::Sampled(cx) => Some(&**cx),
            _ => None,
        }
    }

    /// The sender's span, for a sampled sender (to link to).
    pub fn span_context(&self) -> Option<SpanContext> {
        self.parent_context()
            .map(|cx| cx.span().span_context().clone())
    }
}

/// A received message. Use [`handle`](Self::handle) to process it with its metrics and span,
/// or [`into_message`](Self::into_message) to take it without either.
pub struct Envelope<M> {
    message: M,
    received: Instant,
    waited: Duration,
    from: ActorType,
    parent: SenderContext,
    shared: Arc<ReceiverShared>,
}

impl<M: ActorMessage> Envelope<M> {
    pub(crate) fn received(stamped: Stamped<M>, shared: Arc<ReceiverShared>) -> Self {
        let received = Instant::now();
        let waited = received.saturating_duration_since(stamped.enqueued);
        let m = &shared.system.metrics;
        let secs = waited.as_secs_f64();
        m.mailbox_wait.record(shared.actor_type, secs);
        m.inter_actor_latency.record(
            (
                stamped.from,
                shared.actor_type,
                stamped.message.message_type(),
            ),
            secs,
        );
        Envelope {
            message: stamped.message,
            received,
            waited,
            from: stamped.from,
            parent: stamped.parent,
            shared,
        }
    }

    pub fn message(&self) -> &M {
        &self.message
    }

    /// From enqueue to receipt.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The sending actor.
    pub fn from(&self) -> ActorType {
        self.from
    }

    /// The message, without handling metrics or span.
    pub fn into_message(self) -> M {
        self.message
    }

    /// Runs `handler` on the message inside the handling span (if the message is traced),
    /// and records its processing time (from receipt: call it right after `recv`) and outcome.
    pub async fn handle<F, Fut, T, E>(self, handler: F) -> Result<T, E>
    where
        F: FnOnce(M) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Envelope {
            message,
            received,
            from,
            parent,
            shared,
            ..
        } = self;
        let message_type = message.message_type();
        let span = handling_span(
            &shared,
            from,
            &parent,
            message.name(),
            message_type.as_str(),
        );
        let result = match span {
            Some(span) => handler(message).instrument(span).await,
            None => handler(message).await,
        };
        let outcome = if result.is_ok() {
            shared.entry.processed.fetch_add(1, Ordering::Relaxed);
            MessageOutcome::Processed
        } else {
            shared.entry.failed.fetch_add(1, Ordering::Relaxed);
            MessageOutcome::Failed
        };
        let m = &shared.system.metrics;
        m.message_latency
            .record(shared.actor_type, received.elapsed().as_secs_f64());
        m.messages
            .add((shared.actor_type, message_type, outcome), 1);
        result
    }
}

/// The span handling runs in, or `None` when the message must not pay for one.
fn handling_span(
    shared: &ReceiverShared,
    from: ActorType,
    parent: &SenderContext,
    name: &'static str,
    message_type: &'static str,
) -> Option<Span> {
    let to = shared.actor_type.as_str();
    let make = || {
        tracing::info_span!(
            parent: None,
            "actor.handle",
            otel.name = format!("{to}.{name}"),
            actor = shared.entry.name.as_str(),
            from_actor = from.as_str(),
            to_actor = to,
            message_type,
        )
    };
    match parent {
        SenderContext::Unsampled => None,
        SenderContext::None if !root_spans_enabled() => None,
        SenderContext::None => Some(make()),
        SenderContext::Sampled(cx) => {
            let span = make();
            match shared.mode {
                TraceMode::Child => {
                    let _ = span.set_parent((**cx).clone());
                }
                TraceMode::Link => span.add_link(cx.span().span_context().clone()),
            }
            Some(span)
        }
    }
}
