//! The benchmark workload (issue 6): a fixed, seeded cluster model and an event stream of the
//! real wire bytes each source receives. Deterministic: the same seed gives the same bytes.
//!
//! - 16 local apps × 4 replicas = 64 local pods, identities 20000-20015, IPs 10.244.1.1-64,
//!   endpoint IDs 100-163;
//! - 192 remote pods in 48 identities (30000-30047, 4 pods each), IPs 10.244.2.1 upward;
//! - 8 namespaces (`ns-0` … `ns-7`), 7 labels per pod; plus `world` (any other IP);
//! - events: 80% TraceNotify v1, 10% DropNotify v2 (POLICY_DENIED), 10% L7 HTTP
//!   request/response pairs (serialized `cilium.LogEntry`, with an X-Request-Id and a few
//!   common headers). Also the pure variants.

use flowscope_proto::cilium::EntryType;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_server::parser::l34::build::{DropRecord, Ip4, L4Spec, TraceRecord, ether_ipv4};
use prost::Message;

pub const LOCAL_APPS: u32 = 16;
pub const REPLICAS: u32 = 4;
pub const LOCAL_PODS: u32 = LOCAL_APPS * REPLICAS;
pub const REMOTE_IDENTITIES: u32 = 48;
pub const REMOTE_PODS: u32 = 192;
pub const NAMESPACES: u32 = 8;
pub const NODE_NAME: &str = "bench-node";
/// Cilium's DROP_POLICY (POLICY_DENIED).
pub const DROP_POLICY_DENIED: u8 = 133;
/// 2023-08-23T15:43:26Z, the first event's time (L7 entries carry their own timestamp).
pub const T0_NS: u64 = 1_692_805_406_000_000_000;

/// What source an event comes from, and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A TraceNotify monitor record (datapath perf ring).
    Trace,
    /// A DropNotify monitor record (datapath perf ring).
    Drop,
    /// A serialized `cilium.LogEntry` (access-log socket): HTTP request or response.
    L7,
}

/// One event: its kind and its wire bytes.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

/// Which events a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// 80% trace, 10% drop, 10% L7 (request/response pairs).
    Mix,
    Trace,
    Drop,
    L7,
}

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Mix => "mix",
            Mix::Trace => "trace",
            Mix::Drop => "drop",
            Mix::L7 => "l7",
        }
    }
}

/// SplitMix64: small, seeded, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// A pod of the model.
#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub app: String,
    pub ip: [u8; 4],
    pub identity: u32,
    /// Local pods only.
    pub endpoint_id: Option<u16>,
}

/// The 64 local pods, in IP order.
pub fn local_pods() -> Vec<Pod> {
    (0..LOCAL_PODS)
        .map(|i| {
            let app = i / REPLICAS;
            let replica = i % REPLICAS;
            Pod {
                name: format!(
                    "svc-{app}-{:08x}-{replica:05}",
                    app.wrapping_mul(0x9e37_79b1)
                ),
                namespace: format!("ns-{}", app % NAMESPACES),
                app: format!("svc-{app}"),
                ip: [10, 244, 1, (i + 1) as u8],
                identity: 20000 + app,
                endpoint_id: Some(100 + i as u16),
            }
        })
        .collect()
}

/// The 192 remote pods (4 per identity), from 10.244.2.1 upward.
pub fn remote_pods() -> Vec<Pod> {
    (0..REMOTE_PODS)
        .map(|i| {
            let app = i / (REMOTE_PODS / REMOTE_IDENTITIES);
            let replica = i % (REMOTE_PODS / REMOTE_IDENTITIES);
            Pod {
                name: format!(
                    "remote-{app}-{:08x}-{replica:05}",
                    app.wrapping_mul(0x85eb_ca6b)
                ),
                namespace: format!("ns-{}", app % NAMESPACES),
                app: format!("remote-{app}"),
                ip: [10, 244, 2 + (i / 250) as u8, (i % 250 + 1) as u8],
                identity: 30000 + app,
                endpoint_id: None,
            }
        })
        .collect()
}

fn labels(p: &Pod) -> Vec<String> {
    vec![
        format!("k8s:app={}", p.app),
        "k8s:app.kubernetes.io/part-of=shop".to_string(),
        "k8s:version=v1".to_string(),
        format!("k8s:io.kubernetes.pod.namespace={}", p.namespace),
        "k8s:io.cilium.k8s.policy.cluster=default".to_string(),
        format!("k8s:io.cilium.k8s.policy.serviceaccount={}", p.app),
        format!(
            "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={}",
            p.namespace
        ),
    ]
}

fn ip_str(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// The cluster-state file (flowd `--state`) of the model.
pub fn cluster_yaml() -> String {
    let mut s = format!("node_name: {NODE_NAME}\ncluster_name: default\nendpoints:\n");
    for p in local_pods().iter().chain(remote_pods().iter()) {
        s.push_str(&format!("  - name: {}\n", p.name));
        s.push_str(&format!("    namespace: {}\n", p.namespace));
        let l: Vec<String> = labels(p).iter().map(|l| format!("\"{l}\"")).collect();
        s.push_str(&format!("    labels: [{}]\n", l.join(", ")));
        s.push_str(&format!("    ips: [{}]\n", ip_str(p.ip)));
        if let Some(id) = p.endpoint_id {
            s.push_str(&format!("    endpoint_id: {id}\n"));
        }
        s.push_str(&format!("    workload: {}\n", p.app));
        s.push_str(&format!("    identity: {}\n", p.identity));
    }
    s
}

const METHODS: [&str; 4] = ["GET", "GET", "GET", "POST"];
const PATHS: [&str; 6] = [
    "/api/v1/products",
    "/api/v1/cart",
    "/api/v1/checkout",
    "/healthz",
    "/api/v1/reviews/1234",
    "/static/app.js",
];
const STATUSES: [u32; 8] = [200, 200, 200, 200, 200, 201, 404, 503];

/// The event stream generator: call [`Generator::push`] until you have enough events.
pub struct Generator {
    rng: Rng,
    mix: Mix,
    local: Vec<Pod>,
    remote: Vec<Pod>,
    seq: u64,
}

impl Generator {
    pub fn new(mix: Mix, seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            mix,
            local: local_pods(),
            remote: remote_pods(),
            seq: 0,
        }
    }

    /// A peer for a local pod: mostly another pod (local or remote), sometimes `world`.
    fn peer(&mut self) -> ([u8; 4], u32) {
        match self.rng.below(20) {
            0 => ([203, 0, 113, (self.rng.below(250) + 1) as u8], 2),
            1..=7 => {
                let p = &self.local[self.rng.below(LOCAL_PODS) as usize];
                (p.ip, p.identity)
            }
            _ => {
                let p = &self.remote[self.rng.below(REMOTE_PODS) as usize];
                (p.ip, p.identity)
            }
        }
    }

    fn trace(&mut self) -> Event {
        let me = self.local[self.rng.below(LOCAL_PODS) as usize].clone();
        let (peer_ip, peer_id) = self.peer();
        let egress = self.rng.below(2) == 0;
        let sport = 32768 + self.rng.below(28000) as u16;
        let dport = [80u16, 8080, 443, 5432][self.rng.below(4) as usize];
        let flags = [0x02u8, 0x12, 0x10, 0x18, 0x11][self.rng.below(5) as usize];
        let reply = flags == 0x12;
        let (src, dst, src_id, dst_id, sp, dp) = if egress ^ reply {
            (me.ip, peer_ip, me.identity, peer_id, sport, dport)
        } else {
            (peer_ip, me.ip, peer_id, me.identity, dport, sport)
        };
        let l4 = if self.rng.below(10) == 0 {
            L4Spec::Udp { src: sp, dst: 53 }
        } else {
            L4Spec::Tcp {
                src: sp,
                dst: dp,
                flags,
            }
        };
        let packet = ether_ipv4(Ip4::new(src, dst), l4);
        let rec = TraceRecord {
            version: 1,
            // TRACE_FROM_LXC (5) on egress, TRACE_TO_LXC (0) on ingress.
            obs_point: if egress { 5 } else { 0 },
            source: me.endpoint_id.unwrap_or(0),
            src_label: src_id,
            dst_label: dst_id,
            dst_id: if egress {
                0
            } else {
                me.endpoint_id.unwrap_or(0)
            },
            reason: if reply { 2 } else { 1 },
            flags: 0,
            ifindex: 10 + u32::from(me.ip[3]),
            ..Default::default()
        };
        Event {
            kind: Kind::Trace,
            bytes: rec.record(&packet),
        }
    }

    fn drop(&mut self) -> Event {
        let me = self.local[self.rng.below(LOCAL_PODS) as usize].clone();
        let (peer_ip, peer_id) = self.peer();
        let sport = 32768 + self.rng.below(28000) as u16;
        let dport = [80u16, 8080, 443, 5432][self.rng.below(4) as usize];
        let packet = ether_ipv4(
            Ip4::new(peer_ip, me.ip),
            L4Spec::Tcp {
                src: sport,
                dst: dport,
                flags: 0x02,
            },
        );
        let rec = DropRecord {
            version: 2,
            reason: DROP_POLICY_DENIED,
            source: me.endpoint_id.unwrap_or(0),
            src_label: peer_id,
            dst_label: me.identity,
            dst_id: 0,
            line: 1845,
            file: 1,
            ifindex: 10 + u32::from(me.ip[3]),
            ..Default::default()
        };
        Event {
            kind: Kind::Drop,
            bytes: rec.record(&packet),
        }
    }

    /// An HTTP request and its response (same X-Request-Id and addresses).
    fn l7_pair(&mut self) -> [Event; 2] {
        let client = self.local[self.rng.below(LOCAL_PODS) as usize].clone();
        let server = if self.rng.below(2) == 0 {
            self.local[self.rng.below(LOCAL_PODS) as usize].clone()
        } else {
            self.remote[self.rng.below(REMOTE_PODS) as usize].clone()
        };
        let src = format!("{}:{}", ip_str(client.ip), 32768 + self.rng.below(28000));
        let dst = format!("{}:8080", ip_str(server.ip));
        let method = METHODS[self.rng.below(4) as usize];
        let path = PATHS[self.rng.below(6) as usize];
        let status = STATUSES[self.rng.below(8) as usize];
        let host = format!("{}.{}.svc", server.app, server.namespace);
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        );
        let t = T0_NS + self.seq * 10_000;
        let latency = 200_000 + u64::from(self.rng.below(5_000_000));
        let req_headers = [
            ("x-request-id", request_id.as_str()),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("x-forwarded-proto", "http"),
        ];
        let req = http_entry(
            EntryType::Request,
            t,
            &src,
            client.identity,
            &dst,
            server.identity,
            method,
            &host,
            path,
            0,
            &req_headers,
        );
        let resp_headers = [
            ("x-request-id", request_id.as_str()),
            ("content-type", "application/json"),
            ("server", "envoy"),
        ];
        let resp = http_entry(
            EntryType::Response,
            t + latency,
            &src,
            client.identity,
            &dst,
            server.identity,
            method,
            &host,
            path,
            status,
            &resp_headers,
        );
        [
            Event {
                kind: Kind::L7,
                bytes: req.encode_to_vec(),
            },
            Event {
                kind: Kind::L7,
                bytes: resp.encode_to_vec(),
            },
        ]
    }

    /// Appends the next event(s) (an L7 pair is two) to `out`.
    pub fn push(&mut self, out: &mut Vec<Event>) {
        self.seq += 1;
        match self.mix {
            Mix::Trace => out.push(self.trace()),
            Mix::Drop => out.push(self.drop()),
            Mix::L7 => out.extend(self.l7_pair()),
            // Out of 19 draws: 16 traces, 2 drops, 1 pair (2 events): 16/2/2 of 20 events.
            Mix::Mix => match self.rng.below(19) {
                0..=15 => out.push(self.trace()),
                16 | 17 => out.push(self.drop()),
                _ => out.extend(self.l7_pair()),
            },
        }
    }
}

/// `n` events (exactly) of `mix`, from `seed`.
pub fn events(mix: Mix, n: usize, seed: u64) -> Vec<Event> {
    let mut g = Generator::new(mix, seed);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        g.push(&mut out);
    }
    out.truncate(n);
    out
}

/// The default seed of the benchmark.
pub const SEED: u64 = 0x5eed_f10e;

/// Reads the monitor corpus (`events.bin`): `(kind, record)` with kind 0 = trace, 1 = drop.
pub fn read_corpus(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= bytes.len() {
        let kind = bytes[i];
        let len =
            u32::from_le_bytes([bytes[i + 1], bytes[i + 2], bytes[i + 3], bytes[i + 4]]) as usize;
        i += 5;
        if i + len > bytes.len() {
            break;
        }
        out.push((kind, bytes[i..i + len].to_vec()));
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::Verdict;
    use flowscope_proto::types::Timestamp;
    use flowscope_server::identity::ClusterState;
    use flowscope_server::parser::l7::{L7Parser, RedactOptions};
    use flowscope_server::parser::l34::L34Parser;

    #[test]
    fn deterministic_and_in_proportion() {
        let a = events(Mix::Mix, 20_000, SEED);
        let b = events(Mix::Mix, 20_000, SEED);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes));
        let count = |k| a.iter().filter(|e| e.kind == k).count() as f64 / a.len() as f64;
        assert!((count(Kind::Trace) - 0.8).abs() < 0.02);
        assert!((count(Kind::Drop) - 0.1).abs() < 0.02);
        assert!((count(Kind::L7) - 0.1).abs() < 0.02);
    }

    #[test]
    fn every_event_decodes_enriched() {
        let state = ClusterState::parse(&cluster_yaml()).expect("state");
        assert_eq!(state.endpoints().len(), (LOCAL_PODS + REMOTE_PODS) as usize);
        let mut l34 = L34Parser::new();
        let mut l7 = L7Parser::new(RedactOptions::default());
        let t = Timestamp {
            seconds: (T0_NS / 1_000_000_000) as i64,
            nanos: 0,
        };
        for e in events(Mix::Mix, 2_000, SEED) {
            let f = match e.kind {
                Kind::L7 => l7.parse_bytes(&e.bytes, &state).expect("l7"),
                _ => l34.decode_flow(&e.bytes, t, &state).expect("l34"),
            };
            let src = f.source.as_ref().expect("source");
            let dst = f.destination.as_ref().expect("destination");
            assert!(src.identity != 0 && dst.identity != 0, "{f:?}");
            assert!(
                !src.namespace.is_empty() || !dst.namespace.is_empty(),
                "{f:?}"
            );
            if e.kind == Kind::Drop {
                assert_eq!(f.verdict, Verdict::Dropped as i32);
            }
        }
    }
}
