//! The table: medians over rounds, ratios against `encode_only` in the same round.

use crate::run::Run;
use crate::{TARGET_SPANS_PER_SECOND, library};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn spread(values: &[f64]) -> (f64, f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(values.to_vec()), min, max)
}

/// A variant's CPU per span over the baseline's in the same round, one per round.
fn ratios(runs: &[Run], variant: &str, rounds: u64) -> Vec<f64> {
    let of = |v: &str, round| runs.iter().find(|r| r.variant == v && r.round == round);
    (0..rounds)
        .filter_map(|round| Some(of(variant, round)?.cpu_ns() / of("encode_only", round)?.cpu_ns()))
        .collect()
}

/// Whether a variant runs span producers (`sdk_pipeline`, `library_pipeline`, and their
/// `_skim` diagnostics): its exporter CPU leaves theirs out.
pub fn has_producers(variant: &str) -> bool {
    variant.starts_with("sdk_pipeline") || library::is_library(variant)
}

fn row(variant: &str, mine: &[&Run], ratios: &[f64]) -> String {
    let rates: Vec<f64> = mine.iter().map(|r| r.per_second()).collect();
    let (rate, lo, hi) = spread(&rates);
    let cpu = median(mine.iter().map(|r| r.cpu_ns()).collect());
    let cores = median(mine.iter().map(|r| r.cores()).collect());
    let producers = median(mine.iter().map(|r| r.producer_cores()).collect());
    let producers = match has_producers(variant) {
        true => format!("{producers:.2}"),
        false => "-".to_string(),
    };
    let receiver = median(mine.iter().map(|r| r.receiver_ns()).collect());
    let receiver = match variant {
        "encode_only" => "-".to_string(),
        _ => format!("{receiver:.0}"),
    };
    format!(
        "| `{variant}` | {rate:.0} ({lo:.0}..{hi:.0}) | {cpu:.0} | {cores:.2} | {producers} | \
         {:.2}x | {receiver} |",
        median(ratios.to_vec())
    )
}

pub fn markdown(variants: &[String], runs: &[Run], rounds: u64) -> String {
    let mut out = String::from(
        "| variant | spans/s delivered, median (min..max) | exporter CPU ns/span | \
         cores used by the exporting process | of which span producers | \
         exporter CPU/span vs `encode_only` | receiver CPU ns/span |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut medians: Vec<(&str, f64)> = Vec::new();
    let mut threads = String::new();
    for variant in variants {
        let mine: Vec<&Run> = runs.iter().filter(|r| &r.variant == variant).collect();
        if mine.is_empty() {
            continue;
        }
        out += &row(variant, &mine, &ratios(runs, variant, rounds));
        out.push('\n');
        threads += &thread_line(variant, &mine);
        medians.push((
            variant,
            median(mine.iter().map(|r| r.per_second()).collect()),
        ));
    }
    out += "\n`encode_only` encodes without a network: its spans/s are encoded, not delivered. \
            The exporter CPU of the `sdk_pipeline` and `library_pipeline` rows leaves out the \
            span producers' threads.\n\n\
            Cores by thread in the exporting process (median over rounds; names cut to 15 \
            bytes, the threads of one name summed: the library's batch processors, one per \
            export in flight, are all `OpenTelemetry.T`):\n";
    out += &threads;
    out += &disturbance(runs);
    out += "\n";
    out += &notes(runs);
    out += &verdict(&medians);
    out
}

/// Whether the target was met: by the library's path to a receiver that decodes (what it
/// is stated against), and by any variant, the diagnostics included.
fn verdict(medians: &[(&str, f64)]) -> String {
    let reached = |rate: f64| match rate >= TARGET_SPANS_PER_SECOND {
        true => "reached",
        false => "NOT reached",
    };
    let mut out = String::from("\n500,000 spans/s to the receiver (medians):");
    if let Some((_, rate)) = medians.iter().find(|(v, _)| *v == "library_pipeline") {
        out += &format!(
            " by the library's path to a decoding receiver (`library_pipeline`): {} at \
             {rate:.0};",
            reached(*rate)
        );
    }
    if let Some((_, rate)) = medians.iter().find(|(v, _)| *v == "sdk_pipeline") {
        out += &format!(
            " by the SDK path to a decoding receiver (`sdk_pipeline`): {} at {rate:.0};",
            reached(*rate)
        );
    }
    let delivered = medians.iter().filter(|(v, _)| *v != "encode_only");
    if let Some((variant, rate)) = delivered.max_by(|a, b| a.1.total_cmp(&b.1)) {
        out += &format!(
            " by any variant: {} (`{variant}`, {rate:.0}).",
            reached(*rate)
        );
    }
    out + "\n"
}

/// How much of the machine other processes took while the windows ran.
fn disturbance(runs: &[Run]) -> String {
    let others: Vec<f64> = runs.iter().map(Run::others_cores).collect();
    let (median, _, max) = spread(&others);
    let worst = runs
        .iter()
        .max_by(|a, b| a.others_cores().total_cmp(&b.others_cores()));
    let worst = worst.map_or(String::new(), |r| {
        format!(" (`{}`, round {})", r.variant, r.round)
    });
    let verdict = match max > 0.2 {
        true => ": DISTURBED, compare with a quiet run",
        false => "",
    };
    format!(
        "\nOther processes during the windows: median {median:.2} cores, at most \
         {max:.2}{worst}{verdict}.\n"
    )
}

/// The child's threads' cores, median over rounds: a thread near 1.00 is the limit.
fn thread_line(variant: &str, mine: &[&Run]) -> String {
    let mut names: Vec<&str> = (mine.iter())
        .filter_map(|r| r.child["thread_cores"].as_object())
        .flat_map(|o| o.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let parts: Vec<String> = (names.iter())
        .map(|name| {
            let cores = mine
                .iter()
                .map(|r| r.child["thread_cores"][*name].as_f64().unwrap_or(0.0));
            format!("`{name}` {:.2}", median(cores.collect()))
        })
        .collect();
    format!("- `{variant}`: {}\n", parts.join(", "))
}

/// Per-run details the table leaves out: the encoded size, the SDK path's ends and drops.
fn notes(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        let c = &run.child;
        if run.variant == "encode_only" {
            out += &format!(
                "- round {} encode_only: {} bytes a span encoded; CPU ns a span by step \
                 (one thread, before the window): {}\n",
                run.round, c["bytes_per_span"], c["steps_ns"]
            );
        } else if has_producers(&run.variant) {
            let ended = c["ended_total"].as_u64().unwrap_or(0);
            let ended_rate = c["local_spans"].as_f64().unwrap_or(0.0) / run.wall_s.max(1e-9);
            out += &format!(
                "- round {} {}: ended {ended_rate:.0} spans/s in the window; over the \
                 run {ended} ended, {} received, {} dropped (ended - received), \
                 queue_full {}\n",
                run.round,
                run.variant,
                run.received_total,
                ended.saturating_sub(run.received_total),
                c["queue_full"],
            );
        } else if c["failed_exports"].as_u64().unwrap_or(0) > 0 {
            out += &format!(
                "- round {} {}: {} exports failed\n",
                run.round, run.variant, c["failed_exports"]
            );
        }
    }
    out
}
