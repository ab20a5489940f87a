//! Cilium's four Hubble Grafana dashboards (vendored in tests/data/grafana) on flowd (root
//! only): a namespace lab produces every traffic kind the dashboards chart (TCP over IPv4 and
//! IPv6, a policy drop, ICMPv4 and ICMPv6 pings, HTTP through the l7proxy fixture with 2xx, 4xx
//! and 5xx answers, DNS lookups through dnsmasq including an NXDOMAIN), flowd serves Cilium's
//! documented metric list, a real Prometheus scrapes it, and every panel query, interpolated as
//! Grafana does with "All" selected, must return data through Prometheus' HTTP API, except the
//! few listed in `NO_DATA` with the reason.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowscope_tests::dnsmasq::DnsServer;
use flowscope_tests::grafana::{Variable, interpolate, panel_queries, variables};
use flowscope_tests::netns::{Netns, Procs, is_root, route, veth};
use flowscope_tests::{Flowd, FlowdOptions, Prometheus, bin, free_port};
use serde_json::Value;

/// The metric list of Cilium's documentation (and Helm chart example).
const CILIUM_METRICS: &str = "dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction";

const DASHBOARDS: [&str; 4] = [
    "hubble-dashboard.json",
    "hubble-dns-namespace.json",
    "hubble-network-overview-namespace.json",
    "hubble-l7-http-metrics-by-workload.json",
];

/// Panel queries that return nothing on flowd with this lab, by (dashboard, panel title), and
/// why. The test also fails when one of them does return data, so the list stays exact.
const NO_DATA: &[(&str, &str, &str)] = &[(
    "hubble-dashboard.json",
    "HTTP responses",
    "hubble_http_responses_total is a metric of Hubble's v1 `http` handler; Cilium's \
     documented list enables `httpV2`, which counts responses in hubble_http_requests_total \
     (status label) and has no responses counter, in Hubble as in flowd",
)];

const STATE: &str = r#"
node_name: dash-node
cluster_name: default
endpoints:
  - name: client-5d8f7c9b6-kq2xz
    namespace: default
    labels: {app: client}
    ips: [10.204.1.2, "fd00:204:1::2"]
    identity: 25000
    endpoint_id: 1234
    workload: client
  - name: server-6c7d8e9f5-mn3wy
    namespace: default
    labels: {app: server}
    ips: [10.204.2.2, "fd00:204:2::2"]
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
    # The node's own addresses (the proxy's upstream leg, IPv6 neighbour discovery).
    - fromCIDR: [10.204.2.1/32, "fd00:204:2::1/128", "fe80::/10"]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
"#;

/// An HTTP server on 8080 (IPv4 and IPv6): /ok is 200, /missing 404, anything else 503.
const HTTP_SERVER: &str = r#"
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response({"/ok": 200, "/missing": 404}.get(self.path, 503))
        self.send_header("content-length", "2")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
S(("::", 8080), H).serve_forever()
"#;

/// A DNS query (type A) for ghost.lab.example to an address where nothing answers.
const UNANSWERED_DNS: &str = r#"
import socket, struct
q = struct.pack(">HHHHHH", 0x4243, 0x0100, 1, 0, 0, 0) + b"\x05ghost\x03lab\x07example\x00"
q += struct.pack(">HH", 1, 1)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("10.204.9.100", 53))
"#;

struct Lab {
    // Field order is drop order: processes, then flowd, then the namespaces.
    _procs: Procs,
    _dns: DnsServer,
    flowd: Flowd,
    proxy_port: u16,
    policy_dir: std::path::PathBuf,
    world: Netns,
    _server: Netns,
    client: Netns,
    node: Netns,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.policy_dir);
    }
}

fn sh(ns: &Netns, cmd: &[&str]) {
    let out = ns.exec(cmd);
    assert!(
        out.status.success(),
        "{}: {}",
        cmd.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn lab() -> Lab {
    let tag = format!("fsdash{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    let server = Netns::new(&format!("{tag}-server"));
    let world = Netns::new(&format!("{tag}-world"));
    for (ns, n, host_if) in [(&client, 1, "lxc-client"), (&server, 2, "lxc-server")] {
        let (pod4, node4) = (format!("10.204.{n}.2/24"), format!("10.204.{n}.1/24"));
        veth(ns, "eth0", Some(&pod4), &node, host_if, Some(&node4));
        sh(
            ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("fd00:204:{n}::2/64"),
                "dev",
                "eth0",
                "nodad",
            ],
        );
        sh(
            &node,
            &[
                "ip",
                "addr",
                "add",
                &format!("fd00:204:{n}::1/64"),
                "dev",
                host_if,
                "nodad",
            ],
        );
        route(ns, &["default", "via", &format!("10.204.{n}.1")]);
        route(ns, &["::/0", "via", &format!("fd00:204:{n}::1")]);
    }
    veth(
        &world,
        "eth0",
        Some("10.204.9.2/24"),
        &node,
        "ext0",
        Some("10.204.9.1/24"),
    );
    sh(
        &world,
        &["ip", "addr", "add", "10.204.9.100/24", "dev", "eth0"],
    );
    route(&world, &["10.204.0.0/16", "via", "10.204.9.1"]);
    sh(&node, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    sh(&node, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);

    let dns = DnsServer::start(
        &world,
        "10.204.9.2",
        &client,
        &["--host-record=www.lab.example,10.204.2.2"],
    );
    let mut procs = Procs(Vec::new());
    procs
        .0
        .push(spawn(server.command("python3").args(["-c", HTTP_SERVER])));

    let policy_dir = std::env::temp_dir().join(format!("{tag}-policy"));
    std::fs::create_dir_all(&policy_dir).unwrap();
    let policy = policy_dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        netns: Some(node.name.clone()),
        extra_args: vec![
            "--interface=lxc-client".to_string(),
            "--interface=lxc-server".to_string(),
            format!("--policy={}", policy.display()),
            format!("--metrics={CILIUM_METRICS}"),
        ],
        buffer_capacity: 65535,
        shell_setup: None,
    });
    let proxy_port = free_port();
    procs
        .0
        .push(spawn(node.command(bin("l7proxy").to_str().unwrap()).args(
            [
                format!("--listen=127.0.0.1:{proxy_port}"),
                "--upstream=10.204.2.2:8080".to_string(),
                format!("--access-log={}", flowd.access_log.display()),
                "--deny-path=/admin".to_string(),
            ],
        )));
    Lab {
        _procs: procs,
        _dns: dns,
        flowd,
        proxy_port,
        policy_dir,
        world,
        _server: server,
        client,
        node,
    }
}

/// `curl` from `ns`: the HTTP status, or "000" when the connection failed.
fn curl(ns: &Netns, url: &str, max_time: &str) -> String {
    let out = ns.exec(&[
        "curl",
        "-sg",
        "-m",
        max_time,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        url,
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One round of every traffic kind.
fn drive(lab: &Lab) {
    // TCP over IPv4 and IPv6, allowed; then a connection a deny rule drops.
    for url in [
        "http://10.204.2.2:8080/ok",
        "http://[fd00:204:2::2]:8080/ok",
    ] {
        assert_eq!(curl(&lab.client, url, "5"), "200", "{url}");
    }
    assert_eq!(curl(&lab.client, "http://10.204.2.2:9090/", "1"), "000");
    // And one no rule allows (a default-deny drop: POLICY_DENIED rather than POLICY_DENY).
    assert_eq!(curl(&lab.world, "http://10.204.2.2:8080/ok", "1"), "000");
    // ICMPv4 and ICMPv6 echoes, and one echo nobody answers.
    sh(&lab.client, &["ping", "-c", "1", "-W", "2", "10.204.2.2"]);
    sh(
        &lab.client,
        &["ping", "-6", "-c", "1", "-W", "2", "fd00:204:2::2"],
    );
    let lost = lab
        .client
        .exec(&["ping", "-c", "1", "-W", "1", "10.204.9.77"]);
    assert!(!lost.status.success());
    // DNS: an answer, a name that does not exist, and a query nobody answers.
    let ok = lab.client.exec(&["getent", "ahostsv4", "www.lab.example"]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("10.204.2.2"));
    let nx = lab.client.exec(&["getent", "ahostsv4", "nope.lab.example"]);
    assert!(!nx.status.success());
    sh(&lab.client, &["python3", "-c", UNANSWERED_DNS]);
    // HTTP through the proxy: 2xx, 4xx from the backend, 5xx, and 403 from a proxy deny.
    for (path, status) in [
        ("/ok", "200"),
        ("/ok", "200"),
        ("/missing", "404"),
        ("/fail", "503"),
        ("/admin", "403"),
    ] {
        let url = format!("http://127.0.0.1:{}{path}", lab.proxy_port);
        assert_eq!(curl(&lab.node, &url, "5"), status, "{url}");
    }
}

/// Waits until Prometheus has scraped flowd at least a second after now (so the scrape holds
/// what flowd counted of the traffic so far).
fn wait_for_scrape(prom: &Prometheus) {
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 1.0;
    let scraped = |r: &[Value]| {
        r.first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|t| t > after)
    };
    let r = prom.wait_query("timestamp(up)", Duration::from_secs(30), scraped);
    assert!(
        scraped(&r),
        "no scrape after the traffic: {r:?}\n{}",
        prom.log()
    );
}

/// Grafana's values for the dashboard's variables: "All" where the variable offers it, else
/// the default pick among the label values Prometheus has (empty when it has none).
fn resolve(prom: &Prometheus, vars: &[Variable], interval: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in vars {
        let value = if v.include_all {
            v.all()
        } else {
            let (selector, label) = v
                .label_values()
                .unwrap_or_else(|| panic!("variable {}: unsupported query {}", v.name, v.query));
            let selector = selector.map(|s| interpolate(&s, &out, interval));
            let params: Vec<(&str, &str)> =
                selector.iter().map(|s| ("match[]", s.as_str())).collect();
            let values: Vec<String> = prom
                .api(&format!("label/{label}/values"), &params)
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            v.default_value(&values)
        };
        out.push((v.name.clone(), value));
    }
    out
}

#[test]
fn every_panel_of_ciliums_hubble_dashboards_has_data() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces and eBPF");
        return;
    }
    let started = Instant::now();
    let lab = lab();
    let prom = Prometheus::start_in(Some(&lab.node.name), &[lab.flowd.metrics_port]);
    let since = Instant::now();
    wait_until("the HTTP server", || {
        curl(&lab.client, "http://10.204.2.2:8080/ok", "2") == "200"
    });
    wait_until("the DNS server", || {
        let out = lab.client.exec(&["getent", "ahostsv4", "www.lab.example"]);
        String::from_utf8_lossy(&out.stdout).contains("10.204.2.2")
    });
    // Two rounds a few scrapes apart, so every series has samples before and after a rise
    // (panels ending in `> 0` need a rate above zero, not only a series).
    drive(&lab);
    wait_for_scrape(&prom);
    drive(&lab);
    wait_for_scrape(&prom);
    // `$__rate_interval` and friends: a window that covers the whole run.
    let interval = format!("{}s", since.elapsed().as_secs() + 5);

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/grafana");
    let (mut total, mut with_data) = (0, 0);
    let mut failures = Vec::new();
    for file in DASHBOARDS {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let dashboard: Value = serde_json::from_str(&text).unwrap();
        let vars = resolve(&prom, &variables(&dashboard), &interval);
        for q in panel_queries(&dashboard) {
            total += 1;
            let expr = interpolate(&q.expr, &vars, &interval);
            assert!(
                !expr.contains("$__") && !expr.contains("${"),
                "{file} {}: uninterpolated: {expr}",
                q.panel
            );
            let result = prom.query(&expr);
            let listed = NO_DATA.iter().any(|(f, p, _)| *f == file && *p == q.panel);
            if !result.is_empty() {
                with_data += 1;
            }
            if result.is_empty() != listed {
                failures.push(format!(
                    "{file} / {} / {}: {} ({expr})",
                    q.panel,
                    q.ref_id,
                    if listed {
                        "listed as without data but returns data"
                    } else {
                        "no data"
                    }
                ));
            }
        }
    }
    eprintln!(
        "{with_data} of {total} panel queries return data; {} listed without data; {:?}",
        NO_DATA.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{}\nvariables: {:?}\nmetrics:\n{}",
        failures.join("\n"),
        DASHBOARDS
            .iter()
            .map(|f| {
                let d: Value =
                    serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
                resolve(&prom, &variables(&d), &interval)
            })
            .collect::<Vec<_>>(),
        lab.flowd.metrics().unwrap_or_default()
    );
    assert_eq!(total, 62, "panel queries found");
    drop(prom);
}
