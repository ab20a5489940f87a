//! CEL filters (`--cel-expression`) through the real binaries: flowd fed through its
//! access-log socket, observed online with flowctl and a gRPC client, and offline with
//! `flowctl observe --input-file`.

#![allow(clippy::unwrap_used)]

use flowscope_proto::cilium::EntryType;
use flowscope_proto::flow::{FlowFilter, flow_filter};
use flowscope_proto::observer::GetFlowsRequest;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{Flowd, FlowdOptions};

const STATE: &str = r#"
node_name: kind-worker
endpoints:
  - name: details-v1-79f774bdb9-x2x4k
    namespace: default
    labels: {app: details}
    ips: [10.244.1.7]
    identity: 25001
  - name: productpage-v1-6b746f74dc-9stvq
    namespace: default
    labels: {app: productpage}
    ips: [10.244.1.9]
    identity: 25000
"#;

const PRODUCTPAGE_LABEL: &str =
    "['k8s:app=productpage'].exists(l, l in _flow.source.labels || l in _flow.destination.labels)";

const DETAILS: &str = "10.244.1.7:9080";
const PRODUCTPAGE: &str = "10.244.1.9:9080";

/// Four flows, told apart by their HTTP code: three forwarded responses (200 and 404 from
/// details, 503 from productpage: the pod is their source) and a denied request to
/// productpage (code 0, DROPPED).
fn feed(flowd: &Flowd) {
    let records = [
        (EntryType::Response, DETAILS, "/details/1", 200, "a"),
        (EntryType::Response, DETAILS, "/missing", 404, "b"),
        (EntryType::Response, PRODUCTPAGE, "/productpage", 503, "c"),
        (EntryType::Denied, PRODUCTPAGE, "/admin", 0, "d"),
    ];
    let p = flowd.producer();
    for (i, (ty, dst, path, code, id)) in records.into_iter().enumerate() {
        let e = http_entry(
            ty,
            1_000_000_000 + i as u64,
            "10.0.0.1:50000",
            8,
            dst,
            0,
            "GET",
            "shop",
            path,
            code,
            &[("X-Request-Id", id)],
        );
        p.send(&prost::Message::encode_to_vec(&e)).unwrap();
    }
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    assert_eq!(flowd.wait_metric(series, 4.0), 4.0, "log:\n{}", flowd.log());
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "flowctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The HTTP codes of the flows in jsonpb output, in order.
fn codes(jsonpb: &str) -> Vec<u64> {
    jsonpb
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["flow"]["l7"]["http"]["code"].as_u64().unwrap_or(0)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_expressions_online_and_offline() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    feed(&flowd);
    let all = stdout(&flowd.flowctl(&["observe", "--all", "-o", "jsonpb"]));
    assert_eq!(codes(&all), [200, 404, 503, 0], "{all}");
    let file = flowd.dir.join("flows.jsonl");
    std::fs::write(&file, &all).unwrap();
    let file_arg = file.display().to_string();

    let cases: &[(&[&str], &[u64])] = &[
        (
            &["--cel-expression", "_flow.l7.http.code >= 400u"],
            &[404, 503],
        ),
        (
            &["--cel-expression", "_flow.verdict == Verdict.DROPPED"],
            &[0],
        ),
        (&["--cel-expression", "_flow.is_reply"], &[200, 404, 503]),
        (
            &[
                "--cel-expression",
                "has(_flow.source.pod_name) && _flow.source.pod_name.startsWith('details-')",
            ],
            &[200, 404],
        ),
        (
            &[
                "--cel-expression",
                "_flow.l7.http.url.endsWith('/productpage') && has(_flow.l4.TCP) && _flow.l4.TCP.source_port == uint(9080)",
            ],
            &[503],
        ),
        // Repeated: any expression may match.
        (
            &[
                "--cel-expression",
                "_flow.l7.http.code == 200u",
                "--cel-expression",
                "_flow.l7.http.code == 503u",
            ],
            &[200, 503],
        ),
        // With another filter flag: both must match.
        (&["--cel-expression", PRODUCTPAGE_LABEL], &[503, 0]),
        (
            &[
                "--cel-expression",
                PRODUCTPAGE_LABEL,
                "--verdict",
                "FORWARDED",
            ],
            &[503],
        ),
        (
            &["--not", "--cel-expression", "_flow.l7.http.code != 0u"],
            &[0],
        ),
    ];
    for (args, want) in cases {
        let mut online = vec!["observe", "--all", "-o", "jsonpb"];
        online.extend_from_slice(args);
        let got = stdout(&flowd.flowctl(&online));
        assert_eq!(codes(&got), *want, "online {args:?}");
        let mut offline = vec!["observe", "-o", "jsonpb", "--input-file", &file_arg];
        offline.extend_from_slice(args);
        assert_eq!(
            stdout(&flowd.flowctl(&offline)),
            got,
            "--input-file {args:?}"
        );
    }

    // A bad expression is InvalidArgument on the API...
    let mut client = flowd.client().await;
    for expr in ["_flow.nope == 1", "_flow.verdict", "_flow.verdict =="] {
        let err = client
            .get_flows(GetFlowsRequest {
                whitelist: vec![FlowFilter {
                    experimental: Some(flow_filter::Experimental {
                        cel_expression: vec![expr.into()],
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect_err("must be rejected");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{expr}: {err}");
        assert!(err.message().contains("CEL expression"), "{expr}: {err}");
    }
    // ...and an error from flowctl, online and offline.
    for source in [&["--all"][..], &["--input-file", &file_arg]] {
        let mut args = vec!["observe", "--cel-expression", "_flow.IP.nope == ''"];
        args.extend_from_slice(source);
        let out = flowd.flowctl(&args);
        assert!(!out.status.success(), "{source:?}");
        assert!(out.stdout.is_empty(), "{source:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{source:?}: {err}");
        assert!(
            err.contains("undefined field 'nope' in message 'flow.IP'"),
            "{source:?}: {err}"
        );
    }
}
