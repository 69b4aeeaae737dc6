//! Drawing the trace viewer: the list, and a trace as a waterfall.

use std::time::{Duration, UNIX_EPOCH};

use alys_telemetry::exits::viewer::pages::{duration, time};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};

use super::{App, Field, Mode};
use crate::terminal::model::{SpanView, TraceView};

const CRITICAL: Color = Color::LightRed;
const BAR: Color = Color::Blue;

pub(super) fn draw(f: &mut Frame, app: &App) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(header(app), head);
    match &app.mode {
        Mode::Trace { trace, selected } => waterfall(f, body, trace, *selected),
        _ => list(f, body, app),
    }
    let keys = match &app.mode {
        Mode::Trace { .. } => "↑↓ span · Esc back to the list · q quit",
        Mode::Editing { .. } => "type, Enter to apply, Esc to cancel",
        Mode::List => {
            "↑↓ select · Enter open · / search · m min duration · e failed only · v view · r refresh · q quit"
        }
    };
    f.render_widget(
        Paragraph::new(Span::styled(keys, Style::default().fg(Color::DarkGray))),
        foot,
    );
}

fn header(app: &App) -> Paragraph<'static> {
    let f = &app.filter;
    let mut filters = vec![format!("view {}", f.view)];
    if let Some(s) = &f.search {
        filters.push(format!("search {s:?}"));
    }
    if let Some(d) = f.min_duration {
        filters.push(format!("≥ {}", duration(d)));
    }
    if f.errors_only {
        filters.push("failed only".into());
    }
    if let Some(op) = &f.operation {
        filters.push(format!("operation {op}"));
    }
    let second = match (&app.mode, &app.error) {
        (Mode::Editing { field, text }, _) => {
            let what = if *field == Field::Search {
                "search"
            } else {
                "min duration (e.g. 250ms)"
            };
            Span::styled(
                format!("{what}: {text}▏"),
                Style::default().fg(Color::Yellow),
            )
        }
        (_, Some(e)) => Span::styled(
            e.clone(),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        _ => Span::raw(app.status.clone()),
    };
    Paragraph::new(vec![
        Line::from(vec![
            Span::styled(
                "alys-telemetry traces ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} · {}",
                app.source.describe(),
                filters.join(" · ")
            )),
        ]),
        Line::from(second),
    ])
}

fn list(f: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let rows = app.traces.iter().map(|t| {
        let started = UNIX_EPOCH + Duration::from_nanos(t.start_ns.min(u64::MAX as u128) as u64);
        let flag = if t.has_error() { "error" } else { "" };
        Row::new(vec![
            time(started)[11..23].to_string(),
            t.root().name.clone(),
            duration(Duration::from_nanos(t.duration_ns() as u64)),
            t.spans.len().to_string(),
            t.services().join(","),
            flag.to_string(),
            t.trace_id.clone(),
        ])
        .style(if t.has_error() {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        })
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Min(24),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(18),
            Constraint::Length(6),
            Constraint::Length(33),
        ],
    )
    .header(
        Row::new([
            "started",
            "operation",
            "duration",
            "spans",
            "services",
            "",
            "trace id",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(Block::default().borders(Borders::ALL).title(" Traces "));
    let mut state =
        TableState::default().with_selected((!app.traces.is_empty()).then_some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn waterfall(f: &mut Frame, area: ratatui::layout::Rect, trace: &TraceView, selected: usize) {
    let [chart, details] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
    let inner_width = chart.width.saturating_sub(2) as usize;
    let label_width = (inner_width * 2 / 5).clamp(20, 60);
    // Room after the bar for its duration.
    let bar_width = inner_width.saturating_sub(label_width + 10).max(10);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{:<label_width$} ", "span"),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                "0{:>w$}",
                duration(Duration::from_nanos(trace.duration_ns() as u64)),
                w = bar_width.saturating_sub(1)
            ),
            Style::default().fg(Color::DarkGray),
        ),
    ])];
    let visible = chart.height.saturating_sub(3) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    for (row, &(index, depth)) in trace.rows.iter().enumerate().skip(first).take(visible) {
        lines.push(span_line(
            trace,
            index,
            depth,
            label_width,
            bar_width,
            row == selected,
        ));
    }
    let title = format!(
        " {} · {} · {} spans · ◆ critical path ",
        trace.root().name,
        trace.trace_id,
        trace.spans.len()
    );
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        chart,
    );
    let span = trace.rows.get(selected).map(|r| &trace.spans[r.0]);
    f.render_widget(span_details(span), details);
}

fn span_line(
    trace: &TraceView,
    index: usize,
    depth: usize,
    label_width: usize,
    bar_width: usize,
    selected: bool,
) -> Line<'static> {
    let span = &trace.spans[index];
    let critical = trace.is_critical(index);
    let marker = if critical { "◆ " } else { "  " };
    let label: String = format!(
        "{}{marker}{} {}",
        "  ".repeat(depth),
        span.service,
        span.name
    )
    .chars()
    .take(label_width)
    .collect();
    let cells = bar_cells(trace, index, bar_width);
    let style = if selected {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    let label_style = if critical {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    };
    let mut spans = vec![Span::styled(format!("{label:<label_width$} "), label_style)];
    spans.extend(
        cells
            .into_iter()
            .map(|(c, color)| Span::styled(c.to_string(), Style::default().fg(color))),
    );
    spans.push(Span::styled(
        format!(
            " {}",
            duration(Duration::from_nanos((span.end_ns - span.start_ns) as u64))
        ),
        Style::default().fg(Color::DarkGray),
    ));
    Line::from(spans)
}

/// A span's bar on the trace's time axis: ▒ where it ran, █ where it was critical.
fn bar_cells(trace: &TraceView, index: usize, bar_width: usize) -> Vec<(char, Color)> {
    let span = &trace.spans[index];
    let total = trace.duration_ns().max(1) as f64;
    let col =
        |ns: u128| ((ns.saturating_sub(trace.start_ns)) as f64 / total * bar_width as f64) as usize;
    let range = |start: u128, end: u128| {
        (
            col(start).min(bar_width - 1),
            col(end).clamp(col(start) + 1, bar_width),
        )
    };
    let mut cells = vec![(' ', Color::Reset); bar_width];
    let color = if span.error.is_some() {
        Color::Red
    } else {
        BAR
    };
    let (from, to) = range(span.start_ns, span.end_ns);
    for cell in cells.iter_mut().take(to).skip(from) {
        *cell = ('▒', color);
    }
    for seg in trace.critical.iter().filter(|s| s.span == index) {
        let (a, b) = range(seg.start_ns, seg.end_ns);
        for cell in cells.iter_mut().take(b).skip(a) {
            *cell = ('█', CRITICAL);
        }
    }
    cells
}

fn span_details(span: Option<&SpanView>) -> Paragraph<'static> {
    let Some(s) = span else {
        return Paragraph::new("").block(Block::default().borders(Borders::ALL));
    };
    let dim = Style::default().fg(Color::DarkGray);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} ", s.name),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                "span {} · parent {} · {}",
                s.span_id,
                if s.parent_id.is_empty() {
                    "none"
                } else {
                    &s.parent_id
                },
                s.service
            ),
            dim,
        ),
    ])];
    if let Some(e) = &s.error {
        lines.push(Line::from(Span::styled(
            format!("error: {e}"),
            Style::default().fg(Color::Red),
        )));
    }
    for (k, v) in &s.attributes {
        lines.push(Line::from(vec![
            Span::styled(format!("{k} = "), dim),
            Span::raw(v.clone()),
        ]));
    }
    for (offset, name, attrs) in &s.events {
        let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("event +{} ", duration(Duration::from_nanos(*offset as u64))),
                dim,
            ),
            Span::raw(format!("{name} {}", attrs.join(" "))),
        ]));
    }
    for (trace, span) in &s.links {
        lines.push(Line::from(vec![
            Span::styled("link → ", dim),
            Span::raw(format!("trace {trace} span {span}")),
        ]));
    }
    Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Span "))
}
