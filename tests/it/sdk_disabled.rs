//! Mailboxes with the SDK disabled (`OTEL_SDK_DISABLED`), set up as the node does it
//! (`Telemetry::init`): messages arrive whole and in order, health still counts them, a full
//! mailbox gives the message back, the depth is still read, and nothing of the sender's trace
//! nor any clock travels or is recorded. In a process of its own: the policy is process-wide.

use std::time::Duration;

use alys_telemetry::Telemetry;
use alys_telemetry::config::{Layer, Origin, TelemetryConfig, settings};
use alys_telemetry::sources::actors::{ActorMessage, ActorSystem, SendError, TraceMode};
use alys_telemetry::sources::catalog::labels::{ActorType, MessageType};
use alys_telemetry::sources::traces::{TracePolicy, policy};
use alys_test_support::own_process::block_on;
use alys_test_support::span_context;
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use rusty_fork::rusty_fork_test;

/// The kinds the actor system here is labelled by: the node's.
type Kinds = (ActorType, MessageType);

#[derive(Debug, PartialEq)]
struct Import(u64);

impl ActorMessage for Import {
    type Kinds = Kinds;

    fn message_type(&self) -> MessageType {
        MessageType::Storage
    }
    fn name(&self) -> &'static str {
        "import"
    }
}

rusty_fork_test! {
    #[test]
    fn a_disabled_sdk_leaves_mailboxes_their_messages_and_health_only() {
        block_on(async {
            let config = TelemetryConfig::from_layers(&[Layer::new(Origin::Flag)
                .set(settings::SDK_DISABLED, "true")
                .set(settings::LISTEN, "127.0.0.1:0")])
            .expect("a valid configuration");
            let telemetry = Telemetry::init(&config).expect("the pipeline");
            assert_eq!(policy(), TracePolicy::Disabled);

            // A real SDK meter, to show that the mailbox itself records nothing, not only that the
            // disabled pipeline's meter drops it.
            let metrics = alys_test_support::metrics::Registry::new();
            let system = ActorSystem::<Kinds>::new(&metrics.meter());
            let (storage, mut inbox) =
                system.mailbox::<Import>("storage", ActorType::Storage, 3, TraceMode::Child);
            let chain = system.actor("chain", ActorType::Chain);
            let to_storage = storage.from(&chain);

            // Sent inside a sampled trace: with the SDK disabled, nothing of it travels.
            {
                let cx = Context::new().with_remote_span_context(span_context(0xab, 0xcd, true));
                let _attached = cx.attach();
                to_storage.send(Import(1)).await.expect("room");
                to_storage.send(Import(2)).await.expect("room");
                to_storage.try_send(Import(3)).expect("room");
            }
            assert_eq!(inbox.len(), 3);
            assert_eq!(
                metrics.value("alys_actor_mailbox_size", &[("actor_type", "storage")]),
                Some(3.0),
                "{}",
                metrics.text()
            );
            // Full: the message comes back whole.
            assert_eq!(
                to_storage.try_send(Import(4)),
                Err(SendError::Full(Import(4)))
            );

            for expected in 1..=3 {
                let envelope = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
                    .await
                    .expect("a message within 5 s")
                    .expect("the mailbox is open");
                assert_eq!(envelope.from(), ActorType::Chain);
                assert_eq!(envelope.waited(), Duration::ZERO);
                assert!(envelope.sender_context().span_context().is_none());
                let handled = envelope
                    .handle(|Import(n)| async move {
                        // Handling runs outside any trace.
                        assert!(!Context::current().span().span_context().is_valid());
                        if n == 2 { Err(n) } else { Ok(n) }
                    })
                    .await;
                assert_eq!(handled, if expected == 2 { Err(2) } else { Ok(expected) });
            }
            assert!(inbox.is_empty());

            let health = system.health();
            assert!((health.success_rate - 2.0 / 3.0).abs() < 1e-9, "{health:?}");
            let text = metrics.text();
            for recorded_per_message in [
                "alys_actor_messages_total",
                "alys_inter_actor_message_latency_seconds",
                "alys_actor_message_latency_seconds",
            ] {
                assert!(!text.contains(recorded_per_message), "{text}");
            }
            telemetry.shutdown().await;
        })
    }
}
