//! The `e2e/mix` stage: the workload's 80/10/10 mix through both of flowd's sources at once.
//!
//! A pod namespace sends UDP packets through flowd's tc programs (traces, and drops by an
//! egress deny rule on one port in nine) while this process feeds the L7 tenth of the mix
//! into the access-log socket; a protobuf drain client follows GetFlows and counts what
//! arrives. Each step offers a total rate for two seconds and reports what was received,
//! whether anything was lost (kernel ring, observer queue, or missing at the client), the
//! latency of L7 flows (record sent -> response read) and of datapath flows (decoded by
//! flowd -> response read), and flowd's CPU per flow.
//!
//! `FLOWBENCH_FLOWD=/path/to/flowd` measures another flowd binary with the same harness.

use std::net::UdpSocket;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use flowscope_tests::netns::{Netns, is_root};

use super::*;

/// Seconds each step offers its rate for.
const STEP_SECS: f64 = 2.0;
/// Total offered rates (flows/s); the 50k step also reports latency and CPU per flow.
const RATES: [f64; 7] = [
    10_000.0, 50_000.0, 100_000.0, 200_000.0, 300_000.0, 400_000.0, 500_000.0,
];
/// One UDP packet in this many goes to the denied port.
const DENY_EVERY: u64 = 9;
const CLIENT_IP: &str = "10.202.0.2";
const NODE_IP: &str = "10.202.0.1";

const POLICY: &str = r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench-client, namespace: bench}
spec:
  endpointSelector: {matchLabels: {app: bench-client}}
  egress:
    - toEntities: [all]
  egressDeny:
    - toEntities: [all]
      toPorts: [{ports: [{port: "9999", protocol: UDP}]}]
"#;

/// What the drain client has seen so far.
#[derive(Default)]
struct Seen {
    /// Arrival of every L7 flow, in order.
    l7: Mutex<Vec<Instant>>,
    /// Microseconds from flowd's decode time to arrival, per datapath flow.
    datapath_us: Mutex<Vec<f64>>,
    lost_events: AtomicUsize,
    /// When each flow arrived, in order.
    arrivals: Mutex<Vec<Instant>>,
}

impl Seen {
    fn flows(&self) -> usize {
        lock(&self.l7).len() + lock(&self.datapath_us).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_micros(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e6)
        .unwrap_or(0.0)
}

fn start_mix_drain(grpc: &Path, seen: Arc<Seen>) {
    drain_with(grpc, move |resp| match &resp.response_types {
        Some(ResponseTypes::Flow(f)) if f.l7.is_some() => {
            let now = Instant::now();
            lock(&seen.l7).push(now);
            lock(&seen.arrivals).push(now);
        }
        Some(ResponseTypes::Flow(f)) => {
            lock(&seen.arrivals).push(Instant::now());
            let decoded = f
                .time
                .as_ref()
                .map_or(0.0, |t| t.seconds as f64 * 1e6 + f64::from(t.nanos) / 1e3);
            let now = unix_micros(SystemTime::now());
            lock(&seen.datapath_us).push((now - decoded).max(0.0));
        }
        Some(ResponseTypes::LostEvents(_)) => {
            seen.lost_events.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    });
}

/// `flowbench --udp-send DST RATE COUNT DENY_EVERY`: `COUNT` UDP packets to `DST` at
/// `RATE`/s (port 9, and 9999 for one in `DENY_EVERY`), run inside the pod namespace.
pub fn udp_send(args: &[String]) {
    let dst: std::net::IpAddr = args[0].parse().expect("DST");
    let rate: f64 = args[1].parse().expect("RATE");
    let count: u64 = args[2].parse().expect("COUNT");
    let deny_every: u64 = args[3].parse().expect("DENY_EVERY");
    let sock = UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    let payload = [0x5au8; 64];
    let start = Instant::now();
    for i in 0..count {
        if rate > 0.0 && i % 32 == 0 {
            pace(start, i as f64, rate);
        }
        let port = if deny_every > 0 && i % deny_every == deny_every - 1 {
            9999
        } else {
            9
        };
        // A full socket buffer drops the packet before the datapath sees it: not a flow.
        let _ = sock.send_to(&payload, (dst, port));
    }
}

/// Waits until neither what the client received nor the kernel's event counter (which
/// flowd mirrors every 500 ms) has moved for 1.5 s (at most 30 s).
fn settle(seen: &Seen, metric: &dyn Fn(&str) -> f64) {
    let emitted = r#"flowscope_datapath_events_total{result="emitted"}"#;
    let mut last = (usize::MAX, f64::NAN);
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while still_since.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let now = (seen.flows(), metric(emitted));
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
}

pub fn flowd_binary() -> PathBuf {
    std::env::var_os("FLOWBENCH_FLOWD")
        .map(PathBuf::from)
        .unwrap_or_else(|| exe_dir().join("flowd"))
}

pub fn bench_mix() -> Vec<Value> {
    if !is_root() {
        return vec![row("e2e/mix", "skipped", 0.0, "", "needs root")];
    }
    let (node, client) = pod_lab("fbm", &format!("{CLIENT_IP}/24"), &format!("{NODE_IP}/24"));
    let dir = std::env::temp_dir().join(format!("flowbench-mix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rows = run_lab(&node, &client, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

fn run_lab(node: &Netns, client: &Netns, dir: &Path) -> Vec<Value> {
    let state = dir.join("state.yaml");
    let mut yaml = workload::cluster_yaml();
    yaml.push_str(&format!(
        "  - name: bench-client\n    namespace: bench\n    labels: [\"k8s:app=bench-client\"]\n    ips: [{CLIENT_IP}]\n    endpoint_id: 4000\n    identity: 40000\n"
    ));
    std::fs::write(&state, yaml).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let (grpc, access_log) = (dir.join("hubble.sock"), dir.join("access_log.sock"));
    let port = flowscope_tests::free_port();
    let binary = flowd_binary();
    let flowd = Proc {
        child: node
            .command(binary.to_str().unwrap())
            .args([
                "--listen-address=",
                "--interface=lxc-client",
                "--monitor-aggregation=none",
                "--buffer-capacity=1048575",
            ])
            .arg(format!("--state={}", state.display()))
            .arg(format!("--policy={}", policy.display()))
            .arg(format!("--unix-socket={}", grpc.display()))
            .arg(format!("--access-log-socket={}", access_log.display()))
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("flowd.log")).unwrap())
            .spawn()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(grpc.exists() && access_log.exists()) {
        assert!(Instant::now() < deadline, "flowd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let metric = |name: &str| node_metric(node, port, name);
    let emitted = r#"flowscope_datapath_events_total{result="emitted"}"#;
    let failed = r#"flowscope_datapath_events_total{result="failed"}"#;

    let seen = Arc::new(Seen::default());
    start_mix_drain(&grpc, seen.clone());
    let producer = Producer::connect(&access_log).unwrap();
    let total_l7: usize = RATES.iter().map(|r| (r * STEP_SECS * 0.1) as usize).sum();
    let l7_events = workload::events(Mix::L7, total_l7 + 200, SEED ^ 7);
    // Warm-up: the drain follows once the warm-up flows arrive.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut next = 0;
    while seen.flows() < 10 {
        assert!(Instant::now() < deadline, "the drain client did not follow");
        producer.send(&l7_events[next].bytes).unwrap();
        next += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));

    let mut rows = Vec::new();
    let mut best = 0.0f64;
    let binary_note = binary.display().to_string();
    for rate in RATES {
        let n_l7 = (rate * STEP_SECS * 0.1) as usize;
        let n_udp = (rate * STEP_SECS * 0.9) as u64;
        settle(&seen, &metric);
        let l7_base = lock(&seen.l7).len();
        let arrivals_base = lock(&seen.arrivals).len();
        let dp_base = lock(&seen.datapath_us).len();
        let lost0 = seen.lost_events.load(Ordering::Relaxed);
        let (e0, f0) = (metric(emitted), metric(failed));
        let cpu0 = cpu_seconds(flowd.child.id());
        let start = Instant::now();
        let mut sender = client
            .command(std::env::current_exe().unwrap().to_str().unwrap())
            .args(["--udp-send", NODE_IP])
            .arg(format!("{}", rate * 0.9))
            .arg(n_udp.to_string())
            .arg(DENY_EVERY.to_string())
            .spawn()
            .unwrap();
        let mut sent_at = Vec::with_capacity(n_l7);
        let l7_rate = rate * 0.1;
        for (i, e) in l7_events[next..next + n_l7].iter().enumerate() {
            pace(start, i as f64, l7_rate);
            sent_at.push(Instant::now());
            producer.send(&e.bytes).unwrap();
        }
        next += n_l7;
        let _ = sender.wait();
        let offered_secs = start.elapsed().as_secs_f64();
        settle(&seen, &metric);
        // The step ends when 99.9% of its flows have arrived: a stray late packet of the
        // namespace (neighbour discovery, an ICMP error) does not stretch it.
        let end = {
            let arrivals = lock(&seen.arrivals);
            let step = &arrivals[arrivals_base..];
            let i = (step.len() as f64 * 0.999).ceil() as usize;
            step.get(i.saturating_sub(1)).copied().unwrap_or(start)
        };
        let cpu = cpu_seconds(flowd.child.id()) - cpu0;
        let dp_events = metric(emitted) - e0;
        let kernel_failed = metric(failed) - f0;
        let lost = seen.lost_events.load(Ordering::Relaxed) - lost0;
        let l7_recv: Vec<Instant> = lock(&seen.l7)[l7_base..].to_vec();
        let dp_lat: Vec<f64> = lock(&seen.datapath_us)[dp_base..].to_vec();
        let received = l7_recv.len() + dp_lat.len();
        let expected = dp_events as usize + n_l7;
        // Received over the time from the first packet to the end of the step.
        let achieved = received as f64 / (end - start).as_secs_f64().max(offered_secs);
        let zero_loss = received >= expected && kernel_failed == 0.0 && lost == 0;
        if zero_loss {
            best = best.max(achieved);
        }
        let label = format!("{rate:.0}/s offered");
        rows.push(row(
            "e2e/mix",
            &format!("{label}: flows/s received"),
            achieved,
            "flows/s",
            &format!(
                "{n_udp} UDP packets + {n_l7} L7 records in {offered_secs:.2} s -> {dp_events} datapath events + {n_l7} L7; {received} received ({} L7), {kernel_failed} failed in the kernel ring, {lost} LostEvents{}",
                l7_recv.len(),
                if zero_loss { "" } else { " (loss)" }
            ),
        ));
        if rate == 50_000.0 {
            rows.push(row(
                "e2e/mix",
                &format!("{label}: flowd CPU per flow"),
                cpu * 1e6 / received.max(1) as f64,
                "µs CPU/flow",
                &format!("{cpu:.2} s of flowd CPU (user+system) for {received} flows"),
            ));
            if l7_recv.len() == n_l7 {
                let mut lat: Vec<f64> = l7_recv
                    .iter()
                    .zip(&sent_at)
                    .map(|(r, s)| r.saturating_duration_since(*s).as_secs_f64() * 1e6)
                    .collect();
                lat.sort_by(f64::total_cmp);
                rows.push(row(
                    "e2e/mix",
                    &format!("{label}: L7 latency p50 / p99"),
                    pct(&lat, 0.5),
                    "µs (p50)",
                    &format!(
                        "p99 {:.0} µs, max {:.0} µs (record sent -> response read)",
                        pct(&lat, 0.99),
                        pct(&lat, 1.0)
                    ),
                ));
            }
            let mut lat = dp_lat.clone();
            lat.sort_by(f64::total_cmp);
            rows.push(row(
                "e2e/mix",
                &format!("{label}: datapath latency p50 / p99"),
                pct(&lat, 0.5),
                "µs (p50)",
                &format!(
                    "p99 {:.0} µs, max {:.0} µs (decoded by flowd -> response read)",
                    pct(&lat, 0.99),
                    pct(&lat, 1.0)
                ),
            ));
        }
    }
    rows.push(row(
        "e2e/mix",
        "highest zero-loss rate received",
        best,
        "flows/s",
        &format!("flowd: {binary_note}"),
    ));
    drop(flowd);
    rows
}
