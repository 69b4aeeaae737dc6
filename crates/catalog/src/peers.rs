//! Peers and the health of the network around the node.

use crate::external::{CardinalityGuard, LiveGauge};
use crate::instruments::{Counter, CounterVec, Gauge, GaugeVec};
use crate::labels::Outcome;
use crate::{LabelValue, MetricFamily};

/// The name the Alys network dashboard and the peer alert rules query.
const DASHBOARD_NAME: &str = "the name the Alys network dashboard and the peer alert rules query";

/// The peer family's instruments. Build once at start-up.
#[derive(MetricFamily)]
#[family(title = "peers", crate = crate)]
pub struct PeerMetrics {
    /// Connected peers
    #[metric(
        name = "alys_peer_count",
        start = absent("0 peers fires LowPeerCount; the count is unknown until the network reports"),
        why = DASHBOARD_NAME
    )]
    count: Gauge,
    /// Connected peers by region
    #[metric(
        name = "alys_peer_geographic_distribution",
        labels(region),
        start = absent("0 in every region fires LowGeographicDiversity before the network reports"),
        why = DASHBOARD_NAME
    )]
    regions: GaugeVec<PeerRegion>,
    /// Outbound connection attempts to peers
    #[metric(
        name = "alys_peer_connection_attempts_total",
        why = "operators compare attempts with successful connections"
    )]
    pub connection_attempts: Counter,
    /// Finished connection attempts by outcome
    #[metric(
        name = "alys_peer_connections_total",
        labels(outcome),
        why = "operators compare attempts with successful connections"
    )]
    pub connections: CounterVec<Outcome>,
    /// Network health from 0 to 1: peer count 40 %, average quality 40 %, regional diversity 20 %
    #[metric(
        name = "alys_network_health_score",
        start = absent("a score is computed from the first peer report"),
        why = "the overview dashboard shows one health figure for the network"
    )]
    health: Gauge,
    /// Connection quality of each connected peer, 0 to 1 (peer_id sanitised; a peer's series goes when it leaves; at most 1000 connected peers)
    #[metric(
        name = "alys_peer_quality_score",
        labels(peer_id),
        limit = 1000,
        why = DASHBOARD_NAME
    )]
    quality: LiveGauge,
}

/// Peer regions, as the Alys network reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, LabelValue)]
#[label(crate = crate)]
pub enum PeerRegion {
    NorthAmerica,
    Europe,
    Asia,
    SouthAmerica,
    Africa,
    Oceania,
    Unknown,
}

impl PeerRegion {
    /// The six regions a peer can be placed in (`Unknown` is not a place: it does not
    /// count towards geographic diversity).
    pub const KNOWN: usize = 6;

    /// Parses region names and the aliases peers report ("eu", "us", "ap", …); anything
    /// else is `Unknown`.
    pub fn parse(text: &str) -> PeerRegion {
        match text.trim().to_ascii_lowercase().as_str() {
            "north_america" | "na" | "us" | "ca" => PeerRegion::NorthAmerica,
            "europe" | "eu" => PeerRegion::Europe,
            "asia" | "ap" => PeerRegion::Asia,
            "south_america" | "sa" => PeerRegion::SouthAmerica,
            "africa" | "af" => PeerRegion::Africa,
            "oceania" | "oc" | "au" => PeerRegion::Oceania,
            _ => PeerRegion::Unknown,
        }
    }
}

/// What the network health score is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkHealthInputs {
    pub connected_peers: u64,
    pub min_peers: u64,
    pub optimal_peers: u64,
    /// Mean peer quality, 0..1.
    pub average_quality: f64,
    /// Regions (other than Unknown) with at least one peer.
    pub regions_with_peers: usize,
}

/// The network health score of the Alys network dashboard (weights 0.4 / 0.4 / 0.2), with
/// two corrections to the formula it was first given: diversity is out of the six known
/// regions (the first formula divided by 6 but counted Unknown, a seventh), and a NaN quality
/// counts as 0 instead of poisoning the score.
pub fn network_health_score(i: NetworkHealthInputs) -> f64 {
    let c = i.connected_peers as f64;
    let min = i.min_peers as f64;
    let opt = i.optimal_peers.max(i.min_peers) as f64;
    let peer_count_score = if c >= opt {
        1.0
    } else if c >= min && opt > min {
        0.5 + 0.5 * (c - min) / (opt - min)
    } else if min > 0.0 {
        c / min * 0.5
    } else {
        1.0
    };
    let quality = if i.average_quality.is_nan() {
        0.0
    } else {
        i.average_quality.clamp(0.0, 1.0)
    };
    let diversity = (i.regions_with_peers as f64 / PeerRegion::KNOWN as f64).min(1.0);
    0.4 * peer_count_score + 0.4 * quality + 0.2 * diversity
}

/// Successful connections as a share of finished ones; `None` before any finished.
pub fn connection_success_rate(successes: u64, failures: u64) -> Option<f64> {
    let total = successes + failures;
    (total > 0).then(|| successes as f64 / total as f64)
}

impl PeerMetrics {
    /// A connected peer's quality (its raw id is sanitised); its series lasts until
    /// [`peer_left`](Self::peer_left).
    pub fn set_quality(&self, peer_id: &str, score: f64) {
        self.quality.set(peer_id, score.clamp(0.0, 1.0));
    }

    /// A peer disconnected: its quality series goes from the next scrape, and its slot
    /// under the cardinality limit is free again.
    pub fn peer_left(&self, peer_id: &str) {
        self.quality.remove(peer_id);
    }

    /// Every peer disconnected at once.
    pub fn all_peers_left(&self) {
        self.quality.retain(|_| false);
    }

    /// Peers with a quality series now.
    pub fn peers_with_quality(&self) -> usize {
        self.quality.live()
    }

    /// Publishes the peer set: count per region (every region, zeros included, so a region
    /// that empties shows 0 rather than its last count) and the network health score.
    pub fn set_peers(
        &self,
        per_region: &[(PeerRegion, u64)],
        average_quality: f64,
        min_peers: u64,
        optimal_peers: u64,
    ) {
        let mut total = 0;
        let mut regions_with_peers = 0;
        for region in PeerRegion::ALL {
            let n = per_region
                .iter()
                .filter(|(r, _)| r == region)
                .map(|(_, n)| n)
                .sum::<u64>();
            total += n;
            if n > 0 && *region != PeerRegion::Unknown {
                regions_with_peers += 1;
            }
            self.regions.set(*region, n as f64);
        }
        self.count.set(total as f64);
        self.health.set(network_health_score(NetworkHealthInputs {
            connected_peers: total,
            min_peers,
            optimal_peers,
            average_quality,
            regions_with_peers,
        }));
    }

    /// The guard of the peer-quality metric (its overflow count, for tests).
    pub fn quality_guard(&self) -> &CardinalityGuard {
        self.quality.guard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(connected: u64, quality: f64, regions: usize) -> NetworkHealthInputs {
        NetworkHealthInputs {
            connected_peers: connected,
            min_peers: 10,
            optimal_peers: 50,
            average_quality: quality,
            regions_with_peers: regions,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn network_health_against_hand_computed_values() {
        // Optimal peers, perfect quality, all six regions.
        assert!(close(network_health_score(inputs(50, 1.0, 6)), 1.0));
        // 30 peers: 0.5 + 0.5 * 20/40 = 0.75; quality 0.8; 3 regions = 0.5.
        // 0.4*0.75 + 0.4*0.8 + 0.2*0.5 = 0.3 + 0.32 + 0.1.
        assert!(close(network_health_score(inputs(30, 0.8, 3)), 0.72));
        // 5 peers, below the minimum: 5/10 * 0.5 = 0.25.
        assert!(close(
            network_health_score(inputs(5, 0.5, 1)),
            0.1 + 0.2 + 0.2 / 6.0
        ));
        // NaN quality counts as 0.
        assert!(close(network_health_score(inputs(50, f64::NAN, 6)), 0.6));
        // No peers at all.
        assert!(close(network_health_score(inputs(0, 0.0, 0)), 0.0));
    }

    #[test]
    fn regions_parse_the_reported_aliases() {
        use crate::instruments::LabelValues;
        assert_eq!(PeerRegion::COUNT, 7);
        assert_eq!(PeerRegion::parse("EU"), PeerRegion::Europe);
        assert_eq!(PeerRegion::parse("us"), PeerRegion::NorthAmerica);
        assert_eq!(PeerRegion::parse("au"), PeerRegion::Oceania);
        assert_eq!(PeerRegion::parse("mars"), PeerRegion::Unknown);
    }

    #[test]
    fn success_rate_needs_finished_connections() {
        assert_eq!(connection_success_rate(0, 0), None);
        assert_eq!(connection_success_rate(150, 10), Some(150.0 / 160.0));
    }
}
