//! Actor instrumentation: metered mailboxes, trace correlation between actors, supervision
//! and health, labelled by the service's own kinds of actor and of message ([`ActorKinds`]).
//!
//! Every message between actors is measurable (how long it waited, how long it took, who sent
//! it) and traceable (which trace it belongs to) at a cost the node can pay on every message:
//! a message whose trace is not sampled pays for no span, and the sender's context (sampled
//! or not) travels as a value, so a trace is whole or absent (see
//! [`traces`](alys_telemetry_core::traces)). See docs/actors.md and docs/performance.md.
//!
//! ```
//! use alys_telemetry_actors::{ActorMessage, ActorSystem, TraceMode};
//! use alys_telemetry_catalog::labels::{ActorType, MessageType};
//!
//! #[derive(Debug)]
//! struct ImportBlock(u64);
//!
//! impl ActorMessage for ImportBlock {
//!     type Kinds = (ActorType, MessageType);
//!     fn message_type(&self) -> MessageType { MessageType::Storage }
//!     fn name(&self) -> &'static str { "import_block" }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let system = ActorSystem::<(ActorType, MessageType)>::new(&opentelemetry::global::meter("example"));
//! let (storage, mut inbox) = system.mailbox::<ImportBlock>("storage", ActorType::Storage, 64, TraceMode::Child);
//! let chain = system.actor("chain", ActorType::Chain);
//!
//! // The chain actor speaks to storage: a sender always says who speaks.
//! let from_chain = storage.from(&chain);
//! from_chain.send(ImportBlock(7)).await.unwrap();
//!
//! // The receiver is a Stream of envelopes, too.
//! use tokio_stream::StreamExt;
//! let envelope = inbox.next().await.unwrap();
//! assert_eq!(envelope.from(), ActorType::Chain);
//! let height = envelope
//!     .handle(|ImportBlock(h)| async move { Ok::<_, std::io::Error>(h) })
//!     .await
//!     .unwrap();
//! assert_eq!(height, 7);
//! # }
//! ```

mod channel;
mod envelope;
pub mod health;
mod kinds;
mod mailbox;
mod message;
pub mod supervisor;
mod system;

pub use envelope::{Envelope, HANDLING_SPAN_TARGET};
pub use health::{ActorWindow, SystemHealth};
pub use kinds::ActorKinds;
pub use mailbox::{Actor, Mailbox, MailboxReceiver, MailboxSender};
pub use message::{ActorMessage, SendError, SenderContext, TraceMode};
pub use supervisor::{ActorFailure, ChildHandle, RestartPolicy, StopSignal, Supervisor};
pub use system::{ActorSystem, HEALTH_WINDOW};
