//! Hand-built records for every layout version, checked field by field.

use std::net::{IpAddr, Ipv6Addr};

use flowscope_proto::flow::{
    DebugCapturePoint, DropReason, Endpoint, FileInfo, Flow, FlowType, IpTraceId, IpVersion,
    NetworkInterface, SocketTranslationPoint, TcpFlags, TraceObservationPoint, TraceReason,
    TrafficDirection, Verdict, layer4, tunnel,
};
use flowscope_proto::types::{BoolValue, Timestamp};

use super::build::{
    CaptureRecord, DropRecord, Ip4, Ip6, L4Spec, PolicyVerdictRecord, TraceRecord, TraceSockRecord,
};
use super::*;

const CLIENT: [u8; 4] = [10, 244, 1, 10];
const SERVER: [u8; 4] = [10, 244, 1, 20];
const REMOTE: [u8; 4] = [10, 244, 2, 30];
const CLIENT_EP: u16 = 101;
const SERVER_EP: u16 = 202;
const CLIENT_ID: u32 = 30001;
const SERVER_ID: u32 = 30002;

fn state() -> ClusterState {
    ClusterState::parse(
        r#"node_name: kind-worker
endpoints:
  - name: client-1
    namespace: default
    labels: {app: client}
    ips: [10.244.1.10, "fd00::10"]
    identity: 30001
    endpoint_id: 101
    workload: client
  - name: server-1
    namespace: default
    labels: {app: server}
    ips: [10.244.1.20, "fd00::20"]
    identity: 30002
    endpoint_id: 202
    workload: server
  - name: remote-1
    namespace: other
    labels: {app: remote}
    ips: [10.244.2.30]
    identity: 30003
"#,
    )
    .expect("state")
}

fn t0() -> Timestamp {
    Timestamp {
        seconds: 1_700_000_000,
        nanos: 5,
    }
}

fn decode(rec: &[u8]) -> Flow {
    L34Parser::new()
        .decode_flow(rec, t0(), &state())
        .expect("decodes")
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("ipv6")
}

fn tcp(flags: u8) -> Vec<u8> {
    build::ether_ipv4(
        Ip4::new(CLIENT, SERVER),
        L4Spec::Tcp {
            src: 43210,
            dst: 8080,
            flags,
        },
    )
}

fn tcp_of(f: &Flow) -> (u32, u32, TcpFlags) {
    match f.l4.as_ref().and_then(|l| l.protocol.as_ref()) {
        Some(layer4::Protocol::Tcp(t)) => (
            t.source_port,
            t.destination_port,
            t.flags.unwrap_or_default(),
        ),
        other => panic!("not TCP: {other:?}"),
    }
}

fn ip_of(f: &Flow) -> (&str, &str, &str, i32) {
    let ip = f.ip.as_ref().expect("ip");
    (
        ip.source.as_str(),
        ip.source_xlated.as_str(),
        ip.destination.as_str(),
        ip.ip_version,
    )
}

fn ep(f: &Flow, source: bool) -> &Endpoint {
    if source {
        f.source.as_ref().expect("source")
    } else {
        f.destination.as_ref().expect("destination")
    }
}

// --- TraceNotify ---------------------------------------------------------------------------

#[test]
fn trace_v1_to_endpoint_established() {
    // The server's endpoint sees the client's ACK arrive: TO_ENDPOINT (datapath 0).
    let rec = TraceRecord {
        version: 1,
        obs_point: 0,
        source: SERVER_EP,
        src_label: CLIENT_ID,
        dst_label: SERVER_ID,
        dst_id: SERVER_EP,
        reason: 1,
        ..Default::default()
    }
    .record(&tcp(0x10));
    let f = decode(&rec);
    assert_eq!(f.time, Some(t0()));
    assert_eq!(f.uuid.len(), 36);
    assert_eq!(f.verdict, Verdict::Forwarded as i32);
    assert_eq!(f.r#type, FlowType::L3L4 as i32);
    assert_eq!(f.node_name, "kind-worker");
    let et = f.event_type.expect("event type");
    assert_eq!((et.r#type, et.sub_type), (4, 0));
    assert_eq!(
        f.trace_observation_point,
        TraceObservationPoint::ToEndpoint as i32
    );
    assert_eq!(f.trace_reason, TraceReason::Established as i32);
    assert_eq!(f.is_reply, Some(BoolValue { value: false }));
    assert!(!f.reply);
    assert_eq!(f.traffic_direction, TrafficDirection::Ingress as i32);
    let eth = f.ethernet.as_ref().expect("ethernet");
    assert_eq!(eth.source, "0a:58:0a:f4:01:01");
    assert_eq!(eth.destination, "0a:58:0a:f4:01:02");
    assert_eq!(
        ip_of(&f),
        ("10.244.1.10", "", "10.244.1.20", IpVersion::IPv4 as i32)
    );
    let (sport, dport, flags) = tcp_of(&f);
    assert_eq!((sport, dport), (43210, 8080));
    assert!(flags.ack && !flags.syn && !flags.psh);
    assert_eq!(f.summary, "TCP Flags: ACK");
    let src = ep(&f, true);
    assert_eq!(
        (src.id, src.identity, src.pod_name.as_str()),
        (101, CLIENT_ID, "client-1")
    );
    assert_eq!(
        src.labels,
        ["k8s:app=client", "k8s:io.kubernetes.pod.namespace=default"]
    );
    assert_eq!(src.workloads.len(), 1);
    let dst = ep(&f, false);
    assert_eq!((dst.id, dst.identity), (202, SERVER_ID));
    assert_eq!(f.file, None);
    assert_eq!(f.drop_reason_desc, 0);
    assert_eq!(f.interface, None);
    assert_eq!(f.ip_trace_id, None);
    assert_eq!(f.proxy_port, 0);
    assert_eq!(
        f.emitter.as_ref().map(|e| e.name.as_str()),
        Some("Flowscope")
    );
}

#[test]
fn trace_v0_from_endpoint_new_is_egress() {
    let rec = TraceRecord {
        version: 0,
        obs_point: 5,
        source: CLIENT_EP,
        src_label: CLIENT_ID,
        reason: 0,
        ifindex: 17,
        ..Default::default()
    }
    .record(&tcp(0x02));
    // v0 has no orig_ip: the packet follows at 32.
    assert_eq!(rec.len(), 32 + 54);
    let f = decode(&rec);
    let et = f.event_type.expect("event type");
    assert_eq!((et.r#type, et.sub_type), (4, 5));
    assert_eq!(
        f.trace_observation_point,
        TraceObservationPoint::FromEndpoint as i32
    );
    assert_eq!(f.trace_reason, TraceReason::New as i32);
    assert_eq!(f.traffic_direction, TrafficDirection::Egress as i32);
    assert_eq!(f.summary, "TCP Flags: SYN");
    // The destination identity comes from the state when the datapath gives none.
    assert_eq!(ep(&f, false).identity, SERVER_ID);
    assert_eq!(
        f.interface,
        Some(NetworkInterface {
            index: 17,
            name: String::new()
        })
    );
}

#[test]
fn trace_reply_flips_direction() {
    // The server's reply leaving the server (source = server's endpoint): a reply from the
    // local endpoint is ingress of the connection.
    let pkt = build::ether_ipv4(
        Ip4::new(SERVER, CLIENT),
        L4Spec::Tcp {
            src: 8080,
            dst: 43210,
            flags: 0x18,
        },
    );
    let rec = TraceRecord {
        version: 1,
        obs_point: 5,
        source: SERVER_EP,
        reason: 2,
        ..Default::default()
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(f.is_reply, Some(BoolValue { value: true }));
    assert!(f.reply);
    assert_eq!(f.trace_reason, TraceReason::Reply as i32);
    assert_eq!(f.traffic_direction, TrafficDirection::Ingress as i32);
    assert_eq!(f.summary, "TCP Flags: ACK, PSH");
}

#[test]
fn trace_unknown_reason_leaves_reply_and_direction_unknown() {
    let rec = TraceRecord {
        version: 1,
        obs_point: 3,
        source: CLIENT_EP,
        reason: 5,
        ..Default::default()
    }
    .record(&tcp(0x10));
    let f = decode(&rec);
    assert_eq!(f.is_reply, None);
    assert!(!f.reply);
    assert_eq!(f.trace_reason, TraceReason::Unknown as i32);
    assert_eq!(f.traffic_direction, TrafficDirection::Unknown as i32);
    assert_eq!(
        f.trace_observation_point,
        TraceObservationPoint::ToStack as i32
    );
}

#[test]
fn trace_srv6_encap_has_no_reply_state() {
    let rec = TraceRecord {
        version: 1,
        obs_point: 4,
        reason: 6,
        ..Default::default()
    }
    .record(&tcp(0x10));
    let f = decode(&rec);
    assert_eq!(f.is_reply, None);
    assert_eq!(f.trace_reason, TraceReason::Srv6Encap as i32);
    // Source 0: no direction.
    assert_eq!(f.traffic_direction, TrafficDirection::Unknown as i32);
}

#[test]
fn trace_v2_snat_orig_ip_ip_trace_id_and_encryption() {
    let mut orig = [0u8; 16];
    orig[..4].copy_from_slice(&CLIENT);
    // After SNAT the packet leaves with the node's address.
    let pkt = build::ether_ipv4(
        Ip4::new([192, 168, 0, 5], [8, 8, 8, 8]),
        L4Spec::Udp {
            src: 40000,
            dst: 53,
        },
    );
    let rec = TraceRecord {
        version: 2,
        obs_point: 11,
        source: CLIENT_EP,
        reason: 0x80 | 1,
        orig_ip: orig,
        ip_trace_id: 0x1234_5678_9abc,
        ..Default::default()
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(
        ip_of(&f),
        (
            "10.244.1.10",
            "192.168.0.5",
            "8.8.8.8",
            IpVersion::IPv4 as i32
        )
    );
    assert!(f.ip.as_ref().is_some_and(|ip| ip.encrypted));
    // The source endpoint is resolved from the original address.
    assert_eq!(ep(&f, true).pod_name, "client-1");
    assert_eq!(ep(&f, false).identity, 2);
    assert_eq!(f.trace_reason, TraceReason::Established as i32);
    assert_eq!(f.traffic_direction, TrafficDirection::Egress as i32);
    assert_eq!(
        f.ip_trace_id,
        Some(IpTraceId {
            trace_id: 0x1234_5678_9abc,
            ip_option_type: 0
        })
    );
    assert_eq!(f.summary, "UDP");
    let p = L34Parser::new().with_ip_trace_option_type(136);
    let f = { p }.decode_flow(&rec, t0(), &state()).expect("decodes");
    assert_eq!(f.ip_trace_id.map(|t| t.ip_option_type), Some(136));
}

#[test]
fn trace_orig_ip_equal_to_header_is_not_xlated() {
    let mut orig = [0u8; 16];
    orig[..4].copy_from_slice(&CLIENT);
    let rec = TraceRecord {
        version: 1,
        obs_point: 5,
        source: SERVER_EP,
        reason: 1,
        orig_ip: orig,
        ..Default::default()
    }
    .record(&tcp(0x10));
    let f = decode(&rec);
    assert_eq!(ip_of(&f).1, "");
    // Not the source endpoint, not a reply, but SNATed (orig_ip set): egress.
    assert_eq!(f.traffic_direction, TrafficDirection::Egress as i32);
}

#[test]
fn trace_to_proxy_reports_the_proxy_port() {
    let rec = TraceRecord {
        version: 1,
        obs_point: 1,
        source: CLIENT_EP,
        dst_id: 15001,
        reason: 0,
        ..Default::default()
    }
    .record(&tcp(0x02));
    let f = decode(&rec);
    assert_eq!(f.proxy_port, 15001);
    assert_eq!(
        f.trace_observation_point,
        TraceObservationPoint::ToProxy as i32
    );
}

#[test]
fn trace_l3_device_ipv6_udp() {
    let pkt = build::ipv6(
        Ip6::new(v6("fd00::10"), v6("fd00::20")),
        L4Spec::Udp { src: 5353, dst: 53 },
    );
    let rec = TraceRecord {
        version: 1,
        obs_point: 0,
        source: SERVER_EP,
        reason: 0,
        flags: 0x01 | 0x02,
        ..Default::default()
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(f.ethernet, None);
    assert_eq!(
        ip_of(&f),
        ("fd00::10", "", "fd00::20", IpVersion::IPv6 as i32)
    );
    assert_eq!(f.summary, "UDP");
    assert_eq!(ep(&f, true).pod_name, "client-1");
    assert_eq!(ep(&f, false).pod_name, "server-1");
    match f.l4.and_then(|l| l.protocol) {
        Some(layer4::Protocol::Udp(u)) => {
            assert_eq!((u.source_port, u.destination_port), (5353, 53))
        }
        other => panic!("not UDP: {other:?}"),
    }
}

#[test]
fn trace_v1_ipv6_orig_ip() {
    let pkt = build::ether_ipv6(
        Ip6::new(v6("fd00::99"), v6("fd00::20")),
        L4Spec::Tcp {
            src: 1,
            dst: 2,
            flags: 0x02,
        },
    );
    let rec = TraceRecord {
        version: 1,
        obs_point: 11,
        source: CLIENT_EP,
        reason: 0,
        flags: 0x01,
        orig_ip: v6("fd00::10").octets(),
        ..Default::default()
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(ip_of(&f).0, "fd00::10");
    assert_eq!(ip_of(&f).1, "fd00::99");
}

#[test]
fn icmp_echo_summaries() {
    let v4 = build::ether_ipv4(Ip4::new(CLIENT, SERVER), L4Spec::Icmpv4 { typ: 8, code: 0 });
    let rec = TraceRecord {
        version: 1,
        obs_point: 5,
        source: CLIENT_EP,
        reason: 0,
        ..Default::default()
    };
    let f = decode(&rec.record(&v4));
    assert_eq!(f.summary, "ICMPv4 EchoRequest");
    match f.l4.and_then(|l| l.protocol) {
        Some(layer4::Protocol::IcmPv4(i)) => assert_eq!((i.r#type, i.code), (8, 0)),
        other => panic!("not ICMPv4: {other:?}"),
    }
    let v6pkt = build::ether_ipv6(
        Ip6::new(v6("fd00::20"), v6("fd00::10")),
        L4Spec::Icmpv6 { typ: 129, code: 0 },
    );
    let f = decode(&rec.record(&v6pkt));
    assert_eq!(f.summary, "ICMPv6 EchoReply");
    match f.l4.and_then(|l| l.protocol) {
        Some(layer4::Protocol::IcmPv6(i)) => assert_eq!((i.r#type, i.code), (129, 0)),
        other => panic!("not ICMPv6: {other:?}"),
    }
    let unreachable =
        build::ether_ipv4(Ip4::new(SERVER, CLIENT), L4Spec::Icmpv4 { typ: 3, code: 3 });
    assert_eq!(
        decode(&rec.record(&unreachable)).summary,
        "ICMPv4 DestinationUnreachable(Port)"
    );
}

#[test]
fn vxlan_trace_shows_the_inner_flow_and_the_tunnel() {
    let inner = tcp(0x02);
    let mut vx = vec![0x08, 0, 0, 0, 0, 0x01, 0x00, 0];
    vx.extend_from_slice(&inner);
    let outer = build::ether_ipv4(
        Ip4::new([192, 168, 1, 1], [192, 168, 1, 2]),
        L4Spec::UdpPayload {
            src: 51000,
            dst: 8472,
            payload: vx,
        },
    );
    let rec = TraceRecord {
        version: 1,
        obs_point: 4,
        source: CLIENT_EP,
        reason: 0,
        flags: 0x04,
        ..Default::default()
    }
    .record(&outer);
    let f = decode(&rec);
    assert_eq!(ip_of(&f).0, "10.244.1.10");
    assert_eq!(f.summary, "TCP Flags: SYN");
    let t = f.tunnel.as_ref().expect("tunnel");
    assert_eq!(t.protocol, tunnel::Protocol::Vxlan as i32);
    assert_eq!(t.vni, 256);
    assert_eq!(
        t.ip.as_ref().map(|ip| ip.source.as_str()),
        Some("192.168.1.1")
    );
    assert!(matches!(
        t.l4.as_ref().and_then(|l| l.protocol.as_ref()),
        Some(layer4::Protocol::Udp(_))
    ));
}

// --- DropNotify ----------------------------------------------------------------------------

fn policy_drop(version: u8) -> DropRecord {
    DropRecord {
        version,
        reason: 133,
        source: SERVER_EP,
        src_label: CLIENT_ID,
        dst_label: SERVER_ID,
        dst_id: u32::from(SERVER_EP),
        line: 1234,
        file: 2,
        ..Default::default()
    }
}

fn check_policy_drop(f: &Flow) {
    assert_eq!(f.verdict, Verdict::Dropped as i32);
    assert_eq!(f.drop_reason, 133);
    assert_eq!(f.drop_reason_desc, DropReason::PolicyDenied as i32);
    let et = f.event_type.expect("event type");
    assert_eq!((et.r#type, et.sub_type), (1, 133));
    assert_eq!(
        f.file,
        Some(FileInfo {
            name: "bpf_lxc.c".to_string(),
            line: 1234
        })
    );
    assert_eq!(f.is_reply, None);
    assert!(!f.reply);
    // Dropped at the server's endpoint, the packet came from elsewhere: ingress.
    assert_eq!(f.traffic_direction, TrafficDirection::Ingress as i32);
    assert_eq!(f.trace_observation_point, 0);
    assert_eq!(f.trace_reason, 0);
    assert_eq!(f.summary, "TCP Flags: SYN");
    assert_eq!(ep(f, true).identity, CLIENT_ID);
}

#[test]
fn drop_versions_0_to_3() {
    for version in 0..=3 {
        let rec = policy_drop(version).record(&tcp(0x02));
        let expected_header = match version {
            0 | 1 => 36,
            2 => 40,
            _ => 48,
        };
        assert_eq!(rec.len(), expected_header + 54, "v{version}");
        check_policy_drop(&decode(&rec));
    }
}

#[test]
fn drop_v2_l3_device_and_v3_trace_id() {
    let pkt = build::ipv4(
        Ip4::new(CLIENT, SERVER),
        L4Spec::Tcp {
            src: 43210,
            dst: 8080,
            flags: 0x02,
        },
    );
    let rec = DropRecord {
        flags: 0x02,
        ..policy_drop(2)
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(f.ethernet, None);
    check_policy_drop(&f);
    let rec = DropRecord {
        ip_trace_id: 77,
        ..policy_drop(3)
    }
    .record(&tcp(0x02));
    assert_eq!(decode(&rec).ip_trace_id.map(|t| t.trace_id), Some(77));
}

#[test]
fn drop_from_a_remote_pod_has_no_endpoint_id() {
    let pkt = build::ether_ipv4(
        Ip4::new(REMOTE, SERVER),
        L4Spec::Tcp {
            src: 50000,
            dst: 8080,
            flags: 0x02,
        },
    );
    let rec = DropRecord {
        src_label: 30003,
        ..policy_drop(2)
    }
    .record(&pkt);
    let f = decode(&rec);
    let src = ep(&f, true);
    assert_eq!((src.id, src.identity), (0, 30003));
    assert_eq!(
        (src.namespace.as_str(), src.pod_name.as_str()),
        ("other", "remote-1")
    );
    assert!(src.workloads.is_empty());
    assert_eq!(f.traffic_direction, TrafficDirection::Ingress as i32);
}

#[test]
fn drop_at_the_source_endpoint_is_egress() {
    let rec = DropRecord {
        source: CLIENT_EP,
        reason: 181,
        file: 250,
        ..policy_drop(2)
    }
    .record(&tcp(0x02));
    let f = decode(&rec);
    assert_eq!(f.traffic_direction, TrafficDirection::Egress as i32);
    assert_eq!(f.drop_reason_desc, DropReason::PolicyDeny as i32);
    assert_eq!(f.file.map(|fi| fi.name), Some("unknown(250)".to_string()));
}

#[test]
fn drop_without_source_has_no_direction() {
    let rec = DropRecord {
        source: 0,
        ..policy_drop(2)
    }
    .record(&tcp(0x02));
    assert_eq!(
        decode(&rec).traffic_direction,
        TrafficDirection::Unknown as i32
    );
}

#[test]
fn drop_of_an_arp_frame_has_no_ip() {
    let arp = build::ether(build::SRC_MAC, [0xff; 6], 0x0806, &[0u8; 28]);
    let rec = DropRecord {
        src_label: 0,
        dst_label: 0,
        ..policy_drop(2)
    }
    .record(&arp);
    let f = decode(&rec);
    assert_eq!(f.summary, "Ethernet");
    assert_eq!(f.ip, None);
    assert_eq!(f.l4, None);
    assert_eq!(f.source, Some(Endpoint::default()));
}

// --- PolicyVerdictNotify -------------------------------------------------------------------

fn verdict_record(old_layout: bool, verdict: i32, flags: u8) -> Vec<u8> {
    PolicyVerdictRecord {
        old_layout,
        source: SERVER_EP,
        remote_label: CLIENT_ID,
        verdict,
        dst_port: 8080,
        proto: 6,
        flags,
        auth_type: 1,
        cookie: 9,
        ..Default::default()
    }
    .record(&tcp(0x02))
}

#[test]
fn policy_verdict_layouts_and_verdicts() {
    // Ingress (dir 1), L3-L4 match (2 << 3).
    let flags = 1 | (2 << 3);
    for old in [false, true] {
        let rec = verdict_record(old, 0, flags);
        assert_eq!(rec.len(), if old { 32 } else { 40 } + 54);
        let f = decode(&rec);
        assert_eq!(f.verdict, Verdict::Forwarded as i32, "old={old}");
        let et = f.event_type.expect("event type");
        assert_eq!((et.r#type, et.sub_type), (5, 0));
        assert_eq!(f.traffic_direction, TrafficDirection::Ingress as i32);
        assert_eq!(f.policy_match_type, 2);
        assert_eq!(f.auth_type, 1);
        assert_eq!(f.is_reply, Some(BoolValue { value: false }));
        // Ingress: the remote identity is the source's.
        assert_eq!(ep(&f, true).identity, CLIENT_ID);
        assert_eq!(ep(&f, false).identity, SERVER_ID);
        assert_eq!(f.summary, "TCP Flags: SYN");
        assert_eq!(f.drop_reason, 0);
    }

    let f = decode(&verdict_record(false, -133, flags));
    assert_eq!(f.verdict, Verdict::Dropped as i32);
    assert_eq!(f.drop_reason, 133);
    assert_eq!(f.drop_reason_desc, DropReason::PolicyDenied as i32);
    assert_eq!(f.is_reply, None);

    let f = decode(&verdict_record(false, 15001, flags));
    assert_eq!(f.verdict, Verdict::Redirected as i32);

    let f = decode(&verdict_record(true, 0, flags | 0x40));
    assert_eq!(f.verdict, Verdict::Audit as i32);

    // Egress: the remote identity is the destination's.
    let f = decode(&verdict_record(false, 0, 2 | (3 << 3)));
    assert_eq!(f.traffic_direction, TrafficDirection::Egress as i32);
    assert_eq!(f.policy_match_type, 3);
    assert_eq!(ep(&f, false).identity, CLIENT_ID);
}

#[test]
fn policy_verdict_l3_ipv6() {
    let pkt = build::ipv6(
        Ip6::new(v6("fd00::10"), v6("fd00::20")),
        L4Spec::Udp { src: 1, dst: 53 },
    );
    let rec = PolicyVerdictRecord {
        source: CLIENT_EP,
        remote_label: SERVER_ID,
        flags: 2 | 0x04 | 0x80,
        ..Default::default()
    }
    .record(&pkt);
    let f = decode(&rec);
    assert_eq!(ip_of(&f).3, IpVersion::IPv6 as i32);
    assert_eq!(f.summary, "UDP");
}

// --- DebugCapture --------------------------------------------------------------------------

#[test]
fn debug_capture_layouts() {
    for old in [false, true] {
        let rec = CaptureRecord {
            old_layout: old,
            point: 4,
            source: SERVER_EP,
            arg1: 9,
            arg2: 0,
        }
        .record(&tcp(0x10));
        let f = decode(&rec);
        assert_eq!(f.verdict, Verdict::Unknown as i32, "old={old}");
        let et = f.event_type.expect("event type");
        assert_eq!((et.r#type, et.sub_type), (3, 4));
        assert_eq!(
            f.debug_capture_point,
            DebugCapturePoint::DbgCaptureDelivery as i32
        );
        assert_eq!(f.interface.as_ref().map(|i| i.index), Some(9));
        assert_eq!(f.summary, "TCP Flags: ACK");
        assert_eq!(f.traffic_direction, TrafficDirection::Unknown as i32);
        assert_eq!(f.is_reply, None);
        assert_eq!(ep(&f, true).identity, CLIENT_ID);
    }
    // Proxy capture points carry the proxy port in network byte order.
    let rec = CaptureRecord {
        point: 8,
        arg1: u32::from_le_bytes(15001u32.to_be_bytes()),
        ..Default::default()
    }
    .record(&tcp(0x10));
    let f = decode(&rec);
    assert_eq!(f.proxy_port, 15001);
    assert_eq!(f.interface, None);
}

// --- TraceSockNotify -----------------------------------------------------------------------

#[test]
fn trace_sock_forward_and_reverse() {
    let fwd = TraceSockRecord {
        xlate_point: 2,
        dst_ip: IpAddr::from(SERVER),
        dst_port: 8080,
        sock_cookie: 42,
        cgroup_id: 7,
        l4_proto: 1,
    };
    let f = decode(&fwd.record());
    assert_eq!(f.r#type, FlowType::Sock as i32);
    assert_eq!(f.verdict, Verdict::Translated as i32);
    let et = f.event_type.expect("event type");
    assert_eq!((et.r#type, et.sub_type), (7, 2));
    assert_eq!(
        f.sock_xlate_point,
        SocketTranslationPoint::SockXlatePointPostDirectionFwd as i32
    );
    assert_eq!((f.socket_cookie, f.cgroup_id), (42, 7));
    assert_eq!(ip_of(&f), ("", "", "10.244.1.20", IpVersion::IPv4 as i32));
    assert_eq!(tcp_of(&f).0, 0);
    assert_eq!(tcp_of(&f).1, 8080);
    assert_eq!(f.summary, "TCP");
    assert_eq!(f.source, Some(Endpoint::default()));
    assert_eq!(ep(&f, false).pod_name, "server-1");

    let rev = TraceSockRecord {
        xlate_point: 3,
        dst_ip: IpAddr::V6(v6("fd00::20")),
        l4_proto: 2,
        ..fwd
    };
    let f = decode(&rev.record());
    assert_eq!(f.verdict, Verdict::Traced as i32);
    assert_eq!(ip_of(&f), ("fd00::20", "", "", IpVersion::IPv6 as i32));
    assert_eq!(f.summary, "UDP");
    assert_eq!(ep(&f, true).pod_name, "server-1");
    match f.l4.and_then(|l| l.protocol) {
        Some(layer4::Protocol::Udp(u)) => {
            assert_eq!((u.source_port, u.destination_port), (8080, 0))
        }
        other => panic!("not UDP: {other:?}"),
    }
}

// --- Errors, truncation, garbage -----------------------------------------------------------

#[test]
fn errors_for_bad_headers() {
    let mut p = L34Parser::new();
    let st = state();
    let mut d = |rec: &[u8]| p.decode_flow(rec, t0(), &st);
    assert!(matches!(d(&[]), Err(L34Error::Truncated { need: 1, .. })));
    assert_eq!(d(&[2, 0, 0]).err(), Some(L34Error::NotAFlow(2)));
    assert_eq!(d(&[130]).err(), Some(L34Error::NotAFlow(130)));
    assert_eq!(d(&[6; 64]).err(), Some(L34Error::UnknownMessageType(6)));
    assert_eq!(d(&[0; 64]).err(), Some(L34Error::UnknownMessageType(0)));
    assert!(d(&[2]).err().is_some_and(|e| e.is_ignorable()));

    let trace = TraceRecord {
        version: 2,
        ..Default::default()
    }
    .record(&[]);
    assert_eq!(
        d(&trace[..40]).err(),
        Some(L34Error::Truncated {
            layer: "TraceNotify",
            offset: 0,
            need: 56,
            have: 40
        })
    );
    let mut v3 = trace.clone();
    v3[14] = 3;
    assert_eq!(
        d(&v3).err(),
        Some(L34Error::UnsupportedVersion {
            message: "TraceNotify",
            version: 3
        })
    );
    let mut drop = policy_drop(3).record(&[]);
    drop[14] = 4;
    assert!(matches!(
        d(&drop).err(),
        Some(L34Error::UnsupportedVersion { version: 4, .. })
    ));
    assert!(matches!(
        d(&policy_drop(3).record(&[])[..44]).err(),
        Some(L34Error::Truncated { need: 48, .. })
    ));
    let e = L34Error::Truncated {
        layer: "DropNotify",
        offset: 0,
        need: 36,
        have: 20,
    };
    assert_eq!(
        e.to_string(),
        "DropNotify truncated at offset 0: need 36 bytes, have 20"
    );
    assert_eq!(e.reason(), "truncated");
    let pe = crate::parser::ParseError::from(e);
    assert_eq!(pe.reason(), "truncated");
}

#[test]
fn header_without_packet_is_an_empty_flow() {
    let rec = TraceRecord {
        version: 1,
        obs_point: 5,
        source: CLIENT_EP,
        src_label: CLIENT_ID,
        reason: 0,
        ..Default::default()
    }
    .record(&[]);
    let f = decode(&rec);
    assert_eq!(f.summary, "");
    assert_eq!(
        (f.ethernet.as_ref(), f.ip.as_ref(), f.l4.as_ref()),
        (None, None, None)
    );
    // The datapath identity still resolves its labels.
    assert_eq!(ep(&f, true).identity, CLIENT_ID);
}

#[test]
fn truncated_packet_yields_what_decoded() {
    let rec = TraceRecord {
        version: 1,
        obs_point: 5,
        source: CLIENT_EP,
        reason: 0,
        ..Default::default()
    }
    .record(&tcp(0x02));
    // Header (48) + Ethernet (14) + IPv4 (20) + 6 bytes of TCP.
    let f = decode(&rec[..48 + 34 + 6]);
    assert_eq!(f.summary, "IPv4");
    assert_eq!(ip_of(&f).0, "10.244.1.10");
    assert_eq!(f.l4, None);
    // Mid-Ethernet: nothing decoded, still a flow.
    let f = decode(&rec[..48 + 10]);
    assert_eq!(f.summary, "");
    assert_eq!(f.ethernet, None);
}

#[test]
fn every_prefix_of_valid_records_and_random_bytes_never_panic() {
    let st = state();
    let mut p = L34Parser::new();
    let pkt = tcp(0x12);
    let ipv6 = build::ipv6(
        Ip6::new(v6("fd00::10"), v6("fd00::20")),
        L4Spec::Icmpv6 { typ: 128, code: 0 },
    );
    let records = [
        TraceRecord {
            version: 2,
            reason: 2,
            source: CLIENT_EP,
            ..Default::default()
        }
        .record(&pkt),
        TraceRecord {
            version: 1,
            flags: 0x03,
            ..Default::default()
        }
        .record(&ipv6),
        policy_drop(3).record(&pkt),
        policy_drop(0).record(&pkt),
        verdict_record(false, -133, 1),
        verdict_record(true, 1, 2),
        CaptureRecord {
            point: 8,
            ..Default::default()
        }
        .record(&pkt),
        TraceSockRecord {
            xlate_point: 4,
            dst_ip: IpAddr::from(SERVER),
            dst_port: 1,
            sock_cookie: 1,
            cgroup_id: 1,
            l4_proto: 9,
        }
        .record(),
    ];
    for rec in &records {
        for n in 0..=rec.len() {
            let _ = p.decode_flow(&rec[..n], t0(), &st);
        }
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut buf = [0u8; 200];
    for i in 0..30_000u32 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Valid message types and versions, so the random bytes reach the packet decoder.
        buf[0] = [1, 3, 4, 5, 7][(i % 5) as usize];
        buf[14] = (i % 4) as u8;
        let n = (x >> 16) as usize % buf.len();
        let _ = p.decode_flow(&buf[..n], t0(), &st);
    }
}

#[test]
fn uuids_are_distinct_v4() {
    let mut p = L34Parser::new();
    let rec = TraceRecord::default().record(&[]);
    let a = p.decode_flow(&rec, t0(), &state()).expect("a").uuid;
    let b = p.decode_flow(&rec, t0(), &state()).expect("b").uuid;
    assert_ne!(a, b);
    let parsed = uuid::Uuid::parse_str(&a).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
}
