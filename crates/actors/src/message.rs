//! What travels through a mailbox: the message trait and its trace mode, the stamped and
//! plain forms a message takes in the channel, the sender's context that rides with it, and
//! the error that gives it back. A leaf of the hot path: the channel, the envelope and the
//! mailbox build on it, and it imports none of them.

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use quanta::Instant;

use crate::kinds::ActorKinds;

/// A message an actor receives.
pub trait ActorMessage: Send + 'static {
    /// The kinds of the actor system it travels in (see [`ActorKinds`]).
    type Kinds: ActorKinds;
    /// Its kind, the `message_type` label.
    fn message_type(&self) -> <Self::Kinds as ActorKinds>::Message;
    /// Its name in span names (`<actor_type>.<name>`), such as `import_block`.
    fn name(&self) -> &'static str;
}

/// How a message's handling joins the sender's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// The handling span is a child of the sender's: one trace across a pipeline of actors.
    #[default]
    Child,
    /// The handling span starts a new trace linked to the sender's: for long-lived flows that
    /// would otherwise make endless traces.
    Link,
}

/// A message on its way, with what the receiver needs to measure and trace it.
pub(crate) struct Stamped<M, A> {
    pub message: M,
    /// `None` when the SDK is disabled: nothing would record the wait.
    pub enqueued: Option<Instant>,
    pub parent: SenderContext,
    pub from: A,
}

/// A message on its way through a mailbox made while the SDK is disabled: only what health
/// needs. The stamp's clock and context would be some 56 bytes a message that nothing reads,
/// and every message crosses to the receiving core: with them a message fills a cache line
/// of its own, without them several share one (docs/performance.md measures the difference).
pub(crate) struct Plain<M, A> {
    pub message: M,
    pub from: A,
}

/// Why a send did not deliver; the message comes back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError<M> {
    /// The mailbox is full (`try_send` only).
    #[error("mailbox full")]
    Full(M),
    /// The receiving actor is gone.
    #[error("mailbox closed")]
    Closed(M),
}

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
