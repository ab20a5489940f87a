//! Three flowd nodes in network namespaces (the lab's multi-node topology) with real
//! traffic across them, and flowrelay over them found through node 1's Peer service: one
//! time-ordered cluster through `flowctl`, `--last` across the cluster, `list nodes`, a node
//! killed (unavailable, the others streaming on without losing a flow) and restarted
//! (reconnected, its flows back); all of it again with mutual TLS on every link, where
//! clients without a certificate are refused. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use flowscope_tests::cluster::{Cluster, Pod, Streaming, json_lines};
use flowscope_tests::cluster_tls::Credentials;
use flowscope_tests::netns::is_root;
use serde_json::Value;

const NAMES: [&str; 3] = ["lab-node-1", "lab-node-2", "lab-node-3"];

/// Every datagram traced, so flows can be counted by datagrams.
const AGGREGATION: &str = "--monitor-aggregation=none";

/// One cluster at a time: three eBPF nodes each already load 2 cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// One test's cluster; fields drop in order: the cluster is gone before the lock is free.
struct Running {
    cluster: Cluster,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// How the nodes, the relay and the clients talk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    Plaintext,
    MutualTls,
}

/// Three nodes with flowd and the relay, all three connected; None (the test is skipped)
/// without root.
fn running_cluster(links: Links) -> Option<Running> {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return None;
    }
    let serial = serial();
    let mut c = Cluster::start(3);
    if links == Links::MutualTls {
        c.use_mtls();
    }
    for i in 0..3 {
        c.start_node(i, &[AGGREGATION]);
    }
    c.start_relay();
    c.wait_nodes(&NAMES, "Connected", Duration::from_secs(30));
    Some(Running {
        cluster: c,
        _serial: serial,
    })
}

/// The flows of a `flowctl observe -o jsonpb` run.
fn flows(out: Output) -> Vec<Value> {
    json_lines(&out)
        .into_iter()
        .filter_map(|v| v.get("flow").cloned())
        .collect()
}

fn relay_flows(c: &Cluster, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["observe", "-o", "jsonpb"];
    all.extend_from_slice(args);
    flows(c.flowctl(&all))
}

/// What node `i` serves itself (over its unix socket).
fn node_flows(c: &Cluster, i: usize) -> Vec<Value> {
    let flowd = c.nodes[i].flowd.as_ref().expect("node running");
    flows(flowd.flowctl(&["observe", "--all", "-o", "jsonpb"]))
}

/// The flows of a streaming `flowctl -o jsonpb`.
fn streamed(s: &Streaming) -> Vec<Value> {
    s.lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("flow").cloned())
        .collect()
}

/// A flow's time as a sortable string (RFC 3339 with the fraction padded to nanoseconds).
fn time_of(f: &Value) -> String {
    let t = f["time"].as_str().expect("flow time");
    let t = t.trim_end_matches('Z');
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    format!("{secs}.{frac:0<9}")
}

fn node_of(f: &Value) -> &str {
    f["node_name"].as_str().unwrap_or("")
}

fn udp_ports(f: &Value) -> Option<(u64, u64)> {
    let u = &f["l4"]["UDP"];
    Some((u["source_port"].as_u64()?, u["destination_port"].as_u64()?))
}

/// Flows as a multiset of their full JSON.
fn multiset<'a>(flows: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in flows {
        *m.entry(f.to_string()).or_insert(0) += 1;
    }
    m
}

/// The flows of datagrams sent from source port `sport` to the pods' sinks.
fn from_port(flows: &[Value], sport: u64) -> Vec<Value> {
    flows
        .iter()
        .filter(|f| udp_ports(f) == Some((sport, 9090)))
        .cloned()
        .collect()
}

/// Waits until node `i` has at least `n` flows of datagrams from `sport`.
fn wait_node_has(c: &Cluster, i: usize, sport: u64, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = from_port(&node_flows(c, i), sport).len();
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {got} flows from port {sport}, want {n}",
            NAMES[i]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `query` through the relay between two identical snapshots of what the nodes serve
/// themselves (so nothing arrived meanwhile); returns its flows and the nodes' flows.
fn against_quiet_nodes(c: &Cluster, query: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let snapshot = || (0..3).flat_map(|i| node_flows(c, i)).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = snapshot();
        let through_relay = relay_flows(c, query);
        let after = snapshot();
        if multiset(&before) == multiset(&after) {
            return (through_relay, after);
        }
        assert!(Instant::now() < deadline, "the nodes never went quiet");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn three_nodes_are_one_time_ordered_cluster_through_the_relay() {
    if let Some(running) = running_cluster(Links::Plaintext) {
        one_time_ordered_cluster(&running.cluster);
    }
}

/// Acceptance 1: traffic across the nodes, seen through the relay as one cluster.
fn one_time_ordered_cluster(c: &Cluster) {
    // Every client to the next node's web pod: HTTP, a ping, five datagrams.
    for i in 0..3 {
        let (from, to) = (&c.nodes[i].client, &c.nodes[(i + 1) % 3].web);
        c.http_and_ping(from, to);
        c.udp(from, 40_000 + i as u16, to, 5);
    }
    for i in 0..3 {
        wait_node_has(c, i, 40_000 + i as u64, 5);
        wait_node_has(c, i, 40_000 + ((i + 2) % 3) as u64, 5);
    }

    // All of it through the relay: exactly what the nodes have, in time order, named.
    let (all, nodes) = against_quiet_nodes(c, &["--all"]);
    assert_eq!(multiset(&all), multiset(&nodes), "relay vs nodes");
    let times: Vec<String> = all.iter().map(time_of).collect();
    assert!(times.is_sorted(), "flows out of time order: {times:?}");
    for name in NAMES {
        assert!(all.iter().any(|f| node_of(f) == name), "no flow of {name}");
    }
    // A cross-node datagram is seen by the sender's node and by the receiver's.
    for i in 0..3u64 {
        let seen: std::collections::BTreeSet<String> = from_port(&all, 40_000 + i)
            .iter()
            .map(|f| node_of(f).to_string())
            .collect();
        let want = [NAMES[i as usize], NAMES[(i as usize + 1) % 3]].map(String::from);
        assert_eq!(seen, want.into_iter().collect(), "datagrams from node {i}");
    }

    // --last 20 is the cluster's last 20: exactly 20 of the nodes' flows, none older than
    // any flow left out.
    let (last, nodes) = against_quiet_nodes(c, &["--last", "20"]);
    assert_eq!(last.len(), 20);
    let mut left_out = multiset(&nodes);
    for f in &last {
        let n = left_out
            .get_mut(&f.to_string())
            .unwrap_or_else(|| panic!("not a node's flow: {f}"));
        assert!(*n > 0, "served twice: {f}");
        *n -= 1;
    }
    let newest_left_out = left_out
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, _)| time_of(&serde_json::from_str(f).unwrap()))
        .max()
        .unwrap();
    let oldest_served = last.iter().map(time_of).min().unwrap();
    assert!(
        oldest_served >= newest_left_out,
        "--last 20 left out a newer flow ({newest_left_out} > {oldest_served})"
    );
    assert!(last.iter().map(time_of).is_sorted());

    // list nodes: the three, connected, with TLS as the cluster runs (verified by the
    // names their Peer service announces).
    let tls = if c.mtls() { "Enabled" } else { "Disabled" };
    let out = c.flowctl(&["list", "nodes", "-o", "wide"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for (row, name) in rows.iter().zip(NAMES) {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&f[..2], [name, "Connected"], "{text}");
        assert_eq!(f.last(), Some(&tls), "{text}");
    }
    let out = c.flowctl(&["list", "nodes", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    for n in listed.as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        // protojson leaves out false and empty fields.
        let tls = &n["tls"];
        assert_eq!(tls["enabled"].as_bool().unwrap_or(false), c.mtls(), "{n}");
        let server_name = match c.mtls() {
            true => format!("{name}.default.hubble-grpc.cilium.io"),
            false => String::new(),
        };
        assert_eq!(
            tls["server_name"].as_str().unwrap_or(""),
            server_name,
            "{n}"
        );
    }
}

/// `flowctl observe --follow` through the relay, live: a datagram from node 1 reached it.
fn live_follow(c: &Cluster) -> Streaming {
    let follow = Streaming::spawn(c.flowctl_command(&["observe", "--follow", "-o", "jsonpb"]));
    assert!(
        shows_datagrams(c, &follow, 0, 41_000),
        "the followed stream shows nothing"
    );
    follow
}

/// Sends node `i`'s web pod one datagram from its client (source port `sport`) at a time
/// until the followed stream shows one of node `i`'s flows of them (it may subscribe after
/// the first ones), each given the time for the relay's sort buffer to drain (1 s without
/// a flow); false if none shows.
fn shows_datagrams(c: &Cluster, follow: &Streaming, i: usize, sport: u64) -> bool {
    let node = &c.nodes[i];
    for _ in 0..5 {
        c.udp(&node.client, sport as u16, &node.web, 1);
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            let flows = from_port(&streamed(follow), sport);
            if flows.iter().any(|f| node_of(f) == node.name) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    false
}

/// Kills node 2 and waits until the relay reports it unavailable in `ServerStatus`.
fn kill_node_2(c: &mut Cluster) {
    c.kill_node(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = c.relay_status();
        if let Some(st) = &st {
            let n = |v: Option<u32>| v.unwrap_or(u32::MAX);
            if n(st.num_connected_nodes.as_ref().map(|v| v.value)) == 2
                && n(st.num_unavailable_nodes.as_ref().map(|v| v.value)) == 1
                && st.unavailable_nodes == ["lab-node-2"]
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "status after the kill: {st:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Restarts node 2 (taking over the datapath its killed flowd left) and waits until the
/// relay has it connected again.
fn restart_node_2(c: &mut Cluster) {
    c.start_node(1, &[AGGREGATION, "--replace-datapath"]);
    c.wait_nodes(&NAMES, "Connected", Duration::from_secs(30));
}

/// Waits until the followed stream holds exactly what `nodes` serve of datagrams from `sport`.
fn wait_streamed(follow: &Streaming, sport: u64, nodes: &[Value], what: &str) {
    let want = multiset(&from_port(nodes, sport));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = multiset(&from_port(&streamed(follow), sport));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the followed stream has {} flows from port {sport}, the nodes {}",
            got.values().sum::<usize>(),
            want.values().sum::<usize>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `node_status` events a new `GetFlows` through the relay opens with (flowctl writes
/// the unavailable and failed ones to its standard error).
fn node_statuses(c: &Cluster) -> Vec<(String, Vec<String>)> {
    let out = c.flowctl(&["observe", "--last", "1", "-o", "jsonpb"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let s = v.get("node_status")?;
            let names = s["node_names"].as_array()?.iter();
            Some((
                s["state_change"].as_str()?.to_string(),
                names
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
            ))
        })
        .collect()
}

#[test]
fn a_killed_node_is_unavailable_the_others_lose_nothing_and_it_comes_back() {
    let Some(mut running) = running_cluster(Links::Plaintext) else {
        return;
    };
    let c = &mut running.cluster;
    let mut follow = live_follow(c);
    unavailable_while_the_others_stream(c, &mut follow);
    restart_node_2(c);
    back_in_new_requests(c);
}

/// Acceptance 2, node 2 down: killed, it is reported unavailable in `ServerStatus` and in
/// the `node_status` events of new requests, and `follow` (started before) gets every flow
/// of the live nodes meanwhile.
fn unavailable_while_the_others_stream(c: &mut Cluster, follow: &mut Streaming) {
    kill_node_2(c);
    let unavailable = (
        "NODE_UNAVAILABLE".to_string(),
        vec!["lab-node-2".to_string()],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = node_statuses(c);
        if got.contains(&unavailable) {
            break;
        }
        assert!(Instant::now() < deadline, "node_status events: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Counted traffic between the live nodes while node 2 is down: every datagram's flows,
    // as each node has them, reach the stream started before the kill.
    let (n1, n3) = (&c.nodes[0], &c.nodes[2]);
    c.udp(&n1.client, 41_001, &n3.web, 50);
    c.udp(&n3.client, 41_003, &n1.web, 50);
    for (i, sport) in [(0, 41_001), (2, 41_001), (0, 41_003), (2, 41_003)] {
        wait_node_has(c, i, sport, 50);
    }
    let live: Vec<Value> = [0, 2].into_iter().flat_map(|i| node_flows(c, i)).collect();
    for sport in [41_001, 41_003] {
        wait_streamed(follow, sport, &live, "node 2 down");
    }
    assert!(follow.running(), "the followed stream ended");
}

/// Acceptance 2, node 2 restarted (and connected again): a new request through the relay
/// shows its new flows, and no `node_status` event reports it any more.
fn back_in_new_requests(c: &Cluster) {
    c.udp(&c.nodes[1].client, 41_002, &c.nodes[0].web, 20);
    wait_node_has(c, 1, 41_002, 20);
    let want = multiset(&from_port(&node_flows(c, 1), 41_002));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let through_relay = relay_flows(c, &["--all"]);
        let got: Vec<Value> = from_port(&through_relay, 41_002)
            .into_iter()
            .filter(|f| node_of(f) == "lab-node-2")
            .collect();
        if multiset(&got) == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of node 2's {} new flows through the relay",
            got.len(),
            want.values().sum::<usize>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !node_statuses(c)
            .iter()
            .any(|(_, names)| names.contains(&"lab-node-2".to_string())),
        "node 2 still reported unavailable"
    );
}

#[test]
fn a_followed_stream_gets_a_restarted_node_flows_again() {
    let Some(mut running) = running_cluster(Links::Plaintext) else {
        return;
    };
    let c = &mut running.cluster;
    let follow = live_follow(c);
    kill_node_2(c);
    restart_node_2(c);
    back_in_followed_stream(c, &follow);
}

/// Traffic inside the restarted node 2 only: `follow` (started before the kill) must get it
/// from the new flowd, and once it does, every flow of it.
fn back_in_followed_stream(c: &Cluster, follow: &Streaming) {
    assert!(
        shows_datagrams(c, follow, 1, 41_012),
        "the followed stream never showed the restarted node's flows"
    );
    let n2: &Pod = &c.nodes[1].client;
    c.udp(n2, 41_013, &c.nodes[1].web, 20);
    wait_node_has(c, 1, 41_013, 20);
    wait_streamed(follow, 41_013, &node_flows(c, 1), "node 2 restarted");
}

/// Acceptance 3: acceptance 1 and 2 with mutual TLS on every link (flowd ↔ relay, the Peer
/// service, relay ↔ flowctl), and clients without a certificate refused by the relay.
#[test]
fn every_link_mutual_tls_one_cluster_a_node_killed_and_back_clients_need_a_certificate() {
    let Some(mut running) = running_cluster(Links::MutualTls) else {
        return;
    };
    let c = &mut running.cluster;
    one_time_ordered_cluster(c);

    let no_certificate = c.flowctl_as(Credentials::NoCertificate, &["observe", "--last", "1"]);
    let err = String::from_utf8_lossy(&no_certificate.stderr);
    assert!(!no_certificate.status.success(), "connected: {err}");
    assert!(err.contains("CertificateRequired"), "{err}");
    assert!(no_certificate.stdout.is_empty());
    let plaintext = c.flowctl_as(
        Credentials::Plaintext,
        &["observe", "--last", "1", "--timeout", "5s"],
    );
    let err = String::from_utf8_lossy(&plaintext.stderr);
    // The relay's TLS answer to a plaintext HTTP/2 preface is no HTTP/2 the client takes.
    assert!(!plaintext.status.success(), "connected in plaintext: {err}");
    assert!(plaintext.stdout.is_empty() && !err.is_empty());

    let mut follow = live_follow(c);
    unavailable_while_the_others_stream(c, &mut follow);
    restart_node_2(c);
    back_in_followed_stream(c, &follow);
    back_in_new_requests(c);
}
