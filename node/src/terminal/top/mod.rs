//! `alys-telemetry top [ADDR]`: a running node at a glance, refreshed each second: health and
//! its history, actors, sync and chain, the governance stream, the pipeline's exports. When
//! the node goes away it says so and keeps retrying; `q` quits and gives the terminal back.

pub mod data;

use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::client::{FetchError, Http};
use alys_exposition::Exposition;
use data::{Health, Reading};

/// How often the node is read.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Runs `top` against the node at `base` (an `http://` or `https://` URL) with `http` until
/// `q`. A node that refuses this client (a 401, a certificate) ends it at once with the
/// reason, before the terminal is taken; one that does not answer yet is retried.
pub fn run(base: &str, http: Http) -> Result<(), String> {
    let started = Instant::now();
    let first = read(&http, base);
    if let Err(e) = &first
        && e.refused
    {
        return Err(e.message.clone());
    }
    let (tx, rx) = mpsc::channel();
    let fetch_base = base.to_string();
    std::thread::Builder::new()
        .name("top-fetch".into())
        .spawn(move || {
            std::thread::sleep(REFRESH.saturating_sub(started.elapsed()));
            fetch_loop(&http, &fetch_base, &tx)
        })
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    let mut state = State::new(base);
    state.update((started, first.map_err(String::from)));
    let mut terminal = ratatui::init();
    let result = (|| -> Result<(), String> {
        loop {
            while let Ok(fetched) = rx.try_recv() {
                state.update(fetched);
            }
            terminal
                .draw(|f| draw(f, &state))
                .map_err(|e| e.to_string())?;
            if quit_requested(Duration::from_millis(200))? {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result
}

/// Whether `q`, Esc or Ctrl-C was pressed within `wait`.
pub(crate) fn quit_requested(wait: Duration) -> Result<bool, String> {
    if !event::poll(wait).map_err(|e| e.to_string())? {
        return Ok(false);
    }
    Ok(match event::read().map_err(|e| e.to_string())? {
        Event::Key(k) if k.kind != KeyEventKind::Release => {
            matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL))
        }
        _ => false,
    })
}

/// Reads the node every second and sends what it got; ends when the view has gone.
fn fetch_loop(http: &Http, base: &str, tx: &mpsc::Sender<(Instant, Result<Reading, String>)>) {
    loop {
        let started = Instant::now();
        let reading = read(http, base).map_err(String::from);
        if tx.send((started, reading)).is_err() {
            return;
        }
        std::thread::sleep(REFRESH.saturating_sub(started.elapsed()));
    }
}

fn read(http: &Http, base: &str) -> Result<Reading, FetchError> {
    let metrics = Exposition::parse(&http.get(&format!("{base}/metrics"))?)?;
    let (health, health_refused) = match http.get(&format!("{base}/api/health")) {
        Ok(body) => (Health::parse(&body)?, None),
        // The viewer can take other credentials than /metrics (the web config's `viewer:`
        // section): say why the panel is empty. /metrics answered, so TLS is not the cause.
        Err(e) if e.refused => (
            Health::default(),
            Some("/api/health answered 401: the viewer asks for its own credentials".into()),
        ),
        // A node without the viewer still has /metrics; show what there is.
        Err(_) => (Health::default(), None),
    };
    Ok(Reading {
        metrics,
        health,
        health_refused,
    })
}

/// What the view knows.
struct State {
    base: String,
    latest: Option<(Instant, Reading)>,
    previous: Option<(Instant, Reading)>,
    /// Since when the node does not answer, and why.
    down: Option<(Instant, String)>,
    reads: u64,
}

impl State {
    fn new(base: &str) -> State {
        State {
            base: base.to_string(),
            latest: None,
            previous: None,
            down: None,
            reads: 0,
        }
    }

    fn update(&mut self, (at, reading): (Instant, Result<Reading, String>)) {
        match reading {
            Ok(r) => {
                self.previous = self.latest.take();
                self.latest = Some((at, r));
                self.down = None;
                self.reads += 1;
            }
            Err(e) => {
                let since = self.down.as_ref().map_or(at, |d| d.0);
                self.down = Some((since, e));
            }
        }
    }
}

fn draw(f: &mut Frame, state: &State) {
    let [header, health, actors, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(9),
        Constraint::Min(6),
        Constraint::Length(10),
    ])
    .areas(f.area());
    f.render_widget(header_line(state), header);
    let Some((at, reading)) = &state.latest else {
        return;
    };
    let previous = state.previous.as_ref();
    let elapsed = previous.map_or(Duration::ZERO, |p| at.saturating_duration_since(p.0));
    let before = previous.map(|p| &p.1.metrics);
    f.render_widget(health_table(&reading.health), health);
    f.render_widget(actor_table(&reading.metrics, before, elapsed), actors);
    let [chain, gov, exports] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(30),
        Constraint::Percentage(40),
    ])
    .areas(bottom);
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    f.render_widget(
        pairs(
            "Sync and chain",
            data::chain(&reading.metrics, before, elapsed),
        ),
        chain,
    );
    f.render_widget(
        pairs(
            "Governance stream",
            data::governance(&reading.metrics, before, elapsed),
        ),
        gov,
    );
    f.render_widget(
        pairs("Exports", data::exports(&reading.metrics, unix_now)),
        exports,
    );
}

fn header_line(state: &State) -> Paragraph<'static> {
    let status = match (&state.down, &state.latest) {
        (Some((since, why)), _) => Span::styled(
            format!(
                "disconnected, retrying ({}s): {why}",
                since.elapsed().as_secs()
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        (None, Some(_)) => Span::styled("connected", Style::default().fg(Color::Green)),
        (None, None) => Span::raw("connecting…"),
    };
    let health = state
        .latest
        .as_ref()
        .map(|(_, r)| match &r.health_refused {
            Some(why) => format!(" · health not shown: {why}"),
            None => format!(
                " · health {} · version {} · up {}s",
                r.health.status, r.health.version, r.health.uptime_seconds
            ),
        })
        .unwrap_or_default();
    Paragraph::new(vec![
        Line::from(vec![
            Span::styled(
                "alys-telemetry top ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{} · ", state.base)),
            status,
            Span::raw(health),
        ]),
        Line::from(Span::styled(
            format!(
                "refresh {}s · {} reads · q quits",
                REFRESH.as_secs(),
                state.reads
            ),
            Style::default().fg(Color::DarkGray),
        )),
    ])
}

fn status_style(status: &str) -> Style {
    match status {
        "healthy" => Style::default().fg(Color::Green),
        "degraded" => Style::default().fg(Color::Yellow),
        "unhealthy" => Style::default().fg(Color::Red),
        _ => Style::default(),
    }
}

/// A check's history, oldest left: █ healthy, ▒ degraded, ░ unhealthy.
fn history_line(statuses: &[String], width: usize) -> Line<'static> {
    let shown = &statuses[statuses.len().saturating_sub(width)..];
    Line::from(
        shown
            .iter()
            .map(|s| {
                let c = match s.as_str() {
                    "healthy" => "█",
                    "degraded" => "▒",
                    _ => "░",
                };
                Span::styled(c, status_style(s))
            })
            .collect::<Vec<_>>(),
    )
}

fn health_table(health: &Health) -> Table<'static> {
    let rows = health.checks.iter().map(|(name, status, detail)| {
        let label = if name.is_empty() {
            "(node)".to_string()
        } else {
            name.clone()
        };
        let past = health.history.get(name).map(Vec::as_slice).unwrap_or(&[]);
        Row::new(vec![
            ratatui::text::Text::from(label),
            ratatui::text::Text::from(Span::styled(status.clone(), status_style(status))),
            ratatui::text::Text::from(detail.clone()),
            ratatui::text::Text::from(history_line(past, 60)),
        ])
    });
    Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Percentage(35),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(["check", "now", "detail", "history (5 s each, oldest left)"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(" Health "))
}

fn actor_table(now: &Exposition, before: Option<&Exposition>, elapsed: Duration) -> Table<'static> {
    let rows = data::actors(now, before, elapsed).into_iter().map(|a| {
        Row::new(vec![
            a.actor_type,
            a.messages_per_second
                .map_or("–".into(), |r| format!("{r:.1}")),
            data::seconds(a.latency_p95_seconds),
            format!("{:.0}", a.mailbox),
            format!("{:.0}", a.restarts),
            format!("{:.0}", a.failed),
        ])
    });
    Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new([
            "actor",
            "messages/s",
            "latency p95",
            "mailbox",
            "restarts",
            "failed",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(" Actors "))
}

fn pairs(title: &str, lines: Vec<(String, String)>) -> Paragraph<'static> {
    let text: Vec<Line> = lines
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k}: "), Style::default().fg(Color::DarkGray)),
                Span::raw(v),
            ])
        })
        .collect();
    Paragraph::new(text).block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} ")),
    )
}
