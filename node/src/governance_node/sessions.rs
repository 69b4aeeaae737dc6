//! What the governance node remembers of each node's session (named by the
//! `alys-session-id` metadata of its streams): the highest message id it has taken, the
//! answers it gave lately, and the stream to answer on now. A message whose id is not above
//! the highest taken is a duplicate: the node re-sent it after a reconnect, and it is
//! acknowledged again but not processed again.
//!
//! With a journal, every message taken is appended to a file before it is acknowledged, and
//! the file is read at start, so duplicates are recognised across restarts too (the journal is
//! the governance node's record of what it received).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::mpsc;

use alys_telemetry::sources::governance::proto::GovernanceMessage;

/// Sessions remembered at most; the one seen longest ago is forgotten first.
const MAX_SESSIONS: usize = 10_000;
/// Answers kept per session, to give again when a request is re-sent.
const ANSWERS_KEPT: usize = 256;

/// The journal could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the journal {}: {source}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// One node session.
#[derive(Default)]
struct Session {
    /// The highest message id taken.
    last: u64,
    /// Recent answers by the id of the request they answer.
    answers: VecDeque<(u64, GovernanceMessage)>,
    /// The stream (its id and sender) this session reads from now.
    current: Option<(u64, mpsc::Sender<GovernanceMessage>)>,
    seen: Option<Instant>,
}

/// What became of a tracked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// New: act on it (and acknowledge it).
    New,
    /// New, but past its deadline: acknowledge it, do not act.
    Expired,
    /// Taken before: acknowledge again, do not act.
    Duplicate,
}

impl Taken {
    fn as_str(self) -> &'static str {
        match self {
            Taken::New => "taken",
            Taken::Expired => "expired",
            Taken::Duplicate => "duplicate",
        }
    }
}

/// Every session, and the journal.
pub(super) struct Sessions {
    sessions: HashMap<String, Session>,
    journal: Option<File>,
}

impl Sessions {
    /// Sessions restored from `journal` (created if missing), or none without one.
    pub(super) fn open(journal: Option<&Path>) -> Result<Sessions, JournalError> {
        let mut sessions = HashMap::new();
        let Some(path) = journal else {
            return Ok(Sessions {
                sessions,
                journal: None,
            });
        };
        let error = |source| JournalError {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(error)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(&file), &mut text).map_err(error)?;
        for line in text.lines() {
            // A line cut short by a kill is skipped: its message was not acknowledged, so
            // the node sends it again.
            if let Some((session, id)) = parse(line) {
                let s: &mut Session = sessions.entry(session.to_string()).or_default();
                s.last = s.last.max(id);
            }
        }
        // The next line must not continue one cut short.
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n").map_err(error)?;
        }
        Ok(Sessions {
            sessions,
            journal: Some(file),
        })
    }

    /// Takes message `id` of `session`: new (journalled before it is acknowledged), or a
    /// duplicate. `expired`: its deadline has passed. `what` goes into the journal.
    pub(super) fn take(&mut self, session: &str, id: u64, expired: bool, what: &str) -> Taken {
        let s = self.session(session);
        if id <= s.last {
            return Taken::Duplicate;
        }
        s.last = id;
        let taken = if expired { Taken::Expired } else { Taken::New };
        if let Some(journal) = &mut self.journal {
            let what: String = what
                .chars()
                .map(|c| if c.is_whitespace() { '_' } else { c })
                .collect();
            // One write of one line: a kill leaves it whole or absent.
            let line = format!("{session} {id} {what} {}\n", taken.as_str());
            if let Err(e) = journal.write_all(line.as_bytes()) {
                tracing::error!("journal write failed: {e}");
            }
        }
        taken
    }

    /// The highest id taken of `session` (what a receipt acknowledges).
    pub(super) fn last(&self, session: &str) -> u64 {
        self.sessions.get(session).map_or(0, |s| s.last)
    }

    /// `stream` now speaks for `session`.
    pub(super) fn attach(
        &mut self,
        session: &str,
        stream: u64,
        tx: mpsc::Sender<GovernanceMessage>,
    ) {
        self.session(session).current = Some((stream, tx));
    }

    /// `stream` closed; the session keeps its memory.
    pub(super) fn detach(&mut self, session: &str, stream: u64) {
        if let Some(s) = self.sessions.get_mut(session)
            && s.current.as_ref().is_some_and(|(id, _)| *id == stream)
        {
            s.current = None;
        }
    }

    /// Remembers `answer` to request `id`; returns the stream to send it on now.
    pub(super) fn answered(
        &mut self,
        session: &str,
        id: u64,
        answer: GovernanceMessage,
    ) -> Option<mpsc::Sender<GovernanceMessage>> {
        let s = self.session(session);
        if s.answers.len() >= ANSWERS_KEPT {
            s.answers.pop_front();
        }
        s.answers.push_back((id, answer));
        s.current.as_ref().map(|(_, tx)| tx.clone())
    }

    /// The answer already given to request `id`, for a re-sent request.
    pub(super) fn answer(&self, session: &str, id: u64) -> Option<GovernanceMessage> {
        let s = self.sessions.get(session)?;
        s.answers
            .iter()
            .find(|(a, _)| *a == id)
            .map(|(_, m)| m.clone())
    }

    fn session(&mut self, session: &str) -> &mut Session {
        if !self.sessions.contains_key(session) && self.sessions.len() >= MAX_SESSIONS {
            self.forget_oldest();
        }
        let s = self.sessions.entry(session.to_string()).or_default();
        s.seen = Some(Instant::now());
        s
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.seen)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.sessions.remove(&k);
        }
    }
}

/// `session id …` of a journal line.
fn parse(line: &str) -> Option<(&str, u64)> {
    let mut fields = line.split(' ');
    let session = fields.next().filter(|s| !s.is_empty())?;
    let id = fields.next()?.parse().ok()?;
    // The disposition is last: a line without it was cut short.
    let disposition = fields.nth(1)?;
    let whole = fields.next().is_none() && matches!(disposition, "taken" | "expired");
    whole.then_some((session, id))
}

/// The journal's entries as `(session, id, what, disposition)`, in order (tests read it).
pub fn read_journal(path: &Path) -> std::io::Result<Vec<(String, u64, String, String)>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| parse(l).is_some())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap_or(0),
                f[2].to_string(),
                f[3].to_string(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_taken_once_and_the_journal_remembers_them_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("journal-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal");
        let mut s = Sessions::open(Some(&path)).unwrap();
        assert_eq!(s.take("a", 1, false, "req 1"), Taken::New);
        assert_eq!(s.take("a", 2, true, "req-2"), Taken::Expired);
        assert_eq!(s.take("a", 2, false, "req-2"), Taken::Duplicate);
        assert_eq!(s.take("b", 1, false, "x"), Taken::New, "sessions are apart");
        drop(s);
        // A line cut short by a kill is not taken.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"a 3 req-3")
            .unwrap();
        let mut s = Sessions::open(Some(&path)).unwrap();
        assert_eq!(s.last("a"), 2);
        assert_eq!(s.take("a", 1, false, "req 1"), Taken::Duplicate);
        assert_eq!(s.take("a", 3, false, "req-3"), Taken::New);
        let journal = read_journal(&path).unwrap();
        let a: Vec<u64> = journal
            .iter()
            .filter(|(s, ..)| s == "a")
            .map(|(_, id, ..)| *id)
            .collect();
        assert_eq!(a, [1, 2, 3]);
        assert_eq!(journal[0].2, "req_1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn answers_are_kept_for_re_sent_requests_and_go_to_the_current_stream() {
        let mut s = Sessions::open(None).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        s.attach("a", 7, tx);
        let to = s.answered("a", 4, GovernanceMessage::default());
        to.unwrap().try_send(GovernanceMessage::default()).unwrap();
        assert!(rx.try_recv().is_ok());
        assert!(s.answer("a", 4).is_some());
        assert!(s.answer("a", 5).is_none());
        s.detach("a", 8);
        assert!(s.answered("a", 5, GovernanceMessage::default()).is_some());
        s.detach("a", 7);
        assert!(s.answered("a", 6, GovernanceMessage::default()).is_none());
    }
}
