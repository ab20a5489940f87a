//! The detail pane: every field of one flow, as Hubble JSON, scrollable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{dim, header_style};
use crate::state::Detail;

pub fn render(frame: &mut Frame, area: Rect, d: &Detail) {
    let r = &d.row;
    let title = Line::from(vec![
        Span::styled(" Flow ", header_style()),
        Span::raw(format!("{} {} {} ", r.time, r.kind, r.verdict)),
        Span::styled("(↑↓ PgUp PgDn scroll, Esc close) ", dim()),
    ]);
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    // Keep the page full: scrolling past the end shows the last page.
    let top = d.scroll.min(d.lines.len().saturating_sub(height));
    let lines: Vec<Line> = d
        .lines
        .iter()
        .skip(top)
        .take(height)
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    if d.lines.len() > height && inner.width > 12 {
        let pos = format!(" {}-{}/{} ", top + 1, top + height, d.lines.len());
        let w = pos.chars().count() as u16;
        let at = Rect {
            x: area.x + area.width.saturating_sub(w + 1),
            y: area.y,
            width: w,
            height: 1,
        };
        frame.render_widget(Paragraph::new(Span::styled(pos, dim())), at);
    }
}
