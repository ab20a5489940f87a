//! flowd fed through its real access-log socket by concurrent producers, observed with the
//! real flowctl binary and a real gRPC client.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use flowscope_proto::cilium::EntryType;
use flowscope_proto::flow::{FlowFilter, LostEventSource};
use flowscope_proto::observer::{GetFlowsRequest, get_flows_response::ResponseTypes};
use flowscope_proto::types::Timestamp;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{Flowd, FlowdOptions};
use tokio_stream::StreamExt;

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
  - name: productpage-v1-6b746f74dc-9stvq
    namespace: default
    labels: {app: productpage}
    ips: [10.244.1.9]
    identity: 25000
    endpoint_id: 1234
"#;

/// 2023-08-23T15:43:24.080Z
const T0: u64 = 1_692_805_404_080_000_000;
const MS: u64 = 1_000_000;
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn enc(e: &flowscope_proto::cilium::LogEntry) -> Vec<u8> {
    prost::Message::encode_to_vec(e)
}

/// The seed scenario and a forwarded two-hop request, as three producers' streams.
fn scenario() -> Vec<Vec<Vec<u8>>> {
    let denied_hdrs = [("X-Request-Id", "req-denied")];
    let ok_hdrs = [("X-Request-Id", "req-ok"), ("traceparent", TRACEPARENT)];
    let host = "192.168.10.211";
    // Producer 1: the denied request and Envoy's 403.
    let p1 = vec![
        enc(&http_entry(
            EntryType::Denied,
            T0,
            "127.0.0.1:32848",
            8,
            "127.0.0.1:12412",
            2,
            "GET",
            host,
            "/details/1",
            0,
            &denied_hdrs,
        )),
        enc(&http_entry(
            EntryType::Response,
            T0 + MS,
            "127.0.0.1:32848",
            8,
            "127.0.0.1:12412",
            2,
            "GET",
            host,
            "/details/1",
            403,
            &denied_hdrs,
        )),
    ];
    // Producer 2: world -> ingress, forwarded, with its response 12 ms later.
    let p2 = vec![
        enc(&http_entry(
            EntryType::Request,
            T0 + 10 * MS,
            "192.0.2.10:40000",
            2,
            "10.0.0.1:80",
            8,
            "GET",
            host,
            "/productpage",
            0,
            &ok_hdrs,
        )),
        enc(&http_entry(
            EntryType::Response,
            T0 + 22 * MS,
            "192.0.2.10:40000",
            2,
            "10.0.0.1:80",
            8,
            "GET",
            host,
            "/productpage",
            200,
            &ok_hdrs,
        )),
    ];
    // Producer 3: ingress -> details pod (identity from the state file by IP).
    let p3 = vec![
        enc(&http_entry(
            EntryType::Request,
            T0 + 11 * MS,
            "10.0.0.1:50000",
            8,
            "10.244.1.7:9080",
            0,
            "GET",
            "details:9080",
            "/details/1",
            0,
            &ok_hdrs,
        )),
        enc(&http_entry(
            EntryType::Response,
            T0 + 15 * MS,
            "10.0.0.1:50000",
            8,
            "10.244.1.7:9080",
            0,
            "GET",
            "details:9080",
            "/details/1",
            200,
            &ok_hdrs,
        )),
    ];
    vec![p1, p2, p3]
}

fn feed(flowd: &Flowd, streams: Vec<Vec<Vec<u8>>>) {
    let total: usize = streams.iter().map(Vec::len).sum();
    std::thread::scope(|s| {
        for records in streams {
            let p = flowd.producer();
            s.spawn(move || {
                for r in records {
                    p.send(&r).unwrap();
                }
            });
        }
    });
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    let got = flowd.wait_metric(series, total as f64);
    assert_eq!(
        got,
        total as f64,
        "all records decoded; log:\n{}",
        flowd.log()
    );
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "flowctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn compact_and_jsonpb_output_of_the_seed_scenario() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd, scenario());

    let compact = stdout_lines(&flowd.flowctl(&["observe", "--all", "-o", "compact"]));
    let expected = [
        "Aug 23 15:43:24.080: 127.0.0.1:32848 (ingress) -> 127.0.0.1:12412 (world) http-request DROPPED (HTTP/1.1 GET http://192.168.10.211/details/1)",
        "Aug 23 15:43:24.081: 127.0.0.1:32848 (ingress) <- 127.0.0.1:12412 (world) http-response FORWARDED (HTTP/1.1 403 1ms (GET http://192.168.10.211/details/1))",
        "Aug 23 15:43:24.090: 192.0.2.10:40000 (world) -> 10.0.0.1:80 (ingress) http-request FORWARDED (HTTP/1.1 GET http://192.168.10.211/productpage)",
        "Aug 23 15:43:24.091: 10.0.0.1:50000 (ingress) -> default/details-v1-79f774bdb9-x2x4k:9080 (ID:25001) http-request FORWARDED (HTTP/1.1 GET http://details:9080/details/1)",
        "Aug 23 15:43:24.095: 10.0.0.1:50000 (ingress) <- default/details-v1-79f774bdb9-x2x4k:9080 (ID:25001) http-response FORWARDED (HTTP/1.1 200 4ms (GET http://details:9080/details/1))",
        "Aug 23 15:43:24.102: 192.0.2.10:40000 (world) <- 10.0.0.1:80 (ingress) http-response FORWARDED (HTTP/1.1 200 12ms (GET http://192.168.10.211/productpage))",
    ];
    assert_eq!(
        sorted(compact.clone()),
        sorted(expected.iter().map(|s| s.to_string()).collect())
    );
    // Within one producer, order is kept: the 403 follows the denied request.
    let denied = compact
        .iter()
        .position(|l| l.contains("http-request DROPPED"))
        .unwrap();
    let resp = compact
        .iter()
        .position(|l| l.contains("HTTP/1.1 403"))
        .unwrap();
    assert!(denied < resp);

    let jsonpb =
        stdout_lines(&flowd.flowctl(&["observe", "--all", "-o", "jsonpb", "--verdict", "DROPPED"]));
    assert_eq!(jsonpb.len(), 1);
    let mut v: serde_json::Value = serde_json::from_str(&jsonpb[0]).unwrap();
    let flow = v["flow"].as_object_mut().unwrap();
    assert!(flow.remove("uuid").unwrap().as_str().unwrap().len() == 36);
    assert_eq!(flow.remove("emitter").unwrap()["name"], "Flowscope");
    let expected: serde_json::Value = serde_json::from_str(r#"{"flow":{"time":"2023-08-23T15:43:24.080Z","verdict":"DROPPED","IP":{"source":"127.0.0.1","destination":"127.0.0.1","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":32848,"destination_port":12412}},"source":{"identity":8,"labels":["reserved:ingress"]},"destination":{"identity":2,"labels":["reserved:world"]},"Type":"L7","node_name":"kind-worker","l7":{"type":"REQUEST","http":{"method":"GET","url":"http://192.168.10.211/details/1","protocol":"HTTP/1.1","headers":[{"key":"X-Request-Id","value":"req-denied"}]}},"event_type":{"type":129},"traffic_direction":"INGRESS","is_reply":false,"Summary":"HTTP/1.1 GET http://192.168.10.211/details/1"},"node_name":"kind-worker","time":"2023-08-23T15:43:24.080Z"}"#).unwrap();
    assert_eq!(v, expected);

    // The details response, as JSON: latency, trace context, pod enrichment, reply.
    let lines = stdout_lines(&flowd.flowctl(&[
        "observe",
        "--all",
        "-o",
        "jsonpb",
        "--to-pod",
        "default/details",
        "--http-status",
        "200",
    ]));
    assert_eq!(lines.len(), 0, "responses go from the pod, not to it");
    let lines = stdout_lines(&flowd.flowctl(&[
        "observe",
        "--all",
        "-o",
        "jsonpb",
        "--from-pod",
        "default/details",
        "--http-status",
        "200",
    ]));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let f = &v["flow"];
    assert_eq!(f["l7"]["latency_ns"], "4000000", "64-bit as string");
    assert_eq!(f["l7"]["type"], "RESPONSE");
    assert_eq!(f["is_reply"], true);
    assert_eq!(f["reply"], true);
    assert_eq!(f["source"]["pod_name"], "details-v1-79f774bdb9-x2x4k");
    assert_eq!(f["source"]["ID"], 2345);
    assert_eq!(f["source"]["workloads"][0]["name"], "details-v1");
    assert_eq!(
        f["source"]["labels"],
        serde_json::json!([
            "k8s:app=details",
            "k8s:io.kubernetes.pod.namespace=default",
            "k8s:version=v1"
        ])
    );
    assert_eq!(
        f["trace_context"]["parent"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        f["Summary"],
        "HTTP/1.1 200 4ms (GET http://details:9080/details/1)"
    );

    // Other formats print the same flows.
    let dict = String::from_utf8(
        flowd
            .flowctl(&["observe", "--all", "-o", "dict", "--verdict", "DROPPED"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        dict,
        "  TIMESTAMP: Aug 23 15:43:24.080\n     SOURCE: 127.0.0.1:32848\nDESTINATION: 127.0.0.1:12412\n       TYPE: http-request\n    VERDICT: DROPPED\n    SUMMARY: HTTP/1.1 GET http://192.168.10.211/details/1\n"
    );
    let table =
        stdout_lines(&flowd.flowctl(&["observe", "--all", "-o", "table", "--identity", "world"]));
    assert_eq!(table.len(), 5, "{table:?}");
    assert!(table[0].starts_with("TIMESTAMP "), "{table:?}");

    let status = stdout_lines(&flowd.flowctl(&["status"]));
    assert_eq!(
        status[0],
        format!("Healthcheck (via {}): Ok", flowd.server_arg())
    );
    assert_eq!(status[1], "Current/Max Flows: 6/4,095 (0.15%)");
    assert!(status[2].starts_with("Flows/s: "));
}

/// Runs `flowctl observe --all -o compact ARGS` and returns the number of lines.
fn count(flowd: &Flowd, args: &[&str]) -> usize {
    let mut all = vec!["observe", "--all", "-o", "compact"];
    all.extend_from_slice(args);
    stdout_lines(&flowd.flowctl(&all)).len()
}

#[test]
fn every_filter_flag_narrows_the_result() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd, scenario());
    assert_eq!(count(&flowd, &[]), 6);
    let cases: &[(&[&str], usize)] = &[
        (&["--verdict", "DROPPED"], 1),
        (&["--verdict", "FORWARDED"], 5),
        (&["--not", "--verdict", "DROPPED"], 5),
        (&["--identity", "ingress"], 6),
        (&["--from-identity", "ingress"], 2 + 1),
        (&["--to-identity", "world"], 1 + 1),
        (&["--identity", "world"], 4),
        (&["--identity", "25001"], 2),
        (&["--identity", "world", "--not", "--verdict", "DROPPED"], 3),
        (&["--http-header", "X-Request-Id:req-denied"], 2),
        (&["--http-header", "X-Request-Id:req-ok"], 4),
        (&["--http-header", "X-Request-Id:nope"], 0),
        (&["--http-status", "403"], 1),
        (&["--http-status", "2+"], 2),
        (&["--http-method", "get"], 6),
        (&["--http-method", "POST"], 0),
        (&["--http-path", "^/details"], 4),
        (&["--http-url", "productpage$"], 2),
        // Go's RE2: `\d` is ASCII, Unicode classes such as `\pN` are accepted.
        (&["--http-path", r"^/details/\d$"], 4),
        (&["--http-path", r"^/details/\D$"], 0),
        (&["--http-url", r"/\pN$"], 4),
        (&["--from-pod", "default/details"], 1),
        (&["--pod", "default/"], 2),
        (&["--namespace", "default"], 2),
        (&["--label", "app=details"], 2),
        (&["--from-label", "app=details"], 1),
        (&["--ip", "192.0.2.10"], 2),
        (&["--from-ip", "192.0.2.0/24"], 1),
        (&["--to-port", "9080"], 1),
        (&["--port", "9080"], 2),
        (&["--protocol", "http"], 6),
        (&["--protocol", "udp"], 0),
        (&["-t", "l7"], 6),
        (&["-t", "trace"], 0),
        (&["--traffic-direction", "ingress"], 6),
        (&["--traffic-direction", "egress"], 0),
        (&["--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736"], 4),
        (&["--node-name", "kind-*"], 6),
        (&["--node-name", "other"], 0),
        (&["--ipv4"], 6),
        (&["--ipv6"], 0),
        (&["--tcp-flags", "syn"], 0),
        (&["--from-workload", "details-v1"], 1),
        // Repeating a flag ORs its values; different flags AND.
        (&["--http-status", "403", "--http-status", "200"], 3),
        (&["--http-status", "200", "--from-identity", "ingress"], 1),
        (&["--http-status", "200", "--to-identity", "ingress"], 1),
    ];
    // The whole ring as a jsonpb file, for offline mode (`--input-file`).
    let dump = flowd.flowctl(&["observe", "--all", "-o", "jsonpb"]);
    assert!(dump.status.success());
    let file = flowd.dir.join("flows.jsonl");
    std::fs::write(&file, &dump.stdout).unwrap();
    let file_arg = file.display().to_string();
    for (args, want) in cases {
        assert_eq!(count(&flowd, args), *want, "flowctl observe {args:?}");
        // Offline filtering uses the same engine and gives the same lines.
        let mut online = vec!["observe", "--all", "-o", "compact"];
        online.extend_from_slice(args);
        let mut offline = vec!["observe", "-o", "compact", "--input-file", &file_arg];
        offline.extend_from_slice(args);
        assert_eq!(
            stdout_lines(&flowd.flowctl(&offline)),
            stdout_lines(&flowd.flowctl(&online)),
            "--input-file {args:?}"
        );
    }
    // Each remaining field, through raw allow/deny lists.
    let uuid_line = stdout_lines(&flowd.flowctl(&["observe", "--last", "1", "-o", "jsonpb"]));
    let v: serde_json::Value = serde_json::from_str(&uuid_line[0]).unwrap();
    let uuid = v["flow"]["uuid"].as_str().unwrap().to_string();
    assert_eq!(count(&flowd, &["--uuid", &uuid]), 1);
    assert_eq!(count(&flowd, &["--allowlist", r#"{"reply":[true]}"#]), 3);
    assert_eq!(count(&flowd, &["--allowlist", r#"{"reply":[false]}"#]), 3);
    assert_eq!(
        count(
            &flowd,
            &[
                "--allowlist",
                r#"{"verdict":["DROPPED"]}"#,
                "--allowlist",
                r#"{"http_status_code":["200"]}"#
            ]
        ),
        3,
        "whitelist filters OR"
    );
    assert_eq!(
        count(
            &flowd,
            &[
                "--allowlist",
                r#"{"source_identity":[2]}"#,
                "--denylist",
                r#"{"http_status_code":["403"]}"#
            ]
        ),
        1,
        "blacklist subtracts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_filters_are_invalid_argument() {
    let flowd = Flowd::start(FlowdOptions::default());
    let mut client = flowd.client().await;
    let bad = [
        FlowFilter {
            http_path: vec!["(".into()],
            ..Default::default()
        },
        FlowFilter {
            protocol: vec!["carrier-pigeon".into()],
            ..Default::default()
        },
        FlowFilter {
            source_ip: vec!["10.0.0.300".into()],
            ..Default::default()
        },
        FlowFilter {
            http_status_code: vec!["99".into()],
            ..Default::default()
        },
    ];
    for f in bad {
        let err = client
            .get_flows(GetFlowsRequest {
                whitelist: vec![f.clone()],
                ..Default::default()
            })
            .await
            .expect_err("must be rejected");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{f:?}: {err}");
    }
    let err = client
        .get_flows(GetFlowsRequest {
            first: true,
            follow: true,
            ..Default::default()
        })
        .await
        .expect_err("first+follow");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // flowctl prints one line and exits non-zero.
    let out = flowd.flowctl(&["observe", "--http-path", "("]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("http_path"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_last_first_since_until_and_lost_events() {
    let flowd = Flowd::start(FlowdOptions {
        buffer_capacity: 15,
        ..Default::default()
    });
    let p = flowd.producer();
    for i in 0..10u64 {
        p.send(&enc(&http_entry(
            EntryType::Request,
            T0 + i * 1_000 * MS,
            "192.0.2.1:1000",
            2,
            "10.0.0.1:80",
            8,
            "GET",
            "h",
            &format!("/{i}"),
            0,
            &[],
        )))
        .unwrap();
    }
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        10.0,
    );
    let mut client = flowd.client().await;
    let paths = |resps: Vec<flowscope_proto::observer::GetFlowsResponse>| -> Vec<String> {
        resps
            .into_iter()
            .filter_map(|r| match r.response_types {
                Some(ResponseTypes::Flow(f)) => Some(
                    f.l7.and_then(|l| match l.record {
                        Some(flowscope_proto::flow::layer7::Record::Http(h)) => Some(h.url),
                        _ => None,
                    })
                    .unwrap_or_default(),
                ),
                _ => None,
            })
            .map(|u| u.trim_start_matches("http://h").to_string())
            .collect()
    };
    async fn collect(
        client: &mut flowscope_proto::observer::observer_client::ObserverClient<
            tonic::transport::Channel,
        >,
        req: GetFlowsRequest,
    ) -> Vec<flowscope_proto::observer::GetFlowsResponse> {
        let mut s = client.get_flows(req).await.unwrap().into_inner();
        let mut out = Vec::new();
        while let Some(r) = s.next().await {
            out.push(r.unwrap());
        }
        out
    }
    // last-N: the newest N, oldest first.
    let last3 = collect(
        &mut client,
        GetFlowsRequest {
            number: 3,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paths(last3), vec!["/7", "/8", "/9"]);
    // first-N.
    let first2 = collect(
        &mut client,
        GetFlowsRequest {
            number: 2,
            first: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paths(first2), vec!["/0", "/1"]);
    // since/until (inclusive bounds on the flow time).
    let ts = |i: u64| Timestamp::from_unix_nanos(i128::from(T0 + i * 1_000 * MS));
    let window = collect(
        &mut client,
        GetFlowsRequest {
            since: Some(ts(3)),
            until: Some(ts(5)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paths(window), vec!["/3", "/4", "/5"]);
    // last-N with a filter counts matching flows only.
    let filtered = collect(
        &mut client,
        GetFlowsRequest {
            number: 2,
            whitelist: vec![FlowFilter {
                http_url: vec!["/[02468]$".into()],
                ..Default::default()
            }],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paths(filtered), vec!["/6", "/8"]);
    // The hubble CLI's default field mask, with upper-case paths, is accepted.
    let masked = collect(
        &mut client,
        GetFlowsRequest {
            number: 1,
            field_mask: Some(flowscope_proto::types::FieldMask {
                paths: flowscope_cli::request::default_field_mask(),
            }),
            ..Default::default()
        },
    )
    .await;
    match &masked[0].response_types {
        Some(ResponseTypes::Flow(f)) => {
            assert!(f.uuid.is_empty(), "uuid is not in the mask");
            assert!(f.ip.is_some());
            #[allow(deprecated)]
            let summary = &f.summary;
            assert_eq!(summary, "HTTP/1.1 GET http://h/9");
            assert_eq!(masked[0].time, f.time);
        }
        other => panic!("{other:?}"),
    }

    // follow: a new record reaches a following client within 100 ms.
    let mut follow = client
        .get_flows(GetFlowsRequest {
            follow: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent_at = Instant::now();
    p.send(&enc(&http_entry(
        EntryType::Request,
        0,
        "192.0.2.1:1000",
        2,
        "10.0.0.1:80",
        8,
        "GET",
        "h",
        "/live",
        0,
        &[],
    )))
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), follow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let latency = sent_at.elapsed();
    assert_eq!(paths(vec![got]), vec!["/live"]);
    assert!(
        latency < Duration::from_millis(100),
        "follow latency {latency:?}"
    );

    // A reader overtaken by the writer gets a LostEvent: a follower that does not read while
    // far more than the ring (15) plus the stream buffers are written.
    let mut slow = client
        .get_flows(GetFlowsRequest {
            follow: true,
            number: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let producer = flowd.producer();
    let before = flowd
        .metric(r#"flowscope_source_records_decoded_total{source="access_log"}"#)
        .unwrap();
    for i in 0..3000u64 {
        producer
            .send(&enc(&http_entry(
                EntryType::Request,
                0,
                "192.0.2.1:1000",
                2,
                "10.0.0.1:80",
                8,
                "GET",
                "h",
                &format!("/flood{i}"),
                0,
                &[],
            )))
            .unwrap();
    }
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        before + 3000.0,
    );
    let mut flows = 0u64;
    let mut lost = 0u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while flows + lost < 3001 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), slow.next()).await {
            Ok(Some(Ok(r))) => match r.response_types {
                Some(ResponseTypes::Flow(_)) => flows += 1,
                Some(ResponseTypes::LostEvents(l)) => {
                    assert_eq!(l.source, LostEventSource::HubbleRingBuffer as i32);
                    assert_eq!(r.node_name, "test-node");
                    lost += l.num_events_lost;
                }
                _ => {}
            },
            _ => break,
        }
    }
    assert!(lost > 0, "an overtaken reader must be told");
    assert_eq!(
        flows + lost,
        3001,
        "every event is either delivered or reported lost"
    );
    let counted = flowd
        .metric(r#"hubble_lost_events_total{source="hubble_ring_buffer"}"#)
        .unwrap();
    assert!(counted >= lost as f64);
}

#[test]
fn bad_input_is_counted_and_the_stream_goes_on() {
    let flowd = Flowd::start(FlowdOptions {
        extra_args: vec!["--access-log-max-record=2048".into()],
        ..Default::default()
    });
    let good = enc(&http_entry(
        EntryType::Request,
        T0,
        "192.0.2.1:1000",
        2,
        "10.0.0.1:80",
        8,
        "GET",
        "h",
        "/ok",
        0,
        &[],
    ));
    // Half-valid: a good record followed by bytes that are not protobuf.
    let mut half = good.clone();
    half.extend_from_slice(&[0x0f, 0xff, 0xff]);
    // Truncated: the first half of a good encoding.
    let truncated = good[..good.len() / 2].to_vec();
    let mut random = vec![0u8; 64];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let oversize = vec![0x0au8; 10_000];
    let p = flowd.producer();
    for r in [&good, &truncated, &good, &random, &oversize, &half, &good] {
        p.send(r).unwrap();
    }
    let decoded = flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        3.0,
    );
    assert_eq!(decoded, 3.0, "{}", flowd.log());
    let m = |reason: &str| {
        flowd
            .metric(&format!(
                r#"flowscope_source_records_dropped_total{{source="access_log",reason="{reason}"}}"#
            ))
            .unwrap()
    };
    assert_eq!(m("truncated"), 1.0);
    assert_eq!(m("undecodable") + m("invalid"), 3.0);
    assert_eq!(
        flowd.metric(r#"flowscope_source_records_received_total{source="access_log"}"#),
        Some(7.0)
    );
    assert_eq!(count(&flowd, &[]), 3);
    // The same connection still works.
    p.send(&good).unwrap();
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        4.0,
    );
    assert_eq!(count(&flowd, &[]), 4);
}

#[test]
fn sighup_reloads_state_and_rejects_a_bad_file() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    let send = |path: &str| {
        let p = flowd.producer();
        p.send(&enc(&http_entry(
            EntryType::Request,
            0,
            "10.0.0.1:50000",
            8,
            "10.244.1.50:80",
            0,
            "GET",
            "h",
            path,
            0,
            &[],
        )))
        .unwrap();
    };
    send("/before");
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        1.0,
    );
    assert_eq!(
        count(&flowd, &["--to-identity", "world"]),
        1,
        "unknown IP is world"
    );

    let new_state = format!(
        "{STATE}  - name: reviews-v1\n    namespace: default\n    labels: {{app: reviews}}\n    ips: [10.244.1.50]\n    identity: 25002\n"
    );
    std::fs::write(&flowd.state_file, new_state).unwrap();
    let hup = || {
        std::process::Command::new("kill")
            .arg("-HUP")
            .arg(flowd.pid().to_string())
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    };
    hup();
    send("/after");
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        2.0,
    );
    assert_eq!(count(&flowd, &["--to-identity", "25002"]), 1);
    assert_eq!(count(&flowd, &["--to-pod", "default/reviews"]), 1);

    std::fs::write(
        &flowd.state_file,
        "endpoints:\n  - name: x\n    ips: [not-an-ip]\n",
    )
    .unwrap();
    hup();
    send("/after-bad");
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        3.0,
    );
    assert_eq!(
        count(&flowd, &["--to-identity", "25002"]),
        2,
        "previous state stays in force"
    );
    assert!(flowd.log().contains("reload rejected"), "{}", flowd.log());
}
