//! Hubble's exposition, through the real flowd: started with the metric list of Cilium's
//! documentation verbatim, `/metrics` must carry Hubble's help texts and Go's number
//! formatting (`le="1"`, not `le="1.0"`); an unknown handler is refused at start-up.

#![allow(clippy::unwrap_used)]

use flowscope_proto::cilium::EntryType;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{BOOKINFO_STATE, Flowd, FlowdOptions, flowd_refusing_metrics, http_get_with};

/// The `hubble.metrics.enabled` example of Cilium's Documentation/observability/metrics.rst.
const CILIUM_DOCS_LIST: &str = "dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction";

/// 2023-08-23T15:43:24.080Z
const T0: u64 = 1_692_805_404_080_000_000;
const MS: u64 = 1_000_000;

/// One HTTP request and its response, `latency_ms` later, then a request denied by policy.
fn exchange(latency_ms: u64) -> Vec<Vec<u8>> {
    let entry = |kind, ts, status| {
        let id = if kind == EntryType::Denied {
            "req-2"
        } else {
            "req-1"
        };
        let headers = [("X-Request-Id", id)];
        let e = http_entry(
            kind,
            ts,
            "10.244.1.9:41000",
            25000,
            "10.244.1.7:9080",
            25001,
            "GET",
            "details:9080",
            "/details/1",
            status,
            &headers,
        );
        prost::Message::encode_to_vec(&e)
    };
    vec![
        entry(EntryType::Request, T0, 0),
        entry(EntryType::Response, T0 + latency_ms * MS, 200),
        entry(EntryType::Denied, T0 + 1000 * MS, 0),
    ]
}

#[test]
fn cilium_documented_list_starts_and_exposes_hubble_formatting() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: BOOKINFO_STATE,
        extra_args: vec!["--metrics".into(), CILIUM_DOCS_LIST.into()],
        ..Default::default()
    });
    let records = exchange(3);
    let p = flowd.producer();
    for r in &records {
        p.send(r).unwrap();
    }
    let decoded = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    assert_eq!(
        flowd.wait_metric(decoded, records.len() as f64),
        records.len() as f64,
        "log:\n{}",
        flowd.log()
    );

    let text = http_get_with(flowd.metrics_port, "/metrics", &[])
        .unwrap()
        .body;
    // The families with series carry Hubble's help texts (like Go's client, flowd shows no
    // family without series: the dns, tcp and icmp ones stay empty with access-log flows).
    for help in [
        "# HELP hubble_drop_total Number of drops\n",
        "# HELP hubble_flows_processed_total Total number of flows processed\n",
        "# HELP hubble_port_distribution_total Numbers of packets distributed by destination port\n",
        "# HELP hubble_http_requests_total Count of HTTP requests\n",
        "# HELP hubble_http_request_duration_seconds Quantiles of HTTP request duration in seconds\n",
    ] {
        assert!(text.contains(help), "{help}{text}");
    }
    // httpV2 with the documented labelsContext; `le` last and Go-formatted.
    let series = r#"hubble_http_request_duration_seconds_bucket{source_ip="10.244.1.9",source_namespace="default",source_workload="productpage-v1",destination_ip="10.244.1.7",destination_namespace="default",destination_workload="details-v1",traffic_direction="ingress",method="GET",reporter="server","#;
    for (le, count) in [
        ("0.0025", None),
        ("0.005", Some(1)),
        ("0.01", Some(1)),
        ("1", Some(1)),
        ("2.5", Some(1)),
        ("5", Some(1)),
        ("10", Some(1)),
        ("+Inf", Some(1)),
    ] {
        let line = format!("{series}le=\"{le}\"}}");
        match count {
            Some(n) => assert!(text.contains(&format!("{line} {n}\n")), "{line}\n{text}"),
            None => assert!(!text.contains(&line), "{line}\n{text}"),
        }
    }
    assert!(!text.contains("le=\"1.0\""), "{text}");
    assert!(!text.contains("\nhubble_dns_"), "{text}");
    assert!(!text.contains("le=\"0.005\","), "le comes last:\n{text}");
    assert!(text.contains("_sum{"), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains("_sum{"))
            .all(|l| !l.ends_with(".0")),
        "{text}"
    );
    // No help text ends in the `.` prometheus-client appends, in either format.
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("# HELP") && l.ends_with('.')),
        "{text}"
    );
    let om = http_get_with(
        flowd.metrics_port,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    )
    .unwrap()
    .body;
    assert!(
        om.contains("# HELP hubble_http_requests Count of HTTP requests\n"),
        "{om}"
    );
    assert!(
        !om.lines()
            .any(|l| l.starts_with("# HELP") && l.ends_with('.')),
        "{om}"
    );
}

#[test]
fn unknown_handler_in_a_comma_list_is_refused() {
    for spec in ["dns,drop,bogus,flow", "{dns,drop,bogus}", "dns drop bogus"] {
        let stderr = flowd_refusing_metrics(spec);
        assert!(
            stderr.starts_with("flowd: invalid --metrics: unknown metric \"bogus\" (known: ")
                && stderr.contains("dns, kafka")
                && stderr.lines().count() == 1,
            "{spec}: {stderr}"
        );
    }
}
