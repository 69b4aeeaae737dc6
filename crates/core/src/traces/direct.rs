//! Spans built on the SDK's tracer directly, for the spans the library makes at message rate
//! (a mailbox's handling span): a span through tracing-opentelemetry costs 1 to 2.5 µs more
//! (docs/performance.md), which at ratio 1.0 is most of a message's cost.
//!
//! The pipeline installs its tracer here ([`set_tracer`]) beside the trace policy. Such a span
//! lives in an OpenTelemetry [`Context`] that is attached around each poll of the code it
//! scopes, so what that code opens through `tracing` is its child (tracing-opentelemetry
//! parents a new span on the current context), what it logs carries its ids, and what it
//! sends hands its context over. Without an installed tracer, callers make `tracing` spans as
//! before.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use opentelemetry::Context;
use opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;

use super::decision::{RootDecision, decide_root, with_root_trace_id};
use super::scope::{Scope, TraceScope, parent_sampled};
use tracing::Span;

/// The installed tracer; each thread keeps a copy, refreshed when [`GENERATION`] moves, so
/// that making a span takes no lock that two threads write.
static INSTALLED: RwLock<Option<SdkTracer>> = RwLock::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LOCAL: RefCell<(u64, Option<SdkTracer>)> = const { RefCell::new((0, None)) };
}

/// Installs the tracer that library spans made at message rate are built on (`None`: they
/// are made through `tracing`). `Telemetry::init` and `Telemetry::build` install the
/// pipeline's; it must be a tracer of the provider whose sampler matches the trace policy.
pub fn set_tracer(tracer: Option<SdkTracer>) {
    *INSTALLED.write().unwrap_or_else(PoisonError::into_inner) = tracer;
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Runs `f` with the installed tracer; `None` when there is none.
fn with_tracer<R>(f: impl FnOnce(&SdkTracer) -> R) -> Option<R> {
    let generation = GENERATION.load(Ordering::Acquire);
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.0 != generation {
            let installed = INSTALLED.read().unwrap_or_else(PoisonError::into_inner);
            *local = (generation, installed.clone());
        }
        local.1.as_ref().map(f)
    })
}

impl TraceScope {
    /// Continues the trace of `parent` with a span built by `build` on the installed tracer,
    /// or, when none is installed, the `tracing` span `otherwise` makes (with
    /// `parent: None`), as [`follow`](Self::follow) does. Either is made only in a sampled
    /// trace; an unsampled one runs in the parent's context without a span, and a `parent`
    /// without a trace starts a new one.
    pub fn follow_direct(
        parent: Context,
        build: impl FnOnce() -> SpanBuilder,
        otherwise: impl FnOnce() -> Span,
    ) -> Self {
        match parent_sampled(&parent) {
            Some(false) => TraceScope(Scope::Context(parent)),
            Some(true) => with_tracer(|tracer| Scope::Direct(started(tracer, build(), &parent)))
                .map(TraceScope)
                .unwrap_or_else(|| TraceScope::follow(parent, otherwise)),
            None => TraceScope::root_direct(build, otherwise),
        }
    }

    /// A new trace, decided before its span exists: a span built by `build` on the installed
    /// tracer, or, when none is installed, the `tracing` span `otherwise` makes (with
    /// `parent: None`), as [`root`](Self::root) does.
    pub fn root_direct(
        build: impl FnOnce() -> SpanBuilder,
        otherwise: impl FnOnce() -> Span,
    ) -> Self {
        with_tracer(|tracer| root(tracer, build)).unwrap_or_else(|| TraceScope::root(otherwise))
    }
}

fn root(tracer: &SdkTracer, build: impl FnOnce() -> SpanBuilder) -> TraceScope {
    let none = Context::new();
    TraceScope(match decide_root() {
        RootDecision::Delegate => Scope::Direct(started(tracer, build(), &none)),
        RootDecision::Off => Scope::Off,
        RootDecision::Sampled(trace_id) => {
            let builder = build();
            Scope::Direct(with_root_trace_id(trace_id, || {
                started(tracer, builder, &none)
            }))
        }
        RootDecision::Unsampled(cx) => Scope::Context(cx),
    })
}

/// The context of a span started now under `parent`.
fn started(tracer: &SdkTracer, builder: SpanBuilder, parent: &Context) -> Context {
    let span = tracer.build_with_context(builder, parent);
    parent.with_span(span)
}
