//! Header, filter bar, status / prompt line and footer.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, verdict_style};
use crate::state::{
    ConnStatus, Mode, NodeSummary, PromptKind, REQUEST_ID_HEADER, State, VerdictClass,
    format_duration,
};

fn sep() -> Span<'static> {
    Span::styled(" │ ", dim())
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Unavailable nodes named in the header; more are counted.
const NODES_NAMED: usize = 2;

/// A relay's nodes: `nodes 3/3`, or `nodes 2/3 (unavailable: node-b)` in yellow.
fn nodes(n: &NodeSummary) -> Span<'static> {
    let mut text = format!("nodes {}/{}", n.connected, n.total);
    if n.connected == n.total {
        return Span::raw(text);
    }
    if !n.unavailable_names.is_empty() {
        let mut named =
            n.unavailable_names[..n.unavailable_names.len().min(NODES_NAMED)].join(", ");
        let more = n.total - n.connected;
        let unnamed = (more as usize).saturating_sub(n.unavailable_names.len().min(NODES_NAMED));
        if unnamed > 0 {
            named.push_str(&format!(" +{unnamed}"));
        }
        text.push_str(&format!(" (unavailable: {named})"));
    }
    Span::styled(text, Style::new().fg(Color::Yellow))
}

/// Two lines: the connection and server figures, then what is shown.
pub fn header(frame: &mut Frame, area: Rect, state: &State) {
    let conn = match &state.conn {
        ConnStatus::Connected => Span::styled("● connected", Style::new().fg(Color::Green)),
        ConnStatus::Connecting { .. } => {
            Span::styled("… connecting", Style::new().fg(Color::Yellow))
        }
        ConnStatus::Disconnected { .. } => Span::styled(
            "✗ disconnected",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let mut first = vec![
        Span::styled(" flowtop", bold()),
        sep(),
        Span::raw(state.server.clone()),
        sep(),
        conn,
    ];
    if let Some(n) = state.nodes.summary() {
        first.extend([sep(), nodes(&n)]);
    }
    if let Some(s) = &state.stats {
        let fill = if s.max_flows > 0 {
            s.num_flows as f64 * 100.0 / s.max_flows as f64
        } else {
            0.0
        };
        first.extend([
            sep(),
            Span::raw(format!("{:.1} flows/s", s.flows_rate)),
            sep(),
            Span::raw(format!("ring {}/{} ({fill:.0}%)", s.num_flows, s.max_flows)),
        ]);
    }
    let lost_style = if state.lost() > 0 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    let dropped_style = if state.dropped() > 0 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    first.extend([
        sep(),
        Span::styled(format!("lost {}", state.lost()), lost_style),
        sep(),
        Span::styled(format!("dropped {}", state.dropped()), dropped_style),
    ]);

    let shown = state.shown();
    let mut second = vec![Span::raw(format!(
        " shown {}/{}",
        shown.len(),
        state.buffer_capacity()
    ))];
    for (verdict, n) in shown.counts().nonzero() {
        second.push(Span::raw("  "));
        second.push(Span::styled(
            format!("{} {n}", verdict.as_str_name()),
            verdict_style(VerdictClass::of(verdict as i32)),
        ));
    }
    second.extend([
        sep(),
        Span::raw(format!("rx {:.0}/s", state.rx_rate)),
        sep(),
    ]);
    second.push(if state.paused() {
        Span::styled(
            format!("⏸ PAUSED (+{} new)", state.new_since_pause()),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        )
    } else if state.following() {
        Span::styled("▶ following", Style::new().fg(Color::Green))
    } else {
        Span::styled("⇡ scrolled (G: follow)", Style::new().fg(Color::Yellow))
    });
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// The active filters, always visible.
pub fn filters(frame: &mut Frame, area: Rect, state: &State) {
    let chips = state.filters.chips();
    let mut spans = vec![Span::styled(" filters: ", bold())];
    if chips.is_empty() {
        spans.push(Span::styled("none", dim()));
    }
    for (i, (name, value)) in chips.into_iter().enumerate() {
        if i > 0 {
            spans.push(sep());
        }
        spans.push(Span::styled(format!("{name} "), dim()));
        spans.push(Span::styled(value, Style::new().fg(Color::Cyan)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The prompt while editing; else the last notice, a refused query or the connection
/// trouble.
pub fn status(frame: &mut Frame, area: Rect, state: &State) {
    if let Some(p) = &state.prompt {
        let label = match p.kind {
            PromptKind::FilterLine => "filter> ".to_string(),
            PromptKind::Identity => format!("identity ({}, Tab)> ", p.direction.label()),
            PromptKind::RequestId => format!("{REQUEST_ID_HEADER}> "),
        };
        let label_w = label.chars().count() as u16 + 1;
        let avail = usize::from(area.width.saturating_sub(label_w + 1));
        let skip = p.cursor.saturating_sub(avail);
        let shown: String = p.input.chars().skip(skip).collect();
        let mut spans = vec![
            Span::raw(" "),
            Span::styled(
                label,
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::raw(shown),
        ];
        if let Some(e) = &p.error {
            spans.push(Span::styled(
                format!("  ✗ {e}"),
                Style::new().fg(Color::Red),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        let x = area.x + label_w + (p.cursor - skip) as u16;
        frame.set_cursor_position(Position {
            x: x.min(area.right().saturating_sub(1)),
            y: area.y,
        });
        return;
    }
    let warn = Style::new().fg(Color::Yellow);
    let err = Style::new().fg(Color::Red);
    let line = if let Some(m) = &state.message {
        Line::from(Span::styled(format!(" {m}"), warn))
    } else if let Some(e) = &state.query_error {
        Line::from(Span::styled(
            format!(" ✗ server refused the filters: {e}"),
            err,
        ))
    } else {
        match &state.conn {
            ConnStatus::Disconnected {
                error,
                retry_in,
                attempt,
            } => Line::from(Span::styled(
                format!(
                    " ✗ {error} (attempt {attempt}); retrying in {}",
                    format_duration(u64::try_from(retry_in.as_nanos()).unwrap_or(u64::MAX))
                ),
                err,
            )),
            ConnStatus::Connecting { attempt } if *attempt > 1 => Line::from(Span::styled(
                format!(" connecting to {} (attempt {attempt})…", state.server),
                warn,
            )),
            _ => Line::from(""),
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The keys of the current mode.
pub fn footer(frame: &mut Frame, area: Rect, state: &State) {
    let keys: &[(&str, &str)] = match state.mode() {
        Mode::Prompt => &[
            ("Enter", "apply"),
            ("Esc", "cancel"),
            ("Ctrl-U", "clear"),
            ("Tab", "identity side"),
        ],
        Mode::Help => &[("any key", "close help")],
        Mode::Detail => &[("↑↓ PgUp PgDn", "scroll"), ("Esc", "close"), ("q", "quit")],
        Mode::Trace => &[
            ("↑↓", "select"),
            ("Enter", "detail"),
            ("Esc t", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
        Mode::Flows => &[
            ("q", "quit"),
            ("?", "help"),
            ("↑↓", "select"),
            ("space", "pause"),
            ("v", "verdict"),
            ("i", "identity"),
            ("x X", "request id"),
            ("/", "filter"),
            ("c", "clear"),
            ("t", "trace"),
            ("Enter", "detail"),
        ],
    };
    let key = Style::new().fg(Color::Black).bg(Color::Cyan);
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k} "), key));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
