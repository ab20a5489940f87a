//! The main view: the live flow table, newest at the bottom.
//!
//! Through a relay a NODE column follows TIME; below [`WIDE`] columns the two IDENTITY
//! columns make room for it (the detail pane still shows identities), so a 100-column
//! terminal keeps the endpoints readable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{dim, header_style, selected_style, verdict_style};
use crate::state::{self, ConnStatus, State};

/// One table column: its header, width and cell.
struct Column {
    header: &'static str,
    width: Constraint,
    cell: for<'a> fn(&'a state::Row) -> Cell<'a>,
}

const fn column(
    header: &'static str,
    width: Constraint,
    cell: for<'a> fn(&'a state::Row) -> Cell<'a>,
) -> Column {
    Column {
        header,
        width,
        cell,
    }
}

const TIME: Column = column("TIME", Constraint::Length(12), |r| {
    Cell::from(r.time.as_str())
});
const SOURCE: Column = column("SOURCE", Constraint::Fill(3), |r| {
    Cell::from(r.source.as_str())
});
const SOURCE_IDENTITY: Column = column("IDENTITY", Constraint::Length(10), |r| {
    Cell::from(r.source_identity.as_str())
});
const DESTINATION: Column = column("DESTINATION", Constraint::Fill(3), |r| {
    Cell::from(r.destination.as_str())
});
const DESTINATION_IDENTITY: Column = column("IDENTITY", Constraint::Length(10), |r| {
    Cell::from(r.destination_identity.as_str())
});
const TYPE: Column = column("TYPE", Constraint::Length(13), |r| {
    Cell::from(r.kind.as_str())
});
const VERDICT: Column = column("VERDICT", Constraint::Length(10), |r| {
    Cell::from(r.verdict.as_str()).style(verdict_style(r.verdict_class))
});
const SUMMARY: Column = column("SUMMARY", Constraint::Fill(4), |r| {
    Cell::from(r.summary.as_str())
});

/// The node column is as wide as the longest node name shown, within these bounds (longer
/// names are cut).
const NODE_WIDTH: (usize, usize) = (4, 16);
/// From this many columns on, a relay's table keeps the IDENTITY columns.
const WIDE: u16 = 130;

fn node_column(width: usize) -> Column {
    let width = Constraint::Length(u16::try_from(width).unwrap_or(u16::MAX));
    column("NODE", width, |r| Cell::from(r.node.as_str()))
}

/// The columns for this terminal width; `node` is the NODE column's width, if shown.
fn columns(area_width: u16, node: Option<usize>) -> Vec<Column> {
    let mut columns = vec![
        TIME,
        SOURCE,
        SOURCE_IDENTITY,
        DESTINATION,
        DESTINATION_IDENTITY,
        TYPE,
        VERDICT,
        SUMMARY,
    ];
    if let Some(node) = node {
        if area_width < WIDE {
            columns.retain(|c| c.header != SOURCE_IDENTITY.header);
        }
        columns.insert(1, node_column(node));
    }
    columns
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let height = usize::from(area.height.saturating_sub(1));
    let selected = state.selected_seq();
    let visible = state.visible(height);
    let node_width = state.nodes.is_relay().then(|| {
        let longest = visible.iter().map(|(_, r)| r.node.chars().count()).max();
        longest.unwrap_or(0).clamp(NODE_WIDTH.0, NODE_WIDTH.1)
    });
    let columns = columns(area.width, node_width);
    let rows: Vec<Row> = visible
        .into_iter()
        .map(|(seq, r)| {
            let row = Row::new(columns.iter().map(|c| (c.cell)(r)));
            if Some(seq) == selected {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    let empty = rows.is_empty();
    let header = Row::new(columns.iter().map(|c| c.header)).style(header_style());
    let table = Table::new(rows, columns.iter().map(|c| c.width))
        .header(header)
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
