//! The real `flowtop` binary in a real terminal (tmux) against a real flowd fed through its
//! access-log socket: keystrokes in, captured pane text out.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowscope_proto::cilium::{EntryType, LogEntry};
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::tmux::{Tmux, flowtop_command};
use flowscope_tests::{Flowd, FlowdOptions};

const STATE: &str = r#"
node_name: kind-worker
cluster_name: default
endpoints:
  - name: details-v1-79f774bdb9-x2x4k
    namespace: default
    labels: {app: details, version: v1}
    ips: [10.244.1.7]
    identity: 25001
    endpoint_id: 2345
    workload: details-v1
"#;

/// 2023-08-23T15:43:24.080Z
const T0: u64 = 1_692_805_404_080_000_000;
const MS: u64 = 1_000_000;
const HOST: &str = "192.168.10.211";

/// How long a UI change may take to show up in the pane.
const UI_BOUND: Duration = Duration::from_secs(1);
/// How long the first screen (connect, history) may take.
const START_BOUND: Duration = Duration::from_secs(10);
/// How long flows may take to travel producer → flowd → flowtop on a busy machine.
const DATA_BOUND: Duration = Duration::from_secs(5);

fn enc(e: &LogEntry) -> Vec<u8> {
    prost::Message::encode_to_vec(e)
}

/// A request and its response over one hop, `ms` after T0, with X-Request-Id `id`.
#[allow(clippy::too_many_arguments)]
fn hop(
    ms: u64,
    latency_ms: u64,
    client: (&str, u32),
    server: (&str, u32),
    host: &str,
    path: &str,
    id: &str,
    denied: bool,
) -> Vec<Vec<u8>> {
    let hdrs = [("X-Request-Id", id)];
    let req_type = if denied {
        EntryType::Denied
    } else {
        EntryType::Request
    };
    let status = if denied { 403 } else { 200 };
    vec![
        enc(&http_entry(
            req_type,
            T0 + ms * MS,
            client.0,
            client.1,
            server.0,
            server.1,
            "GET",
            host,
            path,
            0,
            &hdrs,
        )),
        enc(&http_entry(
            EntryType::Response,
            T0 + (ms + latency_ms) * MS,
            client.0,
            client.1,
            server.0,
            server.1,
            "GET",
            host,
            path,
            status,
            &hdrs,
        )),
    ]
}

/// The seed scenario: a denied request (and its 403), and `req-ok` crossing two hops
/// (world → ingress → details pod), each request with its response. Sent in time order.
fn scenario() -> Vec<Vec<u8>> {
    let denied = hop(
        0,
        1,
        ("127.0.0.1:32848", 8),
        ("127.0.0.1:12412", 2),
        HOST,
        "/details/1",
        "req-denied",
        true,
    );
    let world = hop(
        10,
        12,
        ("192.0.2.10:40000", 2),
        ("10.0.0.1:80", 8),
        HOST,
        "/productpage",
        "req-ok",
        false,
    );
    let pod = hop(
        11,
        4,
        ("10.0.0.1:50000", 8),
        ("10.244.1.7:9080", 0),
        "details:9080",
        "/details/1",
        "req-ok",
        false,
    );
    vec![
        denied[0].clone(),
        denied[1].clone(),
        world[0].clone(),
        pod[0].clone(),
        pod[1].clone(),
        world[1].clone(),
    ]
}

fn feed(flowd: &Flowd, records: &[Vec<u8>]) {
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    let before = flowd.metric(series).unwrap_or(0.0);
    let p = flowd.producer();
    for r in records {
        p.send(r).unwrap();
    }
    let want = before + records.len() as f64;
    assert_eq!(
        flowd.wait_metric(series, want),
        want,
        "log:\n{}",
        flowd.log()
    );
}

/// Rows of the flow table (they start with the time of day).
fn table_rows(pane: &str) -> Vec<&str> {
    pane.lines()
        .filter(|l| l.starts_with("15:43:24."))
        .collect()
}

/// The number right after `prefix` in the pane, e.g. `dropped ` → 1234.
fn counter(pane: &str, prefix: &str) -> Option<u64> {
    let at = pane.find(prefix)? + prefix.len();
    let digits: String = pane[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn test_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("flowtop-it-{}-{name}", std::process::id()))
}

#[test]
fn verdict_filter_request_id_and_trace_view() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd, &scenario());
    let dir = test_dir("e2e");
    let server = flowd.server_arg();
    let tmux = Tmux::start(&dir, &flowtop_command(&dir, &["--server", &server]));

    // History: all six flows, in time order, newest at the bottom. (Each wait checks the
    // bottom-most text it relies on: a capture may catch a frame half drawn.)
    let (pane, _) = tmux.wait(START_BOUND, "the six flows", |p| {
        let rows = table_rows(p);
        p.contains("● connected")
            && p.contains("shown 6/10000  FORWARDED 5  DROPPED 1")
            && rows.len() == 6
            && rows[5].contains("HTTP/1.1 200 12ms (GET http://192.168.10.211/")
    });
    assert!(pane.contains(" filters: none"), "{pane}");
    assert_eq!(tmux.format("#{alternate_on}"), "1");
    let rows = table_rows(&pane);
    assert!(rows[0].starts_with("15:43:24.080"), "{pane}");
    assert!(rows[0].contains("127.0.0.1:32848") && rows[0].contains("DROPPED"));
    assert!(rows[5].starts_with("15:43:24.102"), "{pane}");

    // Live: new flows appear at the bottom.
    let live = hop(
        30,
        2,
        ("192.0.2.11:40001", 2),
        ("10.0.0.1:80", 8),
        HOST,
        "/live",
        "req-live",
        false,
    );
    feed(&flowd, &live);
    tmux.wait(DATA_BOUND, "the live flows", |p| {
        let rows = table_rows(p);
        rows.len() == 8 && rows[7].ends_with("HTTP/1.1 200 2ms (GET http://192.168.10.211/live)")
    });

    // Verdict filter: v cycles any → FORWARDED → DROPPED; the server is asked again.
    tmux.keys(&["v", "v"]);
    tmux.wait_for(UI_BOUND, "verdict DROPPED");
    tmux.wait(DATA_BOUND, "the DROPPED flow", |p| {
        let rows = table_rows(p);
        p.contains("verdict DROPPED")
            && p.contains("shown 1/10000  DROPPED 1")
            && rows.len() == 1
            && rows[0].contains("http-request  DROPPED")
            && rows[0].ends_with("HTTP/1.1 GET http://192.168.10.211/details/1")
    });

    // Clear it; type an X-Request-Id.
    tmux.keys(&["c"]);
    tmux.wait_for(UI_BOUND, " filters: none");
    tmux.wait(DATA_BOUND, "all flows again", |p| {
        p.contains(" filters: none") && table_rows(p).len() == 8
    });
    tmux.keys(&["x"]);
    tmux.wait_for(UI_BOUND, " X-Request-Id>");
    tmux.text("req-ok");
    tmux.wait_for(UI_BOUND, "X-Request-Id> req-ok");
    tmux.keys(&["Enter"]);
    tmux.wait_for(UI_BOUND, " filters: X-Request-Id req-ok");
    tmux.wait(DATA_BOUND, "the req-ok flows", |p| {
        let rows = table_rows(p);
        p.contains("X-Request-Id req-ok")
            && rows.len() == 4
            && rows.iter().all(|r| r.contains("FORWARDED"))
            && rows[3].contains("HTTP/1.1 200 12ms (GET http://192.168.10.211/")
    });

    // The trace view of the selected (newest) flow: both hops, in time order, with latency.
    tmux.keys(&["t"]);
    let offsets = |p: &str| -> Vec<String> {
        table_rows(p)
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect()
    };
    tmux.wait_for(UI_BOUND, "Trace X-Request-Id req-ok");
    let (pane, _) = tmux.wait(DATA_BOUND, "the trace from the server", |p| {
        p.contains("Trace X-Request-Id req-ok · 2 hops · 4 flows · 12ms")
            && !p.contains("asking the server")
            && offsets(p) == ["+0", "+1ms", "+5ms", "+12ms"]
    });
    let hop_line = |client: &str| {
        pane.lines()
            .find(|l| l.starts_with(&format!("{client} ")) || l.contains(&format!(" {client} ")))
            .unwrap_or_else(|| panic!("no hop {client}:\n{pane}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hop_line("192.0.2.10:40000")[..9],
        [
            "1",
            "192.0.2.10:40000",
            "world",
            "10.0.0.1:80",
            "ingress",
            "FORWARDED",
            "200",
            "12ms",
            "HTTP/1.1"
        ]
    );
    assert_eq!(
        hop_line("10.0.0.1:50000")[..9],
        [
            "2",
            "10.0.0.1:50000",
            "ingress",
            "default/details-v1-79f774bdb9-x2x4k:9080",
            "25001",
            "FORWARDED",
            "200",
            "4ms",
            "HTTP/1.1"
        ]
    );
    // Detail of the selected trace flow (the one the trace was opened on), scrolled to its
    // end.
    tmux.keys(&["Enter"]);
    tmux.wait(UI_BOUND, "the detail pane", |p| {
        p.contains(" Flow 15:43:24.102 http-response FORWARDED")
            && p.contains(r#""verdict": "FORWARDED""#)
    });
    tmux.keys(&["G"]);
    tmux.wait_for(
        UI_BOUND,
        r#""Summary": "HTTP/1.1 200 12ms (GET http://192.168.10.211/productpage)""#,
    );
    tmux.keys(&["Escape"]);
    tmux.wait(UI_BOUND, "the trace again", |p| !p.contains(" Flow 15:43"));
    tmux.keys(&["Escape"]);
    tmux.wait(UI_BOUND, "the table again", |p| {
        !p.contains("Trace X-Request-Id")
    });
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), "0");
    // The terminal is back to normal: the alternate screen is off.
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[test]
fn command_line_filters_and_help() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd, &scenario());
    let dir = test_dir("flags");
    let server = flowd.server_arg();
    let tmux = Tmux::start(
        &dir,
        &flowtop_command(
            &dir,
            &[
                "--server",
                &server,
                "--to-identity",
                "25001",
                "--http-method",
                "get",
            ],
        ),
    );
    tmux.wait(START_BOUND, "the pod hop", |p| {
        let rows = table_rows(p);
        p.contains("● connected")
            && p.contains(" filters: flags --to-identity 25001 --http-method get")
            && rows.len() == 1
            && rows[0].contains("default/details-v1-79f774bdb9-x2x4k:9080")
            && rows[0].ends_with("HTTP/1.1 GET http://details:9080/details/1")
    });

    // The filter line is editable: drop the method, keep the identity on either side.
    tmux.keys(&["/", "C-u"]);
    tmux.text("--identity 25001");
    tmux.keys(&["Enter"]);
    tmux.wait_for(UI_BOUND, " filters: flags --identity 25001");
    tmux.wait(DATA_BOUND, "both pod flows", |p| {
        let rows = table_rows(p);
        p.contains(" filters: flags --identity 25001")
            && rows.len() == 2
            && rows[1].ends_with("HTTP/1.1 200 4ms (GET http://details:9080/details/1)")
    });

    // A filter only the server can judge (a bad regex) is refused; the connection stays.
    tmux.keys(&["/", "C-u"]);
    tmux.text("--http-path (");
    tmux.keys(&["Enter"]);
    tmux.wait(DATA_BOUND, "the refusal", |p| {
        p.contains("✗ server refused the filters: invalid argument")
            && p.contains("● connected")
            && table_rows(p).is_empty()
    });
    tmux.keys(&["/", "C-u"]);
    tmux.text("--identity 25001");
    tmux.keys(&["Enter"]);
    tmux.wait(DATA_BOUND, "both pod flows again", |p| {
        !p.contains("refused") && table_rows(p).len() == 2
    });

    tmux.keys(&["?"]);
    tmux.wait(UI_BOUND, "the help overlay", |p| {
        p.contains("flowtop keys")
            && p.contains("request trace of the selected flow's X-Request-Id")
            && p.contains("Any key closes this help.")
    });
    tmux.keys(&["Escape"]);
    tmux.wait(UI_BOUND, "help closed", |p| !p.contains("flowtop keys"));

    // SIGTERM ends flowtop and restores the terminal.
    let pid = tmux.flowtop_pid();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // A clean exit, not death by the signal.
    assert_eq!(tmux.wait_exit(), "0");
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[test]
fn unreachable_server_is_retried_until_it_comes() {
    let dir = test_dir("reconnect");
    std::fs::create_dir_all(&dir).unwrap();
    // flowtop dials a symlink that points nowhere yet.
    let link = dir.join("hubble.sock");
    let _ = std::fs::remove_file(&link);
    let server = format!("unix://{}", link.display());
    let tmux = Tmux::start(&dir, &flowtop_command(&dir, &["--server", &server]));
    tmux.wait(START_BOUND, "the disconnected status", |p| {
        p.contains("✗ disconnected")
            && p.contains(&format!("cannot connect to {server}"))
            && p.contains("retrying in")
    });

    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd, &scenario());
    std::os::unix::fs::symlink(&flowd.grpc_socket, &link).unwrap();
    // Backoff is at most 5 s.
    tmux.wait(Duration::from_secs(10), "the reconnection", |p| {
        p.contains("● connected") && table_rows(p).len() == 6
    });

    // The server goes away: flowtop says so and keeps running.
    drop(flowd);
    tmux.wait_for(Duration::from_secs(5), "✗ disconnected");
    assert_eq!(tmux.format("#{pane_dead}"), "0");
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), "0");
}

#[test]
fn keys_stay_responsive_under_a_burst_and_drops_are_reported() {
    const BURST: usize = 50_000;
    const BURST_TIME: Duration = Duration::from_millis(2500);
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        buffer_capacity: 65_535,
        ..Default::default()
    });
    let dir = test_dir("load");
    let server = flowd.server_arg();
    let tmux = Tmux::start(
        &dir,
        &flowtop_command(&dir, &["--server", &server, "--buffer-size", "100"]),
    );
    tmux.wait_for(START_BOUND, "● connected");

    // A bounded burst: at most BURST records, for at most BURST_TIME.
    let records: Vec<Vec<u8>> = (0..BURST)
        .map(|i| {
            let id = format!("burst-{i}");
            let port = 10_000 + (i % 50_000) as u32;
            enc(&http_entry(
                EntryType::Request,
                T0 + i as u64 * 1000,
                &format!("192.0.2.20:{port}"),
                2,
                "10.0.0.1:80",
                8,
                "GET",
                HOST,
                "/burst",
                0,
                &[("X-Request-Id", id.as_str())],
            ))
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let producer = {
        let p = flowd.producer();
        let done = done.clone();
        let sent = sent.clone();
        std::thread::spawn(move || {
            // Paced at BURST / BURST_TIME (20,000 records/s, far above any frame rate), so
            // the keys below land while it runs.
            let start = Instant::now();
            for (i, chunk) in records.chunks(200).enumerate() {
                if start.elapsed() > BURST_TIME * 2 {
                    break;
                }
                let due = BURST_TIME.mul_f64(i as f64 * 200.0 / BURST as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
                // A failing test drops flowd under the producer: just stop.
                if chunk.iter().any(|r| p.send(r).is_err()) {
                    break;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            done.store(true, Ordering::SeqCst);
            start.elapsed()
        })
    };

    // Rows pour in and the small buffer drops.
    tmux.wait(DATA_BOUND, "dropped rows", |p| {
        counter(p, "dropped ").is_some_and(|n| n > 0)
    });

    // Pause: the frozen view shows at once, while ingestion goes on.
    tmux.keys(&["Space"]);
    let (pane, took_pause) = tmux.wait_for(UI_BOUND, "⏸ PAUSED");
    // The frozen rows stay put while new ones arrive (the "+N new" count grows).
    let new_rows = |p: &str| counter(p, "⏸ PAUSED (+").unwrap_or(0);
    let (first, _) = tmux.wait(DATA_BOUND, "new rows while paused", |p| {
        new_rows(p) > new_rows(&pane)
    });
    let (second, _) = tmux.wait(DATA_BOUND, "more new rows while paused", |p| {
        new_rows(p) > new_rows(&first)
    });
    let frozen = table_rows(&first).join("\n");
    assert_eq!(table_rows(&second).join("\n"), frozen);
    // Resume, then a filter change that re-queries the server.
    tmux.keys(&["Space"]);
    let (_, took_resume) = tmux.wait_for(UI_BOUND, "▶ following");
    tmux.keys(&["v"]);
    let (_, took_filter) = tmux.wait_for(UI_BOUND, "verdict FORWARDED");
    eprintln!("key to pane: pause {took_pause:?}, resume {took_resume:?}, filter {took_filter:?}");
    assert!(took_pause.max(took_resume).max(took_filter) <= UI_BOUND);
    assert!(
        !done.load(Ordering::SeqCst),
        "the burst ended before the keys were checked: the test proves nothing"
    );

    let elapsed = producer.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("burst: {sent} records in {elapsed:?}");
    assert!(
        sent >= 5_000,
        "the burst was too small to mean anything: {sent}"
    );

    // After the burst the header reports what the 100-row buffer dropped.
    let (pane, _) = tmux.wait(Duration::from_secs(10), "the burst's flows", |p| {
        p.contains("shown 100/100") && counter(p, "dropped ").is_some_and(|n| n > 0)
    });
    let dropped = counter(&pane, "dropped ").unwrap();
    let lost = counter(&pane, "lost ").unwrap();
    eprintln!("dropped {dropped}, lost {lost}");
    assert!(dropped > 0, "{pane}");
    // A key still takes effect promptly.
    tmux.keys(&["?"]);
    let (_, took) = tmux.wait_for(UI_BOUND, "flowtop keys");
    assert!(took <= UI_BOUND);
    tmux.keys(&["Escape", "q"]);
    assert_eq!(tmux.wait_exit(), "0");
}
