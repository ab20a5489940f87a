//! `decode` rows for DNS: flowd's DNS capture events (a query and its CNAME + A answer, over
//! UDP, between two pods of the workload) decoded into L7 DNS flows.

use flowscope_server::parser::l34::build::{
    self, DST_MAC, Ip4, L4Spec, SRC_MAC, TraceRecord, answer_www_cname_a, query_www_a,
};
use flowscope_server::parser::l34::layout::MSG_FLOWSCOPE_DNS;

use super::*;

/// The capture event of one DNS message between a workload pod and another.
fn capture(query: bool, dns: Vec<u8>) -> Vec<u8> {
    let (client, server) = ([10, 244, 1, 13], [10, 244, 2, 33]);
    let (src, dst, sport, dport) = if query {
        (client, server, 40000, 53)
    } else {
        (server, client, 53, 40000)
    };
    let udp = L4Spec::UdpPayload {
        src: sport,
        dst: dport,
        payload: dns,
    };
    let ip = build::ipv4(Ip4::new(src, dst), udp);
    let mut rec = TraceRecord {
        version: 1,
        obs_point: if query { 5 } else { 0 },
        source: 1,
        ifindex: 4,
        ..Default::default()
    }
    .record(&build::ether(SRC_MAC, DST_MAC, 0x0800, &ip));
    rec[0] = MSG_FLOWSCOPE_DNS;
    rec
}

pub fn decode_rows(st: &ClusterState) -> Vec<Value> {
    const N: usize = 100_000;
    let pair = [
        capture(true, query_www_a()),
        capture(false, answer_www_cname_a()),
    ];
    let mut p = L34Parser::new();
    let secs = time_median(Duration::from_secs(10), || {
        for _ in 0..N / 2 {
            for r in &pair {
                let _ = std::hint::black_box(p.decode(std::hint::black_box(r), t0(), st));
            }
        }
    });
    let a0 = allocs();
    for _ in 0..N / 2 {
        for r in &pair {
            let _ = std::hint::black_box(p.decode(r, t0(), st));
        }
    }
    let a = (allocs() - a0) as f64 / N as f64;
    let note = "query and answer (CNAME + 2 A) alternating, paired for latency";
    vec![
        row(
            "decode",
            "decode+enrich DNS capture",
            secs * 1e9 / N as f64,
            "ns/event",
            note,
        ),
        row(
            "decode",
            "decode+enrich DNS capture allocations",
            a,
            "allocs/event",
            "flow dropped after decode",
        ),
    ]
}
