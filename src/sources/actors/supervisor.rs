//! A small supervisor: runs an actor, restarts it when it fails (with a reason, a policy of
//! at most N restarts in a window, and exponential backoff), and records every lifecycle
//! state, the spawn, stop and recovery durations, and the restart events.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::mailbox::Actor;
use super::system::{ActorEntry, ActorSystem, Inner};
use crate::sources::backoff::Backoff;
use crate::sources::catalog::actors::{LifecycleState, LifecycleStep, RestartReason};
use crate::sources::catalog::labels::ActorType;

/// When to restart and when to give up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    /// At most this many restarts …
    pub max_restarts: u32,
    /// … within this window; one more failure and the supervisor gives up.
    pub within: Duration,
    /// The wait before each restart of a run of consecutive failures (no jitter: restarts
    /// are local to the process, there is no crowd to spread).
    pub backoff: Backoff,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            within: Duration::from_secs(60),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(10)),
        }
    }
}

/// Why an actor stopped working.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct ActorFailure {
    pub reason: RestartReason,
    pub detail: String,
}

impl ActorFailure {
    pub fn new(reason: RestartReason, detail: impl Into<String>) -> Self {
        ActorFailure {
            reason,
            detail: detail.into(),
        }
    }
}

/// Tells a supervised actor that it should stop; it returns `Ok(())` when it has.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
    /// Resolves once a stop is requested.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// How a supervised child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildExit {
    /// Stopped on request.
    Stopped,
    /// The actor returned `Ok(())` by itself.
    Completed,
    /// It failed more often than the policy allows; the last failure.
    GaveUp(ActorFailure),
}

/// A running child.
pub struct ChildHandle {
    entry: Arc<ActorEntry>,
    stop: watch::Sender<bool>,
    task: JoinHandle<ChildExit>,
}

impl ChildHandle {
    pub fn state(&self) -> LifecycleState {
        self.entry.state()
    }

    /// Asks the child to stop and waits for it.
    pub async fn stop(self) -> ChildExit {
        let _ = self.stop.send(true);
        self.join().await
    }

    /// Waits for the child to end on its own (completed or given up).
    pub async fn join(self) -> ChildExit {
        self.task.await.unwrap_or(ChildExit::Stopped)
    }
}

/// Restarts the actors it supervises according to its policy.
pub struct Supervisor {
    system: ActorSystem,
    kind: ActorType,
    policy: RestartPolicy,
}

impl Supervisor {
    /// A supervisor of kind `kind` (the `supervisor` label).
    pub fn new(system: &ActorSystem, kind: ActorType, policy: RestartPolicy) -> Self {
        Supervisor {
            system: system.clone(),
            kind,
            policy,
        }
    }

    /// Runs `actor` (from [`ActorSystem::actor`], or the [`Mailbox::actor`](super::Mailbox::actor) of its mailbox):
    /// `factory` makes a fresh instance for each (re)start. Must be called inside a Tokio
    /// runtime.
    pub fn supervise<F, Fut>(&self, actor: &Actor, factory: F) -> ChildHandle
    where
        F: FnMut(StopSignal) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ActorFailure>> + Send + 'static,
    {
        let entry = Arc::clone(&actor.entry);
        let (stop, stop_rx) = watch::channel(false);
        let run = Run {
            inner: self.system.inner.clone(),
            entry: entry.clone(),
            supervisor: self.kind,
            child: actor.kind(),
            policy: self.policy,
        };
        let task = tokio::spawn(run.supervise(factory, StopSignal(stop_rx)));
        ChildHandle { entry, stop, task }
    }
}

struct Run {
    inner: Arc<Inner>,
    entry: Arc<ActorEntry>,
    supervisor: ActorType,
    child: ActorType,
    policy: RestartPolicy,
}

impl Run {
    fn transition(&self, to: LifecycleState) {
        let from = self.entry.set_state(to);
        if from != to {
            self.inner
                .metrics
                .transitions
                .add((self.child, from, to), 1);
        }
    }

    fn duration(&self, step: LifecycleStep, since: Instant) {
        self.inner
            .metrics
            .lifecycle_duration
            .record((self.child, step), since.elapsed().as_secs_f64());
    }

    async fn supervise<F, Fut>(self, mut factory: F, mut stop: StopSignal) -> ChildExit
    where
        F: FnMut(StopSignal) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ActorFailure>> + Send + 'static,
    {
        let mut recent_restarts: VecDeque<Instant> = VecDeque::new();
        let mut consecutive: u32 = 0;
        let mut failed_at: Option<Instant> = None;
        self.entry.set_state(LifecycleState::Spawning);
        loop {
            let spawned_at = Instant::now();
            let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
            let instance = factory(stop.clone());
            let mut task = tokio::spawn(async move {
                let _ = started_tx.send(());
                instance.await
            });
            // The instance runs once the runtime first polls it.
            if started_rx.await.is_ok() {
                match failed_at.take() {
                    Some(at) => self.duration(LifecycleStep::Recovery, at),
                    None => self.duration(LifecycleStep::Spawn, spawned_at),
                }
                self.transition(LifecycleState::Running);
            }
            let result = tokio::select! {
                // An actor that returns because it was told to stop has stopped, not completed.
                biased;
                _ = stop.stopped() => {
                    let stopping = Instant::now();
                    self.transition(LifecycleState::Stopping);
                    let _ = task.await;
                    self.duration(LifecycleStep::Stop, stopping);
                    self.transition(LifecycleState::Stopped);
                    return ChildExit::Stopped;
                }
                r = &mut task => r,
            };
            let failure = match result {
                Ok(Ok(())) => {
                    self.transition(LifecycleState::Stopped);
                    return ChildExit::Completed;
                }
                Ok(Err(failure)) => failure,
                Err(e) if e.is_panic() => ActorFailure::new(RestartReason::Panic, panic_text(e)),
                Err(_) => {
                    self.transition(LifecycleState::Stopped);
                    return ChildExit::Stopped;
                }
            };
            let now = Instant::now();
            self.transition(LifecycleState::Failed);
            // A long healthy run resets the backoff.
            if now.duration_since(spawned_at) >= self.policy.within {
                consecutive = 0;
            }
            while recent_restarts
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.policy.within)
            {
                recent_restarts.pop_front();
            }
            if recent_restarts.len() as u32 >= self.policy.max_restarts {
                tracing::error!(
                    actor = self.entry.name.as_str(),
                    restarts = recent_restarts.len(),
                    "actor failed too often, giving up: {failure}"
                );
                // Stopped for good: no longer running, so health counts the loss.
                self.transition(LifecycleState::Stopped);
                return ChildExit::GaveUp(failure);
            }
            tracing::warn!(
                actor = self.entry.name.as_str(),
                "actor failed, restarting: {failure}"
            );
            self.transition(LifecycleState::Restarting);
            let m = &self.inner.metrics;
            m.restarts.add((self.child, failure.reason), 1);
            m.supervision_restarts
                .add((self.supervisor, self.child, failure.reason), 1);
            recent_restarts.push_back(now);
            failed_at = Some(now);
            let wait = self.policy.backoff.delay(consecutive);
            consecutive += 1;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.stopped() => {
                    self.transition(LifecycleState::Stopped);
                    return ChildExit::Stopped;
                }
            }
            self.transition(LifecycleState::Recovering);
        }
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_wait_by_the_shared_backoff() {
        let p = RestartPolicy {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_millis(500)),
            ..RestartPolicy::default()
        };
        let waits: Vec<u128> = (0..5).map(|n| p.backoff.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        let bad = Backoff {
            factor: f64::NAN,
            ..p.backoff
        };
        assert_eq!(bad.delay(3), Duration::from_millis(100));
    }
}
