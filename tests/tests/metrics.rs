//! Hubble metrics end to end: flowd fed a known mix of access-log records, scraped by a real
//! Prometheus server whose HTTP API must report what the mix implies; OpenMetrics exemplars;
//! start-up errors for a bad `--metrics`; the cardinality guard.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use flowscope_proto::cilium::{EntryType, LogEntry};
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{
    BOOKINFO_STATE, Flowd, FlowdOptions, Prometheus, flowd_refusing_metrics, http_get_with,
};

const SPEC: &str = "flow drop tcp port-distribution icmp policy httpV2:exemplars=true;labelsContext=source_namespace,source_workload,destination_namespace,destination_workload,traffic_direction";

/// 2023-08-23T15:43:24.080Z
const T0: u64 = 1_692_805_404_080_000_000;
const MS: u64 = 1_000_000;
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One request/response exchange of the mix.
struct Exchange {
    denied: bool,
    ingress: bool,
    method: &'static str,
    status: u32,
    latency_ms: u64,
    trace: bool,
}

impl Exchange {
    const fn ok(latency_ms: u64, trace: bool) -> Exchange {
        Exchange {
            denied: false,
            ingress: true,
            method: "GET",
            status: 200,
            latency_ms,
            trace,
        }
    }
}

/// The mix: productpage → details, through the ingress proxy of details unless egress.
const MIX: &[Exchange] = &[
    Exchange::ok(2, true),
    Exchange::ok(3, false),
    Exchange::ok(4, false),
    Exchange::ok(20, true),
    Exchange::ok(150, false),
    // Denied by L7 policy, answered 403 by the proxy.
    Exchange {
        denied: true,
        ingress: true,
        method: "DELETE",
        status: 403,
        latency_ms: 1,
        trace: false,
    },
    Exchange {
        denied: true,
        ingress: true,
        method: "DELETE",
        status: 403,
        latency_ms: 1,
        trace: false,
    },
    Exchange {
        denied: true,
        ingress: true,
        method: "GET",
        status: 403,
        latency_ms: 1,
        trace: false,
    },
    // Seen by productpage's egress proxy.
    Exchange {
        denied: false,
        ingress: false,
        method: "POST",
        status: 201,
        latency_ms: 7,
        trace: false,
    },
    Exchange {
        denied: false,
        ingress: false,
        method: "POST",
        status: 201,
        latency_ms: 7,
        trace: true,
    },
];

fn records(mix: &[Exchange]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, x) in mix.iter().enumerate() {
        let id = format!("req-{i}");
        let mut headers = vec![("X-Request-Id", id.as_str())];
        if x.trace {
            headers.push(("traceparent", TRACEPARENT));
        }
        let t = T0 + (i as u64) * 1000 * MS;
        let entry = |kind, ts, status| -> LogEntry {
            let mut e = http_entry(
                kind,
                ts,
                "10.244.1.9:41000",
                25000,
                "10.244.1.7:9080",
                25001,
                x.method,
                "details:9080",
                "/details/1",
                status,
                &headers,
            );
            e.is_ingress = x.ingress;
            e
        };
        let request = if x.denied {
            EntryType::Denied
        } else {
            EntryType::Request
        };
        out.push(prost::Message::encode_to_vec(&entry(request, t, 0)));
        out.push(prost::Message::encode_to_vec(&entry(
            EntryType::Response,
            t + x.latency_ms * MS,
            x.status,
        )));
    }
    out
}

fn start_flowd(extra: &[&str]) -> Flowd {
    Flowd::start(FlowdOptions {
        state_yaml: BOOKINFO_STATE,
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

fn feed(flowd: &Flowd, records: &[Vec<u8>]) {
    let p = flowd.producer();
    for r in records {
        p.send(r).unwrap();
    }
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    let got = flowd.wait_metric(series, records.len() as f64);
    assert_eq!(got, records.len() as f64, "decoded; log:\n{}", flowd.log());
}

/// Prometheus' `histogram_quantile` (promql `bucketQuantile`) over `values`.
fn expected_quantile(q: f64, values: &[f64], bounds: &[f64]) -> f64 {
    let mut cum: Vec<f64> = bounds
        .iter()
        .map(|b| values.iter().filter(|v| **v <= *b).count() as f64)
        .collect();
    cum.push(values.len() as f64);
    let total = *cum.last().unwrap();
    let rank = q * total;
    let b = cum.iter().position(|c| *c >= rank).unwrap();
    if b == bounds.len() {
        return bounds[b - 1];
    }
    let (start, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (bounds[b - 1], cum[b - 1])
    };
    let end = bounds[b];
    start + (end - start) * ((rank - below) / (cum[b] - below))
}

fn labels(sample: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = sample["metric"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "instance" && *k != "job")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn prometheus_scrapes_what_the_mix_implies() {
    assert!(
        std::path::Path::new(Prometheus::BINARY).exists(),
        "{} missing: install Debian's prometheus package (scripts/test.sh does)",
        Prometheus::BINARY
    );
    let flowd = start_flowd(&["--metrics", SPEC]);
    feed(&flowd, &records(MIX));
    let prom = Prometheus::start(&[flowd.metrics_port]);

    let flows = (MIX.len() * 2) as f64;
    let denied = MIX.iter().filter(|x| x.denied).count() as f64;
    let total = "sum(hubble_flows_processed_total)";
    let r = prom.wait_query(total, Duration::from_secs(60), |r| {
        r.first().is_some_and(|s| value(s) == flows)
    });
    assert_eq!(
        r.first().map(value),
        Some(flows),
        "scraped; prometheus log:\n{}",
        prom.log()
    );
    assert_eq!(prom.query_value(r#"up{job="flowd"}"#), Some(1.0));

    // 1. Flows per verdict: the denied requests are DROPPED, everything else FORWARDED.
    let mut by_verdict: Vec<(String, f64)> = prom
        .query("sum by (verdict) (hubble_flows_processed_total)")
        .iter()
        .map(|s| {
            (
                s["metric"]["verdict"].as_str().unwrap().to_string(),
                value(s),
            )
        })
        .collect();
    by_verdict.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_verdict,
        [
            ("DROPPED".to_string(), denied),
            ("FORWARDED".to_string(), flows - denied)
        ]
    );
    let l7 = prom.query(r#"hubble_flows_processed_total{verdict="DROPPED"}"#);
    assert_eq!(l7.len(), 1);
    assert_eq!(
        labels(&l7[0]),
        owned(&[
            ("__name__", "hubble_flows_processed_total"),
            ("protocol", "HTTP"),
            ("type", "L7"),
            ("subtype", "HTTP"),
            ("verdict", "DROPPED"),
        ])
    );

    // 2. Drops: L7 denials carry no datapath drop reason (Hubble's seven parser sets
    // DROP_REASON_UNKNOWN), so POLICY_DENIED appears only with datapath drops, of which
    // this mix (access-log records only) has none.
    assert!(
        prom.query(r#"hubble_drop_total{reason="POLICY_DENIED"}"#)
            .is_empty()
    );
    assert_eq!(
        prom.query_value(r#"hubble_drop_total{reason="DROP_REASON_UNKNOWN",protocol="HTTP"}"#),
        Some(denied)
    );

    // 3. httpV2 counts responses; the 403s are the denied requests' answers.
    let forbidden = prom.query(r#"hubble_http_requests_total{status="403"}"#);
    let mut got: Vec<(Vec<(String, String)>, f64)> =
        forbidden.iter().map(|s| (labels(s), value(s))).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let series = |method| {
        owned(&[
            ("__name__", "hubble_http_requests_total"),
            ("source_namespace", "default"),
            ("source_workload", "productpage-v1"),
            ("destination_namespace", "default"),
            ("destination_workload", "details-v1"),
            ("traffic_direction", "ingress"),
            ("method", method),
            ("protocol", "HTTP/1.1"),
            ("status", "403"),
            ("reporter", "server"),
        ])
    };
    assert_eq!(got, [(series("DELETE"), 2.0), (series("GET"), 1.0)]);
    assert_eq!(
        prom.query_value(r#"sum(hubble_http_requests_total{status="403"})"#),
        Some(denied)
    );
    assert_eq!(
        prom.query_value("sum(hubble_http_requests_total)"),
        Some(MIX.len() as f64)
    );
    assert_eq!(
        prom.query_value(r#"sum(hubble_http_requests_total{reporter="client",status="201"})"#),
        Some(2.0)
    );

    // 4. The latency histogram's quantiles.
    let latencies: Vec<f64> = MIX.iter().map(|x| x.latency_ms as f64 / 1000.0).collect();
    let bounds = flowscope_server::metrics::series::DEFAULT_BUCKETS;
    for q in [0.5, 0.9, 0.99] {
        let got = prom
            .query_value(&format!(
                "histogram_quantile({q}, sum by (le) (hubble_http_request_duration_seconds_bucket))"
            ))
            .unwrap();
        let want = expected_quantile(q, &latencies, bounds);
        assert!((got - want).abs() < 1e-9, "q{q}: {got} != {want}");
    }
    assert_eq!(
        prom.query_value("sum(hubble_http_request_duration_seconds_count)"),
        Some(MIX.len() as f64)
    );
    let sum = prom
        .query_value("sum(hubble_http_request_duration_seconds_sum)")
        .unwrap();
    assert!((sum - latencies.iter().sum::<f64>()).abs() < 1e-9, "{sum}");

    // 5. Policy verdicts of L7 flows: every request and response.
    let mut policy: Vec<(String, f64)> = prom
        .query("sum by (direction, match, action) (hubble_policy_verdicts_total)")
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                format!("{} {} {}", m["direction"], m["match"], m["action"]).replace('"', ""),
                value(s),
            )
        })
        .collect();
    policy.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        policy,
        [
            ("egress l7/http forwarded".to_string(), 4.0),
            ("ingress l7/http dropped".to_string(), denied),
            (
                "ingress l7/http forwarded".to_string(),
                flows - 4.0 - denied
            ),
        ]
    );

    // 6. Prometheus stored the traceID exemplars it scraped over OpenMetrics.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exemplars = prom.api(
        "query_exemplars",
        &[
            ("query", "hubble_http_requests_total"),
            ("start", &(now - 600).to_string()),
            ("end", &(now + 60).to_string()),
        ],
    );
    let ids: Vec<&str> = exemplars
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["exemplars"].as_array().unwrap())
        .filter_map(|e| e["labels"]["traceID"].as_str())
        .collect();
    assert!(ids.contains(&TRACE_ID), "{exemplars}");

    // flowd's own series are scraped too.
    assert_eq!(
        prom.query_value(r#"flowscope_source_records_decoded_total{source="access_log"}"#),
        Some(flows)
    );
    assert_eq!(
        prom.query_value(r#"hubble_lost_events_total{source="observer_events_queue"}"#),
        Some(0.0)
    );
    assert_eq!(prom.query_value("flowscope_ring_size"), Some(flows));
}

#[test]
fn openmetrics_scrape_shows_trace_exemplars_and_text_does_not() {
    let flowd = start_flowd(&["--metrics", SPEC]);
    feed(&flowd, &records(&MIX[..2]));

    let r = http_get_with(
        flowd.metrics_port,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let om = r.body;
    assert!(om.ends_with("# EOF\n"), "{om}");
    let request_series = r#"hubble_http_requests_total{source_namespace="default",source_workload="productpage-v1",destination_namespace="default",destination_workload="details-v1",traffic_direction="ingress",method="GET",protocol="HTTP/1.1",status="200",reporter="server"}"#;
    let line = om
        .lines()
        .find(|l| l.starts_with(request_series))
        .unwrap_or_else(|| panic!("{om}"));
    // Two responses; the first (with a traceparent) left its exemplar.
    let exemplar = format!(r#"{request_series} 2 # {{traceID="{TRACE_ID}"}} 1.0 "#);
    assert!(line.starts_with(&exemplar), "{line}");
    // The 2 ms response carried the trace: its bucket has the exemplar with its latency.
    assert!(
        om.lines().any(|l| l
            .starts_with("hubble_http_request_duration_seconds_bucket{le=\"0.005\"")
            && l.contains(&format!(r#" 2 # {{traceID="{TRACE_ID}"}} 0.002 "#))),
        "{om}"
    );

    // The default is the Prometheus text format: no exemplars, `_total` family names.
    let r = http_get_with(flowd.metrics_port, "/metrics", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.body;
    assert!(
        text.contains("# TYPE hubble_http_requests_total counter\n"),
        "{text}"
    );
    assert!(text.contains(&format!("{request_series} 2\n")), "{text}");
    assert!(!text.contains("traceID"), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn invalid_metrics_fail_start_up_naming_the_token() {
    for (spec, token) in [
        ("flow bogus drop", "\"bogus\""),
        ("flow httpV2:labelsContext=source_pod,nope", "\"nope\""),
        ("drop:sourceContext=pod|podd", "\"podd\""),
        ("tcp:exemplars=true", "\"exemplars\""),
    ] {
        let stderr = flowd_refusing_metrics(spec);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{spec}: one line: {stderr}");
        assert!(
            lines[0].starts_with("flowd: invalid --metrics: ") && lines[0].contains(token),
            "{spec}: {stderr}"
        );
    }
}

#[test]
fn series_limit_folds_new_label_sets_into_one_overflow_series() {
    let flowd = start_flowd(&[
        "--metrics",
        "flow:sourceContext=ip httpV2:sourceContext=ip;destinationContext=ip",
        "--metrics-series-limit",
        "4",
    ]);
    // Ten clients, one request and response each.
    let mut recs = Vec::new();
    for i in 0..10u64 {
        let id = format!("r{i}");
        let src = format!("192.0.2.{}:40000", 10 + i);
        for (kind, t, status) in [
            (EntryType::Request, T0 + i * MS, 0),
            (EntryType::Response, T0 + (i + 1) * MS, 200),
        ] {
            recs.push(prost::Message::encode_to_vec(&http_entry(
                kind,
                t,
                &src,
                2,
                "10.244.1.7:9080",
                25001,
                "GET",
                "details:9080",
                "/",
                status,
                &[("X-Request-Id", id.as_str())],
            )));
        }
    }
    feed(&flowd, &recs);
    let text = flowd.metrics().unwrap();
    let flows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hubble_flows_processed_total{"))
        .collect();
    // Ten requests from ten sources, ten responses from one (the server): eleven label
    // sets. In arrival order the first request, the responses and the next two requests
    // are kept; the other seven requests fold into the overflow series.
    assert_eq!(flows.len(), 5, "{text}");
    let overflow = r#"hubble_flows_processed_total{protocol="__overflow__",type="__overflow__",subtype="__overflow__",verdict="__overflow__",source="__overflow__"}"#;
    assert_eq!(flowd.metric(overflow), Some(7.0), "{text}");
    assert_eq!(
        flowd.metric(
            r#"flowscope_metrics_series_overflow_total{metric="hubble_flows_processed_total"}"#
        ),
        Some(7.0)
    );
    assert_eq!(
        flowd.metric(r#"flowscope_metrics_series{metric="hubble_flows_processed_total"}"#),
        Some(4.0)
    );
    let series = |source: &str| {
        format!(
            r#"hubble_flows_processed_total{{protocol="HTTP",type="L7",subtype="HTTP",verdict="FORWARDED",source="{source}"}}"#
        )
    };
    assert_eq!(flowd.metric(&series("10.244.1.7")), Some(10.0));
    for client in ["192.0.2.10", "192.0.2.11", "192.0.2.12"] {
        assert_eq!(flowd.metric(&series(client)), Some(1.0), "{text}");
    }

    // httpV2: ten responses, four label sets kept, six folded, in both metrics.
    assert_eq!(
        flowd.metric(
            r#"flowscope_metrics_series_overflow_total{metric="hubble_http_requests_total"}"#
        ),
        Some(6.0)
    );
    assert_eq!(
        flowd.metric(r#"flowscope_metrics_series_overflow_total{metric="hubble_http_request_duration_seconds"}"#),
        Some(6.0)
    );
    assert_eq!(
        flowd.metric(r#"hubble_http_request_duration_seconds_count{source="__overflow__",destination="__overflow__",method="__overflow__",reporter="__overflow__"}"#),
        Some(6.0)
    );
    let http: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hubble_http_requests_total{"))
        .collect();
    assert_eq!(http.len(), 5, "{text}");
    // The kept series: the inverted response flow reports the client as source.
    assert!(
        http.iter().any(|l| l.starts_with(
            r#"hubble_http_requests_total{source="192.0.2.10",destination="10.244.1.7",method="GET""#
        )),
        "{text}"
    );
}
