//! flowbench: the benchmark suite of issue 6 over the fixed workload of
//! `flowscope_tests::workload`. Reports, never asserts timings.
//!
//! `flowbench [--out DIR] STAGE...` runs the stages given (all when none), writes
//! `DIR/<stage>.json` for each (default `target/bench`), and prints its rows.
//! `flowbench --report [--out DIR]` merges every `DIR/*.json` stage file into
//! `DIR/results.json` and prints the whole table (markdown).
//!
//! Stages: decode, ring, filter, encode, metrics, memory, tui, input, e2e, e2e-mix, datapath,
//! relay.
//! Timings: one warm-up pass, then several timed passes; the median is reported.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowscope_proto::flow::{Flow, FlowFilter, HttpHeader, Verdict};
use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_server::flow::{Event as FlowEvent, FlowRecord, Time};
use flowscope_server::identity::ClusterState;
use flowscope_server::parser::l7::{L7Parser, RedactOptions};
use flowscope_server::parser::l34::L34Parser;
use flowscope_server::source::accesslog::producer::Producer;
use flowscope_server::store::ring::{Read, Ring};
use flowscope_tests::workload::{self, Event, Kind, Mix, SEED};
use prost::Message;
use serde_json::{Value, json};

mod dns;
mod drain;
mod mix;
mod relay;

// ---------------------------------------------------------------------------------------------
// Counting allocator: allocations and live heap bytes.

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const ITERS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` once to warm up, then `ITERS` times (bounded by `budget` in total); the median
/// seconds of one run.
fn time_median(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut v = Vec::new();
    for _ in 0..ITERS {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64());
        if start.elapsed() > budget {
            break;
        }
    }
    median(v)
}

fn t0() -> Time {
    Time::from_unix_nanos(workload::T0_NS)
}

fn state() -> ClusterState {
    ClusterState::parse(&workload::cluster_yaml()).expect("workload state")
}

struct Decoder {
    l34: L34Parser,
    l7: L7Parser,
}

impl Decoder {
    fn new() -> Decoder {
        Decoder {
            l34: L34Parser::new(),
            l7: L7Parser::new(RedactOptions::default()),
        }
    }
    fn decode(&mut self, e: &Event, state: &ClusterState) -> FlowRecord {
        match e.kind {
            Kind::L7 => self.l7.decode(&e.bytes, state).expect("l7 decode"),
            _ => self.l34.decode(&e.bytes, t0(), state).expect("l34 decode"),
        }
    }
}

fn records(mix: Mix, n: usize) -> Vec<FlowRecord> {
    let st = state();
    let mut d = Decoder::new();
    workload::events(mix, n, SEED)
        .iter()
        .map(|e| d.decode(e, &st))
        .collect()
}

fn flows(mix: Mix, n: usize) -> Vec<Flow> {
    records(mix, n).iter().map(FlowRecord::to_proto).collect()
}

fn response(f: Flow) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: f.node_name.clone(),
        time: f.time,
        response_types: Some(ResponseTypes::Flow(f)),
    }
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// One result row.
fn row(stage: &str, name: &str, value: f64, unit: &str, note: &str) -> Value {
    json!({"stage": stage, "name": name, "value": value, "unit": unit, "note": note})
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn print_rows(rows: &[Value]) {
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r["stage"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or(""),
            fmt_value(r["value"].as_f64().unwrap_or(0.0)),
            r["unit"].as_str().unwrap_or(""),
            r["note"].as_str().unwrap_or("")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Decode + enrich.

fn bench_decode() -> Vec<Value> {
    let st = state();
    let mut rows = Vec::new();
    const N: usize = 100_000;
    for mix in [Mix::Mix, Mix::Trace, Mix::Drop, Mix::L7] {
        let events = workload::events(mix, N, SEED);
        let mut d = Decoder::new();
        let secs = time_median(Duration::from_secs(10), || {
            for e in &events {
                std::hint::black_box(d.decode(std::hint::black_box(e), &st));
            }
        });
        let a0 = allocs();
        for e in &events {
            std::hint::black_box(d.decode(e, &st));
        }
        let a = (allocs() - a0) as f64 / N as f64;
        let name = format!("decode+enrich {}", mix.name());
        rows.push(row("decode", &name, secs * 1e9 / N as f64, "ns/event", ""));
        rows.push(row(
            "decode",
            &format!("{name} allocations"),
            a,
            "allocs/event",
            "flow dropped after decode",
        ));
    }
    // The monitor corpus (Hubble v1.19 records) with its own cluster state.
    let dir = corpus_dir();
    if let (Ok(bin), Ok(cluster)) = (
        std::fs::read(dir.join("events.bin")),
        std::fs::read_to_string(dir.join("cluster.json")),
    ) {
        let cst = ClusterState::parse(&cluster).expect("corpus cluster.json");
        let recs = workload::read_corpus(&bin);
        let mut p = L34Parser::new();
        let mut failed = 0;
        for (_, r) in &recs {
            if p.decode(r, t0(), &cst).is_err() {
                failed += 1;
            }
        }
        let secs = time_median(Duration::from_secs(10), || {
            for _ in 0..10 {
                for (_, r) in &recs {
                    let _ = std::hint::black_box(p.decode(std::hint::black_box(r), t0(), &cst));
                }
            }
        });
        let n = recs.len() * 10;
        let a0 = allocs();
        for (_, r) in &recs {
            let _ = std::hint::black_box(p.decode(r, t0(), &cst));
        }
        let a = (allocs() - a0) as f64 / recs.len() as f64;
        let note = format!("{} records, {failed} failed to decode", recs.len());
        rows.push(row(
            "decode",
            "decode+enrich corpus events.bin",
            secs * 1e9 / n as f64,
            "ns/event",
            &note,
        ));
        rows.push(row(
            "decode",
            "decode+enrich corpus allocations",
            a,
            "allocs/event",
            "",
        ));
    } else {
        println!("corpus not found under {}: skipped", dir.display());
    }
    rows.extend(dns::decode_rows(&st));
    rows
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("FLOWBENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/monitor-v1.19"))
        })
}

/// A short decode-only run of the mix, for `valgrind --tool=callgrind` (not in the table).
fn bench_profile() -> Vec<Value> {
    let st = state();
    let events = workload::events(Mix::Mix, 20_000, SEED);
    let mut d = Decoder::new();
    for _ in 0..2 {
        for e in &events {
            std::hint::black_box(d.decode(e, &st));
        }
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------------
// 2. Ring: write, and 1 / 4 concurrent followers.

fn bench_ring() -> Vec<Value> {
    let resp: Vec<Arc<FlowEvent>> = records(Mix::Mix, 1024)
        .into_iter()
        .map(|f| Arc::new(FlowEvent::Flow(f)))
        .collect();
    let mut rows = Vec::new();
    const N: u64 = 2_000_000;
    const CAP: u64 = (1 << 20) - 1;
    // Write only.
    let (ring, mut w) = Ring::<FlowEvent>::new(CAP).unwrap();
    let secs = time_median(Duration::from_secs(10), || {
        for i in 0..N {
            w.write(resp[(i & 1023) as usize].clone());
        }
    });
    drop(ring);
    rows.push(row(
        "ring",
        "write, no readers",
        N as f64 / secs,
        "flows/s",
        "Arc clone + slot lock",
    ));
    for readers in [1usize, 4] {
        let mut v = Vec::new();
        let mut lost_total = 0;
        for _ in 0..3 {
            let (ring, mut w) = Ring::<FlowEvent>::new(CAP).unwrap();
            let go = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..readers)
                .map(|_| {
                    let ring = ring.clone();
                    let go = go.clone();
                    std::thread::spawn(move || {
                        while !go.load(Ordering::Acquire) {
                            std::hint::spin_loop();
                        }
                        let mut seq = 0u64;
                        let mut got = 0u64;
                        let mut lost = 0u64;
                        while seq < N {
                            match ring.read(seq) {
                                Read::Event(e) => {
                                    std::hint::black_box(&e);
                                    got += 1;
                                    seq += 1;
                                }
                                Read::NotYet => std::thread::yield_now(),
                                Read::Overtaken { oldest } => {
                                    lost += oldest - seq;
                                    seq = oldest;
                                }
                            }
                        }
                        (got, lost)
                    })
                })
                .collect();
            let start = Instant::now();
            go.store(true, Ordering::Release);
            for i in 0..N {
                w.write(resp[(i & 1023) as usize].clone());
            }
            for h in handles {
                let (_, lost) = h.join().unwrap();
                lost_total += lost;
            }
            v.push(start.elapsed().as_secs_f64());
        }
        let secs = median(v);
        rows.push(row(
            "ring",
            &format!("write + {readers} follower(s)"),
            N as f64 / secs,
            "flows/s",
            &format!(
                "every follower reads all {N}; {lost_total} overtaken over 3 runs; threads as scheduled"
            ),
        ));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 3. Filters.

fn bench_filter() -> Vec<Value> {
    use flowscope_filter::FlowFilters;
    const N: usize = 100_000;
    let recs = records(Mix::Mix, N);
    let fl: Vec<Flow> = recs.iter().map(FlowRecord::to_proto).collect();
    // A request id present in the stream (the first L7 flow's).
    let rid = fl
        .iter()
        .find_map(|f| {
            f.l7.as_ref().and_then(|l7| match &l7.record {
                Some(flowscope_proto::flow::layer7::Record::Http(h)) => h
                    .headers
                    .iter()
                    .find(|h| h.key.eq_ignore_ascii_case("x-request-id"))
                    .map(|h| (h.key.clone(), h.value.clone())),
                _ => None,
            })
        })
        .unwrap_or_default();
    let (rid_key, rid) = rid;
    let cases: Vec<(&str, FlowFilter)> = vec![
        (
            "identity+verdict (source_identity 20003, FORWARDED)",
            FlowFilter {
                source_identity: vec![20003],
                verdict: vec![Verdict::Forwarded as i32],
                ..Default::default()
            },
        ),
        (
            "namespace (source_pod ns-3/)",
            FlowFilter {
                source_pod: vec!["ns-3/".to_string()],
                ..Default::default()
            },
        ),
        (
            "verdict=DROPPED",
            FlowFilter {
                verdict: vec![Verdict::Dropped as i32],
                ..Default::default()
            },
        ),
        (
            "label selector (source_label k8s:app=svc-3)",
            FlowFilter {
                source_label: vec!["k8s:app=svc-3".to_string()],
                ..Default::default()
            },
        ),
        (
            "http status 200 + method GET + path ^/api/v1/",
            FlowFilter {
                http_status_code: vec!["200".to_string()],
                http_method: vec!["GET".to_string()],
                http_path: vec!["^/api/v1/.*".to_string()],
                ..Default::default()
            },
        ),
        (
            "http header X-Request-Id",
            FlowFilter {
                http_header: vec![HttpHeader {
                    key: rid_key.clone(),
                    value: rid.clone(),
                }],
                ..Default::default()
            },
        ),
    ];
    let mut rows = Vec::new();
    for (name, f) in cases {
        let filters = FlowFilters::new(&[f], &[]).expect("filter compiles");
        let matched = fl.iter().filter(|x| filters.matches_flow(*x)).count();
        let secs = time_median(Duration::from_secs(5), || {
            for x in &fl {
                std::hint::black_box(filters.matches_flow(std::hint::black_box(x)));
            }
        });
        rows.push(row(
            "filter",
            name,
            secs * 1e9 / N as f64,
            "ns/flow",
            &format!("mix, proto Flow (flowctl --input-file, flowtop), {matched} of {N} match"),
        ));
        let rmatched = recs.iter().filter(|x| filters.matches_flow(*x)).count();
        assert_eq!(rmatched, matched, "{name}: record and proto filters agree");
        let secs = time_median(Duration::from_secs(5), || {
            for x in &recs {
                std::hint::black_box(filters.matches_flow(std::hint::black_box(x)));
            }
        });
        rows.push(row(
            "filter",
            &format!("{name}, flowd record"),
            secs * 1e9 / N as f64,
            "ns/flow",
            &format!("mix, FlowRecord (flowd), {rmatched} of {N} match"),
        ));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 4. Encode.

fn bench_encode() -> Vec<Value> {
    const N: usize = 50_000;
    let resp: Vec<GetFlowsResponse> = flows(Mix::Mix, N).into_iter().map(response).collect();
    let mut rows = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut bytes = 0usize;
    let secs = time_median(Duration::from_secs(10), || {
        bytes = 0;
        for r in &resp {
            buf.clear();
            flowscope_proto::json::write_line(&mut buf, r).unwrap();
            bytes += buf.len();
        }
    });
    rows.push(row(
        "encode",
        "jsonpb line (GetFlowsResponse)",
        secs * 1e9 / N as f64,
        "ns/flow",
        &format!("{:.0} bytes/line", bytes as f64 / N as f64),
    ));
    rows.push(row(
        "encode",
        "jsonpb throughput",
        bytes as f64 / secs / 1e6,
        "MB/s",
        "",
    ));
    let secs = time_median(Duration::from_secs(10), || {
        bytes = 0;
        for r in &resp {
            buf.clear();
            r.encode(&mut buf).unwrap();
            bytes += buf.len();
        }
    });
    rows.push(row(
        "encode",
        "protobuf GetFlowsResponse",
        secs * 1e9 / N as f64,
        "ns/flow",
        &format!("{:.0} bytes/message", bytes as f64 / N as f64),
    ));
    rows.push(row(
        "encode",
        "protobuf throughput",
        bytes as f64 / secs / 1e6,
        "MB/s",
        "",
    ));
    rows.extend(bench_encode_record());
    rows
}

/// flowd's GetFlows path: protobuf written from the record, with and without hubble's
/// default field mask, and the cost of one flow for 1 and for 8 followers.
fn bench_encode_record() -> Vec<Value> {
    use flowscope_server::api::flows::SharedEncodings;
    use flowscope_server::flow::encode::{Encoder, Plan};
    const N: usize = 50_000;
    let evs: Vec<Arc<FlowEvent>> = records(Mix::Mix, N)
        .into_iter()
        .map(|r| Arc::new(FlowEvent::Flow(r)))
        .collect();
    let mut rows = Vec::new();
    let default_mask: Vec<String> = flowscope_cli::request::default_field_mask();
    let compiled = flowscope_server::flow::mask::compile(&default_mask).unwrap();
    let plans = [
        ("no mask", Plan::all()),
        ("hubble default mask", Plan::new(compiled.as_ref())),
    ];
    let mut enc = Encoder::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 12);
    for (name, plan) in &plans {
        let mut bytes = 0usize;
        let secs = time_median(Duration::from_secs(10), || {
            bytes = 0;
            for e in &evs {
                buf.clear();
                enc.response(e, plan, &mut buf);
                bytes += buf.len();
            }
        });
        let a0 = allocs();
        for e in &evs {
            buf.clear();
            enc.response(e, plan, &mut buf);
        }
        let a = (allocs() - a0) as f64 / N as f64;
        rows.push(row(
            "encode",
            &format!("protobuf from the record, {name}"),
            secs * 1e9 / N as f64,
            "ns/flow",
            &format!(
                "{:.0} bytes/message, {a:.2} allocs/flow (reused buffer)",
                bytes as f64 / N as f64
            ),
        ));
    }
    // What a follower does per flow: encode into its own buffer (as bytes) or take the
    // encoding another follower with the same plan made.
    let plan = &plans[1].1;
    for followers in [1usize, 8] {
        let secs = time_median(Duration::from_secs(10), || {
            let shared = SharedEncodings::default();
            for (seq, e) in evs.iter().enumerate() {
                for _ in 0..followers {
                    let b = shared.get_or_encode(seq as u64, 1, || {
                        let mut out = Vec::with_capacity(768);
                        enc.response(e, plan, &mut out);
                        bytes::Bytes::from(out)
                    });
                    std::hint::black_box(b);
                }
            }
        });
        rows.push(row(
            "encode",
            &format!("{followers} follower(s) sharing a flow, hubble default mask"),
            secs * 1e9 / N as f64,
            "ns/flow (all followers)",
            "one encoding per flow and plan, taken by every follower",
        ));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 5. Metrics.

const METRICS_SPEC: &str = "flow drop httpV2:labelsContext=source_namespace,source_workload,destination_namespace,destination_workload,traffic_direction";

fn bench_metrics() -> Vec<Value> {
    use flowscope_server::metrics::{Metrics, MetricsSpec};
    use flowscope_server::observer::FlowProcessor;
    use flowscope_server::stats::Stats;
    const N: usize = 100_000;
    let fl = records(Mix::Mix, N);
    let mut registry = prometheus_client::registry::Registry::default();
    let stats = Arc::new(Stats::new(&mut registry));
    let spec = MetricsSpec::parse(METRICS_SPEC).expect("spec");
    let mut m = Metrics::new(&spec, 0, &mut registry, stats);
    let secs = time_median(Duration::from_secs(10), || {
        for f in &fl {
            m.process(std::hint::black_box(f));
        }
    });
    let a0 = allocs();
    for f in &fl {
        m.process(f);
    }
    let a = (allocs() - a0) as f64 / N as f64;
    vec![
        row(
            "metrics",
            "flow drop httpV2 (5 labels context)",
            secs * 1e9 / N as f64,
            "ns/flow",
            "mix, series already seen",
        ),
        row("metrics", "metrics allocations", a, "allocs/flow", ""),
    ]
}

// ---------------------------------------------------------------------------------------------
// 8. Memory per stored flow.

fn bench_memory() -> Vec<Value> {
    const CAP: u64 = 1_048_575;
    let st = state();
    let mut d = Decoder::new();
    let mut g = workload::Generator::new(Mix::Mix, SEED);
    let rss0 = rss_bytes();
    let live0 = LIVE.load(Ordering::Relaxed);
    let (ring, mut w) = Ring::<FlowEvent>::new(CAP).unwrap();
    let rss_empty = rss_bytes();
    let mut chunk = Vec::with_capacity(4200);
    let mut written = 0u64;
    let mut scratch_live = 0u64;
    while written < CAP {
        chunk.clear();
        while chunk.len() < 4096 {
            g.push(&mut chunk);
        }
        let before = LIVE.load(Ordering::Relaxed);
        for e in &chunk {
            if written == CAP {
                break;
            }
            w.write(Arc::new(FlowEvent::Flow(d.decode(e, &st))));
            written += 1;
        }
        let _ = before;
        scratch_live = chunk.capacity() as u64 * std::mem::size_of::<Event>() as u64
            + chunk.iter().map(|e| e.bytes.capacity() as u64).sum::<u64>();
    }
    let rss1 = rss_bytes();
    let live1 = LIVE.load(Ordering::Relaxed);
    let heap = (live1 - live0).saturating_sub(scratch_live) as f64 / CAP as f64;
    let rss = rss1.saturating_sub(rss0) as f64 / CAP as f64;
    let ring_slots = rss_empty.saturating_sub(rss0);
    drop(ring);
    vec![
        row(
            "memory",
            "resident bytes per stored flow (VmRSS delta)",
            rss,
            "bytes/flow",
            &format!(
                "1,048,575-flow ring full of the mix, in-process decode; RSS {} MiB -> {} MiB",
                rss0 >> 20,
                rss1 >> 20
            ),
        ),
        row(
            "memory",
            "live heap bytes per stored flow",
            heap,
            "bytes/flow",
            &format!(
                "counting allocator (requested sizes, no malloc overhead); empty ring slots {} MiB RSS",
                ring_slots >> 20
            ),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// 9. flowtop render.

fn bench_tui() -> Vec<Value> {
    use flowscope_tui::state::{Config, ConnStatus, FilterState, Row, State, StreamKind, Update};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::layout::Rect;
    const N: usize = 100_000;
    let config = Config {
        server: "unix:///run/flowscope/hubble.sock".to_string(),
        buffer_size: N,
        history: 1000,
    };
    let mut s = State::new(&config, FilterState::default());
    s.query().expect("query");
    s.update(Update::Conn(ConnStatus::Connected));
    let generation = s.generation();
    let rows: Vec<Arc<Row>> = flows(Mix::Mix, N)
        .into_iter()
        .map(|f| Arc::new(Row::new(f)))
        .collect();
    let t = Instant::now();
    s.update(Update::Rows {
        stream: StreamKind::Main,
        generation,
        rows,
        dropped: 0,
    });
    let ingest = t.elapsed().as_secs_f64();
    let (w, h) = (200u16, 50u16);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    s.set_viewport(flowscope_tui::view::table_rows(Rect::new(0, 0, w, h), &s));
    let secs = time_median(Duration::from_secs(10), || {
        for _ in 0..20 {
            terminal
                .draw(|f| flowscope_tui::view::render(f, &s))
                .unwrap();
        }
    }) / 20.0;
    vec![
        row(
            "flowtop",
            "full frame render, 100,000 flows buffered",
            secs * 1e3,
            "ms/frame",
            &format!("ratatui TestBackend {w}x{h}, following the tail"),
        ),
        row(
            "flowtop",
            "buffer 100,000 rows (one Update::Rows)",
            ingest * 1e3,
            "ms",
            "",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// 6. End to end: flowd + flowctl observe -f -o jsonpb.

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        flowscope_tests::terminate(&mut self.child, Duration::from_secs(5));
    }
}

fn exe_dir() -> PathBuf {
    // flowbench runs from target/<profile>/, next to flowd and flowctl.
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn start_flowd(dir: &Path, capacity: u64) -> (Proc, PathBuf, PathBuf, u16) {
    let state_file = dir.join("state.yaml");
    std::fs::write(&state_file, workload::cluster_yaml()).unwrap();
    let access_log = dir.join("access_log.sock");
    let grpc = dir.join("hubble.sock");
    let port = flowscope_tests::free_port();
    let log = std::fs::File::create(dir.join("flowd.log")).unwrap();
    let child = Command::new(exe_dir().join("flowd"))
        .arg("--listen-address=")
        .arg(format!("--unix-socket={}", grpc.display()))
        .arg(format!("--access-log-socket={}", access_log.display()))
        .arg(format!("--state={}", state_file.display()))
        .arg(format!("--buffer-capacity={capacity}"))
        .arg(format!("--metrics-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("flowd (build it: cargo build --release --workspace --bins)");
    let p = Proc { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(access_log.exists() && grpc.exists()) {
        assert!(Instant::now() < deadline, "flowd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (p, access_log, grpc, port)
}

/// What a client saw: when, and whether it was a LostEvent.
type Seen = std::sync::mpsc::Receiver<(Instant, bool)>;

/// `flowctl observe -f -o jsonpb`, its lines timestamped by a reader thread.
fn start_observer(grpc: &Path) -> (Proc, Seen) {
    let mut child = Command::new(exe_dir().join("flowctl"))
        .args(["observe", "-f", "-o", "jsonpb", "--server"])
        .arg(format!("unix://{}", grpc.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("flowctl");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, out);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let lost = line.contains("\"lost_events\"");
                    if tx.send((Instant::now(), lost)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (Proc { child }, rx)
}

/// A protobuf drain client: follows GetFlows and counts responses, printing nothing, so
/// that the server is measured and not a client's text output.
fn start_drain(grpc: &Path) -> Seen {
    let (tx, rx) = std::sync::mpsc::channel();
    drain_with(grpc, move |resp| {
        let lost = matches!(resp.response_types, Some(ResponseTypes::LostEvents(_)));
        let _ = tx.send((Instant::now(), lost));
    });
    rx
}

/// Follows GetFlows on flowd's unix socket and hands every response to `seen`.
fn drain_with(grpc: &Path, mut seen: impl FnMut(&GetFlowsResponse) + Send + 'static) {
    drain::follow_flows(format!("unix://{}", grpc.display()), move |resp| {
        seen(resp);
        true
    });
}

/// Nonzero loss/health series of flowd's `/metrics`.
fn loss_metrics(port: u16) -> String {
    let text = flowscope_tests::http_get(port, "/metrics").unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.contains("lost_events")
                || l.contains("records_dropped")
                || l.contains("records_received")
                || l.contains("ring_writes")
        })
        .filter(|l| !l.ends_with(" 0"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One paced step: `n` records at `rate`/s (0: as fast as the socket takes them).
struct Step {
    flows: usize,
    lost_lines: usize,
    secs: f64,
    offered: f64,
    lat: Vec<f64>,
}

fn e2e_step(producer: &Producer, rx: Seen, events: &[Event], rate: f64) -> (Step, Seen) {
    let n = events.len();
    let mut sent_at = Vec::with_capacity(n);
    let start = Instant::now();
    const BATCH: usize = 10;
    let (recv, lost_lines, rx) = std::thread::scope(|s| {
        let h = s.spawn(move || {
            let mut recv = Vec::with_capacity(n);
            let mut lost_lines = 0usize;
            while recv.len() < n {
                match rx.recv_timeout(Duration::from_secs(3)) {
                    Ok((t, lost)) => {
                        if lost {
                            lost_lines += 1;
                        } else {
                            recv.push(t);
                        }
                    }
                    Err(_) => break,
                }
            }
            (recv, lost_lines, rx)
        });
        for (i, e) in events.iter().enumerate() {
            if rate > 0.0 && i % BATCH == 0 {
                pace(start, i as f64, rate);
            }
            sent_at.push(Instant::now());
            producer.send(&e.bytes).unwrap();
        }
        h.join().unwrap()
    });
    let offered = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let secs = recv
        .last()
        .map(|t| (*t - start).as_secs_f64())
        .unwrap_or(f64::NAN);
    // Lines arrive in record order (one producer, one socket); latency is meaningful only
    // without loss.
    let lat = if recv.len() == n {
        let mut l: Vec<f64> = recv
            .iter()
            .zip(&sent_at)
            .map(|(r, s)| r.saturating_duration_since(*s).as_secs_f64() * 1e6)
            .collect();
        l.sort_by(f64::total_cmp);
        l
    } else {
        Vec::new()
    };
    (
        Step {
            flows: recv.len(),
            lost_lines,
            secs,
            offered,
            lat,
        },
        rx,
    )
}

/// Sleeps until the `i`-th item of a stream started at `start` is due at `rate`/s.
fn pace(start: Instant, i: f64, rate: f64) {
    let due = start + Duration::from_secs_f64(i / rate);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

fn pct(lat: &[f64], p: f64) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]
}

fn bench_e2e() -> Vec<Value> {
    let mut rows = e2e_with(false);
    rows.extend(e2e_with(true));
    rows
}

/// The access-log path end to end, read by `flowctl -o jsonpb` or by the drain client.
fn e2e_with(drain: bool) -> Vec<Value> {
    let stage = if drain { "e2e/drain" } else { "e2e" };
    let client = if drain {
        "protobuf drain client"
    } else {
        "flowctl -o jsonpb"
    };
    let dir = std::env::temp_dir().join(format!("flowbench-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    {
        let (flowd, access_log, grpc, port) = start_flowd(&dir, (1 << 20) - 1);
        // Only L7 records enter through the access-log socket.
        let steps: [(f64, usize); 6] = [
            (10_000.0, 20_000),
            (50_000.0, 100_000),
            (75_000.0, 150_000),
            (100_000.0, 200_000),
            (200_000.0, 200_000),
            (0.0, 200_000),
        ];
        let total: usize = 1000 + steps.iter().map(|s| s.1).sum::<usize>();
        let events = workload::events(Mix::L7, total, SEED ^ 1);
        let producer = Producer::connect(&access_log).unwrap();
        let (observer, mut rx) = if drain {
            (None, start_drain(&grpc))
        } else {
            let (p, rx) = start_observer(&grpc);
            (Some(p), rx)
        };
        // Warm-up: the observer is following once it prints the warm-up flows.
        let mut got = 0usize;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = 0;
        while got < 10 {
            assert!(Instant::now() < deadline, "flowctl did not follow");
            producer.send(&events[sent].bytes).unwrap();
            sent += 1;
            while rx.try_recv().is_ok() {
                got += 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for e in &events[sent..1000] {
            producer.send(&e.bytes).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while got < 1000 && Instant::now() < deadline {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                got += 1;
            }
        }
        let mut at = 1000;
        let mut best = 0.0f64;
        for (rate, n) in steps {
            let before = loss_metrics(port);
            let cpu0 = cpu_seconds(flowd.child.id());
            let (st, back) = e2e_step(&producer, rx, &events[at..at + n], rate);
            let cpu = cpu_seconds(flowd.child.id()) - cpu0;
            rx = back;
            at += n;
            let loss = n - st.flows;
            let achieved = st.flows as f64 / st.secs;
            if loss == 0 && st.lost_lines == 0 {
                best = best.max(achieved);
            }
            let label = if rate > 0.0 {
                format!("{:.0}/s offered", rate)
            } else {
                "unpaced (as fast as the socket takes)".to_string()
            };
            let _ = before;
            rows.push(row(
                stage,
                &format!("{label}: flows/s received"),
                achieved,
                "flows/s",
                &format!(
                    "{client}: {n} records sent at {:.0}/s, {} received, {loss} lost, {} LostEvents",
                    st.offered, st.flows, st.lost_lines
                ),
            ));
            if rate == 50_000.0 {
                rows.push(row(
                    stage,
                    &format!("{label}: flowd CPU per flow"),
                    cpu * 1e6 / n as f64,
                    "µs CPU/flow",
                    &format!("{cpu:.2} s of flowd CPU (user+system) for {n} records"),
                ));
            }
            if !st.lat.is_empty() {
                rows.push(row(
                    stage,
                    &format!("{label}: latency p50 / p99"),
                    pct(&st.lat, 0.5),
                    "µs (p50)",
                    &format!(
                        "p99 {:.0} µs, max {:.0} µs (record sent -> response read)",
                        pct(&st.lat, 0.99),
                        pct(&st.lat, 1.0)
                    ),
                ));
            }
        }
        rows.push(row(
            stage,
            "highest zero-loss rate received",
            best,
            "flows/s",
            &format!("flowd /metrics at the end: {}", loss_metrics(port)),
        ));
        drop(observer);
        drop(flowd);
    }
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

// ---------------------------------------------------------------------------------------------

const STAGES: [&str; 12] = [
    "decode", "ring", "filter", "encode", "metrics", "memory", "tui", "input", "e2e", "e2e-mix",
    "datapath", "relay",
];

/// `flowctl observe --input-file` on a 1,000,000-line jsonpb file of the mix, with and
/// without a filter, writing compact and jsonpb (to /dev/null): lines read per second.
fn bench_input() -> Vec<Value> {
    const LINES: usize = 1_000_000;
    const CHUNK: usize = 10_000;
    let dir = std::env::temp_dir().join(format!("flowbench-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mix.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let st = state();
        let mut d = Decoder::new();
        let events = workload::events(Mix::Mix, CHUNK, SEED);
        for _ in 0..LINES / CHUNK {
            for e in &events {
                let resp = d.decode(e, &st).to_response();
                flowscope_proto::json::write_line(&mut w, &resp).unwrap();
            }
        }
    }
    let flowctl = exe_dir().join("flowctl");
    let mut rows = Vec::new();
    let cases: [(&str, &[&str]); 4] = [
        ("compact, no filter", &["-o", "compact"]),
        (
            "compact, --verdict DROPPED",
            &["-o", "compact", "--verdict", "DROPPED"],
        ),
        ("jsonpb, no filter", &["-o", "jsonpb"]),
        (
            "compact, --identity + --http-status",
            &[
                "-o",
                "compact",
                "--identity",
                "20003",
                "--http-status",
                "2+",
            ],
        ),
    ];
    for (name, args) in cases {
        let t = Instant::now();
        let out = std::process::Command::new(&flowctl)
            .arg("observe")
            .arg("--input-file")
            .arg(&file)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(out.success(), "flowctl --input-file failed");
        let secs = t.elapsed().as_secs_f64();
        rows.push(row(
            "input",
            name,
            LINES as f64 / secs,
            "lines/s",
            &format!("{LINES} lines in {secs:.2} s"),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

/// End to end through the perf ring: a bounded UDP flood from a pod namespace through flowd's
/// tc programs (`--monitor-aggregation none`: one trace event per packet), read, decoded and
/// stored by flowd. Root only (namespaces, eBPF).
fn bench_datapath() -> Vec<Value> {
    use flowscope_tests::netns::is_root;
    if !is_root() {
        return vec![row("datapath", "skipped", 0.0, "", "needs root")];
    }
    let mut rows = datapath_run("perf", false);
    rows.extend(datapath_run("ringbuf", false));
    rows.extend(datapath_run("ringbuf", true));
    rows
}

/// flowd's user+system CPU time so far, in seconds (Linux clock ticks are 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): state is field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A node namespace and a pod namespace joined by a veth: `eth0` at `client_cidr` in the
/// pod, `lxc-client` at `node_cidr` on the node.
fn pod_lab(
    prefix: &str,
    client_cidr: &str,
    node_cidr: &str,
) -> (flowscope_tests::netns::Netns, flowscope_tests::netns::Netns) {
    use flowscope_tests::netns::{Netns, veth};
    let tag = format!("{prefix}{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    veth(
        &client,
        "eth0",
        Some(client_cidr),
        &node,
        "lxc-client",
        Some(node_cidr),
    );
    (node, client)
}

/// One series of the `/metrics` of a flowd on `port` inside `node` (0 when absent).
fn node_metric(node: &flowscope_tests::netns::Netns, port: u16, name: &str) -> f64 {
    let out = node.exec(&["curl", "-sf", &format!("http://127.0.0.1:{port}/metrics")]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// UDP packets from a pod namespace through the tc programs; with `dns`, DNS queries to port
/// 53, each of which also gives a DNS capture event and a DNS flow.
fn datapath_run(transport: &str, dns: bool) -> Vec<Value> {
    const PACKETS: usize = 300_000;
    let (node, client) = pod_lab("fb", "10.201.0.2/24", "10.201.0.1/24");
    let dir = std::env::temp_dir().join(format!("flowbench-dp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.yaml");
    std::fs::write(
        &state,
        "node_name: bench\nendpoints:\n  - name: client\n    namespace: bench\n    labels: {app: client}\n    ips: [10.201.0.2]\n    identity: 30000\n    endpoint_id: 10\n",
    )
    .unwrap();
    let port = flowscope_tests::free_port();
    let log = std::fs::File::create(dir.join("flowd.log")).unwrap();
    let flowd = Proc {
        child: node
            .command(exe_dir().join("flowd").to_str().unwrap())
            .args([
                "--listen-address=",
                "--interface=lxc-client",
                "--monitor-aggregation=none",
            ])
            .arg(format!("--datapath-transport={transport}"))
            .arg(format!("--state={}", state.display()))
            .arg(format!(
                "--unix-socket={}",
                dir.join("hubble.sock").display()
            ))
            .arg(format!(
                "--access-log-socket={}",
                dir.join("al.sock").display()
            ))
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .arg("--buffer-capacity=1048575")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    };
    let metric = |name: &str| node_metric(&node, port, name);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("hubble.sock").exists() {
        assert!(Instant::now() < deadline, "flowd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let received = r#"flowscope_source_records_received_total{source="datapath"}"#;
    let emitted = r#"flowscope_datapath_events_total{result="emitted"}"#;
    let failed = r#"flowscope_datapath_events_total{result="failed"}"#;
    let lost = r#"hubble_lost_events_total{source="perf_event_ring_buffer"}"#;
    let (r0, e0) = (metric(received), metric(emitted));
    let cpu0 = cpu_seconds(flowd.child.id());
    let (payload, port) = if dns {
        let hex: String = flowscope_server::parser::l34::build::query_www_a()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("bytes.fromhex('{hex}')"), 53)
    } else {
        ("b'x'*64".to_string(), 9)
    };
    let code = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\np={payload}\nfor i in range({PACKETS}):\n    s.sendto(p,('10.201.0.1',{port}))\n"
    );
    let t = Instant::now();
    let out = client.exec(&["python3", "-c", &code]);
    let flood = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "flood failed");
    // Wait until flowd has drained what the kernel delivered.
    let mut last = -1.0;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(600));
        let now = metric(received);
        if now == last || Instant::now() > drain_deadline {
            break;
        }
        last = now;
    }
    let total = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(flowd.child.id()) - cpu0;
    let got = metric(received) - r0;
    let emit = metric(emitted) - e0;
    let queue_lost = r#"hubble_lost_events_total{source="observer_events_queue"}"#;
    let (fail, lost_n, queue_n) = (metric(failed), metric(lost), metric(queue_lost));
    drop(flowd);
    let _ = std::fs::remove_dir_all(&dir);
    let stage = if dns {
        format!("datapath/{transport}/dns")
    } else {
        format!("datapath/{transport}")
    };
    vec![
        row(
            &stage,
            "packets offered",
            PACKETS as f64 / flood,
            "packets/s",
            &format!(
                "{PACKETS} UDP packets from a pod netns in {flood:.2} s (python sender, 1 core)"
            ),
        ),
        row(
            &stage,
            "events emitted by the tc program",
            emit / flood,
            "events/s",
            &format!("{emit} emitted, {fail} failed"),
        ),
        row(
            &stage,
            "events decoded and stored by flowd",
            got / flood,
            "events/s",
            &format!("{got} stored; drained after {total:.2} s"),
        ),
        row(
            &stage,
            "flowd CPU per event (read + decode + store)",
            if got > 0.0 { cpu * 1e6 / got } else { 0.0 },
            "us/event",
            &format!("{cpu:.2} s user+system"),
        ),
        row(
            &stage,
            "loss",
            if emit + fail > 0.0 {
                100.0 * (lost_n + queue_n) / (emit + fail)
            } else {
                0.0
            },
            "%",
            &format!(
                "{lost_n} lost in the kernel ring, {queue_n} at the observer queue (all reported as LostEvents)"
            ),
        ),
    ]
}

fn run(stage: &str) -> Vec<Value> {
    match stage {
        "decode" => bench_decode(),
        "ring" => bench_ring(),
        "filter" => bench_filter(),
        "encode" => bench_encode(),
        "metrics" => bench_metrics(),
        "memory" => bench_memory(),
        "tui" => bench_tui(),
        "e2e" => bench_e2e(),
        "e2e-mix" => mix::bench_mix(),
        "input" => bench_input(),
        "datapath" => bench_datapath(),
        "relay" => relay::bench_relay(),
        "profile" => bench_profile(),
        other => panic!("unknown stage {other}; stages: {STAGES:?}"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--udp-send") {
        mix::udp_send(&argv[1..]);
        return;
    }
    let mut args = argv.into_iter();
    let mut out = PathBuf::from("target/bench");
    let mut stages = Vec::new();
    let mut report = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            "--report" => report = true,
            "-h" | "--help" => {
                println!("flowbench [--out DIR] [STAGE...] | flowbench --report [--out DIR]");
                println!("stages: {}", STAGES.join(" "));
                return;
            }
            s => stages.push(s.to_string()),
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    if report {
        let mut all = Vec::new();
        for s in STAGES {
            if let Ok(text) = std::fs::read_to_string(out.join(format!("{s}.json"))) {
                let v: Value = serde_json::from_str(&text).unwrap();
                all.extend(v["rows"].as_array().cloned().unwrap_or_default());
            }
        }
        let results = json!({
            "workload": {"seed": SEED, "local_pods": workload::LOCAL_PODS, "remote_pods": workload::REMOTE_PODS},
            "machine": machine(),
            "rows": all,
        });
        std::fs::write(
            out.join("results.json"),
            serde_json::to_string_pretty(&results).unwrap(),
        )
        .unwrap();
        println!("| stage | measure | value | unit | notes |");
        println!("|---|---|---|---|---|");
        print_rows(results["rows"].as_array().unwrap());
        println!("\nwritten {}", out.join("results.json").display());
        return;
    }
    if stages.is_empty() {
        stages = STAGES.iter().map(|s| s.to_string()).collect();
    }
    for s in &stages {
        let t = Instant::now();
        eprintln!("== {s}");
        let rows = run(s);
        print_rows(&rows);
        let _ = std::io::stdout().flush();
        let v = json!({"stage": s, "seconds": t.elapsed().as_secs_f64(), "rows": rows});
        std::fs::write(
            out.join(format!("{s}.json")),
            serde_json::to_string_pretty(&v).unwrap(),
        )
        .unwrap();
        eprintln!("   {s}: {:.1}s", t.elapsed().as_secs_f64());
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({"cpu": cpu, "kernel": kernel, "nproc": nproc})
}
