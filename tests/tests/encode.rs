//! The differential test of flowd's wire encoder: the protobuf bytes that GetFlows sends,
//! written straight from the record, decode to exactly the message the reference
//! conversion (`FlowRecord::to_proto`, then Hubble's field-mask semantics applied to it)
//! produces: for every record of the Hubble monitor corpus and a large seeded sample of
//! the benchmark workload, with no mask, Hubble CLI's default mask and several deep masks.

use std::path::PathBuf;
use std::sync::Arc;

use flowscope_proto::flow::Flow;
use flowscope_proto::observer::{GetFlowsResponse, get_flows_response::ResponseTypes};
use flowscope_server::flow::encode::{Encoder, Plan};
use flowscope_server::flow::{
    Event, FlowNames, FlowRecord, LostRecord, NetInterface, PolicyRef, Time, mask,
};
use flowscope_server::identity::ClusterState;
use flowscope_server::parser::l7::{L7Parser, RedactOptions};
use flowscope_server::parser::l34::L34Parser;
use flowscope_tests::workload::{self, Kind, Mix, SEED};
use prost::Message;
use serde_json::{Map, Value};

/// What `hubble observe` sends for compact, dict and table output.
use flowscope_cli::request::DEFAULT_FIELD_MASK as HUBBLE_DEFAULT_MASK;

/// Masks naming two members of one oneof are left out: Hubble's result for them depends on
/// Go's map order.
fn masks() -> Vec<Option<Vec<String>>> {
    let m = |p: &[&str]| Some(p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    vec![
        None,
        m(HUBBLE_DEFAULT_MASK),
        m(&["l7.http.code"]),
        m(&["l4.TCP.source_port", "verdict"]),
        m(&[
            "l4.UDP.destination_port",
            "source.labels",
            "destination.workloads",
            "IP.source",
        ]),
        m(&[
            "l4.TCP.flags.SYN",
            "l7.http.headers",
            "trace_context.parent",
            "uuid",
        ]),
        m(&["node_name", "l7.type", "source_service.name", "is_reply"]),
        m(&[
            "ethernet.destination",
            "tunnel.l4",
            "file.line",
            "interface",
        ]),
        m(&[
            // Paths cannot go below a repeated field (Go's `fieldmaskpb.IsValid`).
            "interface.name",
            "destination_names",
            "ingress_allowed_by",
            "egress_allowed_by",
            "ingress_denied_by",
            "egress_denied_by",
        ]),
    ]
}

/// Hubble's `FieldMask.Copy` into an empty Flow, on the JSON form of the message (which
/// names fields by their proto names, oneof members included).
fn mask_json(src: &Map<String, Value>, paths: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    // A shorter path covers the longer ones under it.
    let covered = |p: &String| {
        paths.iter().any(|q| {
            p.len() > q.len() && p.starts_with(q.as_str()) && p.as_bytes()[q.len()] == b'.'
        })
    };
    let mut subs: Vec<(String, Vec<String>)> = Vec::new();
    for p in paths.iter().filter(|p| !covered(p)) {
        match p.split_once('.') {
            None => {
                if let Some(v) = src.get(p) {
                    out.insert(p.clone(), v.clone());
                }
            }
            Some((head, rest)) => match subs.iter_mut().find(|(h, _)| h == head) {
                Some((_, r)) => r.push(rest.to_string()),
                None => subs.push((head.to_string(), vec![rest.to_string()])),
            },
        }
    }
    let empty = Map::new();
    for (head, rest) in subs {
        let inner = match src.get(&head) {
            Some(Value::Object(o)) => o,
            _ => &empty,
        };
        out.insert(head, Value::Object(mask_json(inner, &rest)));
    }
    out
}

fn reference(r: &FlowRecord, paths: Option<&[String]>) -> GetFlowsResponse {
    let full = r.to_proto();
    let flow = match paths {
        None => full,
        Some(paths) => {
            let Value::Object(obj) = serde_json::to_value(&full).expect("to json") else {
                panic!("a flow is an object");
            };
            serde_json::from_value::<Flow>(Value::Object(mask_json(&obj, paths)))
                .expect("masked json is a flow")
        }
    };
    GetFlowsResponse {
        node_name: flow.node_name.clone(),
        time: flow.time,
        response_types: Some(ResponseTypes::Flow(flow)),
    }
}

fn check(records: &[FlowRecord], what: &str) {
    let mut enc = Encoder::default();
    let mut buf = Vec::new();
    for paths in masks() {
        let compiled = mask::compile(paths.as_deref().unwrap_or(&[])).expect("mask compiles");
        let plan = Plan::new(compiled.as_ref());
        for (i, r) in records.iter().enumerate() {
            let want = reference(r, paths.as_deref());
            let ev = Event::Flow(r.clone());
            buf.clear();
            enc.response(&ev, &plan, &mut buf);
            let got = GetFlowsResponse::decode(buf.as_slice()).expect("encoder output decodes");
            assert_eq!(got, want, "{what} #{i}, mask {paths:?}");
            if paths.is_none() {
                // Without a mask the bytes are the reference's bytes, field for field.
                assert_eq!(buf.len(), want.encoded_len(), "{what} #{i}: size");
            }
        }
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/monitor-v1.19")
}

#[test]
fn encoder_matches_reference_on_the_hubble_corpus() {
    let dir = corpus_dir();
    let cluster = std::fs::read_to_string(dir.join("cluster.json")).expect("cluster.json");
    let bin = std::fs::read(dir.join("events.bin")).expect("events.bin");
    let state = ClusterState::parse(&cluster).expect("corpus state");
    let mut p = L34Parser::new();
    let t = Time::from_unix_nanos(workload::T0_NS);
    let records: Vec<FlowRecord> = workload::read_corpus(&bin)
        .iter()
        .filter_map(|(_, r)| p.decode(r, t, &state).ok())
        .collect();
    assert!(
        records.len() >= 2_900,
        "{} corpus records decoded",
        records.len()
    );
    check(&records, "corpus");
}

#[test]
fn encoder_matches_reference_on_the_workload() {
    let state = ClusterState::parse(&workload::cluster_yaml()).expect("state");
    let mut l34 = L34Parser::new();
    let mut l7 = L7Parser::new(RedactOptions::default());
    let t = Time::from_unix_nanos(workload::T0_NS);
    let mut records = Vec::new();
    for mix in [Mix::Mix, Mix::L7, Mix::Drop] {
        for e in workload::events(mix, 4_000, SEED ^ mix as u64) {
            records.push(match e.kind {
                Kind::L7 => l7.decode(&e.bytes, &state).expect("l7"),
                _ => l34.decode(&e.bytes, t, &state).expect("l34"),
            });
        }
    }
    // Name the interfaces and give flows a matched rule, as flowd's own datapath does for
    // policy verdicts, so the interface and the four policy lists are compared too (which
    // list, if any, follows the flow's direction and verdict).
    let rules: Vec<Arc<PolicyRef>> = [
        (
            "CiliumNetworkPolicy",
            "server-ingress",
            Some("default"),
            Some("5c1d"),
        ),
        ("CiliumClusterwideNetworkPolicy", "all-egress", None, None),
    ]
    .iter()
    .map(|(kind, name, ns, uid)| {
        let labels = vec![
            format!("k8s:io.cilium.k8s.policy.name={name}"),
            uid.unwrap_or("").to_string(),
        ];
        Arc::new(PolicyRef::new(kind, name, *ns, labels, 7))
    })
    .collect();
    let mut with_policy = 0;
    for (i, r) in records.iter_mut().enumerate() {
        if let Some(iface) = &r.interface {
            let index = iface.index;
            r.interface = Some(Arc::new(NetInterface {
                index,
                name: format!("lxc{index:x}").into(),
            }));
        }
        if i % 3 == 0 {
            r.policy = Some(rules[i % 2].clone());
            with_policy += 1;
        }
        if i % 5 == 0 {
            let names: Arc<[String]> = vec!["a.example".to_string(), String::new()].into();
            r.names = Some(Box::new(FlowNames {
                source: (i % 2 == 0).then(|| names.clone()),
                destination: Some(names),
            }));
        }
    }
    let listed = records
        .iter()
        .filter(|r| r.policy.is_some())
        .map(|r| {
            let f = r.to_proto();
            f.ingress_allowed_by.len()
                + f.egress_allowed_by.len()
                + f.ingress_denied_by.len()
                + f.egress_denied_by.len()
        })
        .sum::<usize>();
    assert!(
        listed > 100,
        "{listed} of {with_policy} flows list their rule"
    );
    check(&records, "workload");
}

/// DNS flows of flowd's datapath (queries and answers, over UDP and TCP), every mask.
#[test]
fn encoder_matches_reference_on_dns_flows() {
    use flowscope_server::parser::l34::build::{
        self, DST_MAC, Ip4, L4Spec, SRC_MAC, TraceRecord, answer_www_cname_a, query_www_a,
    };
    let state = ClusterState::parse(&workload::cluster_yaml()).expect("state");
    let mut p = L34Parser::new();
    let t = Time::from_unix_nanos(workload::T0_NS);
    let mut records = Vec::new();
    for (obs, dns, query) in [
        (5, query_www_a(), true),
        (0, answer_www_cname_a(), false),
        (0, query_www_a(), true),
    ] {
        let (src, dst, sport, dport) = if query {
            ([10, 244, 1, 13], [10, 244, 2, 33], 40000, 53)
        } else {
            ([10, 244, 2, 33], [10, 244, 1, 13], 53, 40000)
        };
        let udp = L4Spec::UdpPayload {
            src: sport,
            dst: dport,
            payload: dns.clone(),
        };
        let ip = build::ipv4(Ip4::new(src, dst), udp);
        let mut rec = TraceRecord {
            version: 1,
            obs_point: obs,
            source: 1,
            ifindex: 4,
            ..Default::default()
        }
        .record(&build::ether(SRC_MAC, DST_MAC, 0x0800, &ip));
        rec[0] = 250;
        records.push(p.decode(&rec, t, &state).expect("DNS flow"));
    }
    assert!(records.iter().all(|r| r.l7.is_some()));
    check(&records, "dns");
}

#[test]
fn lost_events_encode_as_their_reference() {
    let mut enc = Encoder::default();
    for cpu in [None, Some(0), Some(3)] {
        let lost = LostRecord {
            time: Time {
                seconds: 1_700_000_000,
                nanos: 5,
            },
            node: std::sync::Arc::new("n1".to_string()),
            source: 2,
            count: 12,
            cpu,
        };
        let mut buf = Vec::new();
        enc.response(&Event::Lost(lost.clone()), &Plan::all(), &mut buf);
        let got = GetFlowsResponse::decode(buf.as_slice()).expect("decodes");
        assert_eq!(got, lost.to_response());
    }
}
