//! `alys-telemetry traces`: the terminal's trace viewer. A list with filters and search; a
//! trace opens as a waterfall (Gantt) with the critical path marked (◆ and solid bars) and
//! the selected span's attributes, events and links below. Reads a node's `/api/traces` or
//! a Jaeger query service (`--jaeger URL`); `--json` prints OTLP JSON instead of drawing.

mod view;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::client::{FetchError, Filter, Http, Source};
use super::model::TraceView;

/// The list refreshes itself this often.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The OTLP JSON of `trace_id`, or of the traces `filter` selects, read with `http`.
pub fn export_json(
    source: &Source,
    filter: &Filter,
    trace_id: Option<&str>,
    http: &Http,
) -> Result<String, String> {
    let bodies = match trace_id {
        Some(id) => vec![source.trace_json(http, id)?],
        None => source.list_json(http, filter)?,
    };
    // One TracesData: Jaeger's answers are unwrapped from `result` and joined.
    let mut resource_spans = Vec::new();
    for body in bodies {
        let value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))?;
        let data = value.get("result").cloned().unwrap_or(value);
        if let Some(list) = data.get("resourceSpans").and_then(|r| r.as_array()) {
            resource_spans.extend(list.iter().cloned());
        }
    }
    serde_json::to_string_pretty(&serde_json::json!({ "resourceSpans": resource_spans }))
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

enum Request {
    List(Filter),
    Trace(String),
}

enum Answer {
    List(Result<Vec<TraceView>, FetchError>),
    Trace(Result<TraceView, FetchError>),
}

/// What the viewer is doing.
pub(crate) enum Mode {
    List,
    /// Typing into the search (`/`) or the minimum duration (`m`).
    Editing {
        field: Field,
        text: String,
    },
    Trace {
        trace: Box<TraceView>,
        selected: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Search,
    MinDuration,
}

pub(crate) struct App {
    pub source: Source,
    pub filter: Filter,
    pub traces: Vec<TraceView>,
    pub selected: usize,
    pub mode: Mode,
    pub status: String,
    pub error: Option<String>,
    last_list: Option<Instant>,
}

/// Runs the viewer on `source` with `http` until `q`. A source that refuses this client (a
/// 401, a certificate) ends it at once with the reason, before the terminal is taken.
pub fn run(source: Source, filter: Filter, open: Option<String>, http: Http) -> Result<(), String> {
    let first = match &open {
        Some(id) => Answer::Trace(source.trace(&http, id)),
        None => Answer::List(source.list(&http, &filter)),
    };
    if let Answer::List(Err(e)) | Answer::Trace(Err(e)) = &first
        && e.refused
    {
        return Err(e.message.clone());
    }
    let (to_worker, requests) = mpsc::channel::<Request>();
    let (answers_tx, answers) = mpsc::channel::<Answer>();
    let worker_source = source.clone();
    std::thread::Builder::new()
        .name("traces-fetch".into())
        .spawn(move || worker(&http, &worker_source, &requests, &answers_tx))
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    let mut app = App {
        source,
        filter,
        traces: Vec::new(),
        selected: 0,
        mode: Mode::List,
        status: "loading…".into(),
        error: None,
        last_list: None,
    };
    if let Answer::List(_) = first {
        app.last_list = Some(Instant::now());
    }
    app.take(first);
    let mut terminal = ratatui::init();
    let result = app.main_loop(&mut terminal, &to_worker, &answers);
    ratatui::restore();
    result
}

fn worker(
    http: &Http,
    source: &Source,
    requests: &mpsc::Receiver<Request>,
    answers: &mpsc::Sender<Answer>,
) {
    while let Ok(request) = requests.recv() {
        let answer = match request {
            Request::List(filter) => Answer::List(source.list(http, &filter)),
            Request::Trace(id) => Answer::Trace(source.trace(http, &id)),
        };
        if answers.send(answer).is_err() {
            return;
        }
    }
}

impl App {
    fn main_loop(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        to_worker: &mpsc::Sender<Request>,
        answers: &mpsc::Receiver<Answer>,
    ) -> Result<(), String> {
        loop {
            let due = self.last_list.is_none_or(|t| t.elapsed() >= REFRESH);
            if due && matches!(self.mode, Mode::List | Mode::Editing { .. }) {
                self.last_list = Some(Instant::now());
                let _ = to_worker.send(Request::List(self.filter.clone()));
            }
            while let Ok(answer) = answers.try_recv() {
                self.take(answer);
            }
            terminal
                .draw(|f| view::draw(f, self))
                .map_err(|e| e.to_string())?;
            if !event::poll(Duration::from_millis(200)).map_err(|e| e.to_string())? {
                continue;
            }
            if let Event::Key(key) = event::read().map_err(|e| e.to_string())?
                && key.kind != KeyEventKind::Release
                && self.key(key, to_worker)
            {
                return Ok(());
            }
        }
    }

    fn take(&mut self, answer: Answer) {
        match answer {
            Answer::List(Ok(traces)) => {
                self.status = format!("{} traces from {}", traces.len(), self.source.describe());
                self.error = None;
                self.traces = traces;
                self.selected = self.selected.min(self.traces.len().saturating_sub(1));
            }
            Answer::Trace(Ok(trace)) => {
                self.error = None;
                self.mode = Mode::Trace {
                    trace: Box::new(trace),
                    selected: 0,
                };
            }
            Answer::List(Err(e)) | Answer::Trace(Err(e)) => {
                self.error = Some(format!("disconnected, retrying: {e}"));
            }
        }
    }

    /// Handles a key; true to quit.
    fn key(&mut self, key: KeyEvent, to_worker: &mpsc::Sender<Request>) -> bool {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return true;
        }
        match self.mode {
            Mode::Editing { .. } => {
                self.key_editing(key.code);
                false
            }
            Mode::Trace { .. } => self.key_trace(key.code),
            Mode::List => self.key_list(key.code, to_worker),
        }
    }

    /// Typing a filter: Enter applies it, Esc drops it.
    fn key_editing(&mut self, code: KeyCode) {
        let Mode::Editing { field, text } = &mut self.mode else {
            return;
        };
        match code {
            KeyCode::Enter => {
                let (field, text) = (*field, text.trim().to_string());
                self.error = apply(&mut self.filter, field, &text).err();
                self.mode = Mode::List;
                self.last_list = None;
            }
            KeyCode::Esc => self.mode = Mode::List,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
    }

    /// In a waterfall: move between spans, go back; true to quit.
    fn key_trace(&mut self, code: KeyCode) -> bool {
        let Mode::Trace { trace, selected } = &mut self.mode else {
            return false;
        };
        match code {
            KeyCode::Char('q') => return true,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => {
                self.mode = Mode::List;
                self.last_list = None;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                *selected = (*selected + 1).min(trace.rows.len().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
            _ => {}
        }
        false
    }

    /// In the list: select, open, filter; true to quit.
    fn key_list(&mut self, code: KeyCode, to_worker: &mpsc::Sender<Request>) -> bool {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return true,
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.traces.len().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter | KeyCode::Right => {
                if let Some(t) = self.traces.get(self.selected) {
                    let _ = to_worker.send(Request::Trace(t.trace_id.clone()));
                }
            }
            KeyCode::Char('/') => {
                let text = self.filter.search.clone().unwrap_or_default();
                self.mode = Mode::Editing {
                    field: Field::Search,
                    text,
                };
            }
            KeyCode::Char('m') => {
                self.mode = Mode::Editing {
                    field: Field::MinDuration,
                    text: String::new(),
                }
            }
            KeyCode::Char('e') => {
                self.filter.errors_only = !self.filter.errors_only;
                self.last_list = None;
            }
            KeyCode::Char('v') => {
                self.filter.view = next_view(&self.filter.view).into();
                self.last_list = None;
            }
            KeyCode::Char('r') => self.last_list = None,
            _ => {}
        }
        false
    }
}

fn next_view(view: &str) -> &'static str {
    match view {
        "recent" => "slowest",
        "slowest" => "failed",
        _ => "recent",
    }
}

fn apply(filter: &mut Filter, field: Field, text: &str) -> Result<(), String> {
    match field {
        Field::Search => filter.search = (!text.is_empty()).then(|| text.to_string()),
        Field::MinDuration if text.is_empty() => filter.min_duration = None,
        Field::MinDuration => {
            filter.min_duration = Some(
                alys_telemetry::exits::viewer::query::parse_duration(text)
                    .map_err(|e| format!("min duration {text:?}: {e}"))?,
            )
        }
    }
    Ok(())
}
