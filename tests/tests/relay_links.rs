//! flowrelay's links and what it keeps over time, with real flowd nodes on loopback:
//! mutual TLS on every link (nodes ↔ relay, Peer service, relay ↔ flowctl) with
//! certificates made by the test, clients without a certificate refused; a followed stream
//! that keeps the live nodes' flows while a node is killed and gets the node back when it
//! restarts; the relay's Prometheus metrics.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flowscope_proto::flow::layer7::Record;
use flowscope_proto::observer::GetFlowsRequest;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::relay::NodeState;
use flowscope_tests::pki::Pki;
use flowscope_tests::relay::{RelayProcess, feed_requests, loopback_node};
use flowscope_tests::{Flowd, flowctl_command, free_port};
use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
use serde_json::Value;
use tokio_stream::StreamExt;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `command` until `ok` accepts its output (at most 20 s); returns the last output.
fn until(what: &str, mut command: impl FnMut() -> Output, ok: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = command();
        if ok(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn every_link_is_mutual_tls_and_clients_without_a_certificate_are_refused() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    // Nodes are verified by the names their Peer service announces, as in Cilium.
    pki.leaf_for(
        &ca,
        "node",
        ServerAuth,
        &["*.default.hubble-grpc.cilium.io"],
    );
    pki.leaf(&ca, "relay", ServerAuth);
    pki.leaf(&ca, "relay-client", ClientAuth);
    pki.leaf(&ca, "cli", ClientAuth);
    let node_tls = [
        format!("--tls-cert-file={}", pki.path("node.crt")),
        format!("--tls-key-file={}", pki.path("node.key")),
        format!("--tls-client-ca-files={}", pki.path("ca.crt")),
    ];
    let ports = [free_port(), free_port(), free_port()];
    let mut a_args = node_tls.to_vec();
    a_args.push(format!("--peer=node-b=127.0.0.1:{}", ports[1]));
    a_args.push(format!("--peer=node-c=127.0.0.1:{}", ports[2]));
    let nodes = [
        loopback_node("node-a", ports[0], &a_args),
        loopback_node("node-b", ports[1], &node_tls),
        loopback_node("node-c", ports[2], &node_tls),
    ];
    for (i, n) in nodes.iter().enumerate() {
        feed_requests(n, i as u64, 10, 3);
    }
    let metrics_port = free_port();
    let to_nodes = [
        format!("--tls-hubble-server-ca-files={}", pki.path("ca.crt")),
        format!(
            "--tls-hubble-client-cert-file={}",
            pki.path("relay-client.crt")
        ),
        format!(
            "--tls-hubble-client-key-file={}",
            pki.path("relay-client.key")
        ),
    ];
    let mut relay_args = to_nodes.to_vec();
    relay_args.extend([
        format!("--tls-relay-server-cert-file={}", pki.path("relay.crt")),
        format!("--tls-relay-server-key-file={}", pki.path("relay.key")),
        format!("--tls-relay-client-ca-files={}", pki.path("ca.crt")),
        format!("--metrics-listen-address=127.0.0.1:{metrics_port}"),
    ]);
    let relay = RelayProcess::start_with(&format!("127.0.0.1:{}", ports[0]), &relay_args);
    let server = format!("tls://{}", relay.address);
    let with_cert = [
        "--tls-ca-cert-files",
        &pki.path("ca.crt"),
        "--tls-client-cert-file",
        &pki.path("cli.crt"),
        "--tls-client-key-file",
        &pki.path("cli.key"),
    ];
    let flowctl = |args: &[&str], tls: &[&str]| {
        flowctl_command(&pki.dir)
            .args(args)
            .args(["--server", &server, "--timeout", "5s"])
            .args(tls)
            .output()
            .unwrap()
    };
    // Every node connected over mTLS, each verified by its announced name.
    let list = until(
        "three nodes connected through mTLS",
        || flowctl(&["list", "nodes", "-o", "json"], &with_cert),
        |o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .matches("NODE_CONNECTED")
                    .count()
                    == 3
        },
    );
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    for n in listed.as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        assert_eq!(n["tls"]["enabled"], true, "{n}");
        assert_eq!(
            n["tls"]["server_name"],
            format!("{name}.default.hubble-grpc.cilium.io"),
            "{n}"
        );
    }
    let flows = lines(&flowctl(&["observe", "--all", "-o", "jsonpb"], &with_cert));
    let flows: Vec<&Value> = flows.iter().filter(|l| l.get("flow").is_some()).collect();
    assert_eq!(flows.len(), 30);
    let mut per_node = BTreeMap::new();
    for f in &flows {
        *per_node
            .entry(f["node_name"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_node,
        BTreeMap::from([
            ("node-a".into(), 10),
            ("node-b".into(), 10),
            ("node-c".into(), 10)
        ])
    );

    // flowctl without a client certificate is refused by the relay.
    let no_cert = flowctl(
        &["observe", "--last", "1"],
        &["--tls-ca-cert-files", &pki.path("ca.crt")],
    );
    assert!(!no_cert.status.success(), "connected: {}", stderr(&no_cert));
    assert!(
        stderr(&no_cert).contains("CertificateRequired"),
        "{}",
        stderr(&no_cert)
    );

    // A relay without a client certificate is refused by the nodes: it learns of none.
    let mut anonymous_args = vec![to_nodes[0].clone()];
    anonymous_args.push(format!(
        "--metrics-listen-address=127.0.0.1:{}",
        free_port()
    ));
    let anonymous = RelayProcess::start_with(&format!("127.0.0.1:{}", ports[0]), &anonymous_args);
    std::thread::sleep(Duration::from_secs(3));
    let out = Command::new(flowscope_tests::bin("flowctl"))
        .args(["observe", "--last", "1", "--server", &anonymous.address])
        .args(["--timeout", "5s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no node is connected"),
        "{}",
        stderr(&out)
    );

    // The relay's metrics count what went through it, by node.
    let text = flowscope_tests::http_get(metrics_port, "/metrics").unwrap();
    for line in [
        "hubble_relay_pool_peer_connection_status{status=\"READY\"} 3",
        "flowrelay_node_connected{node=\"node-b\"} 1",
        "flowrelay_flows_relayed_total{node=\"node-a\"} 10",
        "flowrelay_flows_relayed_total{node=\"node-c\"} 10",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}

/// Reads `stream` until `want` holds for what was read (at most 30 s).
async fn read_until(
    stream: &mut tonic::Streaming<flowscope_proto::observer::GetFlowsResponse>,
    seen: &mut Vec<flowscope_proto::observer::GetFlowsResponse>,
    what: &str,
    want: impl Fn(&[flowscope_proto::observer::GetFlowsResponse]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !want(seen) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(r))) => seen.push(r),
            other => panic!("{what}: stream ended or timed out ({other:?}); read {seen:#?}"),
        }
    }
}

fn paths_of(seen: &[flowscope_proto::observer::GetFlowsResponse], node: &str) -> Vec<String> {
    seen.iter()
        .filter_map(|r| match &r.response_types {
            Some(ResponseTypes::Flow(f)) if r.node_name == node => {
                match f.l7.as_ref()?.record.as_ref()? {
                    Record::Http(h) => Some(h.url.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn status_of(r: &flowscope_proto::observer::GetFlowsResponse) -> Option<(NodeState, Vec<String>)> {
    match &r.response_types {
        Some(ResponseTypes::NodeStatus(s)) => Some((
            NodeState::try_from(s.state_change).unwrap_or(NodeState::UnknownNodeState),
            s.node_names.clone(),
        )),
        _ => None,
    }
}

fn sigkill(flowd: &Flowd) {
    let pid = flowd.pid().to_string();
    let out = Command::new("kill").args(["-KILL", &pid]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_stream_keeps_the_live_nodes_and_gets_a_restarted_node_back() {
    let (pa, pb) = (free_port(), free_port());
    let a = loopback_node("node-a", pa, &[format!("--peer=node-b=127.0.0.1:{pb}")]);
    let b = loopback_node("node-b", pb, &[]);
    let relay = RelayProcess::start(&format!("127.0.0.1:{pa}"));
    let mut client = loop {
        if let Ok(mut c) = ObserverClient::connect(format!("http://{}", relay.address)).await
            && let Ok(st) = c
                .server_status(flowscope_proto::observer::ServerStatusRequest {})
                .await
            && st.into_inner().num_connected_nodes.map(|n| n.value) == Some(2)
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stream = client
        .get_flows(GetFlowsRequest {
            follow: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    feed_requests(&a, 0, 5, 1);
    feed_requests(&b, 100, 5, 1);
    read_until(&mut stream, &mut seen, "both nodes' first flows", |s| {
        paths_of(s, "node-a").len() == 5 && paths_of(s, "node-b").len() == 5
    })
    .await;

    // node-b dies: the stream says so and goes on with node-a, losing none of its flows.
    sigkill(&b);
    drop(b);
    read_until(&mut stream, &mut seen, "NODE_ERROR for node-b", |s| {
        s.iter().any(|r| {
            status_of(r).is_some_and(|(st, n)| st == NodeState::NodeError && n == ["node-b"])
        })
    })
    .await;
    feed_requests(&a, 200, 20, 1);
    read_until(
        &mut stream,
        &mut seen,
        "node-a's flows while node-b is down",
        |s| paths_of(s, "node-a").len() == 25,
    )
    .await;
    let want: Vec<String> = (0..5)
        .map(|i| format!("http://h/0/{i}"))
        .chain((0..20).map(|i| format!("http://h/200/{i}")))
        .collect();
    assert_eq!(paths_of(&seen, "node-a"), want);

    // node-b restarts on the same address: the open stream streams from it again.
    let b = loopback_node("node-b", pb, &[]);
    read_until(&mut stream, &mut seen, "NODE_CONNECTED for node-b", |s| {
        s.iter().any(|r| {
            status_of(r).is_some_and(|(st, n)| st == NodeState::NodeConnected && n == ["node-b"])
        })
    })
    .await;
    feed_requests(&b, 300, 5, 1);
    read_until(
        &mut stream,
        &mut seen,
        "node-b's flows after its restart",
        |s| paths_of(s, "node-b").len() == 10,
    )
    .await;
    let b_paths = paths_of(&seen, "node-b");
    assert_eq!(
        b_paths[5..],
        (0..5)
            .map(|i| format!("http://h/300/{i}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_node_list_needs_no_peer_service() {
    let (pa, pb) = (free_port(), free_port());
    let a = loopback_node("node-a", pa, &[]);
    let b = loopback_node("node-b", pb, &[]);
    feed_requests(&a, 0, 3, 1);
    feed_requests(&b, 10, 3, 1);
    // No --peer-service: the relay connects to the listed nodes only (one named, one
    // named after its address). A zero drain timeout sends followed flows at once.
    let relay = RelayProcess::start_args(&[
        format!("--peer=node-a=127.0.0.1:{pa}"),
        format!("--peer=127.0.0.1:{pb}"),
        "--sort-buffer-drain-timeout=0s".to_string(),
    ]);
    let address = relay.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        until(
            "both listed nodes served",
            || {
                Command::new(flowscope_tests::bin("flowctl"))
                    .args(["observe", "--all", "-o", "jsonpb", "--server", &address])
                    .output()
                    .unwrap()
            },
            |o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .matches("\"flow\"")
                        .count()
                        == 6
            },
        )
    })
    .await
    .unwrap();
    let nodes: std::collections::BTreeSet<String> = lines(&out)
        .iter()
        .filter_map(|l| Some(l.get("flow")?["node_name"].as_str()?.to_string()))
        .collect();
    assert_eq!(nodes, ["node-a", "node-b"].map(String::from).into());

    // A followed stream gets both nodes' history and a new flow.
    let mut client = ObserverClient::connect(format!("http://{}", relay.address))
        .await
        .unwrap();
    let mut stream = client
        .get_flows(GetFlowsRequest {
            follow: true,
            number: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, "history of both nodes", |s| {
        paths_of(s, "node-a").len() == 3 && paths_of(s, "node-b").len() == 3
    })
    .await;
    feed_requests(&b, 20, 1, 1);
    read_until(&mut stream, &mut seen, "a new flow", |s| {
        paths_of(s, "node-b").len() == 4
    })
    .await;
}
