//! Rendering: a pure function of `&State` and the frame's area. Nothing here changes state;
//! scrolling windows are computed from the state's selection on every frame.

mod chrome;
mod detail;
mod help;
mod table;
mod trace;

#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};

use crate::state::{State, VerdictClass};

pub use help::KEYS;

/// The screen's regions.
struct Areas {
    header: Rect,
    filters: Rect,
    body: Rect,
    detail: Option<Rect>,
    status: Rect,
    footer: Rect,
}

fn areas(area: Rect, state: &State) -> Areas {
    let [header, filters, main, status, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let (body, detail) = if state.detail.is_some() {
        let [body, detail] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
        (body, Some(detail))
    } else {
        (main, None)
    };
    Areas {
        header,
        filters,
        body,
        detail,
        status,
        footer,
    }
}

/// How many flow rows the table shows in a terminal of `area` (for paging).
pub fn table_rows(area: Rect, state: &State) -> usize {
    // One line is the table's header.
    usize::from(areas(area, state).body.height.saturating_sub(1))
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, state: &State) {
    let a = areas(frame.area(), state);
    chrome::header(frame, a.header, state);
    chrome::filters(frame, a.filters, state);
    match &state.trace {
        Some(t) => trace::render(frame, a.body, t),
        None => table::render(frame, a.body, state),
    }
    if let (Some(area), Some(d)) = (a.detail, state.detail.as_ref()) {
        detail::render(frame, area, d);
    }
    chrome::status(frame, a.status, state);
    chrome::footer(frame, a.footer, state);
    if state.help {
        help::render(frame, frame.area());
    }
}

/// The colour of a verdict: forwarded green, dropped red, audit yellow, error magenta.
pub fn verdict_style(class: VerdictClass) -> Style {
    let s = Style::new();
    match class {
        VerdictClass::Forwarded => s.fg(Color::Green),
        VerdictClass::Dropped => s.fg(Color::Red).add_modifier(Modifier::BOLD),
        VerdictClass::Audit => s.fg(Color::Yellow),
        VerdictClass::Error => s.fg(Color::Magenta).add_modifier(Modifier::BOLD),
        VerdictClass::Other => s.fg(Color::Cyan),
    }
}

fn header_style() -> Style {
    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}
