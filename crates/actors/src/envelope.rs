//! An envelope: a received message with the time it waited, the sender's trace context as a
//! value, and a way to run its handling in the right trace scope.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanBuilder, SpanContext};
use quanta::Instant;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::message::{ActorMessage, Plain, SenderContext, Stamped, TraceMode};
use super::system::{ActorEntry, Inner};
use crate::kinds::ActorKinds;
use alys_telemetry_catalog::actors::MessageOutcome;
use alys_telemetry_core::traces::TraceScope;

/// The target of the handling spans: the log output leaves them out (subscriber filter), as
/// they exist only for sampled messages.
pub const HANDLING_SPAN_TARGET: &str = "alys_telemetry::actors::handling";

/// What every envelope of one mailbox shares.
pub(crate) struct ReceiverShared<K: ActorKinds> {
    pub entry: Arc<ActorEntry<K>>,
    pub system: Arc<Inner<K>>,
    pub actor_type: K::Actor,
    pub mode: TraceMode,
}

/// A received message. Use [`handle`](Self::handle) to process it with its metrics and trace
/// scope, or [`into_message`](Self::into_message) to take it without either.
///
/// An envelope from [`MailboxReceiver::recv`](super::MailboxReceiver::recv) borrows the
/// receiver (`'r`); one from the receiver's `Stream` is `'static` and shares the receiver's
/// state instead, at the price of a reference count written twice a message.
pub struct Envelope<'r, M: ActorMessage> {
    message: M,
    /// Receipt time; `None` when the SDK is disabled (no clock is read for nothing).
    received: Option<Instant>,
    waited: Duration,
    from: ActorKindOf<M>,
    parent: SenderContext,
    receiver: ReceiverRef<'r, <M as ActorMessage>::Kinds>,
}

/// The actor kind of a message's system.
type ActorKindOf<M> = <<M as ActorMessage>::Kinds as ActorKinds>::Actor;

/// What an envelope counts its handling into: its receiver's state, borrowed or shared.
pub(crate) enum ReceiverRef<'r, K: ActorKinds> {
    Borrowed(&'r ReceiverShared<K>),
    Shared(Arc<ReceiverShared<K>>),
}

impl<K: ActorKinds> std::ops::Deref for ReceiverRef<'_, K> {
    type Target = ReceiverShared<K>;

    fn deref(&self) -> &ReceiverShared<K> {
        match self {
            ReceiverRef::Borrowed(shared) => shared,
            ReceiverRef::Shared(shared) => shared,
        }
    }
}

impl<'r, M: ActorMessage> Envelope<'r, M> {
    /// A message from a mailbox made while the SDK is disabled: nothing to measure or trace.
    pub(crate) fn plain(
        plain: Plain<M, ActorKindOf<M>>,
        receiver: ReceiverRef<'r, M::Kinds>,
    ) -> Self {
        Envelope {
            message: plain.message,
            received: None,
            waited: Duration::ZERO,
            from: plain.from,
            parent: SenderContext::default(),
            receiver,
        }
    }

    pub(crate) fn received(
        stamped: Stamped<M, ActorKindOf<M>>,
        receiver: ReceiverRef<'r, M::Kinds>,
    ) -> Self {
        let (received, waited) = match stamped.enqueued {
            Some(enqueued) => {
                let now = Instant::now();
                let waited = now.saturating_duration_since(enqueued);
                let m = &receiver.system.metrics;
                let secs = waited.as_secs_f64();
                let labels = (
                    stamped.from,
                    receiver.actor_type,
                    stamped.message.message_type(),
                );
                // A sampled sender's span is the wait's exemplar.
                let sender = match stamped.parent.is_sampled() {
                    true => stamped.parent.span_context(),
                    false => None,
                };
                let sender = sender.as_ref().unwrap_or(&SpanContext::NONE);
                m.inter_actor_latency.record_in(labels, secs, sender);
                (Some(now), waited)
            }
            None => (None, Duration::ZERO),
        };
        Envelope {
            message: stamped.message,
            received,
            waited,
            from: stamped.from,
            parent: stamped.parent,
            receiver,
        }
    }

    pub fn message(&self) -> &M {
        &self.message
    }

    /// From enqueue to receipt (zero when the SDK is disabled).
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The sending actor.
    pub fn from(&self) -> ActorKindOf<M> {
        self.from
    }

    /// The sender's trace context.
    pub fn sender_context(&self) -> &SenderContext {
        &self.parent
    }

    /// The message, without handling metrics or trace scope.
    pub fn into_message(self) -> M {
        self.message
    }

    /// Runs `handler` on the message in its trace scope (a handling span when the trace is
    /// sampled, the sender's context without a span when it is not), and records its
    /// processing time (from receipt: call it right after `recv`) and outcome.
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
            receiver,
            ..
        } = self;
        let Some(received) = received else {
            // The SDK is disabled: no scope to decide, nothing to record but the health
            // counts (`/health` works without the SDK).
            let result = handler(message).await;
            receiver.entry.count(result.is_ok());
            return result;
        };
        let message_type = message.message_type();
        let scope = handling_scope(&receiver, from, parent, message.name(), message_type);
        // The handling span, sampled, is the handling time's exemplar.
        let exemplar = scope.sampled_span_context().unwrap_or(SpanContext::NONE);
        let result = scope.instrument(handler(message)).await;
        receiver.entry.count(result.is_ok());
        let outcome = match result.is_ok() {
            true => MessageOutcome::Processed,
            false => MessageOutcome::Failed,
        };
        let m = &receiver.system.metrics;
        m.message_latency.record_in(
            receiver.actor_type,
            received.elapsed().as_secs_f64(),
            &exemplar,
        );
        m.messages
            .add((receiver.actor_type, message_type, outcome), 1);
        result
    }
}

/// The trace scope handling runs in. A span is made only when the message's trace is
/// sampled, and only then are its name and attributes built: on the SDK's tracer directly
/// when the pipeline installed one (`traces::set_tracer`), else through `tracing`.
fn handling_scope<K: ActorKinds>(
    shared: &ReceiverShared<K>,
    from: K::Actor,
    parent: SenderContext,
    name: &'static str,
    message_type: K::Message,
) -> TraceScope {
    let span = HandlingSpan {
        shared,
        from,
        name,
        message_type,
    };
    match shared.mode {
        TraceMode::Child => match parent.into_context() {
            Some(cx) => TraceScope::follow_direct(cx, || span.builder(), || span.tracing_span()),
            None => TraceScope::root_direct(|| span.builder(), || span.tracing_span()),
        },
        TraceMode::Link => {
            // A new trace, decided on its own; it links to the sender's span when that one
            // is recorded (a link to a span that is not exported leads nowhere).
            let link = parent.span_context().filter(SpanContext::is_sampled);
            let build = || match link.clone() {
                Some(link) => span.builder().with_links(vec![Link::with_context(link)]),
                None => span.builder(),
            };
            TraceScope::root_direct(build, || {
                let made: Span = span.tracing_span();
                if let Some(link) = link.clone() {
                    made.add_link(link);
                }
                made
            })
        }
    }
}

/// What a handling span is made of; built only for a sampled message.
struct HandlingSpan<'a, K: ActorKinds> {
    shared: &'a ReceiverShared<K>,
    from: K::Actor,
    name: &'static str,
    message_type: K::Message,
}

impl<K: ActorKinds> HandlingSpan<'_, K> {
    /// The span on the SDK: the attributes the `tracing` span below gets, by the same names.
    fn builder(&self) -> SpanBuilder {
        let system = &self.shared.system;
        let labels = &system.actor_labels;
        let to = labels.label(self.shared.actor_type);
        SpanBuilder::from_name(span_name(to, self.name)).with_attributes([
            KeyValue::new("actor", self.shared.entry.name.clone()),
            KeyValue::new("from_actor", labels.label(self.from)),
            KeyValue::new("to_actor", to),
            KeyValue::new(
                "message_type",
                system.message_labels.label(self.message_type),
            ),
            // tracing-opentelemetry records a span's target; so do we, as it would.
            KeyValue::new("target", HANDLING_SPAN_TARGET),
        ])
    }

    /// The span through `tracing`, when no tracer is installed.
    fn tracing_span(&self) -> Span {
        let system = &self.shared.system;
        let labels = &system.actor_labels;
        let to = labels.label(self.shared.actor_type);
        let message_type = system.message_labels.label(self.message_type);
        tracing::info_span!(
            target: HANDLING_SPAN_TARGET,
            parent: None,
            "actor.handle",
            otel.name = span_name(to, self.name),
            actor = &*self.shared.entry.name,
            from_actor = labels.label(self.from),
            to_actor = to,
            message_type,
        )
    }
}

/// `<actor type>.<message name>`, made once per pair (only sampled handling asks for it).
fn span_name(actor: &'static str, message: &'static str) -> &'static str {
    static NAMES: LazyLock<RwLock<HashMap<(&'static str, &'static str), &'static str>>> =
        LazyLock::new(Default::default);
    let key = (actor, message);
    if let Some(name) = NAMES.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return name;
    }
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    // Bounded: one string per actor type and message name, both closed sets of the program.
    names
        .entry(key)
        .or_insert_with(|| Box::leak(format!("{actor}.{message}").into_boxed_str()))
}
