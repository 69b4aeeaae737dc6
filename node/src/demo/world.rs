//! The simulated node's world: migration, sync, the transaction pool and the peers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::Fault;
use super::actors::{SyncBatch, SyncMailbox};
use super::{Shared, TXPOOL_CAPACITY};
use alys_telemetry::sources::catalog::labels::{ActorType, Outcome};
use alys_telemetry::sources::catalog::migration::{ErrorType, MigrationPhase, RollbackReason};
use alys_telemetry::sources::catalog::peers::PeerRegion;
use alys_telemetry::sources::catalog::sync::SyncState;
use alys_telemetry::sources::catalog::txpool::TransactionRejectionReason;
use fastrand::Rng;

pub(crate) fn spawn(tasks: &mut JoinSet<()>, shared: &Arc<Shared>, to_sync: SyncMailbox) {
    tasks.spawn(migration(shared.clone()));
    tasks.spawn(sync(shared.clone(), to_sync));
    tasks.spawn(txpool(shared.clone()));
    tasks.spawn(peers(shared.clone()));
}

/// A phase takes about ten block intervals; errors now and then; one rollback on the way.
async fn migration(shared: Arc<Shared>) {
    let m = &shared.metrics.migration;
    let mut rng = Rng::new();
    let mut ticker = tokio::time::interval(shared.options.block_interval / 2);
    let mut phase = 0usize;
    let mut progress = 0.0;
    let mut rolled_back = false;
    let mut ticks = 0u64;
    m.set_phase(MigrationPhase::ALL[0], 0.0);
    loop {
        ticker.tick().await;
        ticks += 1;
        let current = MigrationPhase::ALL[phase];
        let finished = phase + 1 == MigrationPhase::ALL.len() && progress >= 100.0;
        // Errors now and then while migrating (below MigrationErrorRate's 0.1/s at the
        // default pace), none once it is done.
        if !finished && (ticks == 5 || rng.f64() < 0.03) {
            let error = ErrorType::ALL[rng.usize(..ErrorType::ALL.len())];
            m.errors.add((current, error), 1);
            tracing::warn!(
                phase = current.as_str(),
                error = error.as_str(),
                "migration error"
            );
        }
        let outcome = if rng.f64() < 0.05 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        m.validations.add((current, outcome), 1);
        if shared.fault_active(Fault::MigrationRollback) {
            m.rollbacks
                .add((current, RollbackReason::ValidationFailed), 1);
        }
        // The validation phase fails once and is rolled back to the previous phase.
        if current == MigrationPhase::Validation && progress > 50.0 && !rolled_back {
            rolled_back = true;
            m.rollbacks
                .add((current, RollbackReason::ValidationFailed), 1);
            tracing::warn!(phase = current.as_str(), "migration rolled back");
            phase -= 1;
            progress = 0.0;
            m.set_phase(MigrationPhase::ALL[phase], progress);
            continue;
        }
        progress += rng.u64(5..15) as f64;
        if progress >= 100.0 && phase + 1 < MigrationPhase::ALL.len() {
            phase += 1;
            progress = 0.0;
            m.set_phase(MigrationPhase::ALL[phase], progress);
        } else {
            m.set_progress(progress);
        }
    }
}

/// Discovers peers, fetches headers, then blocks in batches, catches up, and follows.
async fn sync(shared: Arc<Shared>, to_sync: SyncMailbox) {
    let m = &shared.metrics.sync;
    let mut rng = Rng::new();
    let network_lead = 2_000;
    let mut current = 0u64;
    let mut state = SyncState::Discovering;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(shared.options.block_interval / 2);
    m.set_state(state);
    loop {
        ticker.tick().await;
        let target = network_lead + shared.chain_height.load(Ordering::Relaxed);
        m.set_target_height(target);
        let behind = target.saturating_sub(current);
        state = match state {
            SyncState::Discovering if started.elapsed() > 2 * shared.options.block_interval => {
                SyncState::Headers
            }
            SyncState::Headers if started.elapsed() > 4 * shared.options.block_interval => {
                SyncState::Blocks
            }
            SyncState::Blocks if behind < 200 => SyncState::Catchup,
            SyncState::Catchup if behind <= 2 => SyncState::Synced,
            SyncState::Synced if behind > 50 => SyncState::Catchup,
            SyncState::Failed => SyncState::Blocks,
            other => other,
        };
        if shared.fault_active(Fault::SyncFailed) {
            state = SyncState::Failed;
        }
        m.set_state(state);
        if matches!(
            state,
            SyncState::Blocks | SyncState::Catchup | SyncState::Synced
        ) && behind > 0
        {
            let batch = rng.u64(40..160).min(behind);
            // Peers deliver a batch; the sync actor imports it.
            let trace = alys_telemetry::root_span!(
                "network.fetch_batch",
                actor = ActorType::Network.as_str(),
                batch.size = batch,
                from_height = current,
            );
            trace
                .instrument(async {
                    tokio::time::sleep(Duration::from_millis(rng.u64(5..40))).await;
                    let _ = to_sync.send(SyncBatch { size: batch }).await;
                })
                .await;
            current += batch;
        }
        m.set_current_height(current, Instant::now());
    }
}

/// Transactions arrive, some are refused for one of several reasons, blocks drain the pool.
async fn txpool(shared: Arc<Shared>) {
    let m = &shared.metrics.txpool;
    let mut rng = Rng::new();
    // The reasons a healthy pool mostly sees, most common first.
    let common = [
        TransactionRejectionReason::InsufficientFee,
        TransactionRejectionReason::InvalidNonce,
        TransactionRejectionReason::DuplicateTransaction,
        TransactionRejectionReason::InsufficientBalance,
        TransactionRejectionReason::RateLimited,
    ];
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let arrived = rng.u64(5..60);
        let mut accepted = 0;
        for _ in 0..arrived {
            if rng.f64() < 0.06 {
                let reason = if rng.f64() < 0.9 {
                    common[rng.usize(..common.len())]
                } else {
                    TransactionRejectionReason::ALL
                        [rng.usize(..TransactionRejectionReason::ALL.len())]
                };
                m.rejected(reason, now);
            } else {
                accepted += 1;
            }
        }
        m.accepted(accepted, now);
        let pending = shared
            .pending_transactions
            .fetch_add(accepted, Ordering::Relaxed)
            .saturating_add(accepted)
            .min(TXPOOL_CAPACITY);
        let queued = pending / 10 + rng.u64(0..20);
        m.set_contents(pending, queued, now);
    }
}

/// A peer set that churns slowly across regions, with a random walk of quality.
async fn peers(shared: Arc<Shared>) {
    let m = &shared.metrics.peers;
    let mut rng = Rng::new();
    let regions = [
        PeerRegion::Europe,
        PeerRegion::NorthAmerica,
        PeerRegion::Asia,
        PeerRegion::Oceania,
        PeerRegion::SouthAmerica,
        PeerRegion::Unknown,
    ];
    let mut peers: Vec<(String, PeerRegion, f64)> = (0..24)
        .map(|i| (peer_id(&mut rng), regions[i % regions.len()], 0.8))
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        // One connection attempt a tick; most succeed and replace a departing peer.
        m.connection_attempts.add(1);
        if rng.f64() < 0.85 {
            m.connections.add(Outcome::Success, 1);
            if rng.f64() < 0.3 && !peers.is_empty() {
                let gone = rng.usize(..peers.len());
                let (id, _, _) = peers.swap_remove(gone);
                m.peer_left(&id);
            }
            if peers.len() < 40 {
                let region = regions[rng.usize(..regions.len())];
                peers.push((peer_id(&mut rng), region, 0.75));
            }
        } else {
            m.connections.add(Outcome::Failure, 1);
        }
        let mut per_region: Vec<(PeerRegion, u64)> = Vec::new();
        let mut quality_sum = 0.0;
        let lost = shared.fault_active(Fault::PeerLoss);
        if lost {
            // Every peer is gone for as long as the fault lasts.
            m.all_peers_left();
        }
        for (id, region, quality) in peers.iter_mut().filter(|_| !lost) {
            *quality = (*quality + (rng.u64(0..21) as f64 - 10.0) / 100.0).clamp(0.2, 1.0);
            m.set_quality(id, *quality);
            quality_sum += *quality;
            per_region.push((*region, 1));
        }
        let average = if peers.is_empty() || lost {
            0.0
        } else {
            quality_sum / peers.len() as f64
        };
        m.set_peers(&per_region, average, 10, 50);
    }
}

fn peer_id(rng: &mut Rng) -> String {
    format!("12D3KooW{:016x}", rng.u64(..))
}
