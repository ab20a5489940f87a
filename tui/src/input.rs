//! Keys → [`Intent`]s. The only place that knows crossterm's key events.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::state::{Edit, Intent, Mode};

/// What `key` means in `mode`; None for keys that mean nothing there.
pub fn intent(key: KeyEvent, mode: Mode) -> Option<Intent> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Intent::Quit);
    }
    match mode {
        Mode::Prompt => prompt(key, ctrl).map(Intent::Edit),
        // Any key closes the help overlay; q still quits.
        Mode::Help => Some(match key.code {
            KeyCode::Char('q') => Intent::Quit,
            _ => Intent::ToggleHelp,
        }),
        Mode::Flows | Mode::Trace | Mode::Detail => navigation(key, ctrl),
    }
}

fn navigation(key: KeyEvent, ctrl: bool) -> Option<Intent> {
    Some(match key.code {
        KeyCode::Char('b') if ctrl => Intent::PageUp,
        KeyCode::Char('f') if ctrl => Intent::PageDown,
        KeyCode::Char('u') if ctrl => Intent::PageUp,
        KeyCode::Char('d') if ctrl => Intent::PageDown,
        _ if ctrl => return None,
        KeyCode::Char('q') => Intent::Quit,
        KeyCode::Char('?') => Intent::ToggleHelp,
        KeyCode::Esc => Intent::Back,
        KeyCode::Up | KeyCode::Char('k') => Intent::Up,
        KeyCode::Down | KeyCode::Char('j') => Intent::Down,
        KeyCode::PageUp => Intent::PageUp,
        KeyCode::PageDown => Intent::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Intent::Top,
        KeyCode::End | KeyCode::Char('G') => Intent::Bottom,
        KeyCode::Char(' ') | KeyCode::Char('p') => Intent::TogglePause,
        KeyCode::Char('v') => Intent::VerdictNext,
        KeyCode::Char('V') => Intent::VerdictPrev,
        KeyCode::Char('/') | KeyCode::Char('f') => Intent::EditFilterLine,
        KeyCode::Char('i') => Intent::EditIdentity,
        KeyCode::Char('I') => Intent::CycleIdentityDirection,
        KeyCode::Char('x') => Intent::EditRequestId,
        KeyCode::Char('X') => Intent::RequestIdFromSelected,
        KeyCode::Char('c') => Intent::ClearFilters,
        KeyCode::Char('t') => Intent::OpenTrace,
        KeyCode::Enter | KeyCode::Char('d') => Intent::OpenDetail,
        _ => return None,
    })
}

fn prompt(key: KeyEvent, ctrl: bool) -> Option<Edit> {
    Some(match key.code {
        KeyCode::Char('a') if ctrl => Edit::Home,
        KeyCode::Char('e') if ctrl => Edit::End,
        KeyCode::Char('u') if ctrl => Edit::Clear,
        _ if ctrl => return None,
        KeyCode::Char(c) => Edit::Insert(c),
        KeyCode::Backspace => Edit::Backspace,
        KeyCode::Delete => Edit::Delete,
        KeyCode::Left => Edit::Left,
        KeyCode::Right => Edit::Right,
        KeyCode::Home => Edit::Home,
        KeyCode::End => Edit::End,
        KeyCode::Enter => Edit::Submit,
        KeyCode::Esc => Edit::Cancel,
        KeyCode::Tab | KeyCode::BackTab => Edit::CycleDirection,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_mean_different_things_by_mode() {
        let v = key(KeyCode::Char('v'));
        assert_eq!(intent(v, Mode::Flows), Some(Intent::VerdictNext));
        assert_eq!(
            intent(v, Mode::Prompt),
            Some(Intent::Edit(Edit::Insert('v')))
        );
        assert_eq!(intent(v, Mode::Help), Some(Intent::ToggleHelp));
        assert_eq!(
            intent(key(KeyCode::Enter), Mode::Flows),
            Some(Intent::OpenDetail)
        );
        assert_eq!(
            intent(key(KeyCode::Enter), Mode::Prompt),
            Some(Intent::Edit(Edit::Submit))
        );
        assert_eq!(intent(key(KeyCode::Esc), Mode::Trace), Some(Intent::Back));
        assert_eq!(
            intent(key(KeyCode::Tab), Mode::Prompt),
            Some(Intent::Edit(Edit::CycleDirection))
        );
        assert_eq!(
            intent(key(KeyCode::Char('q')), Mode::Prompt),
            Some(Intent::Edit(Edit::Insert('q')))
        );
        assert_eq!(
            intent(key(KeyCode::Char('q')), Mode::Detail),
            Some(Intent::Quit)
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [
            Mode::Flows,
            Mode::Prompt,
            Mode::Help,
            Mode::Trace,
            Mode::Detail,
        ] {
            assert_eq!(intent(ctrl_c, mode), Some(Intent::Quit));
        }
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            ..key(KeyCode::Char('v'))
        };
        assert_eq!(intent(release, Mode::Flows), None);
    }
}
