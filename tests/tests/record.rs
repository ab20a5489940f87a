//! flowd's compact flow record against its proto form: the filter engine gives the same
//! answer on both views of every flow of the benchmark workload, and the record's proto is
//! a stable, complete message (it survives a protobuf round trip unchanged).

use flowscope_filter::FlowFilters;
use flowscope_proto::flow::{EventTypeFilter, Flow, FlowFilter, HttpHeader, TcpFlags, Verdict};
use flowscope_server::flow::{FlowRecord, Time};
use flowscope_server::identity::ClusterState;
use flowscope_server::parser::l7::{L7Parser, RedactOptions};
use flowscope_server::parser::l34::L34Parser;
use flowscope_tests::workload::{self, Kind, Mix, SEED};
use prost::Message;

fn records(n: usize) -> Vec<FlowRecord> {
    let state = ClusterState::parse(&workload::cluster_yaml()).expect("state");
    let mut l34 = L34Parser::new();
    let mut l7 = L7Parser::new(RedactOptions::default());
    let t = Time::from_unix_nanos(workload::T0_NS);
    workload::events(Mix::Mix, n, SEED)
        .iter()
        .map(|e| match e.kind {
            Kind::L7 => l7.decode(&e.bytes, &state).expect("l7"),
            _ => l34.decode(&e.bytes, t, &state).expect("l34"),
        })
        .collect()
}

fn filters() -> Vec<(&'static str, FlowFilter)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (
            "identity+verdict",
            FlowFilter {
                source_identity: vec![20003],
                verdict: vec![Verdict::Forwarded as i32],
                ..Default::default()
            },
        ),
        (
            "pod",
            FlowFilter {
                source_pod: s(&["ns-3/"]),
                ..Default::default()
            },
        ),
        (
            "label",
            FlowFilter {
                destination_label: s(&["k8s:app=svc-3"]),
                ..Default::default()
            },
        ),
        (
            "ip exact and cidr",
            FlowFilter {
                source_ip: s(&["10.244.1.3", "10.244.2.0/28"]),
                ..Default::default()
            },
        ),
        (
            "ports and protocol",
            FlowFilter {
                destination_port: s(&["8080", "80", "443"]),
                protocol: s(&["tcp"]),
                ..Default::default()
            },
        ),
        (
            "tcp flags",
            FlowFilter {
                tcp_flags: vec![TcpFlags {
                    syn: true,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ),
        (
            "http",
            FlowFilter {
                http_status_code: s(&["2+"]),
                http_method: s(&["get"]),
                http_path: s(&["^/api/.*"]),
                ..Default::default()
            },
        ),
        (
            "http header",
            FlowFilter {
                http_header: vec![HttpHeader {
                    key: "Content-Type".into(),
                    value: "application/json".into(),
                }],
                ..Default::default()
            },
        ),
        (
            "event type drop, reply, direction",
            FlowFilter {
                event_type: vec![EventTypeFilter {
                    r#type: 1,
                    ..Default::default()
                }],
                reply: vec![false],
                traffic_direction: vec![1, 2],
                ..Default::default()
            },
        ),
        (
            "workload and namespace, ip version, node",
            FlowFilter {
                source_workload: vec![flowscope_proto::flow::Workload {
                    name: String::new(),
                    kind: "Deployment".into(),
                }],
                ip_version: vec![1],
                node_name: s(&["bench-*"]),
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn filters_agree_on_record_and_proto() {
    let recs = records(20_000);
    let protos: Vec<Flow> = recs.iter().map(FlowRecord::to_proto).collect();
    for (name, f) in filters() {
        let compiled = FlowFilters::new(std::slice::from_ref(&f), &[]).expect(name);
        let negated = FlowFilters::new(&[], std::slice::from_ref(&f)).expect(name);
        let mut matched = 0;
        for (r, p) in recs.iter().zip(&protos) {
            let want = compiled.matches_flow(p);
            assert_eq!(compiled.matches_flow(r), want, "{name}: {p:?}");
            assert_eq!(negated.matches_flow(r), !want, "{name} (blacklist)");
            matched += usize::from(want);
        }
        // Every case selects something and not everything, so it tests a real decision.
        assert!(
            matched > 0 && matched < recs.len(),
            "{name}: {matched} of {}",
            recs.len()
        );
    }
}

#[test]
fn record_proto_round_trips() {
    for r in records(5_000) {
        let p = r.to_proto();
        let bytes = p.encode_to_vec();
        let back = Flow::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back, p);
        assert!(!p.uuid.is_empty() && p.time.is_some() && p.source.is_some());
    }
}

/// Every metrics handler, fed the records and fed their protos, writes the same series.
#[test]
fn metrics_agree_on_record_and_proto() {
    use flowscope_server::metrics::{Metrics, MetricsSpec};
    use flowscope_server::observer::FlowProcessor;
    use flowscope_server::stats::Stats;
    use prometheus_client::registry::Registry;
    use std::sync::Arc;

    const SPEC: &str = "flow:sourceContext=pod|ip;destinationContext=workload-name|reserved-identity \
        drop:sourceContext=ip;destinationContext=app|identity tcp port-distribution icmp policy \
        flows-to-world:port \
        httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,source_app,destination_ip,destination_namespace,destination_workload,traffic_direction";
    let run = |feed: &dyn Fn(&mut Metrics)| {
        let mut registry = Registry::default();
        let stats = Arc::new(Stats::new(&mut registry));
        let spec = MetricsSpec::parse(SPEC).expect("spec");
        let mut m = Metrics::new(&spec, 0, &mut registry, stats);
        feed(&mut m);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        // Series come out in hash order: compare them as sets.
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let recs = records(10_000);
    let protos: Vec<Flow> = recs.iter().map(FlowRecord::to_proto).collect();
    let from_records = run(&|m| recs.iter().for_each(|r| m.process(r)));
    let from_protos = run(&|m| protos.iter().for_each(|p| m.process(p)));
    for name in [
        "hubble_http_requests_total{",
        "hubble_drop_total{",
        "hubble_tcp_flags_total{",
    ] {
        assert!(from_records.iter().any(|l| l.starts_with(name)), "{name}");
    }
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|l| b.binary_search(l).is_err())
            .take(5)
            .cloned()
            .collect()
    };
    assert_eq!(
        (
            only(&from_records, &from_protos),
            only(&from_protos, &from_records)
        ),
        (vec![], vec![]),
        "series only from records / only from protos"
    );
    assert_eq!(from_records.len(), from_protos.len());
}
