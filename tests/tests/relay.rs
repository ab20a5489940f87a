//! flowrelay over three real flowd nodes on loopback: discovery through one node's Peer
//! service, every node's flows in time order through `flowctl`, `--last` across the
//! cluster, `list nodes`, and a node that goes away while the others keep serving.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowscope_proto::observer::ServerStatusRequest;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::relay::NodeState;
use flowscope_tests::relay::{feed_requests, loopback_node as node};
use serde_json::Value;

struct Relay {
    child: Child,
    address: String,
}

impl Drop for Relay {
    fn drop(&mut self) {
        flowscope_tests::terminate(&mut self.child, Duration::from_secs(5));
    }
}

fn observe(relay: &Relay, args: &[&str]) -> Vec<Value> {
    let out = Command::new(flowscope_tests::bin("flowctl"))
        .args(["observe", "-o", "jsonpb", "--server", &relay.address])
        .args(args)
        .output()
        .unwrap();
    flowscope_tests::cluster::json_lines(&out)
}

/// The `node_status` events that open a `GetFlows` stream: `(state, node names)`.
async fn node_statuses(relay: &Relay) -> Vec<(i32, Vec<String>)> {
    use flowscope_proto::observer::GetFlowsRequest;
    use flowscope_proto::observer::get_flows_response::ResponseTypes;
    use tokio_stream::StreamExt;
    let mut c = ObserverClient::connect(format!("http://{}", relay.address))
        .await
        .unwrap();
    let mut stream = c
        .get_flows(GetFlowsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(Ok(r)) = stream.next().await {
        if let Some(ResponseTypes::NodeStatus(s)) = r.response_types {
            out.push((s.state_change, s.node_names));
        }
    }
    out
}

fn time_of(v: &Value) -> String {
    v["time"].as_str().unwrap().to_string()
}

async fn status_until(
    relay: &Relay,
    what: &str,
    ok: impl Fn(&flowscope_proto::observer::ServerStatusResponse) -> bool,
) -> flowscope_proto::observer::ServerStatusResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut c) = ObserverClient::connect(format!("http://{}", relay.address)).await
            && let Ok(st) = c.server_status(ServerStatusRequest {}).await
        {
            let st = st.into_inner();
            if ok(&st) {
                return st;
            }
            assert!(Instant::now() < deadline, "{what}: last status {st:?}");
        }
        assert!(Instant::now() < deadline, "{what}: relay not answering");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_every_node_in_time_order_and_survives_one_going_away() {
    let (pb, pc) = (flowscope_tests::free_port(), flowscope_tests::free_port());
    let b = node("node-b", pb, &[]);
    let c = node("node-c", pc, &[]);
    let pa = flowscope_tests::free_port();
    let a = node(
        "node-a",
        pa,
        &[
            format!("--peer=node-b=127.0.0.1:{pb}"),
            format!("--peer=node-c=127.0.0.1:{pc}"),
        ],
    );
    for (i, n) in [&a, &b, &c].into_iter().enumerate() {
        feed_requests(n, i as u64, 10, 3);
    }
    let port = flowscope_tests::free_port();
    let relay = Relay {
        child: Command::new(flowscope_tests::bin("flowrelay"))
            .args([
                "--peer-service",
                &format!("127.0.0.1:{pa}"),
                "--listen-address",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        address: format!("127.0.0.1:{port}"),
    };
    let st = status_until(&relay, "three nodes connected", |s| {
        s.num_connected_nodes.as_ref().map(|n| n.value) == Some(3)
    })
    .await;
    assert_eq!((st.num_flows, st.max_flows), (30, 3 * 4095));

    // Every node's flows, in time order, with their node names.
    let all = observe(&relay, &["--all"]);
    assert_eq!(all.len(), 30);
    let nodes: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|v| v["node_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["node-a", "node-b", "node-c"]
    );
    let times: Vec<String> = all.iter().map(time_of).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "flows in time order");
    // The nodes' flows interleave: a, b, c, a, b, c, ...
    assert_eq!(all[0]["node_name"], "node-a");
    assert_eq!(all[1]["node_name"], "node-b");
    assert_eq!(all[2]["node_name"], "node-c");

    // The stream opens with the nodes' states, as Hubble Relay's does.
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        node_statuses(&relay).await,
        [(
            NodeState::NodeConnected as i32,
            names(&["node-a", "node-b", "node-c"])
        )]
    );

    // --last 20 is the last 20 of the cluster.
    let last = observe(&relay, &["--last", "20"]);
    assert_eq!(
        last.iter().map(time_of).collect::<Vec<_>>(),
        times[10..].to_vec()
    );

    // list nodes shows the three.
    let out = Command::new(flowscope_tests::bin("flowctl"))
        .args(["list", "nodes", "--server", &relay.address])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for n in ["node-a", "node-b", "node-c"] {
        assert!(text.contains(n), "{text}");
    }

    // A node goes away: the relay reports it and keeps serving the others.
    drop(b);
    let st = status_until(&relay, "node-b unavailable", |s| {
        s.num_unavailable_nodes.as_ref().map(|n| n.value) == Some(1)
    })
    .await;
    assert_eq!(st.unavailable_nodes, ["node-b"]);
    // Until the relay's next check marks node-b unavailable, a stream reports it as
    // NODE_ERROR (its call fails); after it, as NODE_UNAVAILABLE, and node-b is not asked.
    let want = [
        (
            NodeState::NodeConnected as i32,
            names(&["node-a", "node-c"]),
        ),
        (NodeState::NodeUnavailable as i32, names(&["node-b"])),
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = node_statuses(&relay).await;
        if got == want {
            break;
        }
        assert!(
            got.contains(&(NodeState::NodeError as i32, names(&["node-b"]))),
            "{got:?}"
        );
        assert!(Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rest = observe(&relay, &["--all"]);
    assert_eq!(rest.len(), 20);
    assert!(rest.iter().all(|v| v["node_name"] != "node-b"));
    drop(c);
}
