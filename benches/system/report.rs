//! The variants, one run's result, and the summary over rounds: extra CPU per handled
//! message against bare channels in the same round, median and spread.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Bare,
    MetricsCrate,
    SdkDisabled,
    /// `OTEL_SDK_DISABLED`, mailboxes and bare channels taking turns in one process.
    SdkDisabledPaired,
    /// Bare channels against bare channels by the same turns: the paired method's own bias.
    BarePaired,
    MailboxMetrics,
    Ratio001,
    Ratio1,
    /// Ratio 1.0 with the batch span processor's SDK defaults, to show why ours differ.
    Ratio1SdkBatch,
    /// Ratio 1.0 without the viewer's trace store: what the store adds to each span.
    Ratio1NoViewer,
}

impl Variant {
    pub const ALL: [Variant; 10] = [
        Variant::Bare,
        Variant::MetricsCrate,
        Variant::SdkDisabled,
        Variant::SdkDisabledPaired,
        Variant::BarePaired,
        Variant::MailboxMetrics,
        Variant::Ratio001,
        Variant::Ratio1,
        Variant::Ratio1SdkBatch,
        Variant::Ratio1NoViewer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::MetricsCrate => "metrics_crate",
            Variant::SdkDisabled => "sdk_disabled",
            Variant::SdkDisabledPaired => "sdk_disabled_paired",
            Variant::BarePaired => "bare_paired",
            Variant::MailboxMetrics => "mailbox_metrics",
            Variant::Ratio001 => "ratio_0.01",
            Variant::Ratio1 => "ratio_1",
            Variant::Ratio1SdkBatch => "ratio_1_sdk_batch",
            Variant::Ratio1NoViewer => "ratio_1_no_viewer",
        }
    }

    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name.trim())
    }

    /// What the table says it is.
    fn describe(self) -> &'static str {
        match self {
            Variant::Bare => "bare tokio mpsc channels, no telemetry (the baseline)",
            Variant::MetricsCrate => {
                "metered channel on the `metrics` crate (reth's style), no spans"
            }
            Variant::SdkDisabled => "mailboxes, `OTEL_SDK_DISABLED=true`",
            Variant::SdkDisabledPaired => {
                "mailboxes, `OTEL_SDK_DISABLED=true`, against bare channels in the same process \
                 (half-second turns)"
            }
            Variant::BarePaired => {
                "bare channels against bare channels by the same turns (the paired method's bias)"
            }
            Variant::MailboxMetrics => {
                "mailboxes + metrics, full pipeline, `always_off` (no spans)"
            }
            Variant::Ratio001 => "full pipeline, `parentbased_traceidratio` 0.01",
            Variant::Ratio1 => "full pipeline, `parentbased_traceidratio` 1.0",
            Variant::Ratio1SdkBatch => {
                "full pipeline, ratio 1.0, the SDK's batch defaults (queue 2048, batch 512, 5 s)"
            }
            Variant::Ratio1NoViewer => {
                "full pipeline, ratio 1.0, without the viewer's trace store (`viewer.enabled` false)"
            }
        }
    }

    /// The goal in ns per handled message, where the issue sets one.
    fn goal_ns(self) -> Option<f64> {
        match self {
            Variant::SdkDisabled | Variant::SdkDisabledPaired => Some(50.0),
            Variant::Ratio001 => Some(200.0),
            Variant::Ratio1 => Some(2000.0),
            _ => None,
        }
    }

    /// Whether the variant measures itself against bare channels in its own process.
    pub fn is_paired(self) -> bool {
        matches!(self, Variant::SdkDisabledPaired | Variant::BarePaired)
    }

    /// Whether the variant runs `Telemetry::init`.
    pub fn has_pipeline(self) -> bool {
        !matches!(self, Variant::Bare | Variant::MetricsCrate)
    }

    /// The configuration the variant's process gets, beyond the common one.
    pub fn environment(self) -> Vec<(&'static str, &'static str)> {
        let sampler = |arg| {
            vec![
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ]
        };
        match self {
            Variant::SdkDisabled | Variant::SdkDisabledPaired | Variant::BarePaired => {
                vec![("OTEL_SDK_DISABLED", "true")]
            }
            Variant::MailboxMetrics => vec![("OTEL_TRACES_SAMPLER", "always_off")],
            Variant::Ratio001 => sampler("0.01"),
            Variant::Ratio1 => sampler("1.0"),
            Variant::Ratio1NoViewer => {
                let mut env = sampler("1.0");
                env.push(("ALYS_TELEMETRY_VIEWER_ENABLED", "false"));
                env
            }
            Variant::Ratio1SdkBatch => {
                let mut env = sampler("1.0");
                env.extend([
                    ("OTEL_BSP_MAX_QUEUE_SIZE", "2048"),
                    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
                    ("OTEL_BSP_SCHEDULE_DELAY", "5000"),
                ]);
                env
            }
            _ => Vec::new(),
        }
    }
}

/// One variant's window in one round.
#[derive(Debug, Clone)]
pub struct Run {
    pub variant: Variant,
    pub round: u64,
    pub cpu_s: f64,
    pub wall_s: f64,
    pub messages: f64,
    pub queue_full: f64,
    pub rss_kb: f64,
    /// The viewer's trace store at its largest in the window (0 without a store).
    pub store_peak_bytes: f64,
    /// The paired variant's extra ns per message against bare channels in its own process,
    /// one a pair of slices (empty for the other variants).
    pub paired_ns: Vec<f64>,
}

impl Run {
    pub fn parse(variant: Variant, round: u64, json: &str) -> Run {
        let v: Value = serde_json::from_str(json).expect("a result line");
        let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {json}"));
        Run {
            variant,
            round,
            cpu_s: f("cpu_s"),
            wall_s: f("wall_s"),
            messages: f("messages"),
            queue_full: f("queue_full"),
            rss_kb: f("rss_kb"),
            store_peak_bytes: v["store_peak_bytes"].as_f64().unwrap_or(0.0),
            paired_ns: v["paired_ns"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        }
    }

    fn cores(&self) -> f64 {
        self.cpu_s / self.wall_s
    }

    fn rate(&self) -> f64 {
        self.messages / self.wall_s
    }

    pub fn brief(&self) -> String {
        format!(
            "{:.4} cores, {:.0} msg/s, {} dropped, {:.1} MB peak RSS, trace store at most {:.1} MB",
            self.cores(),
            self.rate(),
            self.queue_full,
            self.rss_kb / 1024.0,
            self.store_peak_bytes / (1 << 20) as f64
        )
    }
}

/// The median (NaN of nothing).
pub fn median(xs: Vec<f64>) -> f64 {
    spread(xs).0
}

/// Median, lowest and highest.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    (
        median,
        xs.first().copied().unwrap_or(f64::NAN),
        xs.last().copied().unwrap_or(f64::NAN),
    )
}

/// Extra cores and ns per message against the same round's bare run: medians and spreads
/// over the rounds (no standard error: one value a round).
type Extra = (f64, f64, f64, f64, f64, f64, Option<f64>);

fn against_bare(mine: &[&Run], bare: &BTreeMap<u64, &Run>) -> Extra {
    let extra: Vec<(f64, f64)> = mine
        .iter()
        .filter_map(|r| bare.get(&r.round).map(|b| (r, b)))
        .map(|(r, b)| {
            let cores = r.cores() - b.cores();
            (cores, cores * 1e9 / r.rate())
        })
        .collect();
    let (c, c_lo, c_hi) = spread(extra.iter().map(|e| e.0).collect());
    let (ns, ns_lo, ns_hi) = spread(extra.iter().map(|e| e.1).collect());
    (c, c_lo, c_hi, ns, ns_lo, ns_hi, None)
}

/// For the paired variant: the median over every pair of every round, the spread of the
/// rounds' own medians, and the standard error of the mean over the pairs.
fn paired(mine: &[&Run]) -> Extra {
    let pairs: Vec<f64> = mine.iter().flat_map(|r| r.paired_ns.clone()).collect();
    let ns = median(pairs.clone());
    let (_, ns_lo, ns_hi) = spread(mine.iter().map(|r| median(r.paired_ns.clone())).collect());
    let n = pairs.len() as f64;
    let mean = pairs.iter().sum::<f64>() / n;
    let variance = pairs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let (rate, _, _) = spread(mine.iter().map(|r| r.rate()).collect());
    let cores = |ns: f64| ns * rate / 1e9;
    let se = (variance / n).sqrt();
    (
        cores(ns),
        cores(ns_lo),
        cores(ns_hi),
        ns,
        ns_lo,
        ns_hi,
        Some(se),
    )
}

pub struct Summary(Value);

/// Per variant, over the rounds: cores, extra cores and ns per handled message against the
/// same round's bare run.
pub fn summarize(runs: &[Run], rounds: u64, seconds: u64) -> Summary {
    let bare: BTreeMap<u64, &Run> = runs
        .iter()
        .filter(|r| r.variant == Variant::Bare)
        .map(|r| (r.round, r))
        .collect();
    let mut rows = Vec::new();
    for variant in Variant::ALL {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.variant == variant).collect();
        if mine.is_empty() {
            continue;
        }
        let (cores, _, _) = spread(mine.iter().map(|r| r.cores()).collect());
        let (extra_cores, extra_lo, extra_hi, ns, ns_lo, ns_hi, se) = if variant.is_paired() {
            paired(&mine)
        } else {
            against_bare(&mine, &bare)
        };
        let (rate, _, _) = spread(mine.iter().map(|r| r.rate()).collect());
        let dropped: f64 = mine.iter().map(|r| r.queue_full).sum();
        let (rss, _, _) = spread(mine.iter().map(|r| r.rss_kb / 1024.0).collect());
        let store_peak = mine.iter().map(|r| r.store_peak_bytes).fold(0.0, f64::max);
        let goal = variant.goal_ns();
        rows.push(json!({
            "variant": variant.name(),
            "what": variant.describe(),
            "cores": cores,
            "extra_cores": [extra_cores, extra_lo, extra_hi],
            "ns_per_message": [ns, ns_lo, ns_hi],
            "ns_standard_error": se,
            "handled_per_second": rate,
            "queue_full": dropped,
            "peak_rss_mb": rss,
            "trace_store_peak_mb": store_peak / (1 << 20) as f64,
            "goal_ns": goal,
            "met": goal.map(|g| ns <= g),
        }));
    }
    Summary(json!({
        "rounds": rounds,
        "seconds": seconds,
        "handled_per_second": crate::HANDLED_PER_SECOND,
        "work_us": crate::WORK.as_secs_f64() * 1e6,
        "rows": rows,
    }))
}

impl Summary {
    /// The table docs/performance.md shows (scripts/perf-table.py prints the same).
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| variant | cores | extra cores vs bare (median, min..max) | extra ns per message (median, min..max) | goal | met | queue-full drops | peak RSS | trace store at most |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for row in self.0["rows"].as_array().into_iter().flatten() {
            let triple = |k: &str, scale: f64, digits: usize| {
                let a = &row[k];
                let f = |i: usize| a[i].as_f64().unwrap_or(f64::NAN) * scale;
                format!("{:.d$} ({:.d$}..{:.d$})", f(0), f(1), f(2), d = digits)
            };
            let goal = row["goal_ns"]
                .as_f64()
                .map(|g| format!("at most {g:.0} ns"))
                .unwrap_or_else(|| "—".into());
            let met = match row["met"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "—",
            };
            out.push_str(&format!(
                "| {} | {:.3} | {} | {} | {goal} | {met} | {:.0} | {:.1} MB | {:.1} MB |\n",
                row["what"].as_str().unwrap_or_default(),
                row["cores"].as_f64().unwrap_or(f64::NAN),
                triple("extra_cores", 1.0, 4),
                triple("ns_per_message", 1.0, 0)
                    + &row["ns_standard_error"]
                        .as_f64()
                        .map(|se| format!(", ±{se:.0} standard error"))
                        .unwrap_or_default(),
                row["queue_full"].as_f64().unwrap_or(f64::NAN),
                row["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
                row["trace_store_peak_mb"].as_f64().unwrap_or(0.0),
            ));
        }
        out
    }

    /// target/system-bench/summary.json.
    pub fn write(&self) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/system-bench");
        let _ = std::fs::create_dir_all(&dir);
        let text = serde_json::to_string_pretty(&self.0).unwrap_or_default();
        if let Err(e) = std::fs::write(dir.join("summary.json"), text) {
            eprintln!("cannot write {}: {e}", dir.display());
        }
    }
}
