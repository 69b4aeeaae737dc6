//! Checkpoints: the executor's durable state in one JSON file, written whole and renamed
//! into place, so that a crash mid-write leaves the previous checkpoint. A checkpoint holds
//! the events whose jobs have not all ended, those jobs with their attempts so far, the
//! dead-letter queue, and the next job id; the W3C trace context of each event, so that its
//! jobs' attempts after a restart continue the event's trace.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::ActionKind;

/// A job's id, unique within the executor's life (checkpoints carry the next one over).
pub type JobId = u64;

/// The format's version: a checkpoint of another version is unreadable.
pub const VERSION: u32 = 1;

/// The executor's state as a checkpoint keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// Milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
    pub next_job: JobId,
    pub events: Vec<PendingEvent>,
    pub jobs: Vec<PendingJob>,
    pub dead_letters: Vec<DeadLetter>,
}

/// An event with jobs still to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub id: String,
    pub event_type: String,
    pub entity: String,
    pub payload: serde_json::Value,
    pub accepted_at_ms: u64,
    /// Every job of the event, ended or not.
    pub jobs: Vec<JobId>,
    /// Whether one of its jobs already went to the dead-letter queue.
    pub dead_lettered: bool,
    /// Its trace context as W3C fields (`traceparent`, `tracestate`).
    pub trace: HashMap<String, String>,
}

/// A job not yet ended: queued, running or waiting for its retry when the checkpoint was
/// taken. It is queued again on recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingJob {
    pub id: JobId,
    pub event_id: String,
    pub action: ActionKind,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A job whose last attempt failed: what `GET /deadletters` lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job_id: JobId,
    pub event_id: String,
    pub event_type: String,
    pub entity: String,
    pub action: ActionKind,
    pub attempts: u32,
    pub reason: String,
    pub dead_lettered_at_ms: u64,
    /// The trace of the event, to find its attempts (empty when it was not traced).
    pub trace_id: String,
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path} is not a checkpoint: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("checkpoint {path} has version {found}, this executor reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
}

/// Where checkpoints are kept: one file.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    pub fn new(path: impl Into<PathBuf>) -> CheckpointStore {
        CheckpointStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `snapshot` beside the checkpoint, then renames it over the checkpoint.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec(snapshot).map_err(|source| CheckpointError::Format {
            path: self.path.clone(),
            source,
        })?;
        let mut next = self.path.clone().into_os_string();
        next.push(".next");
        let next = PathBuf::from(next);
        let mut file = std::fs::File::create(&next).map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&next, &self.path).map_err(io)
    }

    /// The last checkpoint; `None` when there is none.
    pub fn load(&self) -> Result<Option<Snapshot>, CheckpointError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&text).map_err(|source| CheckpointError::Format {
                path: self.path.clone(),
                source,
            })?;
        if snapshot.version != VERSION {
            return Err(CheckpointError::Version {
                path: self.path.clone(),
                found: snapshot.version,
            });
        }
        Ok(Some(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            version: VERSION,
            saved_at_ms: 1,
            next_job: 3,
            events: vec![],
            jobs: vec![PendingJob {
                id: 2,
                event_id: "evt-1".into(),
                action: ActionKind::Webhook,
                attempts: 1,
                last_error: Some("HTTP 503".into()),
            }],
            dead_letters: vec![],
        }
    }

    #[test]
    fn a_saved_checkpoint_loads_back_and_a_missing_one_is_none() {
        let dir = alys_test_support::TempDir::new("checkpoint");
        let store = CheckpointStore::new(dir.join("state/checkpoint.json"));
        assert!(store.load().unwrap().is_none());
        store.save(&snapshot()).unwrap();
        assert_eq!(store.load().unwrap(), Some(snapshot()));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"action\":\"webhook\""), "{text}");
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        let dir = alys_test_support::TempDir::new("checkpoint-bad");
        let store = CheckpointStore::new(dir.join("checkpoint.json"));
        std::fs::write(store.path(), "{not json").unwrap();
        assert!(matches!(store.load(), Err(CheckpointError::Format { .. })));
        let other = Snapshot {
            version: VERSION + 1,
            ..snapshot()
        };
        std::fs::write(store.path(), serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(matches!(store.load(), Err(CheckpointError::Version { .. })));
    }
}
