//! `/traces/{trace_id}`: one trace as a waterfall. Each span is a row (parents above their
//! children, indented), its bar placed on the trace's time axis; the critical path is drawn
//! over the bars and its spans are marked. Each row opens (a `<details>`, no script) onto the
//! span's attributes, events and links; a link to a kept trace (an actor in link mode starts
//! a new trace linked to the sender's) leads to it.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::SpanData;

use super::{format, layout, problem, respond};
use crate::Viewer;
use crate::api::parse_trace_id;
use crate::store::{Segment, Timing, Trace, TraceStore, critical_path_of, tree_order};

/// `GET /traces/{trace_id}`
pub async fn trace(State(viewer): State<Viewer>, Path(id): Path<String>) -> Response {
    let Some(store) = &viewer.store else {
        return problem(
            StatusCode::NOT_FOUND,
            "No traces",
            "The OpenTelemetry SDK is disabled.",
        );
    };
    let Some(trace_id) = parse_trace_id(&id) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad trace id",
            &format!("{id:?} is not a trace id (up to 32 hex digits)."),
        );
    };
    let Some(trace) = store.get(trace_id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Trace not kept",
            &format!(
                "Trace {trace_id} is not kept here: evicted, never sampled, or from another node."
            ),
        );
    };
    let title = format!("{} · trace", trace.operation());
    let body = html! {
        h1 { (trace.operation()) }
        (facts(store, &trace))
        (waterfall(store, &trace))
    };
    respond(StatusCode::OK, layout(&title, "/traces", body))
}

fn facts(store: &TraceStore, trace: &Trace) -> Markup {
    let resource = store.resource();
    html! {
        dl.facts {
            dt { "Trace" } dd.mono { (trace.trace_id()) " · " a href=(format!("/api/traces/{}", trace.trace_id())) { "OTLP JSON" } }
            dt { "Started" } dd.mono { (format::time(trace.start())) }
            dt { "Duration" } dd { (format::duration(trace.duration())) }
            dt { "Spans" } dd { (trace.spans().len()) }
            dt { "Service" } dd { code { (store.service_name()) } }
            @if trace.has_error() { dt { "Status" } dd { span.badge.error { "error" } } }
            @if !trace.has_local_root() { dt { "Root" } dd.muted { "started in another process; shown from the first span here" } }
        }
        details {
            summary { "Resource" }
            table.attributes {
                @for (k, v) in resource.iter() { tr { td.mono { (k.as_str()) } td.mono { (v.as_str()) } } }
            }
        }
    }
}

fn waterfall(store: &TraceStore, trace: &Trace) -> Markup {
    let spans = trace.spans();
    let timings: Vec<Timing> = spans.iter().map(Timing::of).collect();
    let path = critical_path_of(&timings);
    let rows = tree_order(&timings);
    let t0 = nanos(trace.start());
    let total = (nanos(trace.end()).saturating_sub(t0)).max(1) as f64;
    let pct = |ns: u128| (ns.saturating_sub(t0) as f64 / total * 100.0).clamp(0.0, 100.0);
    let service = store.service_name();
    html! {
        div.legend {
            span { i style="background: var(--bar)" {} "span" }
            span { i style="background: var(--crit)" {} "critical path (◆): the work that decided when the trace ended" }
            span { i style="background: var(--err)" {} "error" }
        }
        div.waterfall {
            div.row.axis {
                div.label { "Span" }
                div.lane {
                    @for i in 0..=4u32 {
                        span style=(format!("left: {}%", i * 25)) { (format::duration(Duration::from_nanos((total as u64) / 4 * u64::from(i)))) }
                    }
                }
            }
            @for (i, depth) in rows {
                (row(&spans[i], i, depth, &service, &path, &pct, store))
            }
        }
    }
}

fn row(
    span: &SpanData,
    index: usize,
    depth: usize,
    service: &str,
    path: &[Segment],
    pct: &dyn Fn(u128) -> f64,
    store: &TraceStore,
) -> Markup {
    let (start, end) = (
        nanos(span.start_time),
        nanos(span.end_time).max(nanos(span.start_time)),
    );
    let left = pct(start);
    let width = (pct(end) - left).max(0.0);
    let segments: Vec<&Segment> = path.iter().filter(|s| s.span == index).collect();
    let critical = !segments.is_empty();
    let error = matches!(span.status, Status::Error { .. });
    let took = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let classes = format!(
        "row span-row{}{}",
        if critical { " critical" } else { "" },
        if error { " error" } else { "" }
    );
    html! {
        div class=(classes) data-name=(span.name) data-span-id=(span.span_context.span_id()) data-critical=(critical) {
            div.label style=(format!("padding-left: {:.1}em", 0.5 + depth as f64 * 1.1)) {
                span.service { (service) }
                span.name { (span.name) }
            }
            div.lane {
                div.bar style=(format!("left: {left:.3}%; width: {width:.3}%")) title=(format!("{} · {}", span.name, format::duration(took))) {}
                @for s in &segments {
                    div.crit style=(format!("left: {:.3}%; width: {:.3}%", pct(s.start_ns), (pct(s.end_ns) - pct(s.start_ns)).max(0.0))) {}
                }
                span.took style=(format!("left: calc({:.3}% + 4px)", (left + width).min(92.0))) { (format::duration(took)) }
            }
            (details(span, store))
        }
    }
}

fn details(span: &SpanData, store: &TraceStore) -> Markup {
    let offset = |t: std::time::SystemTime| {
        format::duration(t.duration_since(span.start_time).unwrap_or_default())
    };
    html! {
        details.span {
            summary { "details" }
            table {
                tr { td { "span id" } td.mono { (span.span_context.span_id()) } }
                @if span.parent_span_id != SpanId::INVALID {
                    tr { td { "parent" } td.mono { (span.parent_span_id) @if span.parent_span_is_remote { " (remote)" } } }
                }
                tr { td { "kind" } td { (format!("{:?}", span.span_kind)) } }
                tr { td { "status" } td { (status(&span.status)) } }
                tr { td { "scope" } td.mono { (span.instrumentation_scope.name()) } }
                @for kv in &span.attributes { (attribute(kv)) }
            }
            @if !span.events.is_empty() {
                h3.muted { "Events" }
                table {
                    @for e in span.events.iter() {
                        tr {
                            td.mono { "+" (offset(e.timestamp)) }
                            td { (e.name) }
                            td { @for kv in &e.attributes { code { (kv.key.as_str()) "=" (kv.value.as_str()) } " " } }
                        }
                    }
                }
            }
            @if !span.links.is_empty() {
                h3.muted { "Links" }
                table {
                    @for l in span.links.iter() {
                        @let linked = l.span_context.trace_id();
                        tr {
                            td {
                                @if store.get(linked).is_some() {
                                    a href=(format!("/traces/{linked}")) { "trace " (linked) }
                                } @else { span.mono { "trace " (linked) } span.muted { " (not kept)" } }
                            }
                            td.mono { "span " (l.span_context.span_id()) }
                            td { @for kv in &l.attributes { code { (kv.key.as_str()) "=" (kv.value.as_str()) } " " } }
                        }
                    }
                }
            }
        }
    }
}

fn attribute(kv: &KeyValue) -> Markup {
    html! { tr.attribute { td.mono { (kv.key.as_str()) } td.mono { (kv.value.as_str()) } } }
}

fn status(status: &Status) -> Markup {
    match status {
        Status::Error { description } => html! { span.badge.error { "error" } " " (description) },
        Status::Ok => html! { "ok" },
        Status::Unset => html! { span.muted { "unset" } },
    }
}

fn nanos(t: std::time::SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
