//! Hubble parity of the access-log source and of shutdown, through the real flowd and
//! flowctl binaries.

#![allow(clippy::unwrap_used)]

use flowscope_proto::cilium::{EntryType, LogEntry};
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{Flowd, FlowdOptions};

/// 2023-08-23T15:43:24.080Z
const T0: u64 = 1_692_805_404_080_000_000;

fn enc(e: &LogEntry) -> Vec<u8> {
    prost::Message::encode_to_vec(e)
}

/// Sends `records` and waits until flowd has decoded `flows` flows from them.
fn feed(flowd: &Flowd, records: &[LogEntry], decoded: usize) {
    let p = flowd.producer();
    for r in records {
        p.send(&enc(r)).unwrap();
    }
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    let got = flowd.wait_metric(series, decoded as f64);
    assert_eq!(got, decoded as f64, "decoded; log:\n{}", flowd.log());
}

/// `flowctl observe --all -o jsonpb ARGS`, one JSON value per flow.
fn observe(flowd: &Flowd, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["observe", "--all", "-o", "jsonpb"];
    all.extend_from_slice(args);
    let out = flowd.flowctl(&all);
    assert!(
        out.status.success(),
        "flowctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn envoy_lowercase_header_names_are_found_by_canonical_name() {
    let flowd = Flowd::start(FlowdOptions::default());
    let entry = |id: &str| {
        http_entry(
            EntryType::Request,
            T0,
            "10.0.0.1:40000",
            2,
            "10.0.0.2:80",
            8,
            "GET",
            "svc",
            "/",
            0,
            &[("x-request-id", id), ("user-agent", "curl/8")],
        )
    };
    feed(&flowd, &[entry("id-1"), entry("id-2")], 2);
    let flows = observe(&flowd, &["--http-header", "X-Request-Id:id-2"]);
    assert_eq!(flows.len(), 1, "{flows:?}");
    let headers = &flows[0]["flow"]["l7"]["http"]["headers"];
    assert_eq!(
        headers,
        &serde_json::json!([
            {"key": "User-Agent", "value": "curl/8"},
            {"key": "X-Request-Id", "value": "id-2"},
        ])
    );
    // Hubble matches header names exactly: the name Envoy sent is not the one shown.
    assert!(observe(&flowd, &["--http-header", "x-request-id:id-2"]).is_empty());
}

#[test]
fn kafka_entry_with_three_topics_gives_three_flows_and_bare_entry_one() {
    use flowscope_proto::cilium::{KafkaLogEntry, log_entry};
    let flowd = Flowd::start(FlowdOptions::default());
    let kafka = LogEntry {
        timestamp: T0,
        entry_type: EntryType::Request as i32,
        source_address: "10.0.0.1:40000".into(),
        destination_address: "10.0.0.2:9092".into(),
        l7: Some(log_entry::L7::Kafka(KafkaLogEntry {
            correlation_id: 3,
            api_key: 1,
            topics: vec!["a".into(), "b".into(), "c".into()],
            ..Default::default()
        })),
        ..Default::default()
    };
    // No L7 part: read as the deprecated HTTP fields, none set.
    let bare = LogEntry {
        timestamp: T0 + 1,
        entry_type: EntryType::Request as i32,
        source_address: "10.0.0.1:40001".into(),
        destination_address: "10.0.0.2:80".into(),
        ..Default::default()
    };
    feed(&flowd, &[kafka, bare], 2);
    let flows = observe(&flowd, &[]);
    let summaries: Vec<&str> = flows
        .iter()
        .map(|f| f["flow"]["Summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "Kafka request fetch correlation id 3 topic 'a'",
            "Kafka request fetch correlation id 3 topic 'b'",
            "Kafka request fetch correlation id 3 topic 'c'",
            "HTTP/1  ",
        ]
    );
    assert_eq!(
        flows[3]["flow"]["l7"],
        serde_json::json!({"type": "REQUEST", "http": {"protocol": "HTTP/1"}})
    );
    assert_eq!(
        flowd
            .metric(
                r#"flowscope_source_records_dropped_total{source="access_log",reason="invalid"}"#
            )
            .unwrap_or(0.0),
        0.0
    );
}

/// The number of open GetFlows streams, from `/metrics`.
fn streams_open(flowd: &Flowd) -> Option<f64> {
    let text = flowd.metrics()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.contains("grpc_streams_open"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[test]
fn sigterm_ends_following_streams_and_flowd_exits_promptly() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut flowd = Flowd::start(FlowdOptions::default());
    let home = flowscope_tests::temp_dir("parity-follow");
    let follower = |args: &[&str]| {
        flowscope_tests::flowctl_command(&home)
            .args(args)
            .arg("--server")
            .arg(flowd.server_arg())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let followers = [
        follower(&["observe", "-f", "-o", "compact"]),
        follower(&["observe", "-f", "--last", "5", "-o", "json"]),
    ];
    // Both streams are open (each is waiting for flows) before the signal.
    let deadline = Instant::now() + Duration::from_secs(20);
    while streams_open(&flowd) != Some(2.0) {
        assert!(Instant::now() < deadline, "followers did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }

    let sent = Instant::now();
    flowd.signal("TERM");
    let status = flowd.wait_exit(Duration::from_secs(10));
    let took = sent.elapsed();
    eprintln!("flowd exited {took:?} after SIGTERM");
    assert!(status.is_some(), "flowd still running 10 s after SIGTERM");
    assert!(
        took < Duration::from_secs(2),
        "flowd took {took:?} to exit; log:\n{}",
        flowd.log()
    );
    assert!(status.unwrap().success(), "log:\n{}", flowd.log());
    for child in followers {
        let (out, waited) = flowscope_tests::wait_bounded(child, Duration::from_secs(10));
        let out = out.unwrap_or_else(|| panic!("flowctl still following after {waited:?}"));
        // The stream ended: flowctl reports the server going away (or a clean end).
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success()
                || stderr.to_lowercase().contains("unavailable")
                || stderr.contains("shutting down"),
            "flowctl: {:?} {stderr}",
            out.status
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}
