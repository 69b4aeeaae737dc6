#!/usr/bin/env python3
"""Prints the hot-path table of docs/performance.md from the last `cargo bench --bench hot_path`.

Every ratio compares two rows of the SAME run (criterion's median point estimates), never
numbers from different runs or machines.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"

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
        sys.exit(f"perf-table: no estimate for {group}/{bench} ({e}); run cargo bench --bench hot_path first")


def main():
    # `perf-table.py GROUP...` prints the named groups (one bench run each); default: all.
    groups = sys.argv[1:] or sorted({g for g, *_ in GOALS})
    print("| benchmark | median (ns) |")
    print("|---|---|")
    for group in groups:
        for bench in sorted(p.name for p in (ROOT / group).iterdir() if (p / "new").is_dir()):
            print(f"| `{group}/{bench}` | {median_ns(group, bench):.1f} |")
    print()
    print("| ratio (same run) | value | goal | met |")
    print("|---|---|---|---|")
    for group, a, b, relation, goal in GOALS:
        if group not in groups:
            continue
        ratio = median_ns(group, a) / median_ns(group, b)
        limit = float(goal.split()[2].rstrip("x"))
        met = ratio <= limit if goal.startswith("at most") else ratio >= limit
        print(f"| `{a}` / `{b}` | {ratio:.2f}{relation} | {goal} | {'yes' if met else 'NO'} |")


if __name__ == "__main__":
    main()
