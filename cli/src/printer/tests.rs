//! Golden tests: the samples of the compatibility sheet (§12.4), byte for byte.
#![allow(deprecated)] // `Flow.summary` / `drop_reason` are deprecated upstream.

use flowscope_proto::flow::{
    CiliumEventType, Dns, Endpoint, Ethernet, FileInfo, Flow, FlowType, Http, HttpHeader, IcmPv6,
    Ip, IpTraceId, IpVersion, Kafka, L7FlowType, Layer4, Layer7, LostEvent, LostEventSource,
    NetworkInterface, Service, Tcp, TcpFlags, TraceContext, TraceObservationPoint, TraceParent,
    TraceReason, TrafficDirection, Udp, Verdict, Workload, layer4, layer7,
};
use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::relay::{NodeState, NodeStatusEvent};
use flowscope_proto::types::{BoolValue, Int32Value, Timestamp};

use super::*;

const GOLDEN_COMPACT: &str = include_str!("../../tests/golden/compact.txt");
const GOLDEN_COMPACT_NODE: &str = include_str!("../../tests/golden/compact_node_name.txt");
const GOLDEN_DICT: &str = include_str!("../../tests/golden/dict.txt");
const GOLDEN_TABLE: &str = include_str!("../../tests/golden/table.txt");
const GOLDEN_TABLE_EXCERPT: &str = include_str!("../../tests/golden/table_excerpt.txt");
const GOLDEN_JSONPB: &str = include_str!("../../tests/golden/jsonpb.txt");

/// 2023-08-23T15:43:24Z.
const BASE: i64 = 1_692_805_404;
const NODE: &str = "kind-worker";
const CLIENT_POD: &str = "client-6d4b9c7f5-abcde";
const SERVER_POD: &str = "server-7f8d9b6c4-fghij";

// --- fixtures -------------------------------------------------------------------------------

fn ts(offset_s: i64, nanos: i32) -> Timestamp {
    Timestamp {
        seconds: BASE + offset_s,
        nanos,
    }
}

fn reply(v: bool) -> Option<BoolValue> {
    Some(BoolValue { value: v })
}

fn ipv4(src: &str, dst: &str) -> Option<Ip> {
    Some(Ip {
        source: src.into(),
        destination: dst.into(),
        ip_version: IpVersion::IPv4 as i32,
        ..Default::default()
    })
}

fn tcp(src: u32, dst: u32, flags: Option<TcpFlags>) -> Option<Layer4> {
    Some(Layer4 {
        protocol: Some(layer4::Protocol::Tcp(Tcp {
            source_port: src,
            destination_port: dst,
            flags,
        })),
    })
}

fn udp(src: u32, dst: u32) -> Option<Layer4> {
    Some(Layer4 {
        protocol: Some(layer4::Protocol::Udp(Udp {
            source_port: src,
            destination_port: dst,
        })),
    })
}

fn syn() -> Option<TcpFlags> {
    Some(TcpFlags {
        syn: true,
        ..Default::default()
    })
}

fn event(t: i32, sub: i32) -> Option<CiliumEventType> {
    Some(CiliumEventType {
        r#type: t,
        sub_type: sub,
    })
}

fn client(full: bool) -> Endpoint {
    Endpoint {
        id: 1234,
        identity: 25000,
        cluster_name: if full {
            "default".into()
        } else {
            String::new()
        },
        namespace: "default".into(),
        labels: if full {
            vec![
                "k8s:app=client".into(),
                "k8s:io.kubernetes.pod.namespace=default".into(),
            ]
        } else {
            vec![]
        },
        pod_name: CLIENT_POD.into(),
        workloads: if full {
            vec![Workload {
                name: "client".into(),
                kind: "Deployment".into(),
            }]
        } else {
            vec![]
        },
    }
}

fn server(full: bool) -> Endpoint {
    Endpoint {
        id: 2345,
        identity: 25001,
        cluster_name: if full {
            "default".into()
        } else {
            String::new()
        },
        namespace: "default".into(),
        labels: if full {
            vec![
                "k8s:app=server".into(),
                "k8s:io.kubernetes.pod.namespace=default".into(),
            ]
        } else {
            vec![]
        },
        pod_name: SERVER_POD.into(),
        workloads: vec![],
    }
}

fn reserved(identity: u32, name: &str) -> Endpoint {
    Endpoint {
        identity,
        labels: vec![format!("reserved:{name}")],
        ..Default::default()
    }
}

fn wrap(flow: Flow) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: flow.node_name.clone(),
        time: flow.time,
        response_types: Some(ResponseTypes::Flow(flow)),
    }
}

/// 15:43:24.080: client → server SYN, to-stack (also jsonpb sample line 1).
fn flow_syn() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(0, 80_123_456)),
        uuid: "6f6d3e0c-1b8a-4a8e-9a53-0c9a2f1d2e01".into(),
        verdict: Verdict::Forwarded as i32,
        ethernet: Some(Ethernet {
            source: "0a:58:0a:f4:00:05".into(),
            destination: "0a:58:0a:f4:00:01".into(),
        }),
        ip: ipv4("10.244.0.5", "10.244.1.7"),
        l4: tcp(43210, 8080, syn()),
        source: Some(client(true)),
        destination: Some(server(true)),
        r#type: FlowType::L3L4 as i32,
        node_name: NODE.into(),
        event_type: event(4, 3),
        traffic_direction: TrafficDirection::Egress as i32,
        trace_observation_point: TraceObservationPoint::ToStack as i32,
        trace_reason: TraceReason::New as i32,
        is_reply: reply(false),
        interface: Some(NetworkInterface {
            index: 12,
            name: "lxc1234".into(),
        }),
        summary: "TCP Flags: SYN".into(),
        ..Default::default()
    })
}

/// 15:43:24.081: the SYN-ACK reply server → client at to-endpoint (obs point 0).
fn flow_syn_ack() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(0, 81_000_000)),
        verdict: Verdict::Forwarded as i32,
        ip: ipv4("10.244.1.7", "10.244.0.5"),
        l4: tcp(
            8080,
            43210,
            Some(TcpFlags {
                syn: true,
                ack: true,
                ..Default::default()
            }),
        ),
        source: Some(server(false)),
        destination: Some(client(false)),
        r#type: FlowType::L3L4 as i32,
        node_name: NODE.into(),
        event_type: event(4, 0),
        traffic_direction: TrafficDirection::Ingress as i32,
        trace_observation_point: TraceObservationPoint::ToEndpoint as i32,
        trace_reason: TraceReason::Reply as i32,
        is_reply: reply(true),
        summary: "TCP Flags: SYN, ACK".into(),
        ..Default::default()
    })
}

/// 15:43:25.500: policy drop from the world (also jsonpb sample line 2).
fn flow_drop() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(1, 500_000_000)),
        verdict: Verdict::Dropped as i32,
        drop_reason: 133,
        ip: ipv4("10.244.0.9", "10.244.1.7"),
        l4: udp(5353, 53),
        source: Some(reserved(2, "world")),
        destination: Some(Endpoint {
            id: 2345,
            identity: 25001,
            namespace: "default".into(),
            pod_name: SERVER_POD.into(),
            ..Default::default()
        }),
        r#type: FlowType::L3L4 as i32,
        node_name: NODE.into(),
        event_type: event(1, 133),
        traffic_direction: TrafficDirection::Ingress as i32,
        file: Some(FileInfo {
            name: "bpf_lxc.c".into(),
            line: 2100,
        }),
        drop_reason_desc: flowscope_proto::flow::DropReason::PolicyDenied as i32,
        summary: "UDP".into(),
        ..Default::default()
    })
}

/// 15:43:26: denied HTTP request (also jsonpb sample line 3).
fn flow_http_request() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(2, 0)),
        verdict: Verdict::Dropped as i32,
        ip: ipv4("127.0.0.1", "127.0.0.1"),
        l4: tcp(32848, 12412, None),
        source: Some(reserved(1, "host")),
        destination: Some(reserved(2, "world")),
        r#type: FlowType::L7 as i32,
        node_name: NODE.into(),
        l7: Some(Layer7 {
            r#type: L7FlowType::Request as i32,
            latency_ns: 0,
            record: Some(layer7::Record::Http(Http {
                code: 0,
                method: "GET".into(),
                url: "http://192.168.10.211/details/1?a=1&b=<2>".into(),
                protocol: "HTTP/1.1".into(),
                headers: vec![HttpHeader {
                    key: "X-Request-Id".into(),
                    value: "abc".into(),
                }],
            })),
        }),
        event_type: event(129, 0),
        traffic_direction: TrafficDirection::Ingress as i32,
        is_reply: reply(false),
        trace_context: Some(TraceContext {
            parent: Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            }),
        }),
        summary: "HTTP/1.1 GET http://192.168.10.211/details/1".into(),
        ..Default::default()
    })
}

/// 15:43:26.120: HTTP response server → client (a reply).
fn flow_http_response() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(2, 120_000_000)),
        verdict: Verdict::Forwarded as i32,
        ip: ipv4("10.244.1.7", "10.244.0.5"),
        l4: tcp(8080, 43210, None),
        source: Some(server(false)),
        destination: Some(client(false)),
        r#type: FlowType::L7 as i32,
        node_name: NODE.into(),
        l7: Some(Layer7 {
            r#type: L7FlowType::Response as i32,
            latency_ns: 1_000_000,
            record: Some(layer7::Record::Http(Http {
                code: 200,
                method: "GET".into(),
                url: "http://server:8080/api".into(),
                protocol: "HTTP/1.1".into(),
                headers: vec![],
            })),
        }),
        event_type: event(129, 0),
        traffic_direction: TrafficDirection::Egress as i32,
        is_reply: reply(true),
        summary: "HTTP/1.1 200 1ms (GET http://server:8080/api)".into(),
        ..Default::default()
    })
}

/// 15:43:27: DNS request seen by the proxy.
fn flow_dns_request() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(3, 0)),
        verdict: Verdict::Forwarded as i32,
        ip: ipv4("10.244.0.5", "10.96.0.10"),
        l4: udp(40000, 53),
        source: Some(client(false)),
        destination: Some(Endpoint {
            identity: 102,
            namespace: "kube-system".into(),
            pod_name: "coredns-5d78c9869d-xyz12".into(),
            ..Default::default()
        }),
        r#type: FlowType::L7 as i32,
        node_name: NODE.into(),
        l7: Some(Layer7 {
            r#type: L7FlowType::Request as i32,
            latency_ns: 0,
            record: Some(layer7::Record::Dns(Dns {
                query: "isovalent.com.".into(),
                observation_source: "proxy".into(),
                qtypes: vec!["A".into()],
                ..Default::default()
            })),
        }),
        event_type: event(129, 0),
        traffic_direction: TrafficDirection::Egress as i32,
        is_reply: reply(false),
        summary: "DNS Query isovalent.com. A".into(),
        ..Default::default()
    })
}

/// 15:43:28: egress policy verdict, L3-L4 match.
fn flow_policy_verdict() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(4, 0)),
        verdict: Verdict::Forwarded as i32,
        ip: ipv4("10.244.0.5", "10.244.1.7"),
        l4: tcp(43210, 8080, syn()),
        source: Some(client(false)),
        destination: Some(server(false)),
        r#type: FlowType::L3L4 as i32,
        node_name: NODE.into(),
        event_type: event(5, 0),
        traffic_direction: TrafficDirection::Egress as i32,
        policy_match_type: 2,
        is_reply: reply(false),
        summary: "TCP Flags: SYN".into(),
        ..Default::default()
    })
}

/// 15:43:29: health → remote-node ICMPv6, direction unknown.
fn flow_health_icmpv6() -> GetFlowsResponse {
    wrap(Flow {
        time: Some(ts(5, 0)),
        verdict: Verdict::Forwarded as i32,
        ip: Some(Ip {
            source: "fd00::5".into(),
            destination: "fd00::7".into(),
            ip_version: IpVersion::IPv6 as i32,
            ..Default::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(layer4::Protocol::IcmPv6(IcmPv6 {
                r#type: 128,
                code: 0,
            })),
        }),
        source: Some(reserved(4, "health")),
        destination: Some(reserved(6, "remote-node")),
        r#type: FlowType::L3L4 as i32,
        node_name: NODE.into(),
        event_type: event(4, 5),
        trace_observation_point: TraceObservationPoint::FromEndpoint as i32,
        summary: "ICMPv6 EchoRequest".into(),
        ..Default::default()
    })
}

/// 15:43:30: 42 events lost in the observer queue on CPU 1.
fn lost_events() -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: NODE.into(),
        time: Some(ts(6, 0)),
        response_types: Some(ResponseTypes::LostEvents(LostEvent {
            source: LostEventSource::ObserverEventsQueue as i32,
            num_events_lost: 42,
            cpu: Some(Int32Value { value: 1 }),
            first: None,
            last: None,
        })),
    }
}

/// Every event of the compact sample, in order.
fn sample_events() -> Vec<GetFlowsResponse> {
    vec![
        flow_syn(),
        flow_syn_ack(),
        flow_drop(),
        flow_http_request(),
        flow_http_response(),
        flow_dns_request(),
        flow_policy_verdict(),
        flow_health_icmpv6(),
        lost_events(),
    ]
}

fn opts(format: OutputFormat) -> PrinterOptions {
    PrinterOptions {
        format,
        ..Default::default()
    }
}

fn render_with(options: PrinterOptions, events: &[GetFlowsResponse]) -> String {
    let mut p = Printer::new(options, Vec::new());
    for e in events {
        p.write(e).expect("write");
    }
    p.finish().expect("finish");
    String::from_utf8(p.into_inner()).expect("utf8")
}

fn render(format: OutputFormat, events: &[GetFlowsResponse]) -> String {
    render_with(opts(format), events)
}

/// `(stdout, stderr)` of a printer with an error writer.
fn render_both(options: PrinterOptions, events: &[GetFlowsResponse]) -> (String, String) {
    let mut p = Printer::with_stderr(options, Vec::new(), Vec::new());
    for e in events {
        p.write(e).expect("write");
    }
    p.finish().expect("finish");
    let (out, err) = p.into_parts();
    (
        String::from_utf8(out).expect("utf8"),
        String::from_utf8(err).expect("utf8"),
    )
}

fn flow_of(resp: GetFlowsResponse) -> Flow {
    match resp.response_types {
        Some(ResponseTypes::Flow(f)) => f,
        _ => Flow::default(),
    }
}

fn compact_line(flow: Flow) -> String {
    render(OutputFormat::Compact, &[wrap(flow)])
}

// --- golden samples -------------------------------------------------------------------------

#[test]
fn golden_compact() {
    assert_eq!(
        render(OutputFormat::Compact, &sample_events()),
        GOLDEN_COMPACT
    );
}

#[test]
fn golden_compact_print_node_name() {
    let options = PrinterOptions {
        print_node_name: true,
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(options, &[flow_health_icmpv6()]),
        GOLDEN_COMPACT_NODE
    );
}

#[test]
fn golden_compact_empty_flow() {
    let empty = Flow {
        time: Some(ts(1, 0)),
        verdict: Verdict::Forwarded as i32,
        summary: "unknown field".into(),
        ..Default::default()
    };
    assert_eq!(
        compact_line(empty),
        "Aug 23 15:43:25.000:  (unknown) <>  (unknown) UNKNOWN FORWARDED (unknown field)\n"
    );
}

#[test]
fn golden_dict() {
    let events = [flow_syn(), flow_syn_ack(), lost_events()];
    assert_eq!(render(OutputFormat::Dict, &events), GOLDEN_DICT);
}

#[test]
fn golden_table() {
    let out = render(OutputFormat::Table, &sample_events());
    assert_eq!(out, GOLDEN_TABLE);
    // The sheet's table is an excerpt of this output (its column widths come from the
    // dns-request row it leaves out): every sample line appears verbatim, in order.
    let mut lines = out.lines();
    for want in GOLDEN_TABLE_EXCERPT.lines() {
        assert!(
            lines.any(|l| l == want),
            "sample table line missing or out of order: {want:?}"
        );
    }
}

#[test]
fn golden_table_alias_tab() {
    use clap::ValueEnum;
    assert_eq!(
        OutputFormat::from_str("tab", false),
        Ok(OutputFormat::Table)
    );
    assert_eq!(
        OutputFormat::from_str("jsonpb", false),
        Ok(OutputFormat::Jsonpb)
    );
}

#[test]
fn golden_jsonpb_and_json() {
    let events = [flow_syn(), flow_drop(), flow_http_request(), lost_events()];
    assert_eq!(render(OutputFormat::Jsonpb, &events), GOLDEN_JSONPB);
    assert_eq!(render(OutputFormat::Json, &events), GOLDEN_JSONPB);
}

// --- table and dict details -----------------------------------------------------------------

#[test]
fn table_with_node_column() {
    let options = PrinterOptions {
        print_node_name: true,
        ..opts(OutputFormat::Table)
    };
    assert_eq!(
        render_with(options, &[flow_drop(), lost_events()]),
        "\
TIMESTAMP             NODE          SOURCE                  DESTINATION                         TYPE            VERDICT   SUMMARY
Aug 23 15:43:25.500   kind-worker   10.244.0.9:5353         default/server-7f8d9b6c4-fghij:53   Policy denied   DROPPED   UDP
Aug 23 15:43:30.000   kind-worker   OBSERVER_EVENTS_QUEUE   -                                   EVENTS LOST     -         CPU(1) - 42
"
    );
}

#[test]
fn table_is_buffered_until_finish() {
    let mut p = Printer::new(opts(OutputFormat::Table), Vec::new());
    p.write(&flow_syn()).expect("write");
    p.flush().expect("flush");
    let mut p2 = Printer::new(opts(OutputFormat::Table), Vec::new());
    p2.finish().expect("finish");
    assert!(p2.into_inner().is_empty(), "no events, no header");
    p.finish().expect("finish");
    assert_eq!(p.into_inner().iter().filter(|b| **b == b'\n').count(), 2);
}

#[test]
fn dict_with_node_name_and_lost_event_first() {
    let options = PrinterOptions {
        print_node_name: true,
        ..opts(OutputFormat::Dict)
    };
    assert_eq!(
        render_with(options, &[lost_events(), flow_drop()]),
        "  TIMESTAMP: Aug 23 15:43:30.000
       NODE: kind-worker
     SOURCE: OBSERVER_EVENTS_QUEUE
       TYPE: EVENTS LOST
    VERDICT: -
    SUMMARY: CPU(1) - 42
------------
  TIMESTAMP: Aug 23 15:43:25.500
       NODE: kind-worker
     SOURCE: 10.244.0.9:5353
DESTINATION: default/server-7f8d9b6c4-fghij:53
       TYPE: Policy denied
    VERDICT: DROPPED
    SUMMARY: UDP
"
    );
}

#[test]
fn compact_lost_event_never_shows_the_node_name() {
    // Hubble's compact WriteLostEvent has no node column, even with --print-node-name.
    let options = PrinterOptions {
        print_node_name: true,
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(options, &[lost_events()]),
        "Aug 23 15:43:30.000 EVENTS LOST: OBSERVER_EVENTS_QUEUE CPU(1) 42\n"
    );
}

#[test]
fn responses_without_payload_are_ignored() {
    let empty = GetFlowsResponse::default();
    // Hubble's WriteGetFlowsResponse returns early for a nil payload, in every format.
    for format in [
        OutputFormat::Compact,
        OutputFormat::Dict,
        OutputFormat::Table,
        OutputFormat::Jsonpb,
    ] {
        assert_eq!(render(format, std::slice::from_ref(&empty)), "");
    }
}

// --- hosts, ports, identities ---------------------------------------------------------------

#[test]
fn ipv6_host_with_port_is_bracketed() {
    let mut f = flow_of(flow_health_icmpv6());
    f.l4 = tcp(8080, 443, None);
    f.is_reply = reply(false);
    f.summary = "TCP Flags: ACK".into();
    assert_eq!(
        compact_line(f),
        "Aug 23 15:43:29.000: [fd00::5]:8080 (health) -> [fd00::7]:443 (remote-node) from-endpoint FORWARDED (TCP Flags: ACK)\n"
    );
}

#[test]
fn port_zero_is_omitted() {
    let mut f = flow_of(flow_drop());
    f.l4 = udp(0, 53);
    assert_eq!(
        compact_line(f),
        "Aug 23 15:43:25.500: 10.244.0.9 (world) <> default/server-7f8d9b6c4-fghij:53 (ID:25001) Policy denied DROPPED (UDP)\n"
    );
}

#[test]
fn identity_11_is_not_a_display_name() {
    let mut f = flow_of(flow_drop());
    f.source = Some(reserved(11, "overlay-to-encrypt"));
    f.destination = Some(reserved(10, "world-ipv6"));
    f.l4 = None;
    assert_eq!(
        compact_line(f),
        "Aug 23 15:43:25.500: 10.244.0.9 (ID:11) <> 10.244.1.7 (world-ipv6) Policy denied DROPPED (UDP)\n"
    );
}

#[test]
fn services_and_dns_names_and_numeric() {
    let mut f = flow_of(flow_policy_verdict());
    f.source = None;
    f.destination = None;
    f.source_names = vec!["a.example.com".into(), "b.example.com".into()];
    f.destination_service = Some(Service {
        name: "backend".into(),
        namespace: "prod".into(),
    });
    assert_eq!(
        compact_line(f.clone()),
        "Aug 23 15:43:28.000: a.example.com,b.example.com:43210 (unknown) -> prod/backend:8080 (unknown) policy-verdict:L3-L4 EGRESS ALLOWED (TCP Flags: SYN)\n"
    );
    let numeric = PrinterOptions {
        numeric: true,
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(numeric, &[wrap(f)]),
        "Aug 23 15:43:28.000: 10.244.0.5:43210 (unknown) -> 10.244.1.7:8080 (unknown) policy-verdict:L3-L4 EGRESS ALLOWED (TCP Flags: SYN)\n"
    );
    // Reserved identity names stay with --numeric.
    let numeric = PrinterOptions {
        numeric: true,
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(numeric, &[flow_drop()]),
        "Aug 23 15:43:25.500: 10.244.0.9:5353 (world) <> 10.244.1.7:53 (ID:25001) Policy denied DROPPED (UDP)\n"
    );
}

#[test]
fn without_ip_the_macs_are_shown() {
    let f = Flow {
        time: Some(ts(0, 0)),
        verdict: Verdict::Forwarded as i32,
        ethernet: Some(Ethernet {
            source: "0a:58:0a:f4:00:05".into(),
            destination: "ff:ff:ff:ff:ff:ff".into(),
        }),
        event_type: event(4, 3),
        summary: "ARP".into(),
        ..Default::default()
    };
    assert_eq!(
        compact_line(f),
        "Aug 23 15:43:24.000: 0a:58:0a:f4:00:05 (unknown) <> ff:ff:ff:ff:ff:ff (unknown) to-stack FORWARDED (ARP)\n"
    );
}

// --- TYPE, VERDICT, SUMMARY -----------------------------------------------------------------

fn typed(event_type: Option<CiliumEventType>) -> Flow {
    Flow {
        event_type,
        ..Default::default()
    }
}

#[test]
fn flow_type_column() {
    use fields::flow_type;
    assert_eq!(flow_type(&typed(event(4, 0))), "to-endpoint");
    assert_eq!(flow_type(&typed(event(4, 10))), "from-network");
    assert_eq!(flow_type(&typed(event(4, 42))), "42");
    assert_eq!(
        flow_type(&typed(event(1, 181))),
        "Policy denied by denylist"
    );
    assert_eq!(flow_type(&typed(event(1, 250))), "250, 0");
    assert_eq!(flow_type(&typed(event(2, 0))), "UNKNOWN");
    assert_eq!(flow_type(&typed(None)), "UNKNOWN");

    let mut f = typed(event(3, 4));
    f.debug_capture_point = 4;
    assert_eq!(flow_type(&f), "DBG_CAPTURE_DELIVERY");
    f.debug_capture_point = 99;
    assert_eq!(flow_type(&f), "99");

    let mut f = typed(event(7, 3));
    for (point, name) in [
        (1, "pre-xlate-fwd"),
        (2, "post-xlate-fwd"),
        (3, "pre-xlate-rev"),
        (4, "post-xlate-rev"),
        (0, "SOCK_XLATE_POINT_UNKNOWN"),
    ] {
        f.sock_xlate_point = point;
        assert_eq!(flow_type(&f), name);
    }

    let mut f = typed(event(5, 0));
    f.policy_match_type = 0;
    f.traffic_direction = TrafficDirection::Ingress as i32;
    assert_eq!(flow_type(&f), "policy-verdict:none INGRESS");
    f.policy_match_type = 6;
    f.traffic_direction = 0;
    assert_eq!(
        flow_type(&f),
        "policy-verdict:Proto-Only TRAFFIC_DIRECTION_UNKNOWN"
    );

    let l7 = |r#type: L7FlowType, record: Option<layer7::Record>| Flow {
        l7: Some(Layer7 {
            r#type: r#type as i32,
            latency_ns: 0,
            record,
        }),
        event_type: event(129, 0),
        ..Default::default()
    };
    assert_eq!(
        flow_type(&l7(
            L7FlowType::Response,
            Some(layer7::Record::Dns(Dns {
                observation_source: "proxy".into(),
                ..Default::default()
            }))
        )),
        "dns-response proxy"
    );
    // No observation source still gets the separating space, as in Hubble.
    assert_eq!(
        flow_type(&l7(
            L7FlowType::Request,
            Some(layer7::Record::Dns(Dns::default()))
        )),
        "dns-request "
    );
    assert_eq!(
        flow_type(&l7(
            L7FlowType::Request,
            Some(layer7::Record::Kafka(Kafka::default()))
        )),
        "kafka-request"
    );
    assert_eq!(flow_type(&l7(L7FlowType::Sample, None)), "l7-sample");
}

#[test]
fn policy_verdict_verdicts() {
    let pv = |v: Verdict| Flow {
        verdict: v as i32,
        event_type: event(5, 0),
        ..Default::default()
    };
    assert_eq!(fields::verdict(&pv(Verdict::Forwarded)), "ALLOWED");
    assert_eq!(fields::verdict(&pv(Verdict::Redirected)), "ALLOWED");
    assert_eq!(fields::verdict(&pv(Verdict::Dropped)), "DENIED");
    assert_eq!(fields::verdict(&pv(Verdict::Error)), "DENIED");
    assert_eq!(fields::verdict(&pv(Verdict::Audit)), "AUDITED");
    assert_eq!(fields::verdict(&pv(Verdict::Traced)), "TRACED");
    let trace = |v: i32| Flow {
        verdict: v,
        event_type: event(4, 0),
        ..Default::default()
    };
    assert_eq!(
        fields::verdict(&trace(Verdict::Redirected as i32)),
        "REDIRECTED"
    );
    assert_eq!(fields::verdict(&trace(Verdict::Audit as i32)), "AUDIT");
    assert_eq!(fields::verdict(&trace(0)), "VERDICT_UNKNOWN");
    assert_eq!(fields::verdict(&trace(42)), "42");
}

#[test]
fn summary_trace_id_prefix_and_auth_suffix() {
    let mut f = flow_of(flow_policy_verdict());
    f.ip_trace_id = Some(IpTraceId {
        trace_id: 4242,
        ip_option_type: 136,
    });
    f.auth_type = flowscope_proto::flow::AuthType::Spire as i32;
    assert_eq!(
        compact_line(f.clone()),
        "Aug 23 15:43:28.000: default/client-6d4b9c7f5-abcde:43210 (ID:25000) -> default/server-7f8d9b6c4-fghij:8080 (ID:25001) policy-verdict:L3-L4 EGRESS ALLOWED (IP Trace ID: 4242; TCP Flags: SYN; Auth: SPIRE)\n"
    );
    f.ip_trace_id = Some(IpTraceId {
        trace_id: 0,
        ip_option_type: 136,
    });
    f.auth_type = flowscope_proto::flow::AuthType::TestAlwaysFail as i32;
    assert_eq!(
        fields::summary(&f),
        "TCP Flags: SYN; Auth: TEST_ALWAYS_FAIL"
    );
    // Dict uses the same summary.
    let dict = render(OutputFormat::Dict, &[wrap(f)]);
    assert!(dict.ends_with("    SUMMARY: TCP Flags: SYN; Auth: TEST_ALWAYS_FAIL\n"));
}

// --- time -----------------------------------------------------------------------------------

#[test]
fn time_format_and_zone_options() {
    let options = PrinterOptions {
        time_format: TimeFormat::Rfc3339Nano,
        time_zone: TimeZone::Fixed(chrono::FixedOffset::east_opt(3600).expect("offset")),
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(options, &[flow_health_icmpv6()]),
        "2023-08-23T16:43:29+01:00: fd00::5 (health) <> fd00::7 (remote-node) from-endpoint FORWARDED (ICMPv6 EchoRequest)\n"
    );
    let mut f = flow_of(flow_health_icmpv6());
    f.time = None;
    assert!(compact_line(f).starts_with("N/A: fd00::5 (health)"));
}

// --- hostile strings ------------------------------------------------------------------------

fn hostile_flow() -> GetFlowsResponse {
    let mut f = flow_of(flow_http_request());
    f.node_name = "node\x1b]0;pwned\x07".into();
    f.source = Some(Endpoint {
        identity: 25000,
        namespace: "default".into(),
        pod_name: "evil\x1b[31m-pod\x1b[0m".into(),
        ..Default::default()
    });
    f.destination_names = vec!["x.example\r\n".into()];
    f.summary = "GET /\x1b[2J\u{9b}1m\tdone\x7f".into();
    wrap(f)
}

#[test]
fn hostile_strings_are_escaped_in_compact() {
    let options = PrinterOptions {
        print_node_name: true,
        ..opts(OutputFormat::Compact)
    };
    assert_eq!(
        render_with(options, &[hostile_flow()]),
        "Aug 23 15:43:26.000 [node^[]0;pwned\\x07]: default/evil^[[31m-pod^[[0m:32848 (ID:25000) -> x.example\\r\\n:12412 (world) http-request DROPPED (GET /^[[2J\\u009b1m\\tdone\\x7f)\n"
    );
}

#[test]
fn hostile_strings_are_escaped_in_dict_and_table() {
    let dict = render(OutputFormat::Dict, &[hostile_flow()]);
    assert_eq!(
        dict,
        "  TIMESTAMP: Aug 23 15:43:26.000
     SOURCE: default/evil^[[31m-pod^[[0m:32848
DESTINATION: x.example\\r\\n:12412
       TYPE: http-request
    VERDICT: DROPPED
    SUMMARY: GET /^[[2J\\u009b1m\\tdone\\x7f
"
    );
    let table = render(OutputFormat::Table, &[hostile_flow()]);
    assert_eq!(
        table,
        "\
TIMESTAMP             SOURCE                              DESTINATION           TYPE           VERDICT   SUMMARY
Aug 23 15:43:26.000   default/evil^[[31m-pod^[[0m:32848   x.example\\r\\n:12412   http-request   DROPPED   GET /^[[2J\\u009b1m\\tdone\\x7f
"
    );
    for out in [&dict, &table] {
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'));
    }
    // JSON keeps the raw strings (JSON escaping makes them inert).
    let json = render(OutputFormat::Jsonpb, &[hostile_flow()]);
    assert!(json.contains(r#""pod_name":"evil\u001b[31m-pod\u001b[0m""#));
}

// --- node status ----------------------------------------------------------------------------

fn node_status(state: NodeState, names: &[&str], message: &str) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: "relay".into(),
        time: Some(ts(0, 0)),
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent {
            state_change: state as i32,
            node_names: names.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        })),
    }
}

#[test]
fn node_status_goes_to_stderr() {
    let events = [
        node_status(NodeState::NodeConnected, &["a", "b", "c"], ""),
        node_status(
            NodeState::NodeError,
            &["k8s1", "k8s2"],
            "invalid IP \"foo\"",
        ),
        node_status(NodeState::NodeUnavailable, &["b"], ""),
        flow_drop(),
    ];
    let (out, err) = render_both(opts(OutputFormat::Compact), &events);
    assert_eq!(
        out,
        "Aug 23 15:43:25.500: 10.244.0.9:5353 (world) <> default/server-7f8d9b6c4-fghij:53 (ID:25001) Policy denied DROPPED (UDP)\n"
    );
    assert_eq!(
        err,
        "Aug 23 15:43:24.000 [relay]: Error \"invalid IP \\\"foo\\\"\" on 2 nodes: k8s1, k8s2\n\
         Aug 23 15:43:24.000 [relay]: 1 nodes are unavailable: b\n"
    );

    let debug = PrinterOptions {
        debug: true,
        ..opts(OutputFormat::Table)
    };
    let (out, err) = render_both(debug, &events[..1]);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "Aug 23 15:43:24.000 [relay]: Receiving flows from 3 nodes: a, b, c\n"
    );
}

#[test]
fn node_status_dict_and_json() {
    let events = [
        node_status(NodeState::NodeError, &["k8s2", "k8s1"], "boom \x1b[1m"),
        flow_drop(),
    ];
    let (out, err) = render_both(opts(OutputFormat::Dict), &events);
    assert_eq!(
        err,
        "  TIMESTAMP: Aug 23 15:43:24.000
      STATE: NODE_ERROR
      NODES: k8s2, k8s1
    MESSAGE: \"boom \\x1b[1m\"
"
    );
    // The node event counts as a record, so the flow gets a separator.
    assert!(out.starts_with("------------\n  TIMESTAMP: Aug 23 15:43:25.500\n"));

    let (out, err) = render_both(opts(OutputFormat::Jsonpb), &events[..1]);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "{\"node_status\":{\"state_change\":\"NODE_ERROR\",\"node_names\":[\"k8s2\",\"k8s1\"],\"message\":\"boom \\u001b[1m\"},\"node_name\":\"relay\",\"time\":\"2023-08-23T15:43:24Z\"}\n"
    );
}

#[test]
fn node_names_are_cut_off() {
    let names: Vec<String> = (0..10).map(|i| format!("node-{i:02}")).collect();
    assert_eq!(
        join_with_cut_off(&names, ", ", 50),
        "node-00, node-01, node-02, node-03, node-04 (and 5 more)"
    );
    let long = vec!["x".repeat(60), "y".into()];
    assert_eq!(
        join_with_cut_off(&long, ", ", 50),
        format!("{} (and 1 more)", "x".repeat(60))
    );
    assert_eq!(join_with_cut_off(&[], ", ", 50), "");
}
