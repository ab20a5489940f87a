//! The request-trace view: the hops of one X-Request-Id, then its flows in time order.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::{dim, header_style, selected_style, verdict_style};
use crate::state::{TraceState, format_duration};

const HOP_WIDTHS: [Constraint; 9] = [
    Constraint::Length(3),
    Constraint::Fill(3),
    Constraint::Length(10),
    Constraint::Fill(3),
    Constraint::Length(10),
    Constraint::Length(10),
    Constraint::Length(6),
    Constraint::Length(9),
    Constraint::Fill(4),
];

const EVENT_WIDTHS: [Constraint; 7] = [
    Constraint::Length(12),
    Constraint::Length(9),
    Constraint::Length(3),
    Constraint::Fill(5),
    Constraint::Length(13),
    Constraint::Length(10),
    Constraint::Fill(4),
];

pub fn render(frame: &mut Frame, area: Rect, t: &TraceState) {
    let trace = &t.trace;
    let mut title = vec![
        Span::styled(" Trace ", header_style()),
        Span::raw(format!(
            "X-Request-Id {} · {} hop{} · {} flow{} · {} ",
            trace.request_id,
            trace.hops.len(),
            if trace.hops.len() == 1 { "" } else { "s" },
            trace.events.len(),
            if trace.events.len() == 1 { "" } else { "s" },
            format_duration(trace.span_ns()),
        )),
    ];
    if !t.from_server {
        title.push(Span::styled(
            "(from the buffer; asking the server…) ",
            dim(),
        ));
    }
    let block = Block::new().borders(Borders::TOP).title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let hop_height = (trace.hops.len() as u16 + 1).min(inner.height.saturating_sub(3) / 2 + 1);
    let [hops_area, _, events_area] = Layout::vertical([
        Constraint::Length(hop_height),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);

    let hops: Vec<Row> = trace
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Row::new([
                Cell::from((i + 1).to_string()),
                Cell::from(h.client.as_str()),
                Cell::from(h.client_identity.as_str()),
                Cell::from(h.server.as_str()),
                Cell::from(h.server_identity.as_str()),
                Cell::from(h.verdict.as_str()).style(verdict_style(h.verdict_class)),
                Cell::from(
                    h.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(
                    h.latency_ns
                        .map(format_duration)
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(h.summary.as_str()),
            ])
        })
        .collect();
    let header = Row::new([
        "HOP", "CLIENT", "IDENTITY", "SERVER", "IDENTITY", "VERDICT", "STATUS", "LATENCY",
        "REQUEST",
    ])
    .style(header_style());
    frame.render_widget(
        Table::new(hops, HOP_WIDTHS)
            .header(header)
            .column_spacing(1),
        hops_area,
    );

    let height = usize::from(events_area.height.saturating_sub(1));
    let top = if height == 0 {
        0
    } else {
        (t.selected + 1).saturating_sub(height)
    };
    let events: Vec<Row> = trace
        .events
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, e)| {
            let r = &e.row;
            let offset = u64::try_from(e.offset_ns).unwrap_or(0);
            let arrow = if r.is_response() { "←" } else { "→" };
            let (left, right) = if r.is_response() {
                (&r.destination, &r.source)
            } else {
                (&r.source, &r.destination)
            };
            let row = Row::new([
                Cell::from(r.time.as_str()),
                Cell::from(if offset == 0 {
                    "+0".to_string()
                } else {
                    format!("+{}", format_duration(offset))
                }),
                Cell::from((e.hop + 1).to_string()),
                Cell::from(format!("{left} {arrow} {right}")),
                Cell::from(r.kind.as_str()),
                Cell::from(r.verdict.as_str()).style(verdict_style(r.verdict_class)),
                Cell::from(r.summary.as_str()),
            ]);
            if i == t.selected {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new([
        "TIME",
        "+OFFSET",
        "HOP",
        "CLIENT → SERVER",
        "TYPE",
        "VERDICT",
        "SUMMARY",
    ])
    .style(header_style());
    frame.render_widget(
        Table::new(events, EVENT_WIDTHS)
            .header(header)
            .column_spacing(1),
        events_area,
    );
}
