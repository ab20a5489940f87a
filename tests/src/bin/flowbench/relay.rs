//! The `relay` stage: fan-in from four flowd nodes through one flowrelay to one drain client.
//!
//! Four flowd (`node-0` … `node-3`) listen on loopback; `node-0`'s Peer service announces
//! the others (`--peer NAME=HOST:PORT`) and flowrelay finds them all through it
//! (`--peer-service`). This process feeds every node's access-log socket, round robin, with
//! the workload's L7 records, each stamped at send time (the flow's time) and numbered per
//! node (in its `X-Request-Id`), and a protobuf drain client follows GetFlows through the
//! relay: every flow is accounted for by node and number, so a missing one is seen exactly.
//!
//! - A fixed-rate step measures the relay's CPU per flow (`/proc/<pid>/stat`) and latency:
//!   flow time -> received through the relay (every node), the same for a direct client
//!   on `node-0` running alongside, and the latency the relay adds (`node-0`'s flows: received
//!   through the relay minus received by the direct client, flow by flow).
//! - A bounded search (a ladder of total rates up to the first failing step, then two
//!   bisections) finds the highest total rate at which every flow of every node arrives, no
//!   LostEvents or node errors come, and the client keeps up with what was offered (95% of
//!   the step's flows arrived by the end of its sending). The fixed-rate step counts too.
//!
//! `FLOWBENCH_RELAY=/path/to/flowrelay` and `FLOWBENCH_FLOWD=/path/to/flowd` measure other
//! binaries with the same harness; `FLOWBENCH_RELAY_ARGS="--sort-buffer-len-max=10 ..."`
//! adds flowrelay flags (the sort buffer's defaults otherwise).

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use flowscope_proto::cilium::{LogEntry, log_entry};
use flowscope_proto::flow::layer7::Record;
use flowscope_proto::relay::NodeState;

use super::*;

const NODES: usize = 4;
/// Seconds each step offers its rate for.
const STEP_SECS: f64 = 2.0;
/// Total offered rates (flows/s over all nodes), climbed until a step fails.
const LADDER: [f64; 9] = [
    10_000.0, 25_000.0, 50_000.0, 100_000.0, 150_000.0, 200_000.0, 250_000.0, 300_000.0, 400_000.0,
];
/// Halvings of the interval between the last passing and the first failing rate.
const BISECTIONS: usize = 2;
/// The total rate of the CPU and latency step: one the relay keeps up with, so that the
/// latency is the relay's and not a backlog's.
const FIXED_RATE: f64 = 20_000.0;
/// A step keeps up when, by the end of its sending, this share of what was sent has arrived.
const KEEP_UP: f64 = 0.95;
/// flowd's ring (flows a slow follower may lag behind before it is overtaken).
const BUFFER_CAPACITY: u64 = 65_535;
/// Distinct records each node cycles through.
const TEMPLATES: usize = 1024;
/// The per-node number, in the request id: this prefix and 16 decimal digits.
const SEQ_PREFIX: &str = "fbseq-";
const SEQ_DIGITS: usize = 16;
const REQUEST_ID: &str = "x-request-id";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Records: the workload's L7 entries, re-stamped and numbered in place at send time.

/// One serialized `cilium.LogEntry` whose timestamp (field 1, first, a 9-byte varint) and
/// request-id digits can be overwritten without encoding it again.
struct Template {
    bytes: Vec<u8>,
    seq_at: usize,
}

/// Writes `v` as a 9-byte varint (every value from 2^56 to 2^63 takes exactly 9 bytes).
fn put_varint9(out: &mut [u8], v: u64) {
    for (i, b) in out.iter_mut().enumerate().take(9) {
        let bits = (v >> (7 * i)) as u8 & 0x7f;
        *b = if i < 8 { bits | 0x80 } else { bits };
    }
}

fn put_seq(out: &mut [u8], mut seq: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (seq % 10) as u8;
        seq /= 10;
    }
}

fn templates() -> Vec<Template> {
    let placeholder = format!("{SEQ_PREFIX}{}", "0".repeat(SEQ_DIGITS));
    workload::events(Mix::L7, TEMPLATES, SEED ^ 11)
        .iter()
        .map(|e| {
            let mut entry = LogEntry::decode(e.bytes.as_slice()).expect("workload LogEntry");
            entry.timestamp = workload::T0_NS;
            let Some(log_entry::L7::Http(http)) = entry.l7.as_mut() else {
                panic!("workload L7 records are HTTP");
            };
            let id = http
                .headers
                .iter_mut()
                .find(|h| h.key.eq_ignore_ascii_case(REQUEST_ID))
                .expect("workload records carry a request id");
            id.value = placeholder.clone();
            let bytes = entry.encode_to_vec();
            // prost writes fields in number order: the timestamp (tag 0x08) comes first.
            assert_eq!(bytes[0], 0x08, "timestamp first");
            assert!(bytes[1..9].iter().all(|b| b & 0x80 != 0) && bytes[9] & 0x80 == 0);
            let seq_at = bytes
                .windows(placeholder.len())
                .position(|w| w == placeholder.as_bytes())
                .expect("placeholder in the record")
                + SEQ_PREFIX.len();
            let t = Template { bytes, seq_at };
            // The in-place edit gives the record an encoder would.
            let mut check = Vec::new();
            t.stamp(&mut check, 42, wall_ns());
            let back = LogEntry::decode(check.as_slice()).expect("stamped record decodes");
            assert_eq!(seq_of_entry(&back), Some(42));
            t
        })
        .collect()
}

impl Template {
    fn stamp(&self, out: &mut Vec<u8>, seq: u64, time_ns: u64) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        put_varint9(&mut out[1..10], time_ns);
        put_seq(&mut out[self.seq_at..self.seq_at + SEQ_DIGITS], seq);
    }
}

fn parse_seq(value: &str) -> Option<u64> {
    value.strip_prefix(SEQ_PREFIX)?.parse().ok()
}

fn seq_of_entry(e: &LogEntry) -> Option<u64> {
    let Some(log_entry::L7::Http(http)) = e.l7.as_ref() else {
        return None;
    };
    let h = http.headers.iter().find(|h| h.key == REQUEST_ID)?;
    parse_seq(&h.value)
}

fn seq_of_flow(f: &Flow) -> Option<u64> {
    let Some(Record::Http(http)) = f.l7.as_ref()?.record.as_ref() else {
        return None;
    };
    let h = http
        .headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(REQUEST_ID))?;
    parse_seq(&h.value)
}

// ---------------------------------------------------------------------------------------------
// What a client received, flow by flow.

/// Per node, indexed by the flow's number: when it arrived and its latency from the flow's
/// time (wall-clock µs; 0: not arrived).
#[derive(Default)]
struct NodeSeen {
    recv_us: Vec<f64>,
    e2e_us: Vec<f64>,
    duplicates: usize,
}

struct Tracker {
    nodes: Vec<String>,
    seen: Mutex<Vec<NodeSeen>>,
    flows: AtomicUsize,
    lost_events: AtomicUsize,
    /// Flows without a node or number of ours, and NODE_ERROR / NODE_UNAVAILABLE statuses.
    strays: AtomicUsize,
    node_errors: AtomicUsize,
    stop: AtomicBool,
}

impl Tracker {
    fn new(nodes: &[String]) -> Arc<Tracker> {
        Arc::new(Tracker {
            nodes: nodes.to_vec(),
            seen: Mutex::new(nodes.iter().map(|_| NodeSeen::default()).collect()),
            flows: AtomicUsize::new(0),
            lost_events: AtomicUsize::new(0),
            strays: AtomicUsize::new(0),
            node_errors: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Records one response; false once the client should stop.
    fn record(&self, resp: &GetFlowsResponse) -> bool {
        let now_us = wall_ns() as f64 / 1e3;
        match &resp.response_types {
            Some(ResponseTypes::Flow(f)) => {
                let node = self.nodes.iter().position(|n| *n == f.node_name);
                match (node, seq_of_flow(f)) {
                    (Some(node), Some(seq)) => {
                        let t = f
                            .time
                            .as_ref()
                            .map_or(0.0, |t| t.seconds as f64 * 1e6 + f64::from(t.nanos) / 1e3);
                        let mut seen = lock(&self.seen);
                        let s = &mut seen[node];
                        let i = usize::try_from(seq).unwrap_or(usize::MAX);
                        if s.recv_us.len() <= i {
                            s.recv_us.resize(i + 1, 0.0);
                            s.e2e_us.resize(i + 1, 0.0);
                        }
                        if s.recv_us[i] > 0.0 {
                            s.duplicates += 1;
                        } else {
                            s.recv_us[i] = now_us;
                            s.e2e_us[i] = (now_us - t).max(0.0);
                        }
                        self.flows.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        self.strays.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Some(ResponseTypes::LostEvents(_)) => {
                self.lost_events.fetch_add(1, Ordering::Relaxed);
            }
            Some(ResponseTypes::NodeStatus(s))
                if s.state_change == NodeState::NodeError as i32
                    || s.state_change == NodeState::NodeUnavailable as i32 =>
            {
                self.node_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        !self.stop.load(Ordering::Relaxed)
    }

    fn follow(self: &Arc<Self>, server: String) {
        let me = self.clone();
        drain::follow_flows(server, move |resp| me.record(resp));
    }

    /// Flows of `node` numbered `range` that arrived, and the arrival times of those that did.
    fn arrived(&self, node: usize, range: std::ops::Range<u64>) -> Vec<(u64, f64, f64)> {
        let seen = lock(&self.seen);
        let s = &seen[node];
        range
            .filter_map(|seq| {
                let i = usize::try_from(seq).ok()?;
                let r = *s.recv_us.get(i)?;
                (r > 0.0).then(|| (seq, r, s.e2e_us[i]))
            })
            .collect()
    }

    fn counters(&self) -> (usize, usize, usize) {
        (
            self.lost_events.load(Ordering::Relaxed),
            self.node_errors.load(Ordering::Relaxed),
            lock(&self.seen).iter().map(|s| s.duplicates).sum(),
        )
    }

    /// Waits until nothing has arrived for 1.5 s (at most 30 s).
    fn settle(&self) {
        let mut last = usize::MAX;
        let mut still_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(30);
        while still_since.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            let now = self.flows.load(Ordering::Relaxed);
            if now != last {
                last = now;
                still_since = Instant::now();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster: four flowd, the relay, and the feeders.

fn relay_binary() -> PathBuf {
    std::env::var_os("FLOWBENCH_RELAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| exe_dir().join("flowrelay"))
}

/// The relay's flags: its Peer service and address, its own health server turned off when
/// it has one (it would take a fixed port), and `FLOWBENCH_RELAY_ARGS`.
fn relay_args(binary: &Path, peer_service: u16, listen: u16) -> Vec<String> {
    let help = Command::new(binary)
        .arg("--help")
        .output()
        .expect("flowrelay (build it: cargo build --release -p flowscope-relay)");
    let help = String::from_utf8_lossy(&help.stdout);
    let mut args = vec![
        format!("--peer-service=127.0.0.1:{peer_service}"),
        format!("--listen-address=127.0.0.1:{listen}"),
    ];
    for off in ["--health-listen-address", "--metrics-listen-address"] {
        if help.contains(off) {
            args.push(format!("{off}="));
        }
    }
    if let Ok(extra) = std::env::var("FLOWBENCH_RELAY_ARGS") {
        args.extend(extra.split_whitespace().map(str::to_string));
    }
    args
}

struct Cluster {
    _flowd: Vec<Proc>,
    relay: Proc,
    relay_args: Vec<String>,
    ports: Vec<u16>,
    relay_port: u16,
    producers: Vec<Producer>,
    names: Vec<String>,
}

fn start_cluster(dir: &Path) -> Cluster {
    let state = dir.join("state.yaml");
    std::fs::write(&state, workload::cluster_yaml()).unwrap();
    let names: Vec<String> = (0..NODES).map(|i| format!("node-{i}")).collect();
    let ports: Vec<u16> = (0..NODES).map(|_| flowscope_tests::free_port()).collect();
    let mut flowd = Vec::new();
    let mut sockets = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let access_log = dir.join(format!("access_log-{i}.sock"));
        let mut cmd = Command::new(mix::flowd_binary());
        cmd.arg(format!("--listen-address=127.0.0.1:{}", ports[i]))
            .args(["--unix-socket=", "--metrics-address="])
            .arg(format!("--node-name={name}"))
            .arg(format!("--access-log-socket={}", access_log.display()))
            .arg(format!("--state={}", state.display()))
            .arg(format!("--buffer-capacity={BUFFER_CAPACITY}"));
        if i == 0 {
            for (j, other) in names.iter().enumerate().skip(1) {
                cmd.arg(format!("--peer={other}=127.0.0.1:{}", ports[j]));
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("flowd-{i}.log"))).unwrap())
            .spawn()
            .expect("flowd (build it: cargo build --release -p flowscope-server)");
        flowd.push(Proc { child });
        sockets.push(access_log);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sockets.iter().all(|s| s.exists()) {
        assert!(Instant::now() < deadline, "flowd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let producers = sockets
        .iter()
        .map(|s| Producer::connect(s).unwrap())
        .collect();
    let relay_port = flowscope_tests::free_port();
    let binary = relay_binary();
    let relay_args = relay_args(&binary, ports[0], relay_port);
    let relay = Proc {
        child: Command::new(&binary)
            .args(&relay_args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("flowrelay.log")).unwrap())
            .spawn()
            .unwrap(),
    };
    let cluster = Cluster {
        _flowd: flowd,
        relay,
        relay_args,
        ports,
        relay_port,
        producers,
        names,
    };
    cluster.wait_connected();
    cluster
}

impl Cluster {
    fn relay_server(&self) -> String {
        format!("127.0.0.1:{}", self.relay_port)
    }

    /// Waits until the relay reports every node connected (at most 30 s).
    fn wait_connected(&self) {
        let server = self.relay_server();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let connected = rt.block_on(async {
                let mut c = flowscope_cli::client::connect(&server).await.ok()?;
                let st = c
                    .server_status(flowscope_proto::observer::ServerStatusRequest {})
                    .await
                    .ok()?
                    .into_inner();
                st.num_connected_nodes.map(|n| n.value as usize)
            });
            if connected == Some(NODES) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "flowrelay did not connect to {NODES} nodes (connected: {connected:?})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Feeds the nodes round robin; numbers each node's records from 0.
struct Feeder {
    templates: Vec<Template>,
    next: Vec<u64>,
    buf: Vec<u8>,
}

impl Feeder {
    fn send(&mut self, c: &Cluster, node: usize) {
        let seq = self.next[node];
        self.next[node] += 1;
        let t = &self.templates[(seq as usize + node * 7) % self.templates.len()];
        t.stamp(&mut self.buf, seq, wall_ns());
        c.producers[node].send(&self.buf).unwrap();
    }

    /// `n` records (over all nodes) at `rate`/s; returns the seconds it took.
    fn offer(&mut self, c: &Cluster, rate: f64, n: usize) -> f64 {
        let start = Instant::now();
        for i in 0..n {
            if i % 16 == 0 {
                pace(start, i as f64, rate);
            }
            self.send(c, i % NODES);
        }
        start.elapsed().as_secs_f64()
    }
}

// ---------------------------------------------------------------------------------------------
// Steps.

struct StepResult {
    rate: f64,
    sent: usize,
    offered_secs: f64,
    /// Flows that arrived by the end of the sending, and in all.
    by_end: usize,
    received: usize,
    missing: usize,
    lost_events: usize,
    node_errors: usize,
    duplicates: usize,
    /// Last arrival after the end of the sending, in ms.
    tail_ms: f64,
    /// Per node: (number, arrival µs, latency from the flow's time µs) of what arrived.
    arrivals: Vec<Vec<(u64, f64, f64)>>,
    relay_cpu: f64,
}

impl StepResult {
    fn zero_loss(&self) -> bool {
        self.missing == 0 && self.lost_events == 0 && self.node_errors == 0
    }
    /// Every flow arrived, and the client kept up with the rate actually offered, which was
    /// the rate asked for.
    fn passed(&self) -> bool {
        let offered = self.sent as f64 / self.offered_secs;
        self.zero_loss()
            && offered >= KEEP_UP * self.rate
            && self.by_end as f64 >= KEEP_UP * self.sent as f64
    }
    /// Flows received per second of sending, counting those that arrived by its end.
    fn achieved(&self) -> f64 {
        self.by_end as f64 / self.offered_secs
    }
}

fn run_step(c: &Cluster, feeder: &mut Feeder, t: &Tracker, rate: f64) -> StepResult {
    t.settle();
    let n = (rate * STEP_SECS) as usize;
    let bases = feeder.next.clone();
    let (lost0, err0, dup0) = t.counters();
    let cpu0 = cpu_seconds(c.relay.child.id());
    let offered_secs = feeder.offer(c, rate, n);
    let end_us = wall_ns() as f64 / 1e3;
    t.settle();
    let relay_cpu = cpu_seconds(c.relay.child.id()) - cpu0;
    let arrivals: Vec<Vec<(u64, f64, f64)>> = (0..NODES)
        .map(|i| t.arrived(i, bases[i]..feeder.next[i]))
        .collect();
    let received: usize = arrivals.iter().map(Vec::len).sum();
    let by_end = arrivals
        .iter()
        .flatten()
        .filter(|(_, r, _)| *r <= end_us)
        .count();
    let last = arrivals
        .iter()
        .flatten()
        .map(|(_, r, _)| *r)
        .fold(end_us, f64::max);
    let (lost1, err1, dup1) = t.counters();
    StepResult {
        rate,
        sent: n,
        offered_secs,
        by_end,
        received,
        missing: n - received,
        lost_events: lost1 - lost0,
        node_errors: err1 - err0,
        duplicates: dup1 - dup0,
        tail_ms: (last - end_us) / 1e3,
        arrivals,
        relay_cpu,
    }
}

fn step_row(s: &StepResult) -> Value {
    let per_node: Vec<String> = s.arrivals.iter().map(|a| a.len().to_string()).collect();
    row(
        "relay",
        &format!("{:.0}/s offered: flows/s received", s.rate),
        s.achieved(),
        "flows/s",
        &format!(
            "{} records to {NODES} nodes in {:.2} s; {} arrived by the end of sending, {} in all (per node {}), {} missing, {} LostEvents, {} node errors, {} duplicates; last arrival {:.0} ms after sending ended{}",
            s.sent,
            s.offered_secs,
            s.by_end,
            s.received,
            per_node.join("/"),
            s.missing,
            s.lost_events,
            s.node_errors,
            s.duplicates,
            s.tail_ms,
            if s.passed() {
                ""
            } else if s.zero_loss() {
                " (did not keep up)"
            } else {
                " (loss)"
            }
        ),
    )
}

fn latency_row(name: &str, mut lat: Vec<f64>, what: &str) -> Value {
    lat.sort_by(f64::total_cmp);
    row(
        "relay",
        &format!("{FIXED_RATE:.0}/s: {name} p50 / p99"),
        pct(&lat, 0.5),
        "µs (p50)",
        &format!(
            "p99 {:.0} µs, max {:.0} µs over {} flows ({what})",
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            lat.len()
        ),
    )
}

/// The fixed-rate step, with a direct client on `node-0`: CPU per flow and latencies; and
/// the rate received if the step passed.
fn fixed_step(c: &Cluster, feeder: &mut Feeder, t: &Tracker) -> (Vec<Value>, f64) {
    let direct = Tracker::new(&c.names[..1]);
    direct.follow(format!("127.0.0.1:{}", c.ports[0]));
    // The direct client follows once it has seen node-0's flows.
    let deadline = Instant::now() + Duration::from_secs(20);
    while direct.flows.load(Ordering::Relaxed) < 5 {
        assert!(
            Instant::now() < deadline,
            "the direct client did not follow"
        );
        feeder.send(c, 0);
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = run_step(c, feeder, t, FIXED_RATE);
    direct.stop.store(true, Ordering::Relaxed);
    let from = s.arrivals[0].first().map_or(0, |a| a.0);
    let to = feeder.next[0];
    let direct_arrivals = direct.arrived(0, from..to);
    let mut rows = vec![step_row(&s)];
    rows.push(row(
        "relay",
        &format!("{FIXED_RATE:.0}/s: relay CPU per flow"),
        s.relay_cpu * 1e6 / s.received.max(1) as f64,
        "µs CPU/flow",
        &format!(
            "{:.2} s of flowrelay CPU (user+system) for {} flows",
            s.relay_cpu, s.received
        ),
    ));
    let through: Vec<f64> = s.arrivals.iter().flatten().map(|a| a.2).collect();
    rows.push(latency_row(
        "latency through the relay",
        through,
        "flow time (record sent) -> received through flowrelay, all nodes",
    ));
    rows.push(latency_row(
        "latency direct from node-0",
        direct_arrivals.iter().map(|a| a.2).collect(),
        "flow time (record sent) -> received by a direct client of node-0",
    ));
    let direct_at: std::collections::HashMap<u64, f64> =
        direct_arrivals.iter().map(|a| (a.0, a.1)).collect();
    let added: Vec<f64> = s.arrivals[0]
        .iter()
        .filter_map(|a| direct_at.get(&a.0).map(|d| a.1 - d))
        .collect();
    rows.push(latency_row(
        "latency added by the relay",
        added,
        "node-0's flows: received through flowrelay minus received by the direct client",
    ));
    (rows, if s.passed() { s.achieved() } else { 0.0 })
}

/// The ladder up to the first failing rate, then bisections: every step's row.
fn search(c: &Cluster, feeder: &mut Feeder, t: &Tracker) -> (Vec<Value>, f64) {
    let mut rows = Vec::new();
    let mut best = 0.0f64;
    let mut record = |s: &StepResult, rows: &mut Vec<Value>| {
        rows.push(step_row(s));
        if s.passed() {
            best = best.max(s.achieved());
        }
        s.passed()
    };
    let mut pass = 0.0;
    let mut fail = None;
    for rate in LADDER {
        let s = run_step(c, feeder, t, rate);
        if record(&s, &mut rows) {
            pass = rate;
        } else {
            fail = Some(rate);
            break;
        }
    }
    if let Some(mut fail) = fail {
        for _ in 0..BISECTIONS {
            let rate = ((pass + fail) / 2.0 / 1000.0).round() * 1000.0;
            let s = run_step(c, feeder, t, rate);
            if record(&s, &mut rows) {
                pass = rate;
            } else {
                fail = rate;
            }
        }
    }
    (rows, best)
}

pub fn bench_relay() -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("flowbench-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let c = start_cluster(&dir);
    let t = Tracker::new(&c.names);
    t.follow(c.relay_server());
    let mut feeder = Feeder {
        templates: templates(),
        next: vec![0; NODES],
        buf: Vec::with_capacity(1024),
    };
    // Warm-up: the drain follows once every node's flows arrive (a quiet stream leaves the
    // sort buffer after its drain timeout).
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..NODES).any(|i| t.arrived(i, 0..feeder.next[i]).len() < 5) {
        assert!(Instant::now() < deadline, "the drain client did not follow");
        for i in 0..NODES {
            feeder.send(&c, i);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut rows, fixed) = fixed_step(&c, &mut feeder, &t);
    let (search_rows, best) = search(&c, &mut feeder, &t);
    let best = best.max(fixed);
    rows.extend(search_rows);
    rows.push(row(
        "relay",
        "highest zero-loss rate received",
        best,
        "flows/s",
        &format!(
            "{NODES} flowd -> flowrelay -> 1 drain client; flowrelay {} {}; flowd {} --buffer-capacity={BUFFER_CAPACITY}; {} flows without a node or number of ours; load average before the stage {load}",
            relay_binary().display(),
            c.relay_args[2..].join(" "),
            mix::flowd_binary().display(),
            t.strays.load(Ordering::Relaxed)
        ),
    ));
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stamped record is the workload's record with our number and time, as flowd reads it.
    #[test]
    fn stamped_records_decode_with_their_number_and_time() {
        let templates = templates();
        let st = state();
        let mut parser = L7Parser::new(RedactOptions::default());
        let mut buf = Vec::new();
        let now = wall_ns();
        for (i, seq) in [0u64, 7, 123_456_789, 9_999_999_999_999_999]
            .into_iter()
            .enumerate()
        {
            let time = now + i as u64 * 1_000_003;
            templates[i].stamp(&mut buf, seq, time);
            let entry = LogEntry::decode(buf.as_slice()).unwrap();
            assert_eq!(entry.timestamp, time);
            let flow = parser.decode(&buf, &st).unwrap().to_proto();
            assert_eq!(seq_of_flow(&flow), Some(seq));
            let t = flow.time.unwrap();
            assert_eq!(t.seconds as u64 * 1_000_000_000 + t.nanos as u64, time);
        }
    }
}
