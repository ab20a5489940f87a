//! The eBPF datapath on real traffic, in network namespaces this test creates: identities,
//! policy verdicts, drops, traces, and lost-event accounting (root only).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowscope_tests::netns::{Netns, Procs, is_root, route, veth};
use flowscope_tests::tmux::{Tmux, flowtop_command};
use flowscope_tests::{Flowd, FlowdOptions, Prometheus};

const STATE: &str = r#"
node_name: dp-node
cluster_name: default
endpoints:
  - name: client-6d4b9c7f5-abcde
    namespace: default
    labels: {app: client}
    ips: [10.200.1.2]
    identity: 25000
    endpoint_id: 1234
    workload: client
  - name: server-7f8d9b6c4-fghij
    namespace: default
    labels: {app: server}
    ips: [10.200.2.2]
    identity: 25001
    endpoint_id: 2345
    workload: server
"#;

const POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-ingress, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
    - fromEndpoints: [{matchLabels: {app: client}}]
    - fromCIDR: [10.200.9.0/28]
      toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-egress, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
    - toEndpoints: [{matchLabels: {app: server}}]
    - toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"#;

struct Lab {
    // Field order is drop order: processes first, then namespaces.
    _servers: Procs,
    flowd: Flowd,
    ext: Netns,
    server: Netns,
    client: Netns,
    _node: Netns,
}

/// The namespace labs run one at a time: concurrent floods on 2 cores make loss accounting
/// and retransmission timing flaky.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn lab(name: &str, extra_args: &[&str]) -> Lab {
    let tag = format!("fs{name}{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    let server = Netns::new(&format!("{tag}-server"));
    let ext = Netns::new(&format!("{tag}-ext"));
    veth(
        &client,
        "eth0",
        Some("10.200.1.2/24"),
        &node,
        "lxc-client",
        Some("10.200.1.1/24"),
    );
    veth(
        &server,
        "eth0",
        Some("10.200.2.2/24"),
        &node,
        "lxc-server",
        Some("10.200.2.1/24"),
    );
    veth(
        &ext,
        "eth0",
        Some("10.200.9.2/24"),
        &node,
        "ext0",
        Some("10.200.9.1/24"),
    );
    let out = ext.exec(&["ip", "addr", "add", "10.200.9.100/24", "dev", "eth0"]);
    assert!(out.status.success());
    for ns in [&client, &server] {
        route(
            ns,
            &[
                "default",
                "via",
                &format!(
                    "10.200.{}.1",
                    if ns.name.ends_with("client") { 1 } else { 2 }
                ),
            ],
        );
    }
    route(&ext, &["10.200.0.0/16", "via", "10.200.9.1"]);
    let out = node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut servers = Procs(Vec::new());
    // TCP listeners on 8080 and 9090 in the server pod, a UDP sink in ext.
    let tcp_server = r#"
import socket, threading
def serve(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.sendall(b"ok")
        c.close()
for p in (8080, 9090):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
threading.Event().wait()
"#;
    servers.0.push(
        server
            .command("python3")
            .args(["-c", tcp_server])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let udp_sink = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 53))\nwhile True:\n    s.recv(2048)\n";
    servers.0.push(
        ext.command("python3")
            .args(["-c", udp_sink])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let dir = std::env::temp_dir().join(format!("{tag}-policy"));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let mut args = vec![
        "--interface=lxc-client".to_string(),
        "--interface=lxc-server".to_string(),
        format!("--policy={}", policy.display()),
    ];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        netns: Some(node.name.clone()),
        extra_args: args,
        buffer_capacity: 65535,
        shell_setup: None,
    });
    // Wait for the listeners.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let ok = server.exec(&[
            "python3",
            "-c",
            "import socket; socket.create_connection(('127.0.0.1',8080),1)",
        ]);
        if ok.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Lab {
        _servers: servers,
        flowd,
        ext,
        server,
        client,
        _node: node,
    }
}

/// Connects from `ns` (optionally from `src`) to `dst:port`; true if the connection was made.
fn connect(ns: &Netns, src: Option<&str>, dst: &str, port: u16) -> bool {
    let bind = src.map_or(String::new(), |s| format!("s.bind(('{s}',0));"));
    let code = format!(
        "import socket,sys\ns=socket.socket(); s.settimeout(1.5); {bind}\ntry:\n    s.connect(('{dst}',{port})); s.recv(2); s.close()\nexcept Exception:\n    sys.exit(1)\n"
    );
    ns.exec(&["python3", "-c", &code]).status.success()
}

/// Sends `count` datagrams, paced (1 ms every 20) so the veth backlog does not drop them.
fn udp(ns: &Netns, dst: &str, port: u16, count: usize) {
    let code = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range({count}):\n    s.sendto(b'x'*32,('{dst}',{port}))\n    if i % 20 == 19: time.sleep(0.001)\n"
    );
    assert!(ns.exec(&["python3", "-c", &code]).status.success());
}

/// [`udp`] from a sender pinned to `cpu`.
fn udp_on_cpu(ns: &Netns, cpu: usize, dst: &str, port: u16, count: usize) {
    let code = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range({count}):\n    s.sendto(b'x'*32,('{dst}',{port}))\n"
    );
    let out = ns.exec(&["taskset", "-c", &cpu.to_string(), "python3", "-c", &code]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn observe(flowd: &Flowd, args: &[&str]) -> Vec<String> {
    let mut all = vec!["observe", "--all"];
    all.extend_from_slice(args);
    let out = flowd.flowctl(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn observe_json(flowd: &Flowd, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["-o", "jsonpb"];
    all.extend_from_slice(args);
    observe(flowd, &all)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("jsonpb line"))
        .map(|v| v["flow"].clone())
        .collect()
}

/// Policy verdicts name the rule the datapath matched, in the list Hubble uses for their
/// direction and verdict; `--print-policy-names` shows them.
fn policy_names_are_reported(f: &Flowd) {
    let pv = observe_json(f, &["-t", "policy-verdict"]);
    let port = |v: &serde_json::Value| v["l4"]["TCP"]["destination_port"].as_u64();
    let lists = [
        "ingress_allowed_by",
        "egress_allowed_by",
        "ingress_denied_by",
        "egress_denied_by",
    ];
    let only = |v: &serde_json::Value, list: &str| -> Option<String> {
        for other in lists.iter().filter(|l| **l != list) {
            assert!(v.get(*other).is_none(), "{other} set as well: {v}");
        }
        let p = &v[list][0];
        let labels: Vec<&str> = p["labels"]
            .as_array()?
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        let revision: u64 = p["revision"].as_str()?.parse().ok()?;
        assert!(revision >= 1, "{p}");
        assert_eq!(p["kind"], "CiliumNetworkPolicy", "{p}");
        assert_eq!(p["namespace"], "default", "{p}");
        let name = p["name"].as_str()?.to_string();
        assert_eq!(
            labels,
            [
                "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy".to_string(),
                format!("k8s:io.cilium.k8s.policy.name={name}"),
                "k8s:io.cilium.k8s.policy.namespace=default".to_string(),
            ]
        );
        Some(name)
    };
    let ingress_8080 = pv
        .iter()
        .find(|v| v["traffic_direction"] == "INGRESS" && port(v) == Some(8080))
        .unwrap_or_else(|| panic!("no ingress verdict to 8080: {pv:#?}"));
    assert_eq!(
        only(ingress_8080, "ingress_allowed_by").as_deref(),
        Some("server-ingress")
    );
    let egress_server = pv
        .iter()
        .find(|v| v["traffic_direction"] == "EGRESS" && v["verdict"] == "FORWARDED")
        .unwrap_or_else(|| panic!("no allowed egress verdict: {pv:#?}"));
    assert_eq!(
        only(egress_server, "egress_allowed_by").as_deref(),
        Some("client-egress")
    );
    let denied_9090 = pv
        .iter()
        .find(|v| v["verdict"] == "DROPPED" && port(v) == Some(9090))
        .unwrap_or_else(|| panic!("no denied verdict to 9090: {pv:#?}"));
    assert_eq!(
        only(denied_9090, "ingress_denied_by").as_deref(),
        Some("server-ingress")
    );
    // Default deny matched no rule: no list at all, as in Hubble.
    let default_deny = pv
        .iter()
        .find(|v| v["verdict"] == "DROPPED" && v["traffic_direction"] == "EGRESS")
        .unwrap_or_else(|| panic!("no default-deny verdict: {pv:#?}"));
    for list in lists {
        assert!(default_deny.get(list).is_none(), "{default_deny}");
    }

    let lines = observe(
        f,
        &[
            "-t",
            "policy-verdict",
            "--to-port",
            "9090",
            "--print-policy-names",
        ],
    );
    assert!(
        lines.iter().any(|l| l.contains(
            "policy-verdict:L3-L4 INGRESS DENIED BY server-ingress (CiliumNetworkPolicy) (TCP Flags: SYN)"
        )),
        "{lines:#?}"
    );
}

/// Datapath flows carry the interface's index and name; `--interface NAME` selects them.
fn interfaces_are_named(f: &Flowd, node: &Netns) {
    let index = |name: &str| -> u64 {
        let out = node.exec(&["cat", &format!("/sys/class/net/{name}/ifindex")]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("ifindex")
    };
    let (client, server) = (index("lxc-client"), index("lxc-server"));
    let traces = observe_json(f, &["-t", "trace"]);
    assert!(!traces.is_empty());
    for t in &traces {
        let (i, name) = (t["interface"]["index"].as_u64(), &t["interface"]["name"]);
        assert!(
            (i == Some(client) && name == "lxc-client")
                || (i == Some(server) && name == "lxc-server"),
            "trace without its interface (lxc-client {client}, lxc-server {server}): {t}"
        );
    }
    let on_server = observe_json(f, &["--interface", "lxc-server"]);
    assert!(!on_server.is_empty());
    assert!(
        on_server
            .iter()
            .all(|t| t["interface"]["name"] == "lxc-server"),
        "{on_server:#?}"
    );
    assert!(on_server.len() < observe_json(f, &[]).len());
}

fn wait_for(flowd: &Flowd, args: &[&str], n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = observe(flowd, args);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn identities_policy_verdicts_drops_and_traces() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let _serial = serial();
    let lab = lab("a", &["--metrics=flow drop policy"]);
    let prom = Prometheus::start_in(Some(&lab._node.name), &[lab.flowd.metrics_port]);
    let f = &lab.flowd;

    // Allowed TCP: client -> server:8080.
    assert!(
        connect(&lab.client, None, "10.200.2.2", 8080),
        "allowed connection fails; flows:\n{}\nflowd log:\n{}",
        observe(f, &["--use-default-field-masks=false"]).join("\n"),
        f.log()
    );
    // Denied by an explicit deny rule: client -> server:9090.
    assert!(
        !connect(&lab.client, None, "10.200.2.2", 9090),
        "denied connection succeeds"
    );
    // World from the allowed CIDR, and from outside it.
    assert!(connect(&lab.ext, Some("10.200.9.2"), "10.200.2.2", 8080));
    assert!(!connect(&lab.ext, Some("10.200.9.100"), "10.200.2.2", 8080));
    // Client egress is default-deny except to the server and DNS.
    assert!(!connect(&lab.client, None, "10.200.9.2", 8080));
    udp(&lab.client, "10.200.9.2", 53, 1);
    let ping = lab
        .client
        .exec(&["ping", "-c", "1", "-W", "2", "10.200.2.2"]);
    assert!(
        ping.status.success(),
        "ICMP client -> server is allowed (L3)"
    );

    let pv = wait_for(
        f,
        &[
            "-t",
            "policy-verdict",
            "--from-identity",
            "25000",
            "--to-port",
            "8080",
        ],
        2,
    );
    assert!(
        pv.iter().any(|l| l.contains("default/client-6d4b9c7f5-abcde:")
            && l.contains("(ID:25000) -> default/server-7f8d9b6c4-fghij:8080 (ID:25001) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)")),
        "{pv:#?}"
    );
    assert!(
        pv.iter()
            .any(|l| l.contains("policy-verdict:L3-Only EGRESS ALLOWED (TCP Flags: SYN)")),
        "{pv:#?}"
    );

    let traces = observe(
        f,
        &[
            "-t",
            "trace:to-endpoint",
            "--to-port",
            "8080",
            "--from-label",
            "app=client",
        ],
    );
    assert!(
        traces
            .iter()
            .any(|l| l.ends_with("to-endpoint FORWARDED (TCP Flags: SYN)")),
        "{traces:#?}"
    );
    let replies = observe(
        f,
        &[
            "-t",
            "trace",
            "--from-port",
            "8080",
            "--to-identity",
            "25000",
        ],
    );
    assert!(
        replies
            .iter()
            .any(|l| l.contains(" <- ") && l.contains("TCP Flags: SYN, ACK")),
        "reply traced with <-: {replies:#?}"
    );

    let dropped = observe(f, &["--verdict", "DROPPED", "-t", "drop"]);
    let deny = dropped
        .iter()
        .filter(|l| {
            l.contains(":9090 (ID:25001) Policy denied by denylist DROPPED (TCP Flags: SYN)")
        })
        .count();
    assert!(deny >= 1, "{dropped:#?}");
    assert!(
        dropped.iter().any(|l| l.contains("10.200.9.100:") && l.contains("(world) <> default/server-7f8d9b6c4-fghij:8080 (ID:25001) Policy denied DROPPED")),
        "world outside the allowed CIDR is dropped: {dropped:#?}"
    );
    assert!(
        dropped.iter().any(
            |l| l.contains("(ID:25000) <> 10.200.9.2:8080 (ID:16777217) Policy denied DROPPED")
        ),
        "client egress default deny: {dropped:#?}"
    );
    assert!(
        !dropped
            .iter()
            .any(|l| l.contains("10.200.9.2:") && l.contains("<> default/server")),
        "world from the allowed CIDR is not dropped: {dropped:#?}"
    );
    // `--verdict DROPPED -t drop` returns exactly the three expected kinds of drop (SYN
    // retransmissions repeat them), nothing else.
    for l in &dropped {
        let expected = l.contains(":9090 (ID:25001) Policy denied by denylist DROPPED (TCP Flags: SYN)")
            || (l.contains("10.200.9.100:") && l.contains("(world) <> default/server-7f8d9b6c4-fghij:8080 (ID:25001) Policy denied DROPPED (TCP Flags: SYN)"))
            || l.contains("(ID:25000) <> 10.200.9.2:8080 (ID:16777217) Policy denied DROPPED (TCP Flags: SYN)");
        assert!(expected, "unexpected drop: {l}");
    }
    for l in &pv {
        assert!(
            l.contains("policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)")
                || l.contains("policy-verdict:L3-Only EGRESS ALLOWED (TCP Flags: SYN)")
                || l.contains(
                    "(ID:25000) <> 10.200.9.2:8080 (ID:16777217) policy-verdict:none EGRESS DENIED (TCP Flags: SYN)"
                ),
            "unexpected policy verdict: {l}"
        );
    }
    let denied_pv = observe(
        f,
        &[
            "-t",
            "policy-verdict",
            "--verdict",
            "DROPPED",
            "--to-port",
            "9090",
        ],
    );
    assert!(
        denied_pv
            .iter()
            .any(|l| l.contains("policy-verdict:L3-L4 INGRESS DENIED")),
        "{denied_pv:#?}"
    );

    policy_names_are_reported(f);
    interfaces_are_named(f, &lab._node);

    let udp_flows = observe(f, &["--protocol", "udp", "--to-port", "53"]);
    assert!(
        udp_flows.iter().any(|l| l.ends_with("FORWARDED (UDP)")),
        "{udp_flows:#?}"
    );
    let icmp = observe(f, &["--protocol", "icmp"]);
    assert!(
        icmp.iter().any(|l| l.contains("ICMPv4 EchoRequest")),
        "{icmp:#?}"
    );
    assert!(
        icmp.iter().any(|l| l.contains("ICMPv4 EchoReply")),
        "{icmp:#?}"
    );

    // Labels and identities in the JSON form.
    let out = f.flowctl(&[
        "observe",
        "-o",
        "jsonpb",
        "-t",
        "trace:to-endpoint",
        "--to-port",
        "8080",
        "--from-identity",
        "25000",
        "--last",
        "1",
    ]);
    let json: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let v: serde_json::Value = serde_json::from_str(json.last().unwrap()).unwrap();
    let flow = &v["flow"];
    assert_eq!(flow["source"]["identity"], 25000);
    assert_eq!(
        flow["source"]["labels"],
        serde_json::json!(["k8s:app=client", "k8s:io.kubernetes.pod.namespace=default"])
    );
    assert_eq!(flow["destination"]["ID"], 2345);
    assert_eq!(flow["destination"]["pod_name"], "server-7f8d9b6c4-fghij");
    assert_eq!(flow["trace_observation_point"], "TO_ENDPOINT");
    assert_eq!(flow["event_type"], serde_json::json!({"type": 4}));
    assert_eq!(flow["traffic_direction"], "INGRESS");
    assert_eq!(flow["l4"]["TCP"]["destination_port"], 8080);

    // A real Prometheus scraping flowd agrees with the flows in the ring.
    let flows = observe(f, &["-o", "jsonpb", "--use-default-field-masks=false"]);
    let parsed: Vec<serde_json::Value> = flows
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["flow"].is_object())
        .collect();
    let count = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        parsed.iter().filter(|v| pred(&v["flow"])).count() as f64
    };
    // Hubble's drop handler counts every DROPPED flow: drop events and denied policy verdicts.
    let policy_denied =
        count(&|f| f["drop_reason_desc"] == "POLICY_DENIED" && f["verdict"] == "DROPPED");
    let dropped = count(&|f| f["verdict"] == "DROPPED");
    let forwarded = count(&|f| f["verdict"] == "FORWARDED");
    assert!(policy_denied >= 2.0 && dropped > policy_denied && forwarded > 0.0);
    let r = prom.wait_query(
        r#"sum(hubble_drop_total{reason="POLICY_DENIED"})"#,
        Duration::from_secs(30),
        |r| r.first().and_then(|s| s["value"][1].as_str()) == Some(&policy_denied.to_string()),
    );
    assert_eq!(
        r.first().and_then(|s| s["value"][1].as_str()),
        Some(policy_denied.to_string().as_str()),
        "hubble_drop_total{{reason=POLICY_DENIED}}; prometheus log:\n{}",
        prom.log()
    );
    let by_verdict = |v: &str| {
        prom.query_value(&format!(
            r#"sum(hubble_flows_processed_total{{verdict="{v}"}})"#
        ))
    };
    // Flows keep arriving (neighbour discovery), so compare against a fresh count.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now_flows = observe(
            f,
            &[
                "-o",
                "jsonpb",
                "--use-default-field-masks=false",
                "--verdict",
                "DROPPED",
            ],
        )
        .len() as f64;
        if by_verdict("DROPPED") == Some(now_flows) || Instant::now() > deadline {
            assert_eq!(by_verdict("DROPPED"), Some(now_flows));
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        prom.query_value(
            r#"sum(hubble_policy_verdicts_total{direction="ingress",match="l3-l4",action="forwarded"})"#
        )
        .is_some_and(|v| v >= 2.0)
    );
    assert!(
        prom.query_value(r#"sum(hubble_policy_verdicts_total{action="dropped"})"#)
            .is_some_and(|v| v >= 3.0)
    );

    // flowtop shows the datapath's drops live: filtered to DROPPED with one key.
    let dir = std::env::temp_dir().join(format!("fs-dp-flowtop-{}", std::process::id()));
    let server = f.server_arg();
    let tmux = Tmux::start(
        &dir,
        &flowtop_command(&dir, &["--server", &server, "--identity", "25001"]),
    );
    tmux.wait_for(Duration::from_secs(10), "to-endpoint");
    tmux.keys(&["v", "v"]); // any -> FORWARDED -> DROPPED
    let (pane, _) = tmux.wait(Duration::from_secs(5), "only drops shown", |p| {
        p.contains("Policy denied") && p.contains("verdict DROPPED") && !p.contains("FORWARDED ")
    });
    let rows: Vec<&str> = pane.lines().filter(|l| l.contains(" 25001 ")).collect();
    assert!(rows.len() >= 4, "{pane}");
    assert!(
        rows.iter()
            .all(|r| r.contains("DROPPED") || r.contains("DENIED")),
        "{pane}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("10.200.9.100:") && r.contains(" world ")),
        "{pane}"
    );
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), "0");

    // Packet counters agree with what was dropped.
    let dropped_pkts = f
        .metric(r#"flowscope_datapath_packets_total{verdict="dropped"}"#)
        .unwrap_or(0.0);
    assert!(dropped_pkts >= 3.0, "{dropped_pkts}");
}

#[test]
fn paused_reader_lost_events_add_up() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let _serial = serial();
    let lab = lab(
        "b",
        &[
            "--monitor-aggregation=none",
            "--perf-pages=1",
            "--datapath-transport=perf",
        ],
    );
    let f = &lab.flowd;
    // Freeze the perf readers, flood (bounded), resume.
    let signal = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &f.pid().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    // Resolve neighbours first, so the flood is not lost to ARP queueing.
    udp(&lab.client, "10.200.9.2", 53, 1);
    std::thread::sleep(Duration::from_millis(300));
    signal("-USR1");
    // Flood in batches until the kernel counts events it could not write (the paused
    // readers' rings are full): the loss is created, not hoped for. A batch or two usually
    // does; a loaded machine may need more. Bounded.
    let failed_series = r#"flowscope_datapath_events_total{result="failed"}"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut batches = 0;
    loop {
        udp(&lab.client, "10.200.9.2", 53, 500);
        batches += 1;
        // flowd mirrors the kernel's per-CPU counters every 500 ms.
        let poll_until = Instant::now() + Duration::from_millis(1200);
        while f.metric(failed_series).unwrap_or(0.0) == 0.0 && Instant::now() < poll_until {
            std::thread::sleep(Duration::from_millis(100));
        }
        if f.metric(failed_series).unwrap_or(0.0) > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no loss after {batches} batches of 500 packets with paused readers; log:\n{}",
            f.log()
        );
    }
    signal("-USR1");
    // The kernel reports a CPU's loss with the next event it writes to that CPU's ring, so
    // after resuming, send a few packets from every CPU (the veth delivers them on the
    // sender's CPU) until every loss is reported, bounded.
    std::thread::sleep(Duration::from_millis(300));
    let cpus: usize = std::thread::available_parallelism().map_or(1, |n| n.get());
    let series = |name: &str| f.metric(name).unwrap_or(0.0) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut emitted, mut failed, mut seen, mut lost);
    'report: loop {
        for cpu in 0..cpus {
            udp_on_cpu(&lab.client, cpu, "10.200.9.2", 53, 3);
        }
        let poll_until = Instant::now() + Duration::from_millis(1500);
        loop {
            emitted = series(r#"flowscope_datapath_events_total{result="emitted"}"#);
            failed = series(r#"flowscope_datapath_events_total{result="failed"}"#);
            seen = series(r#"flowscope_source_records_received_total{source="datapath"}"#);
            lost = series(r#"hubble_lost_events_total{source="perf_event_ring_buffer"}"#);
            if (lost > 0 && seen + lost == emitted + failed) || Instant::now() > deadline {
                break 'report;
            }
            if Instant::now() > poll_until {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(
        lost > 0,
        "a paused reader under a flood loses events (emitted {emitted}, failed {failed}, seen {seen}); log:\n{}",
        f.log()
    );
    assert_eq!(
        seen + lost,
        emitted + failed,
        "seen + lost = attempted (emitted {emitted}, failed {failed})"
    );
    // The loss reached clients as LostEvents with the same total.
    let out = f.flowctl(&[
        "observe",
        "--all",
        "-o",
        "jsonpb",
        "-t",
        "trace",
        "--from-identity",
        "1",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let reported: u64 = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["lost_events"]["source"] == "PERF_EVENT_RING_BUFFER")
        .map(|v| {
            v["lost_events"]["num_events_lost"]
                .as_str()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        reported, lost,
        "LostEvents in the ring carry the lost count"
    );
    let _ = (&lab.server, &lab.ext);
}

#[test]
fn without_privileges_flowd_exits_with_one_clear_line() {
    if !is_root() {
        eprintln!("skipped: needs root to drop privileges");
        return;
    }
    let dir = std::env::temp_dir().join(format!("fs-unpriv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // As nobody, without capabilities: the datapath cannot load.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(flowscope_tests::bin("flowd"))
        .args([
            "--interface=lo",
            "--listen-address=",
            "--metrics-address=",
            "--unix-socket=",
        ])
        .arg(format!(
            "--access-log-socket={}",
            dir.join("al.sock").display()
        ))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("flowd: cannot load the eBPF programs:"),
        "{err}"
    );
    assert!(lines[0].contains("CAP_BPF"), "{err}");
}

#[test]
/// The default transport is the ring buffer (the other tests); the perf event array must
/// deliver the same flows.
fn perf_transport_delivers_the_same_flows() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let _serial = serial();
    let lab = lab("c", &["--datapath-transport=perf"]);
    let f = &lab.flowd;
    assert!(connect(&lab.client, None, "10.200.2.2", 8080));
    assert!(!connect(&lab.client, None, "10.200.2.2", 9090));
    let traces = wait_for(f, &["-t", "trace:to-endpoint", "--to-port", "8080"], 1);
    assert!(
        traces
            .iter()
            .any(|l| l.contains("(ID:25000) -> default/server-7f8d9b6c4-fghij:8080 (ID:25001) to-endpoint FORWARDED (TCP Flags: SYN)")),
        "{traces:#?}"
    );
    let drops = wait_for(f, &["--verdict", "DROPPED", "-t", "drop"], 1);
    assert!(
        drops
            .iter()
            .all(|l| l.contains(":9090 (ID:25001) Policy denied by denylist DROPPED")),
        "{drops:#?}"
    );
    let json = observe(
        f,
        &[
            "-o",
            "jsonpb",
            "-t",
            "trace:to-endpoint",
            "--to-port",
            "8080",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(
        v["flow"]["l4"]["TCP"]["flags"]["SYN"], true,
        "packet bytes follow the header"
    );
    assert!(v["flow"]["ethernet"].is_object());
}

/// Two flowd on one interface: the second refuses to chain its programs behind the first
/// one's, unless told to replace them; then only its own programs see the traffic.
#[test]
fn a_second_datapath_on_an_interface_is_refused_unless_replacing() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let _serial = serial();
    let tag = format!("fsr{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    veth(
        &client,
        "eth0",
        Some("10.201.1.2/24"),
        &node,
        "lxc-r",
        Some("10.201.1.1/24"),
    );
    let start = |extra: &[&str]| {
        let mut args = vec!["--interface=lxc-r".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Flowd::start(FlowdOptions {
            state_yaml: STATE,
            netns: Some(node.name.clone()),
            extra_args: args,
            buffer_capacity: 4095,
            shell_setup: None,
        })
    };
    let first = start(&[]);

    // Same interface, its own sockets and ports: refused, with a clear message.
    let dir = std::env::temp_dir().join(format!("{tag}-second"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut second = node
        .command(flowscope_tests::bin("flowd").to_str().unwrap())
        .args([
            "--interface=lxc-r",
            "--listen-address=",
            "--metrics-address=",
        ])
        .arg(format!("--unix-socket={}", dir.join("h.sock").display()))
        .arg(format!(
            "--access-log-socket={}",
            dir.join("al.sock").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = second.try_wait().unwrap();
    if exited.is_none() {
        flowscope_tests::terminate(&mut second, Duration::from_secs(5));
    }
    let out = second.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        exited.is_some_and(|s| !s.success()),
        "second flowd kept running: {err}"
    );
    assert!(err.contains("already attached"), "{err}");
    assert!(err.contains("--replace-datapath"), "{err}");

    // With --replace-datapath it takes the interface over: the first one sees nothing more.
    let replacing = start(&["--replace-datapath"]);
    assert!(
        replacing.log().contains("replaced the datapath programs"),
        "{}",
        replacing.log()
    );
    let series = r#"flowscope_datapath_packets_total{verdict="forwarded"}"#;
    // Let the first flowd's counters (polled every 500 ms) take in what its programs saw
    // before they were replaced (neighbour discovery on the new link, for instance).
    std::thread::sleep(Duration::from_millis(1200));
    let before = first.metric(series).unwrap_or(0.0);
    let out = client.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.201.1.1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = replacing.wait_metric(series, 6.0);
    assert!(now >= 6.0, "the replacing flowd counts the pings ({now})");
    // The first flowd's counters are polled every 500 ms: give it the time to (not) move.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        first.metric(series).unwrap_or(0.0),
        before,
        "the replaced programs still run"
    );
    drop(replacing);
    drop(first);
}
