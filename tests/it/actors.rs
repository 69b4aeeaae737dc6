//! Metered mailboxes, trace correlation between actors, supervision and health, in process:
//! spans go to the SDK's in-memory exporter, metrics to a Prometheus registry.

use std::time::Duration;

use alys_telemetry::sources::actors::supervisor::ChildExit;
use alys_telemetry::sources::actors::{
    ActorFailure, ActorMessage, ActorSystem, RestartPolicy, SendError, Supervisor, TraceMode,
};
use alys_telemetry::sources::backoff::Backoff;
use alys_telemetry::sources::catalog::actors::{LifecycleState, RestartReason};
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use alys_test_support::sample_sum;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The kinds the actor system here is labelled by: the node's.
type Kinds = (ActorType, MessageType);

#[derive(Debug, PartialEq)]
struct Work(u32);

impl ActorMessage for Work {
    type Kinds = Kinds;

    fn message_type(&self) -> MessageType {
        MessageType::Storage
    }
    fn name(&self) -> &'static str {
        "work"
    }
}

/// Tracing into an in-memory exporter and metrics into a registry, for one test.
struct Harness {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: alys_test_support::metrics::Registry,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Harness {
    fn new(sampler: Sampler) -> Harness {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .with_sampler(sampler)
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("test")));
        Harness {
            spans,
            tracer_provider,
            metrics: alys_test_support::metrics::Registry::new(),
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    fn system(&self) -> ActorSystem<Kinds> {
        ActorSystem::<Kinds>::new(&self.metrics.meter())
    }

    fn finished(&self) -> Vec<SpanData> {
        let _ = self.tracer_provider.force_flush();
        self.spans.get_finished_spans().unwrap()
    }

    fn metrics(&self) -> String {
        self.metrics.text()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread: the test's thread-local subscriber sees every task.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// a → b → c: each actor forwards what it gets, inside its handling span.
async fn three_actor_pipeline(system: &ActorSystem<Kinds>, mode: TraceMode) {
    let (to_a, mut a) = system.mailbox::<Work>("a", ActorType::Chain, 8, mode);
    let (to_b, mut b) = system.mailbox::<Work>("b", ActorType::Engine, 8, mode);
    let (to_c, mut c) = system.mailbox::<Work>("c", ActorType::Storage, 8, mode);
    let client = system.actor("client", ActorType::System);
    let b_from_a = to_b.from(to_a.actor());
    let c_from_b = to_c.from(to_b.actor());
    async {
        to_a.from(&client).send(Work(1)).await.unwrap();
    }
    .instrument(tracing::info_span!("request"))
    .await;
    let env = a.recv().await.unwrap();
    env.handle(|w| async { b_from_a.send(w).await.map_err(|e| e.to_string()) })
        .await
        .unwrap();
    let env = b.recv().await.unwrap();
    env.handle(|w| async { c_from_b.send(w).await.map_err(|e| e.to_string()) })
        .await
        .unwrap();
    let env = c.recv().await.unwrap();
    env.handle(|_| async { Ok::<_, String>(()) }).await.unwrap();
}

#[test]
fn a_pipeline_of_three_actors_is_one_trace_with_correct_parentage() {
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    runtime().block_on(three_actor_pipeline(&system, TraceMode::Child));
    let spans = h.finished();
    let request = span(&spans, "request");
    let a = span(&spans, "chain.work");
    let b = span(&spans, "engine.work");
    let c = span(&spans, "storage.work");
    let trace = request.span_context.trace_id();
    for s in [a, b, c] {
        assert_eq!(s.span_context.trace_id(), trace, "{}", s.name);
    }
    assert_eq!(a.parent_span_id, request.span_context.span_id());
    assert_eq!(b.parent_span_id, a.span_context.span_id());
    assert_eq!(c.parent_span_id, b.span_context.span_id());
    let attr = |s: &SpanData, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr(b, "from_actor").as_deref(), Some("chain"));
    assert_eq!(attr(b, "to_actor").as_deref(), Some("engine"));
    assert_eq!(attr(b, "message_type").as_deref(), Some("storage"));
}

#[test]
fn link_mode_starts_a_new_trace_linked_to_the_sender() {
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    runtime().block_on(three_actor_pipeline(&system, TraceMode::Link));
    let spans = h.finished();
    let request = span(&spans, "request");
    let a = span(&spans, "chain.work");
    let b = span(&spans, "engine.work");
    assert_ne!(a.span_context.trace_id(), request.span_context.trace_id());
    assert_eq!(a.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(a.links.links.len(), 1);
    assert_eq!(a.links.links[0].span_context, request.span_context);
    assert_ne!(b.span_context.trace_id(), a.span_context.trace_id());
    assert_eq!(b.links.links[0].span_context, a.span_context);
}

#[test]
fn unsampled_messages_create_no_span() {
    // A parent-based sampler with a ratio of 0: the request is not sampled, and nothing
    // downstream may pay for a span.
    let h = Harness::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        0.0,
    ))));
    let system = h.system();
    runtime().block_on(async {
        let (to_a, mut a) = system.mailbox::<Work>("a", ActorType::Chain, 128, TraceMode::Child);
        let to_a = to_a.from(&system.actor("client", ActorType::System));
        async {
            // The context inside the unsampled span is valid but not sampled.
            assert!(opentelemetry::Context::map_current(|cx| cx
                .span()
                .span_context()
                .is_valid()));
            for i in 0..100 {
                to_a.send(Work(i)).await.unwrap();
            }
        }
        .instrument(tracing::info_span!("request"))
        .await;
        for _ in 0..100 {
            let env = a.recv().await.unwrap();
            env.handle(|_| async { Ok::<_, String>(()) }).await.unwrap();
        }
    });
    assert!(h.finished().is_empty(), "{:?}", h.finished());
    // The same messages from a sampled request do create their spans.
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    runtime().block_on(three_actor_pipeline(&system, TraceMode::Child));
    assert_eq!(h.finished().len(), 4);
}

#[test]
fn mailbox_depth_latency_counts_and_backpressure() {
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    runtime().block_on(async {
        let (tx, mut rx) =
            system.mailbox::<Work>("storage", ActorType::Storage, 32, TraceMode::Child);
        let tx = tx.from(&system.actor("engine", ActorType::Engine));
        for i in 0..32 {
            tx.send(Work(i)).await.unwrap();
        }
        // Full: try_send is refused and counted.
        assert!(matches!(
            tx.try_send(Work(99)),
            Err(SendError::Full(Work(99)))
        ));
        let depth = sample_sum(
            &h.metrics(),
            "alys_actor_mailbox_size",
            &[("actor_type", "storage")],
        );
        assert_eq!(depth, Some(32.0));
        // A blocking send waits for room, and is counted as blocked.
        let blocked = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(Work(100)).await })
        };
        tokio::task::yield_now().await;
        for _ in 0..33 {
            let env = rx.recv().await.unwrap();
            env.handle(|_| async { Ok::<_, String>(()) }).await.unwrap();
        }
        blocked.await.unwrap().unwrap();
        let m = h.metrics();
        assert_eq!(
            sample_sum(&m, "alys_actor_mailbox_size", &[("actor_type", "storage")]),
            Some(0.0)
        );
        let labels = [
            ("from_actor", "engine"),
            ("to_actor", "storage"),
            ("message_type", "storage"),
        ];
        assert_eq!(
            sample_sum(
                &m,
                "alys_inter_actor_message_latency_seconds_count",
                &labels
            ),
            Some(33.0)
        );
        assert_eq!(
            sample_sum(
                &m,
                "alys_inter_actor_message_latency_seconds_count",
                &[("to_actor", "storage")]
            ),
            Some(33.0)
        );
        assert_eq!(
            sample_sum(
                &m,
                "alys_actor_messages_total",
                &[("actor_type", "storage"), ("outcome", "processed")]
            ),
            Some(33.0)
        );
        for outcome in ["refused", "blocked"] {
            assert_eq!(
                sample_sum(
                    &m,
                    "alys_actor_mailbox_backpressure_total",
                    &[("actor_type", "storage"), ("outcome", outcome)]
                ),
                Some(1.0),
                "{outcome}"
            );
        }
    });
}

#[test]
fn a_failing_actor_is_restarted_up_to_its_policy_then_given_up() {
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    let policy = RestartPolicy {
        max_restarts: 3,
        within: Duration::from_secs(60),
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(10)),
    };
    let exit = runtime().block_on(async {
        let supervisor = Supervisor::new(&system, ActorType::Supervisor, policy);
        // A healthy sibling, so the system health has something to compare.
        let network = system.actor("network", ActorType::Network);
        let healthy = supervisor.supervise(&network, |mut stop| async move {
            stop.stopped().await;
            Ok(())
        });
        let mut attempt = 0;
        let bridge = system.actor("bridge", ActorType::Bridge);
        let child = supervisor.supervise(&bridge, move |_| {
            attempt += 1;
            let n = attempt;
            async move {
                if n % 2 == 0 {
                    panic!("attempt {n} panicked");
                }
                Err(ActorFailure::new(
                    RestartReason::Dependency,
                    format!("attempt {n}"),
                ))
            }
        });
        let exit = child.join().await;
        assert_eq!(healthy.state(), LifecycleState::Running);
        let health = system.health();
        assert_eq!((health.healthy_actors, health.total_actors), (1, 2));
        assert!(!health.healthy, "1 of 2 actors is below 80 %");
        let metrics = h.metrics();
        assert_eq!(healthy.stop().await, ChildExit::Stopped);
        (exit, metrics)
    });
    let (exit, m) = exit;
    // Attempts 1 and 3 fail with an error, 2 and 4 panic; with 3 restarts allowed, the
    // fourth failure (a panic) is the one the supervisor gives up on.
    assert!(
        matches!(exit, ChildExit::GaveUp(ref f) if f.reason == RestartReason::Panic && f.detail == "attempt 4 panicked"),
        "{exit:?}"
    );
    let restarts = |reason| {
        sample_sum(
            &m,
            "alys_actor_restarts_total",
            &[("actor_type", "bridge"), ("reason", reason)],
        )
    };
    // Restarted: attempts 1 and 3 (dependency) and 2 (panic).
    assert_eq!(restarts("dependency"), Some(2.0));
    assert_eq!(restarts("panic"), Some(1.0));
    assert_eq!(
        sample_sum(
            &m,
            "alys_supervision_tree_restarts_total",
            &[("supervisor", "supervisor"), ("child_actor", "bridge")]
        ),
        Some(3.0)
    );
    let transition = |from, to| {
        sample_sum(
            &m,
            "alys_actor_lifecycle_transitions_total",
            &[("actor", "bridge"), ("from_state", from), ("to_state", to)],
        )
    };
    assert_eq!(transition("running", "failed"), Some(4.0));
    assert_eq!(transition("failed", "restarting"), Some(3.0));
    assert_eq!(transition("restarting", "recovering"), Some(3.0));
    assert_eq!(transition("recovering", "running"), Some(3.0));
    assert_eq!(transition("failed", "stopped"), Some(1.0));
    assert_eq!(
        sample_sum(
            &m,
            "alys_actor_lifecycle_duration_seconds_count",
            &[("actor_type", "bridge"), ("step", "recovery")]
        ),
        Some(3.0)
    );
    assert_eq!(sample_sum(&m, "alys_actor_healthy_count", &[]), Some(1.0));
    assert_eq!(sample_sum(&m, "alys_actor_total_count", &[]), Some(2.0));
}

#[test]
fn the_receiver_is_a_stream_of_envelopes_that_know_their_sender() {
    use tokio_stream::StreamExt;
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    runtime().block_on(async {
        let (storage, inbox) =
            system.mailbox::<Work>("storage", ActorType::Storage, 8, TraceMode::Child);
        let engine = system.actor("engine", ActorType::Engine);
        assert_eq!(
            (storage.actor().name(), storage.actor().kind()),
            ("storage", ActorType::Storage)
        );
        let from_engine = storage.from(&engine);
        for i in 0..3 {
            from_engine.send(Work(i)).await.unwrap();
        }
        drop((storage, from_engine));
        // Every sender gone: the stream ends after the three messages. The stream's
        // envelopes own their share of the receiver: they are handled, and counted, after
        // the receiver is gone.
        let envelopes: Vec<_> = inbox.collect().await;
        assert_eq!(envelopes.len(), 3);
        for (i, envelope) in envelopes.into_iter().enumerate() {
            assert_eq!(envelope.from(), ActorType::Engine);
            let handled = envelope
                .handle(|work| async move {
                    assert_eq!(work, Work(i as u32));
                    if i == 2 { Err("refused") } else { Ok(()) }
                })
                .await;
            assert_eq!(handled.is_ok(), i < 2);
        }
    });
    let health = system.health();
    assert!((health.success_rate - 2.0 / 3.0).abs() < 1e-9, "{health:?}");
    assert_eq!(
        sample_sum(
            &h.metrics(),
            "alys_inter_actor_message_latency_seconds_count",
            &[("to_actor", "storage")]
        ),
        Some(3.0),
        "waits are recorded as the stream yields"
    );
}

/// What a handler sees of its sender's context: the span context always (sampled or not),
/// the baggage when the sender had some.
async fn context_seen_by_handler(
    system: &ActorSystem<Kinds>,
    sender_context: opentelemetry::Context,
) -> opentelemetry::Context {
    use opentelemetry::context::FutureExt as _;
    let (storage, mut inbox) =
        system.mailbox::<Work>("storage", ActorType::Storage, 8, TraceMode::Child);
    let engine = system.actor("engine", ActorType::Engine);
    let from_engine = storage.from(&engine);
    async { from_engine.send(Work(1)).await.unwrap() }
        .with_context(sender_context)
        .await;
    let envelope = inbox.recv().await.expect("the message");
    envelope
        .handle(|_| async { Ok::<_, ()>(opentelemetry::Context::current()) })
        .await
        .expect("the handler's context")
}

#[test]
fn baggage_and_an_unsampled_decision_cross_a_mailbox() {
    use opentelemetry::KeyValue;
    use opentelemetry::baggage::BaggageExt as _;
    let h = Harness::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let system = h.system();
    let unsampled = alys_test_support::span_context(7, 9, false);
    let sender = opentelemetry::Context::new().with_remote_span_context(unsampled.clone());
    let with_baggage = sender.with_baggage([KeyValue::new("peer", "p1")]);
    let (plain, carried) = runtime().block_on(async {
        (
            context_seen_by_handler(&system, sender).await,
            context_seen_by_handler(&system, with_baggage).await,
        )
    });
    for seen in [&plain, &carried] {
        assert_eq!(
            seen.span().span_context(),
            &unsampled,
            "the decision travels"
        );
    }
    assert!(plain.baggage().is_empty());
    assert_eq!(
        carried.baggage().get("peer").map(|v| v.to_string()),
        Some("p1".to_string()),
        "baggage travels with the message"
    );
    assert!(
        h.finished().is_empty(),
        "an unsampled message makes no span"
    );
}

#[test]
fn a_send_builds_a_small_future() {
    // Every message's send makes this future inside its sender's handling future; the wait
    // on a full mailbox, which tokio's send future is for, is boxed off the common path.
    let h = Harness::new(Sampler::AlwaysOn);
    let system = h.system();
    let (storage, _inbox) =
        system.mailbox::<Work>("storage", ActorType::Storage, 8, TraceMode::Child);
    let from_storage = storage.from(storage.actor());
    let send = from_storage.send(Work(1));
    assert!(size_of_val(&send) <= 256, "{} bytes", size_of_val(&send));
}

/// A service that is not the node: its own kinds of actor and of message, its own label
/// values on the same metrics and span names.
mod own_kinds {
    use super::*;
    use alys_telemetry::sources::catalog::LabelValue;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
    enum Component {
        Ingest,
        Index,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, LabelValue)]
    enum Work {
        Event,
        #[label("compaction_run")]
        Compaction,
    }

    type StoreKinds = (Component, Work);

    #[derive(Debug)]
    struct Append(u64);

    impl ActorMessage for Append {
        type Kinds = StoreKinds;

        fn message_type(&self) -> Work {
            Work::Event
        }
        fn name(&self) -> &'static str {
            "append"
        }
    }

    #[test]
    fn a_service_labels_metrics_and_spans_with_its_own_kinds() {
        let h = Harness::new(Sampler::AlwaysOn);
        let system = ActorSystem::<StoreKinds>::new(&h.metrics.meter());
        runtime().block_on(async {
            let (to_index, mut index) =
                system.mailbox::<Append>("index-1", Component::Index, 4, TraceMode::Child);
            let ingest = system.actor("ingest-1", Component::Ingest);
            to_index.from(&ingest).send(Append(7)).await.unwrap();
            let envelope = index.recv().await.unwrap();
            assert_eq!(envelope.from(), Component::Ingest);
            envelope
                .handle(|Append(n)| async move { Ok::<_, String>(n) })
                .await
                .unwrap();
        });
        let text = h.metrics();
        let handled = [
            ("actor_type", "index"),
            ("message_type", "event"),
            ("outcome", "processed"),
        ];
        assert_eq!(
            sample_sum(&text, "alys_actor_messages_total", &handled),
            Some(1.0)
        );
        // Every combination of the service's kinds is exported at 0 from the start: the
        // compaction kind was never sent.
        let never = [
            ("actor_type", "ingest"),
            ("message_type", "compaction_run"),
            ("outcome", "processed"),
        ];
        assert!(text.contains("message_type=\"compaction_run\""), "{text}");
        assert_eq!(
            sample_sum(&text, "alys_actor_messages_total", &never),
            Some(0.0)
        );
        assert!(
            !text.contains("actor_type=\"chain\""),
            "the node's kinds leaked: {text}"
        );
        let spans = h.finished();
        let handling = span(&spans, "index.append");
        let attribute = |key: &str| {
            handling
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attribute("from_actor").as_deref(), Some("ingest"));
        assert_eq!(attribute("to_actor").as_deref(), Some("index"));
        assert_eq!(attribute("message_type").as_deref(), Some("event"));
    }
}
