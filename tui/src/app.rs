//! The event loop: `select! { biased; input, signals, conn.next(), tick }`, then at most one
//! draw. Keys are handled first and drawn at once; flows only mark the screen dirty, and a
//! dirty screen is drawn when the frame budget allows, so a flood of flows costs at most
//! `--fps` draws a second and never delays a key.

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use ratatui::layout::Rect;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::MissedTickBehavior;
use tokio_stream::StreamExt;

use crate::args::Args;
use crate::conn::Conn;
use crate::input;
use crate::state::{Effect, FilterState, State};
use crate::term::{Term, TermGuard};
use crate::view;

const RATE_EVERY: Duration = Duration::from_secs(1);

/// Runs flowtop until the user quits or a signal arrives; the terminal is restored on
/// every way out.
pub async fn run(args: Args, filters: FilterState) -> anyhow::Result<()> {
    let config = args.config();
    let mut state = State::new(&config, filters);
    let query = state.query()?;
    let mut conn = Conn::spawn(config.server.clone(), args.dial(), query);

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    let mut guard = TermGuard::enter()?;
    let mut keys = EventStream::new();
    let budget = Duration::from_secs(1) / u32::try_from(args.fps.max(1)).unwrap_or(30);
    let mut tick = tokio::time::interval(budget);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let mut last_draw: Option<Instant> = None;
    let mut last_rate = Instant::now();
    let mut dirty = true;
    loop {
        let mut key_or_resize = false;
        tokio::select! {
            biased;
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(key))) => {
                    if let Some(intent) = input::intent(key, state.mode()) {
                        match state.apply(intent) {
                            Some(Effect::Quit) => break,
                            Some(Effect::Requery(q)) => conn.requery(q),
                            Some(Effect::Trace(q)) => conn.trace(q),
                            None => {}
                        }
                    }
                    key_or_resize = true;
                }
                Some(Ok(Event::Resize(..))) => key_or_resize = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
            _ = sigint.recv() => break,
            update = conn.next() => match update {
                Some(u) => {
                    state.update(u);
                    dirty = true;
                }
                None => anyhow::bail!("the connection task ended"),
            },
            _ = tick.tick() => {}
        }
        let since_rate = last_rate.elapsed();
        if since_rate >= RATE_EVERY {
            state.tick(since_rate);
            last_rate = Instant::now();
            dirty = true;
        }
        let due = last_draw.is_none_or(|t| t.elapsed() >= budget);
        if key_or_resize || (dirty && due) {
            draw(&mut guard.terminal, &mut state)?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
    }
    Ok(())
}

fn draw(terminal: &mut Term, state: &mut State) -> io::Result<()> {
    let size = terminal.size()?;
    state.set_viewport(view::table_rows(
        Rect::new(0, 0, size.width, size.height),
        state,
    ));
    terminal.draw(|frame| view::render(frame, state))?;
    Ok(())
}
