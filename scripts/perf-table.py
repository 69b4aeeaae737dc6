#!/usr/bin/env python3
"""Prints the tables of docs/performance.md from the last benchmark runs.

Every ratio compares two rows of the SAME run (criterion's median point estimates, or the
system benchmark's rounds against bare channels in the same round), never numbers from
different runs or machines.

    perf-table.py metric_record                 # cargo bench --bench hot_path
    perf-table.py message_pass context_handover # cargo bench --bench mailbox
    perf-table.py record_two_threads            # cargo bench --bench recording
    perf-table.py system                        # cargo bench --bench system
"""
import json
import pathlib
import sys

TARGET = pathlib.Path(__file__).resolve().parent.parent / "target"
ROOT = TARGET / "criterion"

# (group, ours, baseline, relation, goal)
GOALS = [
    ("metric_record", "ours_enum_counter_add", "baseline_atomic_fetch_add", "x the atomic", "at most 5x"),
    ("message_pass", "ours_metered_mailbox_unsampled", "baseline_tokio_mpsc_send_recv", "x the bare channel", "at most 3x"),
    ("context_handover", "ours_value_capture_and_parent", "baseline_w3c_inject_extract", "x W3C inject+extract", "at most 0.1x"),
    ("metric_record", "baseline_sdk_counter_add_2_attributes", "ours_enum_counter_add", "x faster than the SDK", "at least 8x"),
    ("metric_record", "ours_enum_histogram_record", "baseline_sdk_histogram_record_1_attribute", "x the SDK histogram", "at most 0.5x"),
]


def median_ns(group, bench):
    path = ROOT / group / bench / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"perf-table: no estimate for {group}/{bench} ({e}); run its cargo bench first")


def benches(group):
    return sorted(p.name for p in (ROOT / group).iterdir() if (p / "new").is_dir())


def criterion_tables(groups):
    print("| benchmark | median (ns) |")
    print("|---|---|")
    for group in groups:
        for bench in benches(group):
            print(f"| `{group}/{bench}` | {median_ns(group, bench):.1f} |")
    rows = [g for g in GOALS if g[0] in groups]
    if not rows:
        return
    print()
    print("| ratio (same run) | value | goal | met |")
    print("|---|---|---|---|")
    for group, a, b, relation, goal in rows:
        ratio = median_ns(group, a) / median_ns(group, b)
        limit = float(goal.split()[2].rstrip("x"))
        met = ratio <= limit if goal.startswith("at most") else ratio >= limit
        print(f"| `{a}` / `{b}` | {ratio:.2f}{relation} | {goal} | {'yes' if met else 'NO'} |")


def recording_table():
    """Each family method against the shared atomic and the kept prometheus handle."""
    group = "record_two_threads"
    atomic = median_ns(group, "baseline_atomic_fetch_add")
    counter = median_ns(group, "baseline_prometheus_counter_kept_handle")
    histogram = median_ns(group, "baseline_prometheus_histogram_kept_handle")
    print("| recording (two threads at once) | ns per record | x the atomic | x the kept prometheus handle |")
    print("|---|---|---|---|")
    for bench in benches(group):
        ns = median_ns(group, bench)
        # A histogram record is set against the kept histogram, anything else the counter.
        handle = histogram if bench.endswith("_record") or "histogram" in bench else counter
        print(f"| `{bench}` | {ns:.1f} | {ns / atomic:.1f}x | {ns / handle:.1f}x |")


def system_table():
    path = TARGET / "system-bench" / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"perf-table: no system summary ({e}); run cargo bench --bench system first")
    print(f"{summary['handled_per_second']} handled messages/s over 4 actors, "
          f"~{summary['work_us']:.0f} µs of work each; {summary['rounds']} rounds of "
          f"{summary['seconds']} s; extra CPU against bare channels in the same round.")
    print()
    print("| variant | cores | extra cores (median, min..max) | extra ns per message (median, min..max) | queue-full drops | peak RSS | trace store at most | goal | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in summary["rows"]:
        ec, ns = row["extra_cores"], row["ns_per_message"]
        goal = f"at most {row['goal_ns']:.0f} ns" if row["goal_ns"] is not None else "—"
        met = {True: "yes", False: "NO", None: "—"}[row["met"]]
        se = row.get("ns_standard_error")
        se = f", ±{se:.0f} s.e." if se is not None else ""
        print(f"| {row['what']} | {row['cores']:.3f} | {ec[0]:+.4f} ({ec[1]:+.4f}..{ec[2]:+.4f}) "
              f"| {ns[0]:.0f} ({ns[1]:.0f}..{ns[2]:.0f}){se} | {row['queue_full']:.0f} "
              f"| {row['peak_rss_mb']:.1f} MB | {row.get('trace_store_peak_mb', 0.0):.1f} MB | {goal} | {met} |")


def main():
    groups = sys.argv[1:] or sorted({g for g, *_ in GOALS})
    criterion_groups = [g for g in groups if g not in ("system", "record_two_threads")]
    if criterion_groups:
        criterion_tables(criterion_groups)
    if "record_two_threads" in groups:
        recording_table()
    if "system" in groups:
        system_table()


if __name__ == "__main__":
    main()
