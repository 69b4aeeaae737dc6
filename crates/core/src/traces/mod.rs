//! Trace decisions taken before anything costly is built, so that a trace is whole or absent
//! at any sampling ratio and an unsampled one costs no span.
//!
//! - A new trace is decided first ([`root_span!`](crate::root_span), and a mailbox whose
//!   sender was outside any trace): the configured sampler is applied to a trace id drawn
//!   here; only a sampled trace gets a span, started with that trace id, so the SDK's own
//!   sampler agrees. An unsampled one gets a context carrying its trace id and the flag
//!   "not sampled", and no span.
//! - The decision travels: mailboxes hand the sender's context over as a value, sampled or
//!   not; handling an unsampled message runs inside that context without a span, so what the
//!   handler sends or opens inherits "not sampled" (tracing-opentelemetry parents a new span
//!   on the current OpenTelemetry context); the governance stream carries it as a W3C
//!   `traceparent` with the sampled flag set or clear.
//! - [`child_span!`](crate::child_span) opens a span only when the current trace is sampled.
//!
//! `Telemetry::init` installs the policy from the configuration. Code that builds its own
//! tracer provider (tests) installs one with [`set_policy`] and gives the provider the same
//! sampler and [`DecidedTraceIds`]; without a policy, every span is made and the provider's
//! sampler decides ([`TracePolicy::Delegate`]).

mod decision;
mod direct;
mod scope;

pub use decision::{DecidedTraceIds, TracePolicy, is_disabled, policy, set_policy};
pub use direct::set_tracer;
pub use scope::{Scoped, TraceScope};

/// What the span macros expand to.
#[doc(hidden)]
pub use tracing as __tracing;
