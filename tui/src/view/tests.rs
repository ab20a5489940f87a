//! Snapshot tests: fixed flows rendered into ratatui's `TestBackend`, compared as text.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::state::fixtures;
use crate::state::{ConnStatus, Edit, Intent, ServerStats, State, StreamKind, Update};

/// Renders `state` into a `w`×`h` test terminal; the screen's text, lines right-trimmed.
fn screen(state: &mut State, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    state.set_viewport(table_rows(Rect::new(0, 0, w, h), state));
    terminal.draw(|f| render(f, state)).unwrap();
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compares `actual` with `src/view/snapshots/<name>.txt`; `UPDATE_SNAPSHOTS=1` rewrites
/// the file instead (review the diff before committing it).
#[track_caller]
fn assert_snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/view/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    if actual != expected {
        panic!(
            "snapshot {name} differs (UPDATE_SNAPSHOTS=1 rewrites it)\n--- actual ---\n{actual}--- expected ---\n{expected}"
        );
    }
}

fn line(screen: &str, n: usize) -> &str {
    screen.lines().nth(n).unwrap()
}

fn scenario_state() -> State {
    let mut s = fixtures::started(10_000);
    fixtures::feed(&mut s, fixtures::scenario());
    s.update(Update::Server(ServerStats {
        num_flows: 6,
        max_flows: 4095,
        flows_rate: 0.5,
        version: String::new(),
        nodes: None,
    }));
    s
}

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        s.apply(Intent::Edit(Edit::Insert(c)));
    }
}

#[test]
fn main_view() {
    let mut s = scenario_state();
    assert_snapshot("main_view", &screen(&mut s, 130, 12));
}

#[test]
fn main_view_colours_verdicts_and_highlights_the_selection() {
    let mut s = scenario_state();
    s.apply(Intent::Top);
    let mut terminal = Terminal::new(TestBackend::new(130, 12)).unwrap();
    terminal.draw(|f| render(f, &s)).unwrap();
    let buf = terminal.backend().buffer();
    // VERDICT column starts at x = 92; row 4 is the denied request (selected), row 5 its 403.
    assert_eq!(buf[(92, 4)].symbol(), "D");
    assert_eq!(buf[(92, 4)].fg, ratatui::style::Color::Red);
    assert!(
        buf[(0, 4)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
    assert_eq!(buf[(92, 5)].fg, ratatui::style::Color::Green);
    assert!(
        !buf[(0, 5)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
}

#[test]
fn scrolled_view_keeps_the_selection_in_the_window() {
    let mut s = scenario_state();
    // 12 lines: 5 of chrome and a table header leave 6 rows; 8 lines leave 2.
    let out = screen(&mut s, 130, 8);
    assert!(line(&out, 4).starts_with("15:43:24.095"), "{out}");
    for _ in 0..4 {
        s.apply(Intent::Up);
    }
    let out = screen(&mut s, 130, 8);
    assert!(line(&out, 1).contains("⇡ scrolled (G: follow)"), "{out}");
    assert!(line(&out, 4).starts_with("15:43:24.081"), "{out}");
    assert!(line(&out, 5).starts_with("15:43:24.090"), "{out}");
}

#[test]
fn filter_line_prompt_and_filter_bar() {
    let mut s = scenario_state();
    s.apply(Intent::EditFilterLine);
    type_text(&mut s, "--http-method GET");
    let out = screen(&mut s, 130, 12);
    assert_eq!(line(&out, 10), " filter> --http-method GET");
    assert_eq!(
        line(&out, 11),
        "  Enter  apply   Esc  cancel   Ctrl-U  clear   Tab  identity side"
    );
    s.apply(Intent::Edit(Edit::Submit));
    s.apply(Intent::VerdictNext);
    s.apply(Intent::VerdictNext);
    s.apply(Intent::EditRequestId);
    type_text(&mut s, "req-ok");
    s.apply(Intent::Edit(Edit::Submit));
    s.apply(Intent::EditIdentity);
    type_text(&mut s, "25001");
    s.apply(Intent::Edit(Edit::CycleDirection));
    s.apply(Intent::Edit(Edit::CycleDirection));
    let out = screen(&mut s, 130, 12);
    assert_eq!(line(&out, 10), " identity (destination, Tab)> 25001");
    s.apply(Intent::Edit(Edit::Submit));
    assert_snapshot("filter_bar", &screen(&mut s, 130, 12));
}

#[test]
fn identity_conflicting_with_the_line_is_refused() {
    let mut s = scenario_state();
    s.apply(Intent::EditFilterLine);
    type_text(&mut s, "--identity ingress");
    s.apply(Intent::Edit(Edit::Submit));
    s.apply(Intent::EditIdentity);
    type_text(&mut s, "world");
    s.apply(Intent::Edit(Edit::CycleDirection));
    s.apply(Intent::Edit(Edit::Submit));
    let out = screen(&mut s, 130, 12);
    assert_eq!(
        line(&out, 10),
        " identity (source, Tab)> world  ✗ filters --identity and --from-identity cannot be combined"
    );
    assert_eq!(line(&out, 2), " filters: flags --identity ingress");
}

#[test]
fn a_refused_filter_is_shown_in_the_prompt() {
    let mut s = scenario_state();
    s.apply(Intent::EditFilterLine);
    type_text(&mut s, "--ip 1.1.1.1 --from-ip 2.2.2.2");
    s.apply(Intent::Edit(Edit::Submit));
    let out = screen(&mut s, 130, 12);
    assert_eq!(
        line(&out, 10),
        " filter> --ip 1.1.1.1 --from-ip 2.2.2.2  ✗ filters --ip and --from-ip cannot be combined"
    );
}

#[test]
fn trace_view() {
    let mut s = scenario_state();
    let q = match s.apply(Intent::OpenTrace) {
        Some(crate::state::Effect::Trace(Some(q))) => q,
        other => panic!("{other:?}"),
    };
    let out = screen(&mut s, 130, 14);
    assert!(
        line(&out, 3).starts_with(
            " Trace X-Request-Id req-ok · 2 hops · 4 flows · 12ms (from the buffer; asking the server…) ─"
        ),
        "{out}"
    );
    s.update(Update::Started {
        stream: StreamKind::Trace,
        generation: q.generation,
    });
    let rows = fixtures::rows(fixtures::scenario()[2..].to_vec());
    s.update(Update::Rows {
        stream: StreamKind::Trace,
        generation: q.generation,
        rows,
        dropped: 0,
    });
    assert_snapshot("trace_view", &screen(&mut s, 130, 16));
}

#[test]
fn detail_pane() {
    let mut s = scenario_state();
    s.apply(Intent::Top);
    s.apply(Intent::OpenDetail);
    let out = screen(&mut s, 100, 20);
    assert_snapshot("detail_pane", &out);
    // Scrolled to the end: the last page, the HTTP record and the summary.
    s.apply(Intent::Bottom);
    let out = screen(&mut s, 100, 20);
    let lines: Vec<&str> = out.lines().collect();
    let title = lines.iter().position(|l| l.starts_with(" Flow ")).unwrap();
    assert!(lines[title].ends_with("─ 36-43/43 ─"), "{out}");
    assert_eq!(lines[title + 4], r#"    "type": 129"#);
    assert_eq!(
        lines[title + 7],
        r#"  "Summary": "HTTP/1.1 GET http://192.168.10.211/details/1""#
    );
    assert_eq!(lines[title + 8], "}");
}

#[test]
fn help_overlay() {
    let mut s = scenario_state();
    s.apply(Intent::ToggleHelp);
    let out = screen(&mut s, 100, 24);
    assert!(out.contains("┌ flowtop keys ─"), "{out}");
    for (keys, what) in KEYS {
        assert!(
            out.lines().any(|l| l.contains(keys) && l.contains(what)),
            "{keys} missing:\n{out}"
        );
    }
    assert!(out.contains("│ Any key closes this help."), "{out}");
    assert_eq!(line(&out, 23), "  any key  close help");
}

#[test]
fn disconnected_status_line() {
    let mut s = fixtures::started(100);
    s.update(Update::Conn(ConnStatus::Disconnected {
        error: "cannot connect to unix:///run/x.sock: No such file or directory (os error 2)"
            .to_string(),
        retry_in: Duration::from_millis(500),
        attempt: 2,
    }));
    let out = screen(&mut s, 130, 9);
    assert_snapshot("disconnected", &out);
}

#[test]
fn paused_header_and_dropped_rows() {
    let mut s = fixtures::started(4);
    fixtures::feed(&mut s, fixtures::scenario()[..4].to_vec());
    s.apply(Intent::TogglePause);
    fixtures::feed(&mut s, fixtures::scenario());
    let out = screen(&mut s, 130, 10);
    assert_eq!(
        line(&out, 0),
        " flowtop │ unix:///run/flowscope/hubble.sock │ ● connected │ lost 0 │ dropped 6"
    );
    assert_eq!(
        line(&out, 1),
        " shown 4/4  FORWARDED 3  DROPPED 1 │ rx 0/s │ ⏸ PAUSED (+6 new)"
    );
    assert!(line(&out, 4).starts_with("15:43:24.080"), "{out}");
}

#[test]
fn control_characters_from_flows_are_escaped() {
    let mut s = fixtures::started(100);
    let mut f = fixtures::scenario().remove(0);
    #[allow(deprecated)]
    {
        f.summary = "evil \x1b[2J\x1b]0;pwned\x07 summary".to_string();
    }
    f.destination.as_mut().unwrap().pod_name = "pod\rname".to_string();
    f.destination.as_mut().unwrap().namespace = "ns".to_string();
    fixtures::feed(&mut s, vec![f]);
    let out = screen(&mut s, 160, 8);
    assert!(
        line(&out, 4).contains(r"ns/pod\rname:12412"),
        "{}",
        line(&out, 4)
    );
    assert!(
        line(&out, 4).contains(r"evil ^[[2J^[]0;pwned\x07 summary"),
        "{}",
        line(&out, 4)
    );
}

fn relay_state(connected: u32, unavailable: &[&str]) -> State {
    let mut s = scenario_state();
    let unavailable_names: Vec<String> = unavailable.iter().map(|n| n.to_string()).collect();
    s.update(Update::Server(ServerStats {
        num_flows: 6,
        max_flows: 4095,
        flows_rate: 0.5,
        version: String::new(),
        nodes: Some(crate::state::NodeCounts {
            connected,
            unavailable: unavailable_names.len() as u32,
            unavailable_names,
        }),
    }));
    s
}

#[test]
fn relay_view_counts_nodes_and_names_each_rows_node_in_100_columns() {
    let mut s = relay_state(2, &["node-b"]);
    let out = screen(&mut s, 100, 12);
    assert_snapshot("relay_view", &out);
    assert!(
        line(&out, 0).contains("nodes 2/3 (unavailable: node-b)"),
        "{out}"
    );
    assert!(line(&out, 3).starts_with("TIME         NODE"), "{out}");
    assert!(line(&out, 4).contains(" kind-worker "), "{out}");
}

#[test]
fn single_node_view_has_no_node_count_or_column() {
    let mut s = scenario_state();
    let out = screen(&mut s, 100, 12);
    assert!(!line(&out, 0).contains("nodes"), "{out}");
    assert!(!line(&out, 3).contains("NODE"), "{out}");
}

#[test]
fn node_status_events_update_the_header() {
    let mut s = relay_state(3, &[]);
    assert!(line(&screen(&mut s, 130, 12), 0).contains("nodes 3/3"));
    let names = vec!["node-c".to_string()];
    s.update(Update::NodeStatus {
        state: flowscope_proto::relay::NodeState::NodeUnavailable,
        names: names.clone(),
    });
    let out = screen(&mut s, 130, 12);
    assert!(
        line(&out, 0).contains("nodes 2/3 (unavailable: node-c)"),
        "{out}"
    );
    s.update(Update::NodeStatus {
        state: flowscope_proto::relay::NodeState::NodeConnected,
        names,
    });
    let out = screen(&mut s, 130, 12);
    assert!(line(&out, 0).contains("nodes 3/3 "), "{out}");
}

#[test]
fn wide_relay_view_keeps_the_identity_columns() {
    let mut s = relay_state(3, &[]);
    let out = screen(&mut s, 140, 12);
    let header = line(&out, 3);
    assert!(
        header.starts_with("TIME         NODE        SOURCE"),
        "{out}"
    );
    assert_eq!(header.matches("IDENTITY").count(), 2, "{out}");
}
