//! DNS flows from the datapath, in network namespaces this test creates (root only): a pod
//! resolves names through a real DNS server (dnsmasq) in the world namespace, over UDP with
//! the C library's resolver and over TCP, and flowd, attached to the pod's veth, shows every
//! query and answer as an L7 DNS flow.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use flowscope_tests::dnsmasq::DnsServer;
use flowscope_tests::netns::{Netns, is_root, route, veth};
use flowscope_tests::{Flowd, FlowdOptions};
use serde_json::Value;

const STATE: &str = r#"
node_name: dns-node
cluster_name: default
endpoints:
  - name: client-7c9d8b6f4-qwert
    namespace: default
    labels: {app: client}
    ips: [10.203.1.2]
    identity: 25000
    endpoint_id: 1234
    workload: client
"#;

const DNS_IP: &str = "10.203.9.2";

/// A query for `name` (type A) over TCP, from the pod, with Python's sockets: the answer's
/// rcode, or an error.
fn tcp_lookup(client: &Netns, name: &str) -> String {
    let code = format!(
        r#"
import socket, struct
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in "{name}".split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.create_connection(("{DNS_IP}", 53), 3)
s.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", s.recv(2))[0]
a = b""
while len(a) < n:
    a += s.recv(n - len(a))
print(a[3] & 0xf)
"#
    );
    let out = client.exec(&["python3", "-c", &code]);
    String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn dns_flows(flowd: &Flowd, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = flowd.flowctl(&["observe", "--all", "--protocol", "dns", "-o", "jsonpb"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let flows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["flow"].clone())
            .collect();
        if flows.len() >= n || Instant::now() > deadline {
            return flows;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_pods_lookups_through_a_real_dns_server_are_dns_flows() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let tag = format!("fsdns{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    let world = Netns::new(&format!("{tag}-world"));
    veth(
        &client,
        "eth0",
        Some("10.203.1.2/24"),
        &node,
        "lxc-client",
        Some("10.203.1.1/24"),
    );
    veth(
        &world,
        "eth0",
        Some(&format!("{DNS_IP}/24")),
        &node,
        "ext0",
        Some("10.203.9.1/24"),
    );
    route(&client, &["default", "via", "10.203.1.1"]);
    route(&world, &["10.203.0.0/16", "via", "10.203.9.1"]);
    assert!(
        node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .status
            .success()
    );

    let server = DnsServer::start(
        &world,
        DNS_IP,
        &client,
        &[
            "--local-ttl=300",
            "--host-record=shop.lab.example,10.203.2.2",
            "--cname=www.lab.example,shop.lab.example",
        ],
    );

    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        netns: Some(node.name.clone()),
        extra_args: vec![
            "--interface=lxc-client".to_string(),
            "--metrics=dns:query;ignoreAAAA".to_string(),
        ],
        buffer_capacity: 4095,
        shell_setup: None,
    });

    // The C library's resolver, over UDP: a CNAME chain, then a name that does not exist.
    let deadline = Instant::now() + Duration::from_secs(10);
    let resolved = loop {
        let out = client.exec(&["getent", "ahostsv4", "www.lab.example"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("10.203.2.2") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        resolved.contains("10.203.2.2"),
        "lookup failed: {resolved:?}"
    );
    let nx = client.exec(&["getent", "ahostsv4", "nope.lab.example"]);
    assert!(!nx.status.success(), "nope.lab.example resolved");
    // Over TCP.
    assert_eq!(tcp_lookup(&client, "shop.lab.example"), "0");

    let flows = dns_flows(&flowd, 6);
    let find = |query: &str, response: bool, proto: &str| {
        flows
            .iter()
            .find(|f| {
                f["l7"]["dns"]["query"] == query
                    && (f["l7"]["type"] == "RESPONSE") == response
                    && f["l4"].get(proto).is_some()
            })
            .unwrap_or_else(|| panic!("no {query} {response} {proto} flow in {flows:#?}"))
    };

    let q = find("www.lab.example.", false, "UDP");
    assert_eq!(q["Type"], "L7");
    assert_eq!(q["verdict"], "FORWARDED");
    assert_eq!(q["traffic_direction"], "EGRESS");
    assert_eq!(q["source"]["pod_name"], "client-7c9d8b6f4-qwert");
    assert_eq!(q["destination"]["identity"], 2, "the DNS server is world");
    assert_eq!(q["l4"]["UDP"]["destination_port"], 53);
    assert_eq!(q["l7"]["dns"]["qtypes"], serde_json::json!(["A"]));
    assert_eq!(q["l7"]["dns"]["observation_source"], "datapath");
    assert_eq!(q["Summary"], "DNS Query www.lab.example. A");

    let a = find("www.lab.example.", true, "UDP");
    let dns = &a["l7"]["dns"];
    assert_eq!(dns["ips"], serde_json::json!(["10.203.2.2"]));
    assert_eq!(dns["cnames"], serde_json::json!(["shop.lab.example."]));
    assert_eq!(dns["rrtypes"], serde_json::json!(["CNAME", "A"]));
    assert!(dns.get("rcode").is_none(), "NOERROR is 0: {dns}");
    assert_eq!(dns["ttl"], 300, "{dns}");
    assert_eq!(a["is_reply"], true);
    assert_eq!(a["traffic_direction"], "EGRESS");
    assert_eq!(a["destination"]["pod_name"], "client-7c9d8b6f4-qwert");
    let latency: u64 = a["l7"]["latency_ns"].as_str().unwrap().parse().unwrap();
    assert!(
        latency > 0 && latency < 5_000_000_000,
        "latency {latency} ns"
    );
    assert!(
        a["Summary"]
            .as_str()
            .unwrap()
            .starts_with(r#"DNS Answer "10.203.2.2" CNAMEs: "shop.lab.example." TTL: "#),
        "{}",
        a["Summary"]
    );

    let nx = find("nope.lab.example.", true, "UDP");
    assert_eq!(nx["l7"]["dns"]["rcode"], 3);
    assert_eq!(
        nx["Summary"],
        "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 (Query nope.lab.example. A)"
    );

    let tcp = find("shop.lab.example.", true, "TCP");
    assert_eq!(tcp["l7"]["dns"]["ips"], serde_json::json!(["10.203.2.2"]));

    // Hubble's DNS filter works on flowd's DNS flows.
    let out = flowd.flowctl(&[
        "observe",
        "--all",
        "-o",
        "jsonpb",
        "--allowlist",
        r#"{"dns_query":["^nope\\."]}"#,
    ]);
    let only: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["flow"].clone())
        .collect();
    assert!(!only.is_empty());
    assert!(
        only.iter()
            .all(|f| f["l7"]["dns"]["query"] == "nope.lab.example."),
        "{only:#?}"
    );

    // The answers name their addresses: the pod's later traffic to 10.203.2.2 carries
    // `destination_names`, and Hubble's --to-fqdn / --fqdn find it.
    let send = "import socket; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'x',('10.203.2.2',7))";
    assert!(client.exec(&["python3", "-c", send]).status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let named = loop {
        let out = flowd.flowctl(&[
            "observe",
            "--all",
            "-o",
            "jsonpb",
            "--to-fqdn",
            "*.lab.example",
            "--protocol",
            "udp",
        ]);
        let flows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["flow"].clone())
            .filter(|f| f["l4"]["UDP"]["destination_port"] == 7)
            .collect();
        if !flows.is_empty() || Instant::now() > deadline {
            break flows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!named.is_empty(), "no flow to a resolved address");
    for f in &named {
        assert_eq!(
            f["destination_names"],
            serde_json::json!(["shop.lab.example", "www.lab.example"]),
            "{f}"
        );
        assert_eq!(f["IP"]["destination"], "10.203.2.2");
    }
    let out = flowd.flowctl(&["observe", "--all", "--fqdn", "nope.lab.example"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "an NXDOMAIN names nothing"
    );

    // Hubble's dns metrics count flowd's DNS flows.
    let out = node.exec(&[
        "curl",
        "-sf",
        &format!("http://127.0.0.1:{}/metrics", flowd.metrics_port),
    ]);
    let metrics = String::from_utf8_lossy(&out.stdout);
    let series = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let www = r#"query="www.lab.example.""#;
    assert!(
        series("hubble_dns_queries_total{", &[www, r#"qtypes="A""#]) >= 1.0,
        "{metrics}"
    );
    assert!(
        series(
            "hubble_dns_responses_total{",
            &[www, r#"rcode="No Error""#, r#"ips_returned="1""#]
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        series(
            "hubble_dns_response_types_total{",
            &[www, r#"type="CNAME""#]
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        series(
            "hubble_dns_responses_total{",
            &[
                r#"query="nope.lab.example.""#,
                r#"rcode="Non-Existent Domain""#
            ]
        ) >= 1.0,
        "{metrics}"
    );
    drop(server);
}
