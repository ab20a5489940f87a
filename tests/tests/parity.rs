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
