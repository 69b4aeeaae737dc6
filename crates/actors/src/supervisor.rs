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
use crate::kinds::ActorKinds;
use alys_telemetry_catalog::actors::{LifecycleState, LifecycleStep, RestartReason};
use alys_telemetry_core::backoff::Backoff;

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

/// A running child. It names no kinds: a service keeps the handles of all its children
/// together, whatever they are.
pub struct ChildHandle {
    entry: Arc<dyn HasLifecycle>,
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

/// What a child's handle reads of its actor, whatever the actor's kinds.
trait HasLifecycle: Send + Sync {
    fn state(&self) -> LifecycleState;
}

impl<K: ActorKinds> HasLifecycle for ActorEntry<K> {
    fn state(&self) -> LifecycleState {
        ActorEntry::state(self)
    }
}

/// Restarts the actors it supervises according to its policy.
pub struct Supervisor<K: ActorKinds> {
    system: ActorSystem<K>,
    kind: K::Actor,
    policy: RestartPolicy,
}

impl<K: ActorKinds> Supervisor<K> {
    /// A supervisor of kind `kind` (the `supervisor` label).
    pub fn new(system: &ActorSystem<K>, kind: K::Actor, policy: RestartPolicy) -> Self {
        Supervisor {
            system: system.clone(),
            kind,
            policy,
        }
    }

    /// Runs `actor` (from [`ActorSystem::actor`], or the [`Mailbox::actor`](super::Mailbox::actor) of its mailbox):
    /// `factory` makes a fresh instance for each (re)start. Must be called inside a Tokio
    /// runtime.
    pub fn supervise<F, Fut>(&self, actor: &Actor<K>, factory: F) -> ChildHandle
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

struct Run<K: ActorKinds> {
    inner: Arc<Inner<K>>,
    entry: Arc<ActorEntry<K>>,
    supervisor: K::Actor,
    child: K::Actor,
    policy: RestartPolicy,
}

impl<K: ActorKinds> Run<K> {
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
        let mut restarts = Restarts::default();
        let mut failed_at: Option<Instant> = None;
        self.entry.set_state(LifecycleState::Spawning);
        loop {
            let started = Instant::now();
            let task = self
                .start(factory(stop.clone()), failed_at.take(), started)
                .await;
            let failure = match self.outcome(task, &mut stop).await {
                Ok(failure) => failure,
                Err(exit) => return exit,
            };
            let now = Instant::now();
            self.transition(LifecycleState::Failed);
            let Some(wait) = restarts.after_failure(&self.policy, started, now) else {
                return self.give_up(failure, restarts.recent.len());
            };
            self.restarting(&failure);
            failed_at = Some(now);
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

    /// Spawns one instance and waits for its first poll, which ends a spawn (or, after a
    /// failure at `failed_at`, a recovery).
    async fn start<Fut>(
        &self,
        instance: Fut,
        failed_at: Option<Instant>,
        spawned_at: Instant,
    ) -> JoinHandle<Result<(), ActorFailure>>
    where
        Fut: Future<Output = Result<(), ActorFailure>> + Send + 'static,
    {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = started_tx.send(());
            instance.await
        });
        if started_rx.await.is_ok() {
            match failed_at {
                Some(at) => self.duration(LifecycleStep::Recovery, at),
                None => self.duration(LifecycleStep::Spawn, spawned_at),
            }
            self.transition(LifecycleState::Running);
        }
        task
    }

    /// How the instance ended: a failure to act on, or (`Err`) the end of the child.
    async fn outcome(
        &self,
        mut task: JoinHandle<Result<(), ActorFailure>>,
        stop: &mut StopSignal,
    ) -> Result<ActorFailure, ChildExit> {
        let result = tokio::select! {
            // An actor that returns because it was told to stop has stopped, not completed.
            biased;
            _ = stop.stopped() => {
                let stopping = Instant::now();
                self.transition(LifecycleState::Stopping);
                let _ = task.await;
                self.duration(LifecycleStep::Stop, stopping);
                self.transition(LifecycleState::Stopped);
                return Err(ChildExit::Stopped);
            }
            r = &mut task => r,
        };
        match result {
            Ok(Err(failure)) => Ok(failure),
            Err(e) if e.is_panic() => Ok(ActorFailure::new(RestartReason::Panic, panic_text(e))),
            Ok(Ok(())) => {
                self.transition(LifecycleState::Stopped);
                Err(ChildExit::Completed)
            }
            Err(_) => {
                self.transition(LifecycleState::Stopped);
                Err(ChildExit::Stopped)
            }
        }
    }

    fn restarting(&self, failure: &ActorFailure) {
        tracing::warn!(
            actor = &*self.entry.name,
            "actor failed, restarting: {failure}"
        );
        self.transition(LifecycleState::Restarting);
        let m = &self.inner.metrics;
        m.restarts.add((self.child, failure.reason), 1);
        m.supervision_restarts
            .add((self.supervisor, self.child, failure.reason), 1);
    }

    fn give_up(&self, failure: ActorFailure, restarts: usize) -> ChildExit {
        tracing::error!(
            actor = &*self.entry.name,
            restarts,
            "actor failed too often, giving up: {failure}"
        );
        // Stopped for good: no longer running, so health counts the loss.
        self.transition(LifecycleState::Stopped);
        ChildExit::GaveUp(failure)
    }
}

/// What the supervisor remembers of one child's failures: the restarts within the policy's
/// window, and the run of consecutive failures the backoff grows with. Time is passed in.
#[derive(Debug, Default)]
struct Restarts {
    recent: VecDeque<Instant>,
    consecutive: u32,
}

impl Restarts {
    /// A failure at `now` of an instance started at `started`: the wait before restarting
    /// it, or `None` when the policy gives up.
    fn after_failure(
        &mut self,
        policy: &RestartPolicy,
        started: Instant,
        now: Instant,
    ) -> Option<Duration> {
        // A long healthy run resets the backoff.
        if now.duration_since(started) >= policy.within {
            self.consecutive = 0;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.within)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= policy.max_restarts {
            return None;
        }
        self.recent.push_back(now);
        let wait = policy.backoff.delay(self.consecutive);
        self.consecutive += 1;
        Some(wait)
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
    fn the_policy_gives_up_past_its_restarts_in_the_window() {
        let policy = RestartPolicy {
            max_restarts: 2,
            within: Duration::from_secs(60),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(10)),
        };
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = Restarts::default();
        assert_eq!(
            r.after_failure(&policy, t0, t0 + s(1)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            r.after_failure(&policy, t0 + s(1), t0 + s(2)),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            r.after_failure(&policy, t0 + s(2), t0 + s(3)),
            None,
            "a third within 60 s"
        );
        // Past the window the old restarts no longer count, and a run that lasted the whole
        // window starts the backoff afresh.
        let mut r = Restarts::default();
        r.after_failure(&policy, t0, t0 + s(1));
        r.after_failure(&policy, t0 + s(1), t0 + s(2));
        assert_eq!(
            r.after_failure(&policy, t0 + s(2), t0 + s(70)),
            Some(Duration::from_millis(100))
        );
    }

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
