//! Whole traces at any sampling ratio: a trace is exported whole or not at all, through a
//! pipeline of four actors on a multi-threaded runtime and then the governance stream's hop,
//! at ratio 0.01 with the decision taken before any span exists (the policy `Telemetry::init`
//! installs).
//!
//! The mailboxes' handling spans are made both ways a process can make them: on the SDK's
//! tracer directly (what `Telemetry::init` installs) and through `tracing` (no tracer
//! installed); the traces must be the same either way: names, attributes, parents, links and
//! events.
//!
//! The policy, the subscriber and the tracer are the process's: each test runs in a process
//! of its own (`rusty_fork_test!`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use std::collections::HashMap as Fields;

use alys_telemetry::config::SamplerChoice;
use alys_telemetry::sources::actors::{Actor, ActorMessage, ActorSystem, MailboxSender, TraceMode};
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use alys_telemetry::sources::governance::propagation;
use alys_telemetry::sources::traces::{DecidedTraceIds, TracePolicy, set_policy, set_tracer};
use alys_telemetry::{child_span, root_span};
use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use rusty_fork::rusty_fork_test;
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The kinds the actor system here is labelled by: the node's.
type Kinds = (ActorType, MessageType);

const RATIO: f64 = 0.01;

#[derive(Debug)]
struct Work;

impl ActorMessage for Work {
    type Kinds = Kinds;

    fn message_type(&self) -> MessageType {
        MessageType::Storage
    }
    fn name(&self) -> &'static str {
        "work"
    }
}

struct Tracing {
    spans: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

/// The process's tracing, as `Telemetry::init` sets it up: the policy and the provider share
/// the sampler, the provider the decided trace ids.
fn tracing() -> &'static Tracing {
    static TRACING: OnceLock<Tracing> = OnceLock::new();
    TRACING.get_or_init(|| {
        let choice = SamplerChoice::ParentBasedTraceIdRatio(RATIO);
        set_policy(TracePolicy::Sampler(choice));
        // The stream carries W3C text, as `Telemetry::init` sets up.
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                RATIO,
            ))))
            .with_id_generator(DecidedTraceIds)
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(
                // As the pipeline configures it: no timings, threads or code locations.
                tracing_opentelemetry::layer()
                    .with_tracked_inactivity(false)
                    .with_threads(false)
                    .with_location(false)
                    .with_tracer(provider.tracer("test")),
            )
            .with(alys_telemetry::pipeline::direct_span_events());
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        Tracing { spans, provider }
    })
}

/// How the handling spans are made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spans {
    /// On the SDK's tracer, installed as `Telemetry::init` installs it.
    Direct,
    /// Through `tracing`: no tracer installed.
    Tracing,
}

fn install(spans: Spans) {
    let t = tracing();
    match spans {
        Spans::Direct => set_tracer(Some(t.provider.tracer("test"))),
        Spans::Tracing => set_tracer(None),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Whether the current context's trace is sampled (inside a handler: the message's trace).
fn current_is_sampled() -> bool {
    Context::map_current(|cx| cx.span().span_context().is_sampled())
}

/// The governance stream's hop: what d sends travels as the stream's `trace_context` fields
/// (W3C text, sampled flag set or clear), and is handled on the other side as the stream
/// client handles a received message (`propagation::handling_scope`), where a span of the
/// handler's own counts the messages whose trace is still sampled.
fn stream_hop(
    rt: &tokio::runtime::Runtime,
) -> (mpsc::Sender<Fields<String, String>>, Arc<AtomicUsize>) {
    let (wire, mut received) = mpsc::channel::<Fields<String, String>>(1024);
    let sampled = Arc::new(AtomicUsize::new(0));
    let counter = sampled.clone();
    rt.spawn(async move {
        while let Some(fields) = received.recv().await {
            let counter = counter.clone();
            let scope = propagation::handling_scope(
                &fields,
                || tracing::info_span!(parent: None, "stream.handle"),
            );
            let sampled = scope
                .instrument(async {
                    let apply = child_span!("stream.apply");
                    apply.in_scope(current_is_sampled)
                })
                .await;
            // Counted once both spans have ended (and so been exported).
            if sampled {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (wire, sampled)
}

/// Four actors a → b → c → d on `rt`, each forwarding inside its handling, and d on over the
/// stream's hop; c opens a span of its own in the handler (made through `tracing`, as node
/// code does), d counts the messages whose trace is sampled. Returns the sender into a,
/// speaking for `source`, d's count and the count on the stream's far side.
fn pipeline(
    system: &ActorSystem<Kinds>,
    rt: &tokio::runtime::Runtime,
    source: &Actor<Kinds>,
) -> (MailboxSender<Work>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (wire, sampled_past_stream) = stream_hop(rt);
    let (to_a, mut a) = system.mailbox::<Work>("a", ActorType::Chain, 1024, TraceMode::Child);
    let (to_b, mut b) = system.mailbox::<Work>("b", ActorType::Engine, 1024, TraceMode::Child);
    let (to_c, mut c) = system.mailbox::<Work>("c", ActorType::Storage, 1024, TraceMode::Child);
    let (to_d, mut d) = system.mailbox::<Work>("d", ActorType::Network, 1024, TraceMode::Child);
    let b_from_a = to_b.from(to_a.actor());
    let c_from_b = to_c.from(to_b.actor());
    let d_from_c = to_d.from(to_c.actor());
    rt.spawn(async move {
        while let Some(envelope) = a.recv().await {
            let next = b_from_a.clone();
            let _ = envelope
                .handle(|w| async move { next.send(w).await.map_err(|_| ()) })
                .await;
        }
    });
    rt.spawn(async move {
        while let Some(envelope) = b.recv().await {
            let next = c_from_b.clone();
            let _ = envelope
                .handle(|w| async move {
                    // An event in the handler itself, outside any span it opens.
                    tracing::info!(hop = 2u64, "forwarding");
                    next.send(w).await.map_err(|_| ())
                })
                .await;
        }
    });
    rt.spawn(async move {
        while let Some(envelope) = c.recv().await {
            let next = d_from_c.clone();
            let _ = envelope
                .handle(|w| async move {
                    // A span opened through `tracing`, as node code does.
                    let inner = tracing::info_span!("c.inner");
                    next.send(w).instrument(inner).await.map_err(|_| ())
                })
                .await;
        }
    });
    let sampled_at_d = Arc::new(AtomicUsize::new(0));
    let counter = sampled_at_d.clone();
    rt.spawn(async move {
        while let Some(envelope) = d.recv().await {
            let counter = counter.clone();
            let wire = wire.clone();
            let _ = envelope
                .handle(|_| async move {
                    // A span the handler opens only when its trace is sampled.
                    let scope = child_span!("d.record");
                    let fields = scope.in_scope(|| {
                        if current_is_sampled() {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        propagation::inject_current()
                    });
                    wire.send(fields).await.map_err(|_| ())
                })
                .await;
        }
    });
    (to_a.from(source), sampled_at_d, sampled_past_stream)
}

/// The exported spans by trace.
fn by_trace(spans: &[SpanData]) -> HashMap<TraceId, Vec<SpanData>> {
    let mut traces: HashMap<TraceId, Vec<SpanData>> = HashMap::new();
    for span in spans {
        traces
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span.clone());
    }
    traces
}

/// Every span's parent is in its trace, each trace has exactly one root, and as many spans as
/// its messages went through.
fn assert_whole(trace_id: TraceId, spans: &[SpanData]) {
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
    let roots = spans
        .iter()
        .filter(|s| s.parent_span_id == SpanId::INVALID)
        .count();
    assert_eq!(roots, 1, "trace {trace_id} has {roots} roots: {names:?}");
    for s in spans {
        assert!(
            s.parent_span_id == SpanId::INVALID || ids.contains(&s.parent_span_id),
            "{} in trace {trace_id} lost its parent: {names:?}",
            s.name
        );
    }
    let span = |n: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no {n} in trace {trace_id}: {names:?}"))
    };
    let id = |n: &str| span(n).span_context.span_id();
    // Parentage follows the message: b under a, c under b, the span c opened, d under it.
    assert_eq!(span("engine.work").parent_span_id, id("chain.work"));
    assert_eq!(span("storage.work").parent_span_id, id("engine.work"));
    assert_eq!(span("c.inner").parent_span_id, id("storage.work"));
    assert_eq!(span("network.work").parent_span_id, id("c.inner"));
    assert_eq!(span("d.record").parent_span_id, id("network.work"));
    // Across the stream's hop, as W3C text.
    assert_eq!(span("stream.handle").parent_span_id, id("d.record"));
    assert_eq!(span("stream.apply").parent_span_id, id("stream.handle"));
    let from_source = spans.iter().any(|s| s.name == "source.produce");
    if from_source {
        assert_eq!(span("chain.work").parent_span_id, id("source.produce"));
    }
    assert_eq!(spans.len(), 8 + usize::from(from_source), "{names:?}");
}

fn handled(meters: &alys_test_support::metrics::Registry, actor_type: &str) -> f64 {
    alys_test_support::sample_sum(
        &meters.text(),
        "alys_actor_messages_total",
        &[("actor_type", actor_type)],
    )
    .unwrap_or(0.0)
}

const MESSAGES: usize = 20_000;

rusty_fork_test! {
    #[test]
    fn at_ratio_001_every_trace_through_four_actors_is_whole_or_absent_with_direct_spans() {
        install(Spans::Direct);
        let spans = every_trace_whole_or_absent();
        assert!(
            spans
                .iter()
                .all(|s| s.instrumentation_scope.name() == "test")
        );
    }
}

rusty_fork_test! {
    #[test]
    fn at_ratio_001_every_trace_through_four_actors_is_whole_or_absent_with_tracing_spans() {
        install(Spans::Tracing);
        every_trace_whole_or_absent();
    }
}

/// One trace of each kind (sent outside a trace, opened by the source) as the outside sees
/// it: every span's name, its parent's name, kind, status, attributes, links (by the linked
/// span's name) and events (name and attributes).
fn shapes(spans: &[SpanData]) -> Vec<Vec<String>> {
    let mut seen = Vec::new();
    for trace in by_trace(spans).values() {
        let name_of = |id: SpanId| {
            trace
                .iter()
                .find(|s| s.span_context.span_id() == id)
                .map_or("-".to_string(), |s| s.name.to_string())
        };
        let mut shape: Vec<String> = trace
            .iter()
            .map(|s| {
                // `n`, the message's number, differs from trace to trace.
                let mut attributes: Vec<String> = s
                    .attributes
                    .iter()
                    .filter(|kv| kv.key.as_str() != "n")
                    .map(|kv| format!("{}={}", kv.key, kv.value))
                    .collect();
                attributes.sort();
                let events: Vec<String> = s
                    .events
                    .iter()
                    .map(|e| {
                        let mut a: Vec<String> =
                            e.attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                        a.sort();
                        format!("{}{a:?}", e.name)
                    })
                    .collect();
                let links: Vec<String> =
                    s.links.iter().map(|l| name_of(l.span_context.span_id())).collect();
                format!(
                    "{} under {} {:?} {:?} attributes {attributes:?} events {events:?} links {links:?}",
                    s.name,
                    name_of(s.parent_span_id),
                    s.span_kind,
                    s.status,
                )
            })
            .collect();
        shape.sort();
        if !seen.contains(&shape) {
            seen.push(shape);
        }
    }
    seen.sort();
    seen
}

rusty_fork_test! {
    #[test]
    fn direct_and_tracing_handling_spans_make_the_same_traces() {
        install(Spans::Tracing);
        let through_tracing = shapes(&every_trace_whole_or_absent());
        install(Spans::Direct);
        let direct = shapes(&every_trace_whole_or_absent());
        assert_eq!(through_tracing.len(), 2, "{through_tracing:#?}");
        assert_eq!(direct, through_tracing);
        // The handler's event is on its handling span, with its fields.
        let engine = direct[0]
            .iter()
            .find(|s| s.starts_with("engine.work"))
            .expect("a handling span of b");
        assert!(
            engine.contains(r#"forwarding[\"hop=2\", \"level=INFO\", \"target=it::whole_traces\"]"#)
                && engine.contains(r#""actor=b""#)
                && engine.contains(r#""from_actor=chain""#)
                && engine.contains(r#""to_actor=engine""#)
                && engine.contains(r#""message_type=storage""#),
            "{engine}"
        );
    }
}

/// Runs 20,000 messages through the pipeline and checks every sampled trace is whole; returns
/// the spans exported.
fn every_trace_whole_or_absent() -> Vec<SpanData> {
    let t = tracing();
    t.spans.reset();
    let rt = runtime();
    let meters = alys_test_support::metrics::Registry::new();
    let system = ActorSystem::<Kinds>::new(&meters.meter());
    let source = system.actor("source", ActorType::System);
    let (into_a, sampled_at_d, sampled_past_stream) = pipeline(&system, &rt, &source);
    let opened_sampled = AtomicUsize::new(0);
    rt.block_on(async {
        for i in 0..MESSAGES {
            if i % 2 == 0 {
                // Sent outside any trace: the first actor decides.
                into_a.send(Work).await.unwrap();
            } else {
                // Sent inside a new trace the sending code opened.
                let scope = root_span!("source.produce", n = i);
                if scope.is_sampled() {
                    opened_sampled.fetch_add(1, Ordering::Relaxed);
                }
                scope.instrument(into_a.send(Work)).await.unwrap();
            }
        }
    });
    alys_test_support::wait_until("every message through d", Duration::from_secs(60), || {
        (handled(&meters, "network") == MESSAGES as f64).then_some(())
    });
    let sampled = sampled_at_d.load(Ordering::Relaxed);
    // The stream's far side handles after d's handling ends; the decision holds across the
    // hop when it sees exactly the traces d saw sampled (and no more: checked below).
    alys_test_support::wait_until(
        "the stream's far side to see every sampled trace",
        Duration::from_secs(30),
        || (sampled_past_stream.load(Ordering::Relaxed) >= sampled).then_some(()),
    );
    let _ = t.provider.force_flush();
    let spans = t.spans.get_finished_spans().unwrap();
    t.spans.reset();
    assert_eq!(sampled_past_stream.load(Ordering::Relaxed), sampled);
    // The ratio holds once per trace, not once per hop: about 1 % of 20,000.
    assert!(
        (100..=320).contains(&sampled),
        "{sampled} of {MESSAGES} sampled"
    );

    let traces = by_trace(&spans);
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == SpanId::INVALID)
        .collect();
    assert_eq!(roots.len(), sampled, "one root per sampled message");
    assert_eq!(traces.len(), sampled, "one trace per sampled message");
    let opened = roots.iter().filter(|s| s.name == "source.produce").count();
    assert_eq!(opened, opened_sampled.load(Ordering::Relaxed));
    assert!(
        opened > 0 && opened < sampled,
        "both kinds of trace are sampled"
    );
    for (trace_id, spans) in &traces {
        assert_whole(*trace_id, spans);
    }
    spans
}
