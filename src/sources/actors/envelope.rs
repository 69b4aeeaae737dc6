//! An envelope: a received message with the time it waited, the sender's trace context as a
//! value, and a way to run its handling in the right trace scope.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use quanta::Instant;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::channel::{Plain, Stamped};
use super::mailbox::ReceiverShared;
use super::{ActorMessage, TraceMode};
use crate::sources::catalog::actors::MessageOutcome;
use crate::sources::catalog::labels::ActorType;
use crate::sources::traces::{Scope, TraceScope};

/// The target of the handling spans: the log output leaves them out (subscriber filter), as
/// they exist only for sampled messages.
pub const HANDLING_SPAN_TARGET: &str = "alys_telemetry::actors::handling";

/// The sender's trace context, handed over as a value: inside one process, W3C text
/// (inject + extract, about 1 µs a hop) buys nothing. It is kept whether the sender's trace
/// is sampled or not, so that the decision travels with the message. Mailboxes capture it on
/// send; code that passes work through other channels can do the same.
///
/// Usually only the span context travels, as 26 plain bytes: the message shares nothing with
/// the sending thread (a shared `Context` would be an `Arc` whose count both threads write on
/// every hop), and the stamped message stays small (it crosses to the receiving core on every
/// hop). When the sender's context carries baggage or a trace state, the whole context
/// travels, so they do too.
#[derive(Debug, Clone, Default)]
pub struct SenderContext(Handover);

#[derive(Debug, Clone, Default)]
enum Handover {
    /// Sent outside any trace.
    #[default]
    None,
    /// The sender's span context (with an empty trace state), in bytes.
    Span(SpanBytes),
    /// The sender's whole context, when it carries baggage or a trace state.
    Context(Context),
}

/// A span context without trace state, packed: alignment 1, 26 bytes.
#[derive(Debug, Clone, Copy)]
struct SpanBytes {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: TraceFlags,
    remote: bool,
}

impl SpanBytes {
    fn of(sc: &SpanContext) -> SpanBytes {
        SpanBytes {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            flags: sc.trace_flags(),
            remote: sc.is_remote(),
        }
    }

    fn span_context(self) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            self.flags,
            self.remote,
            TraceState::NONE,
        )
    }
}

impl SenderContext {
    /// The current OpenTelemetry context, when it belongs to a trace (sampled or not);
    /// tracing-opentelemetry activates a span's context on entry, and an unsampled message's
    /// handling runs inside its sender's context.
    #[inline]
    pub fn capture() -> SenderContext {
        SenderContext(Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            if !sc.is_valid() {
                Handover::None
            } else if cx.baggage().is_empty() && *sc.trace_state() == TraceState::NONE {
                Handover::Span(SpanBytes::of(sc))
            } else {
                Handover::Context(cx.clone())
            }
        }))
    }

    /// The sender's context, sampled or not, to continue its trace in; `None` when it was
    /// sent outside any trace.
    pub fn context(&self) -> Option<Context> {
        self.clone().into_context()
    }

    /// As [`context`](Self::context), consuming the hand-over.
    pub fn into_context(self) -> Option<Context> {
        match self.0 {
            Handover::None => None,
            Handover::Span(sc) => Some(Context::new().with_remote_span_context(sc.span_context())),
            Handover::Context(cx) => Some(cx),
        }
    }

    /// Whether the sender's trace is sampled.
    pub fn is_sampled(&self) -> bool {
        match &self.0 {
            Handover::None => false,
            Handover::Span(sc) => sc.flags.is_sampled(),
            Handover::Context(cx) => cx.span().span_context().is_sampled(),
        }
    }

    /// The sender's span context (to link to), sampled or not.
    pub fn span_context(&self) -> Option<SpanContext> {
        match &self.0 {
            Handover::None => None,
            Handover::Span(sc) => Some(sc.span_context()),
            Handover::Context(cx) => Some(cx.span().span_context().clone()),
        }
    }
}

/// A received message. Use [`handle`](Self::handle) to process it with its metrics and trace
/// scope, or [`into_message`](Self::into_message) to take it without either.
///
/// An envelope from [`MailboxReceiver::recv`](super::MailboxReceiver::recv) borrows the
/// receiver (`'r`); one from the receiver's `Stream` is `'static` and shares the receiver's
/// state instead, at the price of a reference count written twice a message.
pub struct Envelope<'r, M> {
    message: M,
    /// Receipt time; `None` when the SDK is disabled (no clock is read for nothing).
    received: Option<Instant>,
    waited: Duration,
    from: ActorType,
    parent: SenderContext,
    receiver: ReceiverRef<'r>,
}

/// What an envelope counts its handling into: its receiver's state, borrowed or shared.
pub(crate) enum ReceiverRef<'r> {
    Borrowed(&'r ReceiverShared),
    Shared(Arc<ReceiverShared>),
}

impl std::ops::Deref for ReceiverRef<'_> {
    type Target = ReceiverShared;

    fn deref(&self) -> &ReceiverShared {
        match self {
            ReceiverRef::Borrowed(shared) => shared,
            ReceiverRef::Shared(shared) => shared,
        }
    }
}

impl<'r, M: ActorMessage> Envelope<'r, M> {
    /// A message from a mailbox made while the SDK is disabled: nothing to measure or trace.
    pub(crate) fn plain(plain: Plain<M>, receiver: ReceiverRef<'r>) -> Self {
        Envelope {
            message: plain.message,
            received: None,
            waited: Duration::ZERO,
            from: plain.from,
            parent: SenderContext::default(),
            receiver,
        }
    }

    pub(crate) fn received(stamped: Stamped<M>, receiver: ReceiverRef<'r>) -> Self {
        let (received, waited) = match stamped.enqueued {
            Some(enqueued) => {
                let now = Instant::now();
                let waited = now.saturating_duration_since(enqueued);
                let m = &receiver.system.metrics;
                let secs = waited.as_secs_f64();
                m.inter_actor_latency.record(
                    (
                        stamped.from,
                        receiver.actor_type,
                        stamped.message.message_type(),
                    ),
                    secs,
                );
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
    pub fn from(&self) -> ActorType {
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
        let scope = handling_scope(
            &receiver,
            from,
            parent,
            message.name(),
            message_type.as_str(),
        );
        let result = match scope.0 {
            Scope::Span(span) => handler(message).instrument(span).await,
            Scope::Context(cx) => handler(message).with_context(cx).await,
            Scope::Off => handler(message).await,
        };
        receiver.entry.count(result.is_ok());
        let outcome = match result.is_ok() {
            true => MessageOutcome::Processed,
            false => MessageOutcome::Failed,
        };
        let m = &receiver.system.metrics;
        m.message_latency
            .record(receiver.actor_type, received.elapsed().as_secs_f64());
        m.messages
            .add((receiver.actor_type, message_type, outcome), 1);
        result
    }
}

/// The trace scope handling runs in. A span is made only when the message's trace is
/// sampled, and only then are its name and fields built.
fn handling_scope(
    shared: &ReceiverShared,
    from: ActorType,
    parent: SenderContext,
    name: &'static str,
    message_type: &'static str,
) -> TraceScope {
    let to = shared.actor_type;
    let make = || {
        tracing::info_span!(
            target: HANDLING_SPAN_TARGET,
            parent: None,
            "actor.handle",
            otel.name = span_name(to, name),
            actor = shared.entry.name.as_str(),
            from_actor = from.as_str(),
            to_actor = to.as_str(),
            message_type,
        )
    };
    match shared.mode {
        TraceMode::Child => match parent.into_context() {
            Some(cx) => TraceScope::follow(cx, make),
            None => TraceScope::root(make),
        },
        TraceMode::Link => {
            // A new trace, decided on its own; it links to the sender's span when that one
            // is recorded (a link to a span that is not exported leads nowhere).
            let link = parent.span_context().filter(SpanContext::is_sampled);
            TraceScope::root(|| {
                let span: Span = make();
                if let Some(link) = link {
                    span.add_link(link);
                }
                span
            })
        }
    }
}

/// `<actor type>.<message name>`, made once per pair (only sampled handling asks for it).
fn span_name(actor: ActorType, message: &'static str) -> &'static str {
    static NAMES: LazyLock<RwLock<HashMap<(ActorType, &'static str), &'static str>>> =
        LazyLock::new(Default::default);
    let key = (actor, message);
    if let Some(name) = NAMES.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return name;
    }
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    // Bounded: one string per actor type and message name, both closed sets of the program.
    names
        .entry(key)
        .or_insert_with(|| Box::leak(format!("{}.{message}", actor.as_str()).into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_context(flags: TraceFlags, state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319cu128),
            SpanId::from(0xb7ad_6b71_6920_3331u64),
            flags,
            false,
            state,
        )
    }

    fn captured_in(cx: Context) -> SenderContext {
        let _attached = cx.attach();
        SenderContext::capture()
    }

    #[test]
    fn a_hand_over_is_small() {
        // It rides in every stamped message, which crosses to the receiving core.
        assert!(
            size_of::<SenderContext>() <= 32,
            "{}",
            size_of::<SenderContext>()
        );
    }

    #[test]
    fn the_span_context_travels_whole_sampled_or_not() {
        for flags in [TraceFlags::SAMPLED, TraceFlags::default()] {
            let sc = span_context(flags, TraceState::NONE);
            let handed = captured_in(Context::new().with_remote_span_context(sc.clone()));
            assert_eq!(handed.span_context(), Some(sc.clone()));
            assert_eq!(handed.is_sampled(), flags.is_sampled());
            let cx = handed.into_context().expect("a context");
            assert_eq!(cx.span().span_context(), &sc);
        }
        assert!(captured_in(Context::new()).into_context().is_none());
    }

    #[test]
    fn a_trace_state_travels_with_the_whole_context() {
        let state = TraceState::from_key_value([("alys", "gov")]).expect("a trace state");
        let sc = span_context(TraceFlags::SAMPLED, state);
        let handed = captured_in(Context::new().with_remote_span_context(sc.clone()));
        let cx = handed.into_context().expect("a context");
        assert_eq!(cx.span().span_context().trace_state(), sc.trace_state());
    }
}
