//! The terminal: raw mode and the alternate screen for as long as a [`TermGuard`] lives,
//! and restored however flowtop ends: normal exit, error return (Drop), panic (the hook
//! restores before the message is printed, so it is readable) or a signal (the app loop
//! ends and the guard drops).

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is currently in flowtop's mode (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Frames go out in one write (stdout alone is line-buffered with a 1 KiB buffer, so a frame
/// would reach the terminal in pieces and tear).
pub type Term = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

const FRAME_BUFFER: usize = 64 * 1024;

/// Owns the terminal while the UI runs.
pub struct TermGuard {
    pub terminal: Term,
}

impl TermGuard {
    pub fn enter() -> io::Result<TermGuard> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(e);
        }
        let out = BufWriter::with_capacity(FRAME_BUFFER, out);
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(TermGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore();
        // A panic elsewhere may have restored already and a later frame hidden the cursor.
        let _ = execute!(io::stdout(), cursor::Show);
    }
}

/// Leaves raw mode and the alternate screen, once.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(out, LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
