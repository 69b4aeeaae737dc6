//! [`TraceScope`]: where code runs in a trace, made by [`root_span!`](crate::root_span) and
//! [`child_span!`](crate::child_span) with the decision taken first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use pin_project_lite::pin_project;
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::decision::{RootDecision, child_sampled, decide_root, start_root};

/// Where code runs in a trace: a span when its trace is sampled; when it is not, only a
/// context that carries the decision (so whatever the code sends or opens inherits it) and
/// costs no span; nothing at all when tracing is off. Cloning shares it.
#[derive(Debug, Clone)]
pub struct TraceScope(pub(crate) Scope);

#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Span(Span),
    /// A span built on the SDK directly ([`TraceScope::follow_direct`]), in its context.
    Direct(Context),
    Context(Context),
    Off,
}

/// Whether a span whose parent is `parent` is sampled; `None` when `parent` holds no span.
pub(crate) fn parent_sampled(parent: &Context) -> Option<bool> {
    let span = parent.span();
    let sc = span.span_context();
    sc.is_valid().then(|| child_sampled(sc))
}

impl TraceScope {
    /// A new trace, decided before its span exists: `make` (which must make a span with
    /// `parent: None`) runs only when the trace is sampled.
    pub fn root(make: impl FnOnce() -> Span) -> TraceScope {
        TraceScope(match decide_root() {
            RootDecision::Delegate => Scope::Span(make()),
            RootDecision::Off => Scope::Off,
            RootDecision::Sampled(trace_id) => {
                let span = make();
                start_root(&span, trace_id);
                Scope::Span(span)
            }
            RootDecision::Unsampled(cx) => Scope::Context(cx),
        })
    }

    /// Continues the trace of `parent` (a sender's context, handed over or extracted from
    /// W3C fields): a span made by `make` (with `parent: None`; it is parented here) when the
    /// trace is sampled, the parent's context and no span when it is not, a new trace decided
    /// first when `parent` has none.
    pub fn follow(parent: Context, make: impl FnOnce() -> Span) -> TraceScope {
        match parent_sampled(&parent) {
            Some(true) => {
                let span = make();
                let _ = span.set_parent(parent);
                TraceScope(Scope::Span(span))
            }
            Some(false) => TraceScope(Scope::Context(parent)),
            None => TraceScope::root(make),
        }
    }

    /// A span of the current trace when that trace is sampled (`make` runs only then); the
    /// current context when it is not; a new trace, decided first, when there is none.
    pub fn child(make: impl FnOnce() -> Span) -> TraceScope {
        let parent = Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid().then(|| child_sampled(sc))
        });
        match parent {
            Some(true) => TraceScope(Scope::Span(make())),
            Some(false) => TraceScope(Scope::Context(Context::current())),
            None => TraceScope::root(make),
        }
    }

    /// Whether a span records this scope (its trace is sampled).
    pub fn is_sampled(&self) -> bool {
        match &self.0 {
            Scope::Span(span) => span.context().span().span_context().is_sampled(),
            Scope::Direct(cx) => cx.span().span_context().is_sampled(),
            _ => false,
        }
    }

    /// The span context of the scope's span when its trace is sampled: an exemplar's ids
    /// for a measurement recorded after the scope has ended.
    pub fn sampled_span_context(&self) -> Option<SpanContext> {
        match &self.0 {
            Scope::Span(span) => {
                let cx = span.context();
                let sc = cx.span().span_context().clone();
                sc.is_sampled().then_some(sc)
            }
            Scope::Direct(cx) => {
                let span = cx.span();
                let sc = span.span_context();
                sc.is_sampled().then(|| sc.clone())
            }
            _ => None,
        }
    }

    /// The span, when the trace is sampled and the span was made through `tracing`: to
    /// record fields or add events (a span built on the SDK is reached through
    /// [`context`](Self::context)).
    pub fn span(&self) -> Option<&Span> {
        match &self.0 {
            Scope::Span(span) => Some(span),
            _ => None,
        }
    }

    /// The OpenTelemetry context of this scope, to hand over or inject (W3C `traceparent`
    /// with the sampled flag set or not); empty when tracing is off.
    pub fn context(&self) -> Context {
        match &self.0 {
            Scope::Span(span) => span.context(),
            Scope::Direct(cx) | Scope::Context(cx) => cx.clone(),
            Scope::Off => Context::new(),
        }
    }

    /// Runs `f` inside the scope.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Scope::Span(span) => span.in_scope(f),
            Scope::Direct(cx) | Scope::Context(cx) => {
                let _attached = cx.clone().attach();
                f()
            }
            Scope::Off => f(),
        }
    }

    /// `future`, polled inside the scope (clone the scope to use it again; it is cheap).
    pub fn instrument<F: Future>(self, future: F) -> Scoped<F> {
        // A future of our own rather than an `async fn`: the mailbox wraps every handler in
        // it, and an `async fn` would move the handler's future once more and poll it through
        // one more state machine on every message.
        Scoped {
            inner: match self.0 {
                Scope::Span(span) => ScopedInner::Span {
                    future: future.instrument(span),
                },
                Scope::Direct(cx) => ScopedInner::Direct { future, cx },
                Scope::Context(cx) => ScopedInner::Context {
                    future: future.with_context(cx),
                },
                Scope::Off => ScopedInner::Off { future },
            },
        }
    }
}

pin_project! {
    /// A future polled inside a [`TraceScope`] (made by [`TraceScope::instrument`]).
    pub struct Scoped<F> {
        #[pin]
        inner: ScopedInner<F>,
    }
}

pin_project! {
    #[project = ScopedProjection]
    enum ScopedInner<F> {
        Span { #[pin] future: Instrumented<F> },
        Direct { #[pin] future: F, cx: Context },
        Context { #[pin] future: WithContext<F> },
        Off { #[pin] future: F },
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        match self.project().inner.project() {
            ScopedProjection::Span { future } => future.poll(cx),
            ScopedProjection::Direct { future, cx: otel } => {
                let polled = {
                    let _attached = otel.clone().attach();
                    future.poll(cx)
                };
                if polled.is_ready() {
                    // The span ends with the future, not when the last clone of its context
                    // (one a handler kept) is dropped.
                    otel.span().end();
                }
                polled
            }
            ScopedProjection::Context { future } => future.poll(cx),
            ScopedProjection::Off { future } => future.poll(cx),
        }
    }
}

/// A new trace, sampled before anything is built: the span (a `tracing` INFO span with
/// `parent: None`, named and with fields as in `tracing::info_span!`) exists only when the
/// trace is sampled, and the fields are evaluated only then; an unsampled trace costs no span
/// and its decision travels on in a context. Returns a
/// [`TraceScope`](crate::traces::TraceScope).
///
/// ```
/// use alys_telemetry_core::root_span;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let height = 7;
/// let block = root_span!("chain.produce_block", block.height = height);
/// let produced = block.instrument(async { height + 1 }).await;
/// assert_eq!(produced, 8);
/// # }
/// ```
#[macro_export]
macro_rules! root_span {
    ($name:literal $(, $($fields:tt)*)?) => {
        $crate::traces::TraceScope::root(|| {
            $crate::traces::__tracing::info_span!(parent: None, $name $(, $($fields)*)?)
        })
    };
}

/// A span of the current trace, made only when that trace is sampled (fields evaluated only
/// then); in an unsampled trace, the current context and no span; without a current trace,
/// a new one as [`root_span!`](crate::root_span) makes. Returns a
/// [`TraceScope`](crate::traces::TraceScope).
///
/// ```
/// use alys_telemetry_core::child_span;
///
/// let scope = child_span!("engine.execute", transactions = 12);
/// assert_eq!(scope.in_scope(|| 2 + 2), 4);
/// ```
#[macro_export]
macro_rules! child_span {
    ($name:literal $(, $($fields:tt)*)?) => {
        $crate::traces::TraceScope::child(|| {
            $crate::traces::__tracing::info_span!($name $(, $($fields)*)?)
        })
    };
}
