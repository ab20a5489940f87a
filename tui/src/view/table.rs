//! The main view: the live flow table, newest at the bottom.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{dim, header_style, selected_style, verdict_style};
use crate::state::{ConnStatus, State};

pub const WIDTHS: [Constraint; 8] = [
    Constraint::Length(12),
    Constraint::Fill(3),
    Constraint::Length(10),
    Constraint::Fill(3),
    Constraint::Length(10),
    Constraint::Length(13),
    Constraint::Length(10),
    Constraint::Fill(4),
];

pub const HEADER: [&str; 8] = [
    "TIME",
    "SOURCE",
    "IDENTITY",
    "DESTINATION",
    "IDENTITY",
    "TYPE",
    "VERDICT",
    "SUMMARY",
];

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let height = usize::from(area.height.saturating_sub(1));
    let selected = state.selected_seq();
    let rows: Vec<Row> = state
        .visible(height)
        .into_iter()
        .map(|(seq, r)| {
            let row = Row::new([
                Cell::from(r.time.as_str()),
                Cell::from(r.source.as_str()),
                Cell::from(r.source_identity.as_str()),
                Cell::from(r.destination.as_str()),
                Cell::from(r.destination_identity.as_str()),
                Cell::from(r.kind.as_str()),
                Cell::from(r.verdict.as_str()).style(verdict_style(r.verdict_class)),
                Cell::from(r.summary.as_str()),
            ]);
            if Some(seq) == selected {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(rows, WIDTHS)
        .header(Row::new(HEADER).style(header_style()))
        .column_spacing(1);
    frame.render_widget(table, area);
    if empty && area.height > 2 {
        let text = match state.conn {
            ConnStatus::Connected if state.filters.is_empty() => "waiting for flows…",
            ConnStatus::Connected => "no flows match the filters yet…",
            _ => "not connected",
        };
        let msg_area = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from(text).style(dim())).centered(),
            msg_area,
        );
    }
}
