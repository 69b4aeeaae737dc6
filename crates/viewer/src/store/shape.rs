//! The shape of a trace: its spans as a tree (the waterfall's rows) and its critical path,
//! the chain of work that decided when it finished.
//!
//! Jaeger's rule, walked backwards from the end: a span is critical from the end of its
//! last-finishing child until its own end; that child is critical in the same way; before the
//! child started, the span's next-earlier child that finished before then takes over, and so
//! on until the span's own start. One change suits actors: a child is measured by the end of
//! its whole subtree, not by its own end, and children that outlive their parent are kept, not
//! cut at the parent's end. A block handed on from chain to engine to storage to network makes
//! one chain of hops whose last one finishes last, and the whole chain is the critical path,
//! although each sender's span ended when it had handed the block on.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use opentelemetry::trace::SpanId;

use super::Trace;

/// What the walk needs of a span: its id, its parent's (0: none), and when it ran, in
/// nanoseconds since the Unix epoch. Any trace format maps onto it (the `traces` command's
/// OTLP JSON does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub id: u64,
    pub parent: u64,
    pub start_ns: u128,
    pub end_ns: u128,
}

impl Timing {
    /// A stored span's timing.
    pub fn of(span: &opentelemetry_sdk::trace::SpanData) -> Timing {
        let ns =
            |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Timing {
            id: id(span.span_context.span_id()),
            parent: id(span.parent_span_id),
            start_ns: ns(span.start_time),
            end_ns: ns(span.end_time),
        }
    }
}

fn id(span: SpanId) -> u64 {
    u64::from_be_bytes(span.to_bytes())
}

/// A stretch of time during which one span was on the critical path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Index of the span in the slice walked (for a [`Trace`], into [`Trace::spans`]).
    pub span: usize,
    pub start_ns: u128,
    pub end_ns: u128,
}

/// The segments of `trace`'s critical path, latest first.
pub fn critical_path(trace: &Trace) -> Vec<Segment> {
    let timings: Vec<Timing> = trace.spans().iter().map(Timing::of).collect();
    critical_path_of(&timings)
}

/// The segments of the critical path of the trace made of `spans`, latest first.
pub fn critical_path_of(spans: &[Timing]) -> Vec<Segment> {
    if spans.is_empty() {
        return Vec::new();
    }
    let start: Vec<u128> = spans.iter().map(|s| s.start_ns).collect();
    let end: Vec<u128> = spans.iter().map(|s| s.end_ns.max(s.start_ns)).collect();
    let children = children(spans);
    let root = root_of(spans);
    let subtree_end = subtree_ends(&children, &end, root);
    let mut out = Vec::new();
    let mut visited = vec![false; spans.len()];
    visited[root] = true;
    let mut stack = vec![Frame::new(root, subtree_end[root], &children, &subtree_end)];
    while let Some(frame) = stack.last_mut() {
        let s = frame.span;
        let next = frame.next_child(&subtree_end, &visited);
        let Some(child) = next else {
            push(&mut out, s, start[s], frame.cursor.min(end[s]));
            stack.pop();
            continue;
        };
        push(
            &mut out,
            s,
            subtree_end[child].max(start[s]),
            frame.cursor.min(end[s]),
        );
        frame.cursor = start[child];
        visited[child] = true;
        stack.push(Frame::new(
            child,
            subtree_end[child],
            &children,
            &subtree_end,
        ));
    }
    out
}

/// A span being walked: the time before which its work is sought, and its children, the
/// latest-finishing subtree first.
struct Frame {
    span: usize,
    cursor: u128,
    children: Vec<usize>,
    next: usize,
}

impl Frame {
    fn new(span: usize, cursor: u128, children: &[Vec<usize>], subtree_end: &[u128]) -> Frame {
        let mut kids = children[span].clone();
        kids.sort_by(|a, b| subtree_end[*b].cmp(&subtree_end[*a]));
        Frame {
            span,
            cursor,
            children: kids,
            next: 0,
        }
    }

    /// The next child that finished (subtree included) before the cursor.
    fn next_child(&mut self, subtree_end: &[u128], visited: &[bool]) -> Option<usize> {
        while let Some(&c) = self.children.get(self.next) {
            self.next += 1;
            if !visited[c] && subtree_end[c] <= self.cursor {
                return Some(c);
            }
        }
        None
    }
}

fn push(out: &mut Vec<Segment>, span: usize, from: u128, to: u128) {
    if from < to {
        out.push(Segment {
            span,
            start_ns: from,
            end_ns: to,
        });
    }
}

/// The span without a parent; else the earliest whose parent is not among `spans`.
pub fn root_of(spans: &[Timing]) -> usize {
    if let Some(i) = spans.iter().position(|s| s.parent == 0) {
        return i;
    }
    let ids: std::collections::HashSet<u64> = spans.iter().map(|s| s.id).collect();
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| !ids.contains(&s.parent))
        .min_by_key(|(_, s)| s.start_ns)
        .map_or(0, |(i, _)| i)
}

/// Each span's children, by index.
pub fn children(spans: &[Timing]) -> Vec<Vec<usize>> {
    let by_id: HashMap<u64, usize> = spans.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut children = vec![Vec::new(); spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if s.parent != 0
            && let Some(&p) = by_id.get(&s.parent)
            && p != i
        {
            children[p].push(i);
        }
    }
    children
}

/// The waterfall's rows: each span with its depth, parents before children, siblings (and
/// trees whose parent is elsewhere) by start time. Every span appears once.
pub fn tree_order(spans: &[Timing]) -> Vec<(usize, usize)> {
    let children = children(spans);
    let mut is_child = vec![false; spans.len()];
    for kids in &children {
        for &k in kids {
            is_child[k] = true;
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| (spans[i].start_ns, i));
    let mut tops: Vec<usize> = (0..spans.len()).filter(|&i| !is_child[i]).collect();
    by_start(&mut tops);
    let mut out = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    let mut visit = |top: usize, out: &mut Vec<(usize, usize)>| {
        let mut stack = vec![(top, 0usize)];
        while let Some((s, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            out.push((s, depth));
            let mut kids = children[s].clone();
            by_start(&mut kids);
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
    };
    for top in tops {
        visit(top, &mut out);
    }
    // Spans in a parent cycle have no top: list them last, flat.
    for i in 0..spans.len() {
        visit(i, &mut out);
    }
    out
}

/// The latest end in each span's subtree, walked without recursion (a trace may be deep).
fn subtree_ends(children: &[Vec<usize>], end: &[u128], root: usize) -> Vec<u128> {
    let mut subtree = end.to_vec();
    let mut order = Vec::with_capacity(end.len());
    let mut seen = vec![false; end.len()];
    let mut stack = vec![root];
    seen[root] = true;
    while let Some(s) = stack.pop() {
        order.push(s);
        for &c in &children[s] {
            if !seen[c] {
                seen[c] = true;
                stack.push(c);
            }
        }
    }
    for &s in order.iter().rev() {
        for &c in &children[s] {
            subtree[s] = subtree[s].max(subtree[c]);
        }
    }
    subtree
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceId;

    use super::super::trace::tests::span;
    use super::*;

    fn names(trace: &Trace, path: &[Segment]) -> Vec<String> {
        let mut spans: Vec<usize> = path.iter().map(|s| s.span).collect();
        spans.sort();
        spans.dedup();
        let mut names: Vec<String> = spans
            .into_iter()
            .map(|i| trace.spans()[i].name.to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_chain_of_actor_hops_is_critical_although_each_sender_ended_first() {
        // chain hands the block to engine and ends; engine to storage; storage to network.
        let t = Trace::new(
            TraceId::from(1),
            vec![
                span(1, 1, 0, "chain.produce_block", 0, 251),
                span(1, 2, 1, "engine.execute_block", 250, 290),
                span(1, 3, 2, "storage.store_block", 289, 320),
                span(1, 4, 3, "network.broadcast_block", 319, 360),
            ],
            0,
        );
        let path = critical_path(&t);
        assert_eq!(
            names(&t, &path),
            [
                "chain.produce_block",
                "engine.execute_block",
                "network.broadcast_block",
                "storage.store_block",
            ]
        );
        // Contiguous, from the first start to the last end.
        let covered: u128 = path
            .iter()
            .map(|s| (s.end_ns - s.start_ns) / 1_000_000)
            .sum();
        assert_eq!(covered, 360);
    }

    #[test]
    fn a_parallel_child_that_finished_earlier_is_not_critical() {
        let t = Trace::new(
            TraceId::from(1),
            vec![
                span(1, 1, 0, "root", 0, 100),
                span(1, 2, 1, "slow", 10, 90),
                span(1, 3, 1, "fast", 20, 30),
                span(1, 4, 1, "before", 0, 8),
            ],
            0,
        );
        assert_eq!(names(&t, &critical_path(&t)), ["before", "root", "slow"]);
    }

    #[test]
    fn the_tree_lists_parents_before_children_and_siblings_by_start() {
        let spans = [
            Timing {
                id: 1,
                parent: 0,
                start_ns: 0,
                end_ns: 10,
            },
            Timing {
                id: 3,
                parent: 1,
                start_ns: 5,
                end_ns: 6,
            },
            Timing {
                id: 2,
                parent: 1,
                start_ns: 1,
                end_ns: 4,
            },
            Timing {
                id: 4,
                parent: 2,
                start_ns: 2,
                end_ns: 3,
            },
            Timing {
                id: 5,
                parent: 6,
                start_ns: 7,
                end_ns: 8,
            },
            Timing {
                id: 6,
                parent: 5,
                start_ns: 7,
                end_ns: 8,
            },
        ];
        assert_eq!(
            tree_order(&spans),
            [(0, 0), (2, 1), (3, 2), (1, 1), (4, 0), (5, 1)]
        );
    }

    #[test]
    fn a_span_that_is_its_own_parent_does_not_loop() {
        let t = Trace::new(
            TraceId::from(1),
            vec![span(1, 1, 0, "root", 0, 10), span(1, 2, 2, "self", 1, 5)],
            0,
        );
        assert_eq!(names(&t, &critical_path(&t)), ["root"]);
    }
}
