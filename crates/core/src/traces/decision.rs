//! The sampling decision, taken before anything costly exists: the configured sampler is
//! applied here to a trace id drawn here, and the SDK later meets the same trace id
//! ([`DecidedTraceIds`]) and the same sampler, so it decides the same way.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::IdGenerator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use alys_telemetry_config::SamplerChoice;

/// How this process takes trace decisions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TracePolicy {
    /// Nothing installed: spans are made and the tracer provider's sampler decides on each
    /// (a plain `tracing` setup, as in tests that build their own provider). Correct, but an
    /// unsampled trace pays for its root span.
    #[default]
    Delegate,
    /// The SDK is disabled (`OTEL_SDK_DISABLED`): no span, no context, no clock read for
    /// telemetry.
    Disabled,
    /// The configured sampler, applied before any span exists: an unsampled trace costs no
    /// span. The tracer provider must use this sampler and [`DecidedTraceIds`].
    Sampler(SamplerChoice),
}

const DELEGATE: u8 = 0;
const DISABLED: u8 = 1;
const ALWAYS_ON: u8 = 2;
const ALWAYS_OFF: u8 = 3;
const RATIO: u8 = 4;
const PARENT_BASED_ALWAYS_ON: u8 = 5;
const PARENT_BASED_ALWAYS_OFF: u8 = 6;
const PARENT_BASED_RATIO: u8 = 7;

/// The policy, as two words read with relaxed loads on every message (set once, at
/// start-up), on a cache line of their own: a neighbouring static that another crate writes
/// often would otherwise make every read fetch the line from the writing core.
static POLICY: CachePadded<Policy> = CachePadded::new(Policy {
    mode: AtomicU8::new(DELEGATE),
    ratio_bits: AtomicU64::new(0),
});

struct Policy {
    mode: AtomicU8,
    ratio_bits: AtomicU64,
}

/// Installs `policy` for the whole process (`Telemetry::init` does, from the configuration).
pub fn set_policy(policy: TracePolicy) {
    let (mode, ratio) = match policy {
        TracePolicy::Delegate => (DELEGATE, 0.0),
        TracePolicy::Disabled => (DISABLED, 0.0),
        TracePolicy::Sampler(choice) => match choice {
            SamplerChoice::AlwaysOn => (ALWAYS_ON, 1.0),
            SamplerChoice::AlwaysOff => (ALWAYS_OFF, 0.0),
            SamplerChoice::TraceIdRatio(r) => (RATIO, r),
            SamplerChoice::ParentBasedAlwaysOn => (PARENT_BASED_ALWAYS_ON, 1.0),
            SamplerChoice::ParentBasedAlwaysOff => (PARENT_BASED_ALWAYS_OFF, 0.0),
            SamplerChoice::ParentBasedTraceIdRatio(r) => (PARENT_BASED_RATIO, r),
        },
    };
    POLICY.ratio_bits.store(ratio.to_bits(), Ordering::Relaxed);
    POLICY.mode.store(mode, Ordering::Relaxed);
}

/// The policy in force.
pub fn policy() -> TracePolicy {
    let ratio = f64::from_bits(POLICY.ratio_bits.load(Ordering::Relaxed));
    match POLICY.mode.load(Ordering::Relaxed) {
        DISABLED => TracePolicy::Disabled,
        ALWAYS_ON => TracePolicy::Sampler(SamplerChoice::AlwaysOn),
        ALWAYS_OFF => TracePolicy::Sampler(SamplerChoice::AlwaysOff),
        RATIO => TracePolicy::Sampler(SamplerChoice::TraceIdRatio(ratio)),
        PARENT_BASED_ALWAYS_ON => TracePolicy::Sampler(SamplerChoice::ParentBasedAlwaysOn),
        PARENT_BASED_ALWAYS_OFF => TracePolicy::Sampler(SamplerChoice::ParentBasedAlwaysOff),
        PARENT_BASED_RATIO => TracePolicy::Sampler(SamplerChoice::ParentBasedTraceIdRatio(ratio)),
        _ => TracePolicy::Delegate,
    }
}

/// Whether the SDK is disabled: telemetry then skips even its clock reads.
#[inline]
pub fn is_disabled() -> bool {
    POLICY.mode.load(Ordering::Relaxed) == DISABLED
}

/// What a trace without a parent is, decided before its first span.
pub(crate) enum RootDecision {
    /// No policy: make the span, the SDK decides.
    Delegate,
    /// Nothing can be sampled: no span and no context.
    Off,
    /// Sampled: make the span, as the root of this trace.
    Sampled(TraceId),
    /// Not sampled: no span; this context carries the decision to whatever follows.
    Unsampled(Context),
}

/// How the sampler treats a span without a parent (or, for the samplers that ignore parents,
/// every span): on the trace id.
enum Rule {
    Always,
    Never,
    Ratio(f64),
}

fn rule(mode: u8) -> Rule {
    match mode {
        ALWAYS_ON | PARENT_BASED_ALWAYS_ON => Rule::Always,
        RATIO | PARENT_BASED_RATIO => {
            let r = f64::from_bits(POLICY.ratio_bits.load(Ordering::Relaxed));
            if r >= 1.0 {
                Rule::Always
            } else if r > 0.0 {
                Rule::Ratio(r)
            } else {
                Rule::Never
            }
        }
        _ => Rule::Never,
    }
}

/// The SDK's ratio rule on `trace_id` (opentelemetry_sdk 0.33, `TraceIdRatioBased`: the
/// low 8 bytes of the trace id, shifted right once, under `ratio` × 2^63), so that its later
/// decision is ours. Written out rather than asked of the SDK's sampler, which builds a
/// result with attributes and trace state for every call; a test holds the two together.
fn ratio_samples(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let upper_bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
    (low >> 1) < upper_bound
}

fn samples(rule: Rule, trace_id: TraceId) -> bool {
    match rule {
        Rule::Always => true,
        Rule::Never => false,
        Rule::Ratio(r) => ratio_samples(r, trace_id),
    }
}

/// The decision for a new trace.
pub(crate) fn decide_root() -> RootDecision {
    let mode = POLICY.mode.load(Ordering::Relaxed);
    match mode {
        DELEGATE => RootDecision::Delegate,
        DISABLED => RootDecision::Off,
        _ => match rule(mode) {
            Rule::Never => RootDecision::Off,
            Rule::Always => RootDecision::Sampled(random_trace_id()),
            ratio => {
                let trace_id = random_trace_id();
                if samples(ratio, trace_id) {
                    RootDecision::Sampled(trace_id)
                } else {
                    RootDecision::Unsampled(unsampled_context(trace_id))
                }
            }
        },
    }
}

/// Whether the sampler samples a span whose parent is `parent` (a valid span context).
pub(crate) fn child_sampled(parent: &SpanContext) -> bool {
    let mode = POLICY.mode.load(Ordering::Relaxed);
    match mode {
        DISABLED => false,
        // Parent-based samplers follow the parent, and so does the delegate policy: a span
        // in an unsampled trace would be dropped by them anyway.
        DELEGATE | PARENT_BASED_ALWAYS_ON | PARENT_BASED_ALWAYS_OFF | PARENT_BASED_RATIO => {
            parent.is_sampled()
        }
        _ => samples(rule(mode), parent.trace_id()),
    }
}

/// A context that carries "not sampled" for trace `trace_id`, without a span.
fn unsampled_context(trace_id: TraceId) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        trace_id,
        random_span_id(),
        TraceFlags::default(),
        false,
        TraceState::default(),
    ))
}

// Ids are drawn over the full range and drawn again on zero (the invalid id): a range that
// excludes zero costs a 128-bit division on every draw.
fn random_trace_id() -> TraceId {
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return TraceId::from(id);
        }
    }
}

fn random_span_id() -> SpanId {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return SpanId::from(id);
        }
    }
}

thread_local! {
    /// The trace id the next root span started on this thread gets.
    static NEXT_ROOT: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The tracer provider's id generator when this module decides: a root span started by
/// `root_span!` (or by a mailbox whose sender was outside any trace) gets the trace id its
/// decision was taken on; every other id is random.
///
/// ```
/// use alys_telemetry_config::SamplerChoice;
/// use alys_telemetry_core::traces::{DecidedTraceIds, TracePolicy, set_policy};
/// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
///
/// set_policy(TracePolicy::Sampler(SamplerChoice::ParentBasedTraceIdRatio(0.01)));
/// let provider = SdkTracerProvider::builder()
///     .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.01))))
///     .with_id_generator(DecidedTraceIds)
///     .build();
/// # drop(provider);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DecidedTraceIds;

impl IdGenerator for DecidedTraceIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_ROOT.with(Cell::take).unwrap_or_else(random_trace_id)
    }

    fn new_span_id(&self) -> SpanId {
        random_span_id()
    }
}

/// Starts `span` (made with `parent: None`) now, on this thread, as the root of `trace_id`.
pub(crate) fn start_root(span: &tracing::Span, trace_id: TraceId) {
    // tracing-opentelemetry builds the span when its context is first asked for.
    with_root_trace_id(trace_id, || span.context());
}

/// Runs `start`, which starts one root span on this thread, so that the span gets `trace_id`.
pub(crate) fn with_root_trace_id<T>(trace_id: TraceId, start: impl FnOnce() -> T) -> T {
    NEXT_ROOT.with(|next| next.set(Some(trace_id)));
    let started = start();
    NEXT_ROOT.with(|next| next.set(None));
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_rule_is_the_sdks() {
        use opentelemetry::trace::SpanKind;
        use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
        for ratio in [0.0, 0.01, 0.25, 0.5, 0.999, 1.0] {
            let sdk = Sampler::TraceIdRatioBased(ratio);
            let mut sampled = 0.0;
            for _ in 0..20_000 {
                let t = random_trace_id();
                let theirs = matches!(
                    sdk.should_sample(None, t, "x", &SpanKind::Internal, &[], &[])
                        .decision,
                    SamplingDecision::RecordAndSample
                );
                assert_eq!(ratio_samples(ratio, t), theirs, "ratio {ratio}, {t}");
                sampled += f64::from(u8::from(theirs));
            }
            let expected = ratio * 20_000.0;
            assert!((sampled - expected).abs() <= 500.0, "{sampled} at {ratio}");
        }
    }

    #[test]
    fn a_pinned_trace_id_is_taken_once() {
        NEXT_ROOT.with(|n| n.set(Some(TraceId::from(42u128))));
        assert_eq!(DecidedTraceIds.new_trace_id(), TraceId::from(42u128));
        assert_ne!(DecidedTraceIds.new_trace_id(), TraceId::from(42u128));
    }
}
