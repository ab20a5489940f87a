//! A cluster of flowd nodes in network namespaces, for the multi-node tests: the topology
//! (nodes routing for their pods, an underlay, a control namespace) is the lab's own,
//! built by `scripts/lab.sh --nodes N --setup-only` and held while its standard input stays
//! open; the test starts, kills and restarts each node's flowd and a flowrelay over them,
//! in plaintext or with mutual TLS on every link ([`Cluster::use_mtls`]).
//! Everything is ended by its pid on drop, then the script removes the namespaces.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowscope_cli::client::{Dial, connect_with};
use flowscope_cli::tls::TlsOptions;
use flowscope_proto::observer::{ServerStatusRequest, ServerStatusResponse};

use crate::cluster_tls::{ClusterTls, Credentials, flowctl_args};
use crate::{Flowd, FlowdOptions, bin, flowctl_command, temp_dir, terminate};

/// The port of every node's Observer API and Peer service.
pub const NODE_PORT: u16 = 4244;
/// The relay's port, on the control namespace's underlay address.
pub const RELAY_PORT: u16 = 4245;

/// A pod: its namespace and address.
#[derive(Debug, Clone, Default)]
pub struct Pod {
    pub ns: String,
    pub ip: String,
}

/// One node: a namespace routing for its `web` and `client` pods.
pub struct Node {
    pub name: String,
    pub ns: String,
    pub underlay: String,
    pub state_yaml: String,
    pub web: Pod,
    pub client: Pod,
    /// The node's flowd while it runs.
    pub flowd: Option<Flowd>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub control_ns: String,
    pub control_ip: String,
    relay: Option<Child>,
    /// The certificates when every link is mutual TLS.
    tls: Option<ClusterTls>,
    dir: PathBuf,
    script: Child,
    /// Closing it tells the script to tear the topology down.
    hold: Option<ChildStdin>,
}

impl Cluster {
    /// Builds the topology for `n` nodes (no flowd yet).
    pub fn start(n: usize) -> Cluster {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut script = Command::new(root.join("scripts/lab.sh"))
            .args(["--nodes", &n.to_string(), "--setup-only"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let hold = script.stdin.take();
        let (tx, rx) = mpsc::channel();
        let out = script.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let done = line == "ready";
                if tx.send(line).is_err() || done {
                    break;
                }
            }
        });
        let mut cluster = Cluster {
            nodes: Vec::new(),
            control_ns: String::new(),
            control_ip: String::new(),
            relay: None,
            tls: None,
            dir: temp_dir("cluster"),
            script,
            hold,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!(
                    "lab --setup-only did not get ready: {}",
                    cluster.script_err()
                ),
            };
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["ready"] => break,
                ["control", ns, ip] => {
                    cluster.control_ns = ns.to_string();
                    cluster.control_ip = ip.to_string();
                }
                ["node", _, ns, ip, name, state] => cluster.nodes.push(Node {
                    name: name.to_string(),
                    ns: ns.to_string(),
                    underlay: ip.to_string(),
                    state_yaml: std::fs::read_to_string(state).unwrap(),
                    web: Pod::default(),
                    client: Pod::default(),
                    flowd: None,
                }),
                ["pod", _, kind, ns, ip] => {
                    let node = cluster.nodes.last_mut().expect("pod before its node");
                    let pod = Pod {
                        ns: ns.to_string(),
                        ip: ip.to_string(),
                    };
                    match *kind {
                        "web" => node.web = pod,
                        _ => node.client = pod,
                    }
                }
                _ => panic!("unexpected lab line {line:?}"),
            }
        }
        assert_eq!(cluster.nodes.len(), n, "lab announced other nodes");
        cluster
    }

    fn script_err(&mut self) -> String {
        let mut err = String::new();
        if let Ok(Some(_)) = self.script.try_wait()
            && let Some(mut e) = self.script.stderr.take()
        {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        err
    }

    /// Mutual TLS on every link from now on: makes the certificates the nodes, the relay
    /// and the clients started afterwards use.
    pub fn use_mtls(&mut self) {
        assert!(
            self.relay.is_none() && self.nodes.iter().all(|n| n.flowd.is_none()),
            "TLS is chosen before anything starts"
        );
        self.tls = Some(ClusterTls::new(&self.control_ip));
    }

    /// True when every link is mutual TLS.
    pub fn mtls(&self) -> bool {
        self.tls.is_some()
    }

    /// Starts node `i`'s flowd on its pods' veths, serving on its underlay address; node 0
    /// announces the others through its Peer service.
    pub fn start_node(&mut self, i: usize, extra: &[&str]) {
        let mut args = vec![
            "--interface=lxc-web".to_string(),
            "--interface=lxc-client".to_string(),
            format!("--listen-address={}:{NODE_PORT}", self.nodes[i].underlay),
        ];
        if i == 0 {
            for n in &self.nodes[1..] {
                args.push(format!("--peer={}={}:{NODE_PORT}", n.name, n.underlay));
            }
        }
        if let Some(tls) = &self.tls {
            args.extend(tls.node_args());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let node = &mut self.nodes[i];
        let state = node.state_yaml.clone();
        node.flowd = Some(Flowd::start(FlowdOptions {
            state_yaml: &state,
            netns: Some(node.ns.clone()),
            extra_args: args,
            ..Default::default()
        }));
    }

    /// Kills node `i`'s flowd with SIGKILL (by its pid), as a crash.
    pub fn kill_node(&mut self, i: usize) {
        let mut flowd = self.nodes[i].flowd.take().expect("node running");
        flowd.signal("KILL");
        assert!(
            flowd.wait_exit(Duration::from_secs(10)).is_some(),
            "flowd survived SIGKILL"
        );
    }

    /// The relay's address on the underlay.
    pub fn relay_address(&self) -> String {
        format!("{}:{RELAY_PORT}", self.control_ip)
    }

    /// The TLS a client with `credentials` uses towards the relay; None for plaintext.
    pub fn client_tls(&self, credentials: Credentials) -> Option<TlsOptions> {
        match (credentials, &self.tls) {
            (Credentials::Plaintext, _) | (Credentials::Cluster, None) => None,
            (Credentials::Cluster, Some(tls)) => Some(tls.client(true)),
            (Credentials::NoCertificate, Some(tls)) => Some(tls.client(false)),
            (Credentials::NoCertificate, None) => panic!("the cluster runs no TLS"),
        }
    }

    /// The relay's address as a client with `tls` gives it (`tls://` for TLS).
    fn relay_server(&self, tls: &Option<TlsOptions>) -> String {
        match tls {
            Some(_) => format!("tls://{}", self.relay_address()),
            None => self.relay_address(),
        }
    }

    /// Starts flowrelay in the control namespace, discovering the nodes through node 0's
    /// Peer service.
    pub fn start_relay(&mut self) {
        let log = std::fs::File::create(self.dir.join("flowrelay.log")).unwrap();
        let peer_service = format!("{}:{NODE_PORT}", self.nodes[0].underlay);
        let tls_args = self.tls.as_ref().map(ClusterTls::relay_args);
        let child = Command::new("ip")
            .args(["netns", "exec", &self.control_ns])
            .arg(bin("flowrelay"))
            .args(["--peer-service", &peer_service])
            .args(["--listen-address", &self.relay_address()])
            .args(tls_args.unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.relay = Some(child);
    }

    pub fn relay_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("flowrelay.log")).unwrap_or_default()
    }

    /// `flowctl ARGS --server <relay>`, run in the control namespace as the cluster's
    /// clients do (with a client certificate under mutual TLS).
    pub fn flowctl_command(&self, args: &[&str]) -> Command {
        self.flowctl_command_as(Credentials::Cluster, args)
    }

    /// `flowctl ARGS --server <relay>` with `credentials`, run in the control namespace.
    pub fn flowctl_command_as(&self, credentials: Credentials, args: &[&str]) -> Command {
        let tls = self.client_tls(credentials);
        let base = flowctl_command(&self.dir);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.control_ns])
            .arg(base.get_program())
            .args(args)
            .args(["--server", &self.relay_server(&tls)])
            .args(tls.as_ref().map(flowctl_args).unwrap_or_default())
            .current_dir(&self.dir);
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    pub fn flowctl(&self, args: &[&str]) -> Output {
        self.flowctl_command(args).output().unwrap()
    }

    pub fn flowctl_as(&self, credentials: Credentials, args: &[&str]) -> Output {
        self.flowctl_command_as(credentials, args).output().unwrap()
    }

    /// Polls `flowctl list nodes` through the relay until every named node has `state`
    /// (`Connected`, `Unavailable`, ...); returns the table. Panics after `limit`.
    pub fn wait_nodes(&self, names: &[&str], state: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.flowctl(&["list", "nodes"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let has = |name: &str| {
                text.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 1 && f[0] == name && f[1] == state
                })
            };
            if out.status.success() && names.iter().all(|n| has(n)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {names:?} not {state}: {text}{}\nrelay log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.relay_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The relay's `ServerStatus`, asked by a gRPC client in the control namespace (as the
    /// cluster's clients connect); None when the relay does not answer.
    pub fn relay_status(&self) -> Option<ServerStatusResponse> {
        let tls = self.client_tls(Credentials::Cluster);
        let server = self.relay_server(&tls);
        let dial = Dial {
            timeout: Duration::from_secs(5),
            tls: tls.unwrap_or_default(),
        };
        in_netns(&self.control_ns, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let call = async {
                    let mut c = connect_with(&server, &dial).await.ok()?;
                    c.server_status(ServerStatusRequest {}).await.ok()
                };
                let st = tokio::time::timeout(Duration::from_secs(5), call).await;
                Some(st.ok()??.into_inner())
            })
        })
    }

    /// Runs a command in `pod`'s namespace; panics if it fails.
    pub fn exec(&self, pod: &Pod, cmd: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &pod.ns])
            .args(cmd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd:?} in {}: {}",
            pod.ns,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `count` UDP datagrams from `from` (source port `sport`) to `to`'s sink on
    /// port 9090, paced so no queue drops them.
    pub fn udp(&self, from: &Pod, sport: u16, to: &Pod, count: usize) {
        let code = format!(
            "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('{}',{sport}))\nfor i in range({count}):\n    s.sendto(b'x'*32,('{}',9090))\n    \
             if i % 10 == 9: time.sleep(0.002)\n",
            from.ip, to.ip
        );
        self.exec(from, &["python3", "-c", &code]);
    }

    /// One HTTP GET from `from` to `to`'s web server, and one ping.
    pub fn http_and_ping(&self, from: &Pod, to: &Pod) {
        let url = format!("http://{}:9080/", to.ip);
        self.exec(
            from,
            &["curl", "-sf", "-o", "/dev/null", "--max-time", "5", &url],
        );
        self.exec(from, &["ping", "-c", "1", "-W", "2", &to.ip]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut relay) = self.relay.take() {
            terminate(&mut relay, Duration::from_secs(5));
        }
        for n in &mut self.nodes {
            n.flowd = None;
        }
        if let Some(mut hold) = self.hold.take() {
            let _ = hold.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = matches!(self.script.try_wait(), Ok(Some(_)));
            std::thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            terminate(&mut self.script, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The JSON lines a successful command (e.g. `flowctl observe -o jsonpb`) printed.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs `f` on a thread that has entered network namespace `ns` (one of `ip netns`), so
/// the sockets it opens live there.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns(2) on a namespace file this thread keeps open for the call; it only
        // moves the calling thread (which is not the main one) to that network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

/// A `flowctl` started in the background (e.g. `observe --follow`) whose standard output
/// lines are collected as they come; ended by its pid on drop.
pub struct Streaming {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Streaming {
    pub fn spawn(mut cmd: Command) -> Streaming {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Streaming { child, lines }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(2));
    }
}
