#!/usr/bin/env python3
"""Where a system-benchmark variant's CPU goes, from a perf profile of its process.

Each sample is given to the innermost frame of its call stack that belongs to a known part
(the workload's own work, the channel, the runtime, metric records, clock reads, trace
contexts and decisions, sampled spans, OTLP export, ...), and each part's share of the
samples is turned into nanoseconds per handled message with the variant's CPU and rate.
docs/performance.md ("Where the remaining cost goes") shows how to record the profile:

    perf script -i ratio.data --pid CHILD -F tid,ip,sym --inline \\
        | python3 scripts/cost-shares.py --cores 0.25 --rate 50000

CHILD is the variant's process (`perf report -i ratio.data --sort pid`: the busiest one, not
the benchmark's parent), and --cores the CPU the benchmark printed for it.
"""
import argparse
import collections
import re
import sys

# (part, pattern on a frame's symbol); the first part whose pattern matches a frame, walking
# from the innermost frame outwards, takes the sample. The handler's `with_context` wrapper
# wraps all of the handler's work, so it counts only as the innermost frame (see below).
PARTS = [
    ("work", r"^work \(inlined\)|workload::work\b"),
    ("handler (work inlined)", r"^system::workload::mailboxes::\{\{closure\}\}::\{\{closure\}\}::\{\{closure\}\}$"),
    ("metric records", r"opentelemetry_sdk::metrics::internal::(histogram|sum)|ResolvedBoundMeasures|Bound(Histogram|Sum)Handle"),
    ("metric collection", r"opentelemetry_sdk::metrics|opentelemetry_prometheus|prometheus::"),
    ("clock reads", r"quanta::"),
    ("trace contexts and decisions", r"opentelemetry::context|SenderContext|decide_root|TraceScope|handling_scope|with_remote_span_context|should_sample|fastrand|traces::decision|traces::scope"),
    ("sampled spans", r"tracing_opentelemetry|opentelemetry_sdk::trace|tracing_subscriber|tracing_core|tracing::span"),
    ("OTLP export", r"tonic|hyper|h2::|opentelemetry_otlp|prost"),
    ("mailbox bookkeeping", r"alys_telemetry::sources::actors|Envelope|MailboxSender|MailboxReceiver"),
    ("channel", r"tokio::sync"),
    ("runtime and kernel", r"tokio::runtime|mio::|tokio::time"),
]
INNERMOST_ONLY = ("trace contexts and decisions", r"WithContext")


def samples(lines):
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line.startswith("\t"):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                stack.append(parts[1])
        else:
            stack = []
    if stack:
        yield stack


def part_of(stack, parts, innermost):
    if innermost[1].search(stack[0]):
        return innermost[0]
    for frame in stack:
        for name, pattern in parts:
            if pattern.search(frame):
                return name
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=float, required=True, help="the variant's CPU, in cores")
    ap.add_argument("--rate", type=float, required=True, help="handled messages a second")
    args = ap.parse_args()
    parts = [(n, re.compile(p)) for n, p in PARTS]
    innermost = (INNERMOST_ONLY[0], re.compile(INNERMOST_ONLY[1]))
    counts = collections.Counter(part_of(s, parts, innermost) for s in samples(sys.stdin))
    total = sum(counts.values())
    if total == 0:
        sys.exit("cost-shares: no samples on standard input")
    ns_per_share = args.cores / args.rate * 1e9
    print(f"{total} samples, {args.cores} cores, {args.rate:.0f} messages/s")
    print()
    print("| part | share of the process | ns per message |")
    print("|---|---|---|")
    for name, n in counts.most_common():
        share = n / total
        print(f"| {name} | {100 * share:.1f} % | {share * ns_per_share:.0f} |")


if __name__ == "__main__":
    main()
