//! Everything flowtop knows, and how intents and server updates change it. No terminal
//! library here: the view renders a `&State`, the app feeds it [`Intent`]s and [`Update`]s
//! and carries out the [`Effect`]s it returns.

mod filter;
mod intent;
mod json;
mod nodes;
mod row;
mod rows;
mod trace;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use flowscope_cli::flags::{FlagError, parse_filter_line};
use flowscope_cli::request::{SelectorFlags, build_request};
use flowscope_proto::observer::GetFlowsRequest;

pub use filter::{Direction, FilterState, IdentityFilter, VERDICT_CYCLE, quote};
pub use intent::{Edit, Intent, Mode};
pub use json::{flow_lines, indent};
pub use nodes::{NodeCounts, NodeSummary, Nodes};
pub use row::{REQUEST_ID_HEADER, Row, VerdictClass, format_duration, identity, request_id};
pub use rows::{Rows, VERDICT_ORDER, VerdictCounts};
pub use trace::{Hop, Trace, TraceEvent};

/// At most this many flows are kept for one trace.
pub const TRACE_LIMIT: usize = 10_000;

/// Start-up settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Observer API address, as given.
    pub server: String,
    /// Rows kept in the client buffer.
    pub buffer_size: usize,
    /// Flows of history asked for on every (re)query.
    pub history: u64,
}

/// A GetFlows request with the generation that tags its results.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub generation: u64,
    pub request: GetFlowsRequest,
}

/// Which of the two streams an update belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The main view's flows.
    Main,
    /// The trace view's flows.
    Trace,
}

/// The connection's state machine, as the header shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnStatus {
    Connecting {
        attempt: u32,
    },
    Connected,
    Disconnected {
        error: String,
        retry_in: Duration,
        attempt: u32,
    },
}

/// The server figures of `ServerStatus`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerStats {
    pub num_flows: u64,
    pub max_flows: u64,
    pub flows_rate: f64,
    pub version: String,
    /// A relay's node figures; `None` from a single flowd.
    pub nodes: Option<NodeCounts>,
}

/// What the connection task reports.
#[derive(Clone, Debug)]
pub enum Update {
    Conn(ConnStatus),
    /// A stream (re)started: its rows so far are replaced by what follows.
    Started {
        stream: StreamKind,
        generation: u64,
    },
    /// Flows in arrival order, and how many the connection task had to drop before them
    /// because the UI was behind.
    Rows {
        stream: StreamKind,
        generation: u64,
        rows: Vec<Arc<Row>>,
        dropped: u64,
    },
    /// Events the server says this client lost (`LostEvent`).
    Lost {
        stream: StreamKind,
        generation: u64,
        count: u64,
    },
    /// The server refused a query (e.g. a filter it cannot compile); the connection stays.
    Refused {
        stream: StreamKind,
        generation: u64,
        message: String,
    },
    Server(ServerStats),
    /// A relay's `node_status` event: these nodes changed state.
    NodeStatus {
        state: flowscope_proto::relay::NodeState,
        names: Vec<String>,
    },
}

/// What the app must do after an intent.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Quit,
    /// Replace the main stream.
    Requery(Query),
    /// Open (Some) or close (None) the trace stream.
    Trace(Option<Query>),
}

/// Which text the prompt edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    FilterLine,
    Identity,
    RequestId,
}

/// The one-line editor at the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Cursor position in characters.
    pub cursor: usize,
    /// Identity prompt only.
    pub direction: Direction,
    /// Why the last submission was refused.
    pub error: Option<String>,
}

impl Prompt {
    fn new(kind: PromptKind, input: String, direction: Direction) -> Prompt {
        Prompt {
            kind,
            cursor: input.chars().count(),
            input,
            direction,
            error: None,
        }
    }

    fn byte_index(&self, chars: usize) -> usize {
        self.input
            .char_indices()
            .nth(chars)
            .map_or(self.input.len(), |(i, _)| i)
    }

    fn edit(&mut self, e: Edit) {
        let len = self.input.chars().count();
        match e {
            Edit::Insert(c) => {
                let at = self.byte_index(self.cursor);
                self.input.insert(at, c);
                self.cursor += 1;
            }
            Edit::Backspace if self.cursor > 0 => {
                let at = self.byte_index(self.cursor - 1);
                self.input.remove(at);
                self.cursor -= 1;
            }
            Edit::Delete if self.cursor < len => {
                let at = self.byte_index(self.cursor);
                self.input.remove(at);
            }
            Edit::Left => self.cursor = self.cursor.saturating_sub(1),
            Edit::Right => self.cursor = (self.cursor + 1).min(len),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = len,
            Edit::Clear => {
                self.input.clear();
                self.cursor = 0;
            }
            Edit::CycleDirection if self.kind == PromptKind::Identity => {
                self.direction = self.direction.next();
            }
            _ => {}
        }
        if !matches!(e, Edit::Submit | Edit::Cancel) {
            self.error = None;
        }
    }
}

/// The open detail pane: one flow's JSON.
#[derive(Clone, Debug)]
pub struct Detail {
    pub row: Arc<Row>,
    pub lines: Vec<String>,
    pub scroll: usize,
}

/// The open trace view.
#[derive(Clone, Debug)]
pub struct TraceState {
    pub generation: u64,
    pub rows: Vec<Arc<Row>>,
    pub trace: Trace,
    /// Selected event index.
    pub selected: usize,
    /// Whether the server's answer has started (else the rows are the local buffer's).
    pub from_server: bool,
    /// The uuid of the flow the trace was opened on: it stays selected as the trace fills
    /// in, until the user moves.
    focus: Option<String>,
}

impl TraceState {
    fn rebuild(&mut self) {
        let id = std::mem::take(&mut self.trace.request_id);
        self.trace = Trace::build(&id, &self.rows);
        let focused = self.focus.as_ref().and_then(|uuid| {
            self.trace
                .events
                .iter()
                .position(|e| e.row.flow.uuid == *uuid)
        });
        self.selected = focused
            .unwrap_or(self.selected)
            .min(self.trace.events.len().saturating_sub(1));
    }
}

/// The whole application state.
#[derive(Clone, Debug)]
pub struct State {
    pub server: String,
    history: u64,
    pub conn: ConnStatus,
    pub stats: Option<ServerStats>,
    /// The nodes behind a relay.
    pub nodes: Nodes,
    live: Rows,
    /// The paused snapshot; ingestion goes on into `live`.
    frozen: Option<Rows>,
    /// Follow the tail: the newest row is selected and in view.
    follow: bool,
    selected: u64,
    top: u64,
    viewport: usize,
    pub filters: FilterState,
    generation: u64,
    trace_generation: u64,
    lost: u64,
    queue_dropped: u64,
    received: u64,
    received_at_tick: u64,
    /// Flows per second this client received, over the last tick.
    pub rx_rate: f64,
    pub prompt: Option<Prompt>,
    pub help: bool,
    pub detail: Option<Detail>,
    pub trace: Option<TraceState>,
    /// A one-line notice, cleared by the next key.
    pub message: Option<String>,
    /// Why the server refused the current query (until the next one).
    pub query_error: Option<String>,
}

impl State {
    pub fn new(config: &Config, filters: FilterState) -> State {
        State {
            server: config.server.clone(),
            history: config.history,
            conn: ConnStatus::Connecting { attempt: 1 },
            stats: None,
            nodes: Nodes::default(),
            live: Rows::new(config.buffer_size),
            frozen: None,
            follow: true,
            selected: 0,
            top: 0,
            viewport: 20,
            filters,
            generation: 0,
            trace_generation: 0,
            lost: 0,
            queue_dropped: 0,
            received: 0,
            received_at_tick: 0,
            rx_rate: 0.0,
            prompt: None,
            help: false,
            detail: None,
            trace: None,
            message: None,
            query_error: None,
        }
    }

    // ---- queries ----

    /// The request for the current filters, with a new generation.
    pub fn query(&mut self) -> Result<Query, FlagError> {
        // Asking for more history than the buffer holds would only be dropped.
        let capacity = u64::try_from(self.live.capacity()).unwrap_or(u64::MAX);
        let sel = SelectorFlags {
            last: Some(self.history.min(capacity)),
            follow: true,
            ..Default::default()
        };
        let request = build_request(&sel, self.filters.filters()?, None, now())?;
        self.generation += 1;
        Ok(Query {
            generation: self.generation,
            request,
        })
    }

    /// The generation of the main query whose rows are shown.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All flows with X-Request-Id `id`, history and follow.
    fn trace_query(&mut self, id: &str) -> Result<Query, FlagError> {
        let only_id = FilterState {
            request_id: Some(id.to_string()),
            ..Default::default()
        };
        let sel = SelectorFlags {
            all: true,
            follow: true,
            ..Default::default()
        };
        let request = build_request(&sel, only_id.filters()?, None, now())?;
        self.trace_generation += 1;
        Ok(Query {
            generation: self.trace_generation,
            request,
        })
    }

    /// Switches to `candidate` filters: a new query, and an empty view for its results.
    fn requery(&mut self, candidate: FilterState) -> Result<Effect, String> {
        let old = std::mem::replace(&mut self.filters, candidate);
        match self.query() {
            Ok(q) => {
                self.reset_rows();
                Ok(Effect::Requery(q))
            }
            Err(e) => {
                self.filters = old;
                Err(e.to_string())
            }
        }
    }

    fn reset_rows(&mut self) {
        self.live = Rows::new(self.live.capacity());
        self.frozen = None;
        self.follow = true;
        self.selected = 0;
        self.top = 0;
        self.lost = 0;
        self.queue_dropped = 0;
        self.query_error = None;
    }

    // ---- what the view reads ----

    pub fn mode(&self) -> Mode {
        if self.help {
            Mode::Help
        } else if self.prompt.is_some() {
            Mode::Prompt
        } else if self.detail.is_some() {
            Mode::Detail
        } else if self.trace.is_some() {
            Mode::Trace
        } else {
            Mode::Flows
        }
    }

    /// The rows on screen: the paused snapshot, else the live buffer.
    pub fn shown(&self) -> &Rows {
        self.frozen.as_ref().unwrap_or(&self.live)
    }

    pub fn paused(&self) -> bool {
        self.frozen.is_some()
    }

    /// Rows that arrived since the pause.
    pub fn new_since_pause(&self) -> u64 {
        self.frozen
            .as_ref()
            .map_or(0, |f| self.live.end_seq().saturating_sub(f.end_seq()))
    }

    pub fn following(&self) -> bool {
        self.follow
    }

    /// Events the server reported lost for this query.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Rows this client could not keep: pushed out of the bounded buffer, or dropped
    /// because the UI was behind the network.
    pub fn dropped(&self) -> u64 {
        self.live.evicted() + self.queue_dropped
    }

    pub fn buffer_capacity(&self) -> usize {
        self.live.capacity()
    }

    /// Sequence number of the selected row.
    pub fn selected_seq(&self) -> Option<u64> {
        let rows = self.shown();
        if self.follow {
            rows.last_seq()
        } else {
            rows.clamp(self.selected)
        }
    }

    /// The row the keys act on: the selected trace event in the trace view, else the
    /// selected table row.
    pub fn selected_row(&self) -> Option<&Arc<Row>> {
        if let Some(t) = &self.trace {
            return t.trace.events.get(t.selected).map(|e| &e.row);
        }
        self.selected_seq().and_then(|s| self.shown().get(s))
    }

    /// Sequence number of the first row in a window of `height` rows.
    pub fn window_top(&self, height: usize) -> u64 {
        let rows = self.shown();
        let (first, end) = (rows.first_seq(), rows.end_seq());
        if height == 0 || rows.is_empty() {
            return first;
        }
        let h = height as u64;
        let bottom_top = end.saturating_sub(h).max(first);
        if self.follow {
            return bottom_top;
        }
        let sel = self.selected.clamp(first, end - 1);
        let mut top = self.top.max(first);
        if sel < top {
            top = sel;
        }
        if sel >= top + h {
            top = sel + 1 - h;
        }
        top.min(bottom_top)
    }

    /// The rows of a window of `height` rows.
    pub fn visible(&self, height: usize) -> Vec<(u64, &Arc<Row>)> {
        self.shown()
            .range(self.window_top(height), height)
            .collect()
    }

    /// How many table rows the screen has (the app sets it from the terminal size).
    pub fn set_viewport(&mut self, rows: usize) {
        self.viewport = rows.max(1);
    }

    /// Once a second: the receive rate.
    pub fn tick(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rx_rate = (self.received - self.received_at_tick) as f64 / secs;
        }
        self.received_at_tick = self.received;
    }

    // ---- server updates ----

    pub fn update(&mut self, u: Update) {
        match u {
            Update::Conn(c) => self.conn = c,
            Update::Server(s) => {
                self.nodes.polled(s.nodes.clone());
                self.stats = Some(s);
            }
            Update::NodeStatus { state, names } => self.nodes.event(state, &names),
            Update::Started {
                stream: StreamKind::Main,
                generation,
            } => {
                if generation == self.generation {
                    self.reset_rows();
                }
            }
            Update::Started {
                stream: StreamKind::Trace,
                generation,
            } => {
                if let Some(t) = self.trace.as_mut().filter(|t| t.generation == generation) {
                    t.rows.clear();
                    t.from_server = true;
                    t.rebuild();
                }
            }
            Update::Rows {
                stream: StreamKind::Main,
                generation,
                rows,
                dropped,
            } => {
                if generation != self.generation {
                    return;
                }
                self.received += rows.len() as u64 + dropped;
                self.queue_dropped += dropped;
                for row in rows {
                    self.live.push(row);
                }
            }
            Update::Rows {
                stream: StreamKind::Trace,
                generation,
                rows,
                ..
            } => {
                if let Some(t) = self.trace.as_mut().filter(|t| t.generation == generation) {
                    let room = TRACE_LIMIT.saturating_sub(t.rows.len());
                    t.rows.extend(rows.into_iter().take(room));
                    t.rebuild();
                }
            }
            Update::Lost {
                stream: StreamKind::Main,
                generation,
                count,
            } => {
                if generation == self.generation {
                    self.lost += count;
                }
            }
            Update::Lost { .. } => {}
            Update::Refused {
                stream: StreamKind::Main,
                generation,
                message,
            } => {
                if generation == self.generation {
                    self.query_error = Some(message);
                }
            }
            Update::Refused {
                stream: StreamKind::Trace,
                generation,
                message,
            } => {
                if self
                    .trace
                    .as_ref()
                    .is_some_and(|t| t.generation == generation)
                {
                    self.message = Some(format!("trace: {message}"));
                }
            }
        }
    }

    // ---- intents ----

    /// Applies one user action; the returned effect is for the app to carry out.
    pub fn apply(&mut self, intent: Intent) -> Option<Effect> {
        self.message = None;
        if intent == Intent::Quit {
            return Some(Effect::Quit);
        }
        match self.mode() {
            Mode::Help => {
                self.help = false;
                None
            }
            Mode::Prompt => match intent {
                Intent::Edit(e) => self.edit_prompt(e),
                _ => None,
            },
            Mode::Detail => {
                self.apply_detail(intent);
                None
            }
            Mode::Trace => self.apply_trace(intent),
            Mode::Flows => self.apply_flows(intent),
        }
    }

    fn apply_flows(&mut self, intent: Intent) -> Option<Effect> {
        let page = self.viewport.max(2) as i64 - 1;
        match intent {
            Intent::ToggleHelp => self.help = true,
            Intent::Up => self.move_selection(-1),
            Intent::Down => self.move_selection(1),
            Intent::PageUp => self.move_selection(-page),
            Intent::PageDown => self.move_selection(page),
            Intent::Top => {
                self.follow = false;
                self.selected = self.shown().first_seq();
                self.top = self.selected;
            }
            Intent::Bottom => self.follow = true,
            Intent::TogglePause => self.toggle_pause(),
            Intent::VerdictNext | Intent::VerdictPrev => {
                let mut f = self.filters.clone();
                f.cycle_verdict(intent == Intent::VerdictPrev);
                return self.requery_or_message(f);
            }
            Intent::EditFilterLine => {
                self.prompt = Some(Prompt::new(
                    PromptKind::FilterLine,
                    self.filters.line.clone(),
                    Direction::Either,
                ));
            }
            Intent::EditIdentity => {
                let (value, direction) = self
                    .filters
                    .identity
                    .as_ref()
                    .map_or((String::new(), Direction::Either), |i| {
                        (i.value.clone(), i.direction)
                    });
                self.prompt = Some(Prompt::new(PromptKind::Identity, value, direction));
            }
            Intent::CycleIdentityDirection => {
                let mut f = self.filters.clone();
                match f.identity.as_mut() {
                    Some(id) => id.direction = id.direction.next(),
                    None => {
                        self.message = Some("no identity filter: press i to set one".into());
                        return None;
                    }
                }
                return self.requery_or_message(f);
            }
            Intent::EditRequestId => {
                let value = self.filters.request_id.clone().unwrap_or_default();
                self.prompt = Some(Prompt::new(PromptKind::RequestId, value, Direction::Either));
            }
            Intent::RequestIdFromSelected => {
                let id = self.selected_request_id()?;
                let mut f = self.filters.clone();
                f.request_id = Some(id);
                return self.requery_or_message(f);
            }
            Intent::ClearFilters => {
                let f = FilterState {
                    line: self.filters.line.clone(),
                    ..Default::default()
                };
                if f != self.filters {
                    return self.requery_or_message(f);
                }
            }
            Intent::OpenTrace => return self.open_trace(),
            Intent::OpenDetail => self.open_detail(),
            Intent::Back | Intent::Quit | Intent::Edit(_) => {}
        }
        None
    }

    fn apply_trace(&mut self, intent: Intent) -> Option<Effect> {
        let page = self.viewport.max(2) - 1;
        let t = self.trace.as_mut()?;
        let last = t.trace.events.len().saturating_sub(1);
        if matches!(
            intent,
            Intent::Up
                | Intent::Down
                | Intent::PageUp
                | Intent::PageDown
                | Intent::Top
                | Intent::Bottom
        ) {
            t.focus = None;
        }
        match intent {
            Intent::Back | Intent::OpenTrace => {
                self.trace = None;
                return Some(Effect::Trace(None));
            }
            Intent::ToggleHelp => self.help = true,
            Intent::Up => t.selected = t.selected.saturating_sub(1),
            Intent::Down => t.selected = (t.selected + 1).min(last),
            Intent::PageUp => t.selected = t.selected.saturating_sub(page),
            Intent::PageDown => t.selected = (t.selected + page).min(last),
            Intent::Top => t.selected = 0,
            Intent::Bottom => t.selected = last,
            Intent::OpenDetail => self.open_detail(),
            _ => {}
        }
        None
    }

    fn apply_detail(&mut self, intent: Intent) {
        let page = self.viewport.max(2) - 1;
        let Some(d) = self.detail.as_mut() else {
            return;
        };
        let last = d.lines.len().saturating_sub(1);
        match intent {
            Intent::Back | Intent::OpenDetail => self.detail = None,
            Intent::ToggleHelp => self.help = true,
            Intent::Up => d.scroll = d.scroll.saturating_sub(1),
            Intent::Down => d.scroll = (d.scroll + 1).min(last),
            Intent::PageUp => d.scroll = d.scroll.saturating_sub(page),
            Intent::PageDown => d.scroll = (d.scroll + page).min(last),
            Intent::Top => d.scroll = 0,
            Intent::Bottom => d.scroll = last,
            _ => {}
        }
    }

    fn requery_or_message(&mut self, candidate: FilterState) -> Option<Effect> {
        match self.requery(candidate) {
            Ok(e) => Some(e),
            Err(msg) => {
                self.message = Some(msg);
                None
            }
        }
    }

    fn selected_request_id(&mut self) -> Option<String> {
        let Some(row) = self.selected_row() else {
            self.message = Some("no flow selected".into());
            return None;
        };
        let id = row.request_id.clone();
        if id.is_none() {
            self.message = Some(format!("the selected flow has no {REQUEST_ID_HEADER}"));
        }
        id
    }

    fn move_selection(&mut self, delta: i64) {
        let rows = self.shown();
        let Some(last) = rows.last_seq() else {
            return;
        };
        let first = rows.first_seq();
        // Pin the window where it is now, then move the selection inside it.
        self.top = self.window_top(self.viewport);
        let current = if self.follow {
            last
        } else {
            self.selected.clamp(first, last)
        };
        self.selected = current.saturating_add_signed(delta).clamp(first, last);
        self.follow = delta > 0 && self.selected == last;
        self.top = self.window_top(self.viewport);
    }

    fn toggle_pause(&mut self) {
        if self.frozen.take().is_none() {
            self.frozen = Some(self.live.clone());
        }
    }

    fn open_detail(&mut self) {
        let Some(row) = self.selected_row().cloned() else {
            self.message = Some("no flow selected".into());
            return;
        };
        self.detail = Some(Detail {
            lines: flow_lines(&row.flow),
            row,
            scroll: 0,
        });
    }

    fn open_trace(&mut self) -> Option<Effect> {
        let id = self.selected_request_id()?;
        let focus = self
            .selected_row()
            .map(|r| r.flow.uuid.clone())
            .filter(|u| !u.is_empty());
        let query = match self.trace_query(&id) {
            Ok(q) => q,
            Err(e) => {
                self.message = Some(e.to_string());
                return None;
            }
        };
        // Until the server answers, show what the buffer holds.
        let rows: Vec<Arc<Row>> = self
            .shown()
            .iter()
            .filter(|r| r.request_id.as_deref() == Some(id.as_str()))
            .cloned()
            .collect();
        let mut t = TraceState {
            generation: query.generation,
            rows,
            trace: Trace {
                request_id: id,
                ..Default::default()
            },
            selected: 0,
            from_server: false,
            focus,
        };
        t.rebuild();
        self.trace = Some(t);
        Some(Effect::Trace(Some(query)))
    }

    fn edit_prompt(&mut self, e: Edit) -> Option<Effect> {
        let prompt = self.prompt.as_mut()?;
        match e {
            Edit::Cancel => {
                self.prompt = None;
                None
            }
            Edit::Submit => self.submit_prompt(),
            e => {
                prompt.edit(e);
                None
            }
        }
    }

    fn submit_prompt(&mut self) -> Option<Effect> {
        let prompt = self.prompt.clone()?;
        let value = prompt.input.trim().to_string();
        let mut f = self.filters.clone();
        match prompt.kind {
            PromptKind::FilterLine => {
                // The line alone must parse (a trailing --not would swallow what follows).
                if let Err(e) = parse_filter_line(&value) {
                    return self.refuse(e.to_string());
                }
                f.line = value;
            }
            PromptKind::Identity => {
                f.identity = (!value.is_empty()).then_some(IdentityFilter {
                    value,
                    direction: prompt.direction,
                });
            }
            PromptKind::RequestId => {
                f.request_id = (!value.is_empty()).then_some(value);
            }
        }
        if f == self.filters {
            self.prompt = None;
            return None;
        }
        match self.requery(f) {
            Ok(effect) => {
                self.prompt = None;
                Some(effect)
            }
            Err(msg) => self.refuse(msg),
        }
    }

    fn refuse(&mut self, msg: String) -> Option<Effect> {
        if let Some(p) = self.prompt.as_mut() {
            p.error = Some(msg);
        }
        None
    }
}

/// A time for `build_request` (only used for `--since`/`--until`, which flowtop never sets).
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
