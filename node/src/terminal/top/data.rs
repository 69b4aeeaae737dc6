//! What `top` shows, derived from two consecutive reads of a node's `/metrics` (rates and
//! percentiles over the second between them) and its `/api/health`.

use std::collections::BTreeMap;
use std::time::Duration;

use alys_telemetry::sources::catalog::sync::SyncState;

use alys_exposition::Exposition;

/// One read of the node.
#[derive(Debug, Clone)]
pub struct Reading {
    pub metrics: Exposition,
    pub health: Health,
    /// Why `/api/health` refused this client (the viewer can take other credentials than
    /// `/metrics`); the health panel is then empty.
    pub health_refused: Option<String>,
}

/// `/api/health`: the report and each check's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
    /// Name, status, detail; the whole process first, as `""`.
    pub checks: Vec<(String, String, String)>,
    /// Per check, the statuses oldest first.
    pub history: BTreeMap<String, Vec<String>>,
}

impl Health {
    pub fn parse(json: &str) -> Result<Health, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("/api/health is not JSON: {e}"))?;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let report = &v["report"];
        let mut checks = vec![(String::new(), text(&report["status"]), String::new())];
        if let Some(map) = report["checks"].as_object() {
            for (name, c) in map {
                checks.push((name.clone(), text(&c["status"]), text(&c["detail"])));
            }
        }
        let history = v["history"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, list)| {
                        let statuses = list
                            .as_array()
                            .map(|l| l.iter().map(|s| text(&s["status"])).collect())
                            .unwrap_or_default();
                        (name.clone(), statuses)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Health {
            status: text(&report["status"]),
            version: text(&report["version"]),
            uptime_seconds: report["uptime_seconds"].as_u64().unwrap_or(0),
            checks,
            history,
        })
    }
}

/// One actor's line.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorLine {
    pub actor_type: String,
    pub messages_per_second: Option<f64>,
    pub latency_p95_seconds: Option<f64>,
    pub mailbox: f64,
    pub restarts: f64,
    pub failed: f64,
}

/// The actors, from the latest reading and the one before (rates need both).
pub fn actors(now: &Exposition, before: Option<&Exposition>, elapsed: Duration) -> Vec<ActorLine> {
    let mut types: Vec<String> = now
        .samples
        .iter()
        .filter(|s| s.name == "alys_actor_messages_total" || s.name == "alys_actor_mailbox_size")
        .filter_map(|s| s.labels.get("actor_type").cloned())
        .collect();
    types.sort();
    types.dedup();
    types
        .into_iter()
        .map(|a| {
            let labels = [("actor_type", a.as_str())];
            let total = |e: &Exposition| e.sum("alys_actor_messages_total", &labels).unwrap_or(0.0);
            let rate = before
                .filter(|_| !elapsed.is_zero())
                .map(|b| (total(now) - total(b)).max(0.0) / elapsed.as_secs_f64());
            ActorLine {
                messages_per_second: rate,
                latency_p95_seconds: p95(
                    now,
                    before,
                    "alys_actor_message_latency_seconds",
                    &labels,
                ),
                mailbox: now.sum("alys_actor_mailbox_size", &labels).unwrap_or(0.0),
                restarts: now.sum("alys_actor_restarts_total", &labels).unwrap_or(0.0),
                failed: now
                    .sum(
                        "alys_actor_messages_total",
                        &[("actor_type", a.as_str()), ("outcome", "failed")],
                    )
                    .unwrap_or(0.0),
                actor_type: a,
            }
        })
        .collect()
}

/// The 95th percentile of histogram `name` over the interval between the readings (since
/// start when there is one reading), interpolated within its bucket as Prometheus does.
pub fn p95(
    now: &Exposition,
    before: Option<&Exposition>,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let bucket = format!("{name}_bucket");
    let counts = |e: &Exposition| -> BTreeMap<u64, (f64, f64)> {
        let mut by_le = BTreeMap::new();
        for s in e.matching(&bucket, labels) {
            let Some(le) = s.labels.get("le").and_then(|l| parse_le(l)) else {
                continue;
            };
            let entry = by_le.entry(le.to_bits()).or_insert((le, 0.0));
            entry.1 += s.value;
        }
        by_le
    };
    let mut buckets: Vec<(f64, f64)> = counts(now).into_values().collect();
    if let Some(b) = before {
        let old = counts(b);
        for (le, count) in &mut buckets {
            *count -= old.get(&le.to_bits()).map_or(0.0, |x| x.1);
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    quantile(&buckets, 0.95)
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        t => t.parse().ok(),
    }
}

/// `q` of cumulative `(le, count)` buckets, ascending.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(previous.0);
            }
            let in_bucket = count - previous.1;
            let fraction = if in_bucket > 0.0 {
                (rank - previous.1) / in_bucket
            } else {
                1.0
            };
            return Some(previous.0 + (le - previous.0) * fraction);
        }
        previous = (le, count);
    }
    None
}

/// Chain and sync, one line each.
pub fn chain(
    now: &Exposition,
    before: Option<&Exposition>,
    elapsed: Duration,
) -> Vec<(String, String)> {
    let v = |name: &str| now.sum(name, &[]);
    let show = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.0}"));
    let state = v("alys_sync_state")
        .and_then(|s| SyncState::ALL.get(s as usize))
        .map_or("–".to_string(), |s| s.as_str().to_string());
    let blocks = |e: &Exposition| e.sum("alys_block_production_duration_seconds_count", &[]);
    let per_minute = match (blocks(now), before.and_then(blocks)) {
        (Some(n), Some(b)) if !elapsed.is_zero() => {
            format!("{:.1}/min", (n - b).max(0.0) * 60.0 / elapsed.as_secs_f64())
        }
        _ => "–".into(),
    };
    vec![
        ("sync state".into(), state),
        (
            "height".into(),
            format!(
                "{} of {}",
                show(v("alys_sync_current_height")),
                show(v("alys_sync_target_height"))
            ),
        ),
        (
            "sync progress".into(),
            v("alys_sync_progress_percent").map_or("–".into(), |p| format!("{p:.1} %")),
        ),
        (
            "blocks produced".into(),
            format!("{} ({per_minute})", show(blocks(now))),
        ),
        (
            "block time p95".into(),
            seconds(p95(
                now,
                before,
                "alys_block_production_duration_seconds",
                &[],
            )),
        ),
        ("tx pool".into(), show(v("alys_txpool_size"))),
        ("peers".into(), show(v("alys_peer_count"))),
    ]
}

/// The governance stream, one line each.
pub fn governance(
    now: &Exposition,
    before: Option<&Exposition>,
    elapsed: Duration,
) -> Vec<(String, String)> {
    let v = |name: &str| now.sum(name, &[]);
    let show = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.0}"));
    let rate = |name: &str| match (now.sum(name, &[]), before.and_then(|b| b.sum(name, &[]))) {
        (Some(n), Some(b)) if !elapsed.is_zero() => {
            format!("{:.1}/s", (n - b).max(0.0) / elapsed.as_secs_f64())
        }
        _ => "–".into(),
    };
    let connected = match v("alys_governance_connection_status") {
        Some(x) if x >= 1.0 => "connected",
        Some(_) => "DISCONNECTED",
        None => "–",
    };
    vec![
        ("stream".into(), connected.into()),
        (
            "sent".into(),
            format!(
                "{} ({})",
                show(v("alys_governance_messages_sent_total")),
                rate("alys_governance_messages_sent_total")
            ),
        ),
        (
            "received".into(),
            format!(
                "{} ({})",
                show(v("alys_governance_messages_received_total")),
                rate("alys_governance_messages_received_total")
            ),
        ),
        (
            "pending requests".into(),
            show(v("alys_governance_pending_requests")),
        ),
        (
            "buffered".into(),
            show(v("alys_governance_message_buffer_size")),
        ),
        (
            "reconnects".into(),
            show(v("alys_governance_reconnect_attempts_total")),
        ),
        (
            "stream errors".into(),
            show(v("alys_governance_stream_errors_total")),
        ),
    ]
}

/// The pipeline's exports per signal, and the trace store.
pub fn exports(now: &Exposition, unix_now: f64) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for signal in ["traces", "metrics", "logs"] {
        let l = [("signal", signal)];
        let n = |name: &str| now.sum(name, &l).unwrap_or(0.0);
        let last = n("alys_telemetry_last_export_success_timestamp_seconds");
        let age = if last > 0.0 {
            format!("last ok {:.0}s ago", (unix_now - last).max(0.0))
        } else {
            "never ok".into()
        };
        lines.push((
            signal.to_string(),
            format!(
                "{:.0} exports, {:.0} failed, {:.0} items, {age}",
                n("alys_telemetry_export_attempts_total"),
                n("alys_telemetry_export_failures_total"),
                n("alys_telemetry_exported_items_total"),
            ),
        ));
    }
    if let Some(traces) = now.sum("alys_telemetry_trace_store_traces", &[]) {
        let mib = now
            .sum("alys_telemetry_trace_store_memory_bytes", &[])
            .unwrap_or(0.0)
            / 1048576.0;
        let evicted = now
            .sum("alys_telemetry_trace_store_evicted_traces_total", &[])
            .unwrap_or(0.0);
        lines.push((
            "trace store".into(),
            format!("{traces:.0} traces, {mib:.1} MiB, {evicted:.0} evicted"),
        ));
    }
    lines
}

/// Seconds as milliseconds, or a dash.
pub fn seconds(s: Option<f64>) -> String {
    s.map_or("–".to_string(), |s| format!("{:.1} ms", s * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_95th_percentile_interpolates_within_its_bucket() {
        let b = [
            (0.01, 50.0),
            (0.1, 90.0),
            (1.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        let q = quantile(&b, 0.95).unwrap();
        assert!((q - 0.55).abs() < 1e-9, "{q}");
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.95), None);
    }

    #[test]
    fn actor_rates_come_from_two_readings() {
        let before = Exposition::parse(
            "alys_actor_messages_total{actor_type=\"chain\",message_type=\"mining\",outcome=\"processed\"} 10\n",
        )
        .unwrap();
        let now = Exposition::parse(concat!(
            "alys_actor_messages_total{actor_type=\"chain\",message_type=\"mining\",outcome=\"processed\"} 30\n",
            "alys_actor_mailbox_size{actor_type=\"chain\"} 3\n",
            "alys_actor_restarts_total{actor_type=\"chain\",reason=\"error\"} 1\n",
        ))
        .unwrap();
        let lines = actors(&now, Some(&before), Duration::from_secs(2));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].messages_per_second, Some(10.0));
        assert_eq!((lines[0].mailbox, lines[0].restarts), (3.0, 1.0));
    }

    #[test]
    fn health_reads_the_report_and_history() {
        let h = Health::parse(r#"{"report":{"status":"degraded","version":"0.1.0","uptime_seconds":5,"checks":{"chain":{"status":"degraded","detail":"no block for 6000 ms"}}},"history":{"chain":[{"at_unix_ms":1,"status":"healthy","detail":""},{"at_unix_ms":2,"status":"degraded","detail":"x"}]}}"#).unwrap();
        assert_eq!(h.status, "degraded");
        assert_eq!(
            h.checks[1],
            (
                "chain".into(),
                "degraded".into(),
                "no block for 6000 ms".into()
            )
        );
        assert_eq!(h.history["chain"], ["healthy", "degraded"]);
    }
}
