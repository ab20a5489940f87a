//! The `?` overlay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::header_style;

/// Every key, `(keys, what they do)`.
pub const KEYS: &[(&str, &str)] = &[
    ("↑↓ j k", "select a flow (scroll)"),
    ("PgUp PgDn", "page up / down"),
    ("g G", "oldest / newest row (G follows the tail)"),
    ("space p", "pause / resume (ingestion goes on)"),
    ("v V", "cycle the verdict filter (forward / back)"),
    (
        "i",
        "identity filter: name or number (Tab: either/source/destination)",
    ),
    ("I", "cycle the identity filter's direction"),
    ("x", "X-Request-Id filter: type it"),
    ("X", "X-Request-Id filter: take it from the selected flow"),
    (
        "/ f",
        "filter line: flowctl observe flags (--from-label app=web --not ...)",
    ),
    ("c", "clear the identity, verdict and X-Request-Id filters"),
    ("t", "request trace of the selected flow's X-Request-Id"),
    ("Enter d", "detail pane: the selected flow as JSON"),
    ("Esc", "close the pane, trace or prompt"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
];

pub fn render(frame: &mut Frame, area: Rect) {
    let width = 84.min(area.width);
    let height = (KEYS.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let key_style = Style::new().fg(Color::Cyan);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<11}"), key_style),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" Any key closes this help."));
    let block = Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(" flowtop keys ", header_style()));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
