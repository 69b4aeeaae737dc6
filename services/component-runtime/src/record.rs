//! The message that travels the pipeline: a record, addressed to one component at a time.
//! Its kind (`message_type`) and the name of its handling span come from that component, so
//! one record's trace reads `source.ingest` → `parser.parse` → `enricher.enrich` →
//! `sink.deliver`.

use std::collections::BTreeMap;

use alys_telemetry::sources::actors::ActorMessage;

use crate::kinds::{ComponentId, Kinds, Work};

/// A record on its way through the components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unique within the process, for logs and answers.
    pub id: u64,
    /// What came in from outside: `key=value` pairs, separated by spaces.
    pub payload: String,
    /// What the components made of it so far.
    pub fields: BTreeMap<String, String>,
    /// A fault to inject: this component fails while processing the record.
    pub crash_at: Option<ComponentId>,
    /// The component it is addressed to now.
    pub stage: ComponentId,
}

impl Record {
    /// The same record, addressed to `next`.
    pub fn forwarded(self, next: ComponentId) -> Record {
        Record {
            stage: next,
            ..self
        }
    }
}

impl ActorMessage for Record {
    type Kinds = Kinds;

    fn message_type(&self) -> Work {
        self.stage.work()
    }

    fn name(&self) -> &'static str {
        self.stage.work().as_str()
    }
}
