//! Datapath monitor records (Cilium's perf-ring events) → flows, as Hubble's `threefour` parser
//! (TraceNotify, DropNotify, PolicyVerdictNotify, DebugCapture) and `sock` parser
//! (TraceSockNotify) do it (spec §9).
//!
//! A record starts with the message-type byte; [`layout`] reads the fixed header of each
//! message type and version, [`packet`] the captured packet behind it, and [`L34Parser::decode`]
//! puts them together with the endpoints of the cluster state. Nothing here does I/O or
//! allocates beyond the strings the flow owns.
//!
//! Where flowd knows less than a Cilium agent, the flow says less: no interface names, DNS
//! names, services or policy correlation (`*_allowed_by`). Deliberate differences from Hubble:
//! a packet layer that fails its checks ends decoding but the flow keeps the layers before it
//! (Hubble drops the event), and socket traces are emitted with an empty source because the
//! cluster state has no cgroup ids (Hubble skips them by default).

// `Flow.Summary` and `Flow.reply` are deprecated in the proto but Hubble still fills them and
// clients print them.
#![allow(deprecated)]

pub mod addr;
pub mod build;
pub mod icmp_names;
pub mod layout;
pub mod packet;
pub mod summary;

use std::net::IpAddr;

use flowscope_proto::flow::{
    CiliumEventType, Emitter, Endpoint, Ethernet, FileInfo, Flow, FlowType, IcmPv4, IcmPv6, Igmp,
    Ip, IpTraceId, IpVersion, Layer4, NetworkInterface, Sctp, Tcp, TcpFlags, TrafficDirection,
    Tunnel, Udp, Verdict, Vrrp, layer4, tunnel,
};
use flowscope_proto::names;
use flowscope_proto::types::{BoolValue, Timestamp};

use crate::enrich;
use crate::identity::ClusterState;
use layout::{
    DebugCapture, DropNotify, PacketFlags, PolicyVerdictNotify, TraceNotify, TraceSockNotify,
};
use packet::{IpLayer, L4, Packet, TunnelProtocol, tcp_flags};

/// Why a monitor record did not become a flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L34Error {
    /// The record (or, inside [`packet::Packet::stopped`], a packet layer) ends before the
    /// fixed part of `layer`, which starts at `offset` in the record.
    #[error("{layer} truncated at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        layer: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    /// A packet layer failed a consistency check (only reported in
    /// [`packet::Packet::stopped`]; a malformed packet still yields a flow).
    #[error("malformed {layer} at offset {offset}: {what}")]
    Malformed {
        layer: &'static str,
        offset: usize,
        what: &'static str,
    },
    #[error("unknown monitor message type {0}")]
    UnknownMessageType(u8),
    /// A debug message (2), L7 access-log record (129) or agent notification (130): valid,
    /// but not a flow.
    #[error("monitor message type {0} is not a flow")]
    NotAFlow(u8),
    #[error("unsupported {message} version {version}")]
    UnsupportedVersion { message: &'static str, version: u8 },
}

impl L34Error {
    /// A short label for the drop counter.
    pub fn reason(&self) -> &'static str {
        match self {
            L34Error::Truncated { .. } => "truncated",
            L34Error::Malformed { .. }
            | L34Error::UnknownMessageType(_)
            | L34Error::UnsupportedVersion { .. } => "undecodable",
            L34Error::NotAFlow(_) => "not_a_flow",
        }
    }

    /// True for records that are fine but carry no flow (debug messages, agent events).
    pub fn is_ignorable(&self) -> bool {
        matches!(self, L34Error::NotAFlow(_))
    }
}

/// Converts monitor records to flows. Holds only the emitter and the UUID generator.
pub struct L34Parser {
    emitter: Emitter,
    /// SplitMix64 state for event UUIDs, seeded from the OS once: a UUID per event from the
    /// OS would cost a syscall per flow.
    uuid_state: u64,
    ip_trace_option_type: u32,
}

impl Default for L34Parser {
    fn default() -> Self {
        Self::new()
    }
}

/// The monitor header of a packet notification.
enum Notify {
    Drop(DropNotify),
    Trace(TraceNotify),
    Policy(PolicyVerdictNotify),
    Capture(DebugCapture),
}

impl Notify {
    fn name(&self) -> &'static str {
        match self {
            Notify::Drop(_) => "DropNotify",
            Notify::Trace(_) => "TraceNotify",
            Notify::Policy(_) => "PolicyVerdictNotify",
            Notify::Capture(_) => "DebugCapture",
        }
    }

    fn data_offset(&self) -> usize {
        match self {
            Notify::Drop(n) => n.data_offset(),
            Notify::Trace(n) => n.data_offset(),
            Notify::Policy(n) => n.data_offset(),
            Notify::Capture(n) => n.data_offset(),
        }
    }

    fn packet_flags(&self) -> PacketFlags {
        match self {
            Notify::Drop(n) => n.packet_flags(),
            Notify::Trace(n) => n.packet_flags(),
            Notify::Policy(n) => n.packet_flags(),
            Notify::Capture(_) => PacketFlags::default(),
        }
    }

    /// `(message type, subtype)` for `event_type`.
    fn event_type(&self) -> (u8, u8) {
        match self {
            Notify::Drop(n) => (n.hdr.msg_type, n.hdr.sub_type),
            Notify::Trace(n) => (n.hdr.msg_type, n.hdr.sub_type),
            Notify::Policy(n) => (n.hdr.msg_type, n.hdr.sub_type),
            Notify::Capture(n) => (n.msg_type, n.sub_type),
        }
    }

    /// The datapath's `(source, destination)` identities; 0 where it has none.
    fn identities(&self) -> (u32, u32) {
        match self {
            Notify::Drop(n) => (n.src_label, n.dst_label),
            Notify::Trace(n) => (n.src_label, n.dst_label),
            Notify::Policy(n) if n.is_ingress() => (n.remote_label, 0),
            Notify::Policy(n) => (0, n.remote_label),
            Notify::Capture(_) => (0, 0),
        }
    }

    fn verdict(&self) -> Verdict {
        match self {
            Notify::Drop(_) => Verdict::Dropped,
            Notify::Trace(_) => Verdict::Forwarded,
            Notify::Policy(n) if n.verdict < 0 => Verdict::Dropped,
            Notify::Policy(n) if n.verdict > 0 => Verdict::Redirected,
            Notify::Policy(n) if n.is_audited() => Verdict::Audit,
            Notify::Policy(_) => Verdict::Forwarded,
            Notify::Capture(_) => Verdict::Unknown,
        }
    }

    fn drop_reason(&self) -> u32 {
        match self {
            Notify::Drop(n) => u32::from(n.hdr.sub_type),
            // A denied verdict is the negated drop reason.
            Notify::Policy(n) if n.verdict < 0 => n.verdict.wrapping_neg() as u32,
            _ => 0,
        }
    }

    fn is_reply(&self) -> Option<bool> {
        match self {
            Notify::Trace(n) if n.reason_is_known() => {
                (!n.reason_is_encap_or_decap()).then(|| n.reason_is_reply())
            }
            // Forwarded verdicts are for the first packet of a connection.
            Notify::Policy(n) if n.verdict >= 0 => Some(false),
            // Drops and captures: unknown.
            _ => None,
        }
    }

    /// `decodeTrafficDirection`; `src_ep_id` is the resolved source endpoint's ID.
    fn traffic_direction(&self, src_ep_id: u32) -> TrafficDirection {
        let is_src = |source: u16| u32::from(source) == src_ep_id & 0xffff;
        match self {
            // A drop at the packet's own endpoint is egress (drops are assumed not replies).
            Notify::Drop(n) if n.hdr.source != 0 => {
                if is_src(n.hdr.source) {
                    TrafficDirection::Egress
                } else {
                    TrafficDirection::Ingress
                }
            }
            Notify::Trace(n) if n.hdr.source != 0 && n.reason_is_known() => {
                let snat = n.original_ip().is_some();
                if is_src(n.hdr.source) != n.reason_is_reply() || snat {
                    TrafficDirection::Egress
                } else {
                    TrafficDirection::Ingress
                }
            }
            Notify::Policy(n) if n.is_ingress() => TrafficDirection::Ingress,
            Notify::Policy(_) => TrafficDirection::Egress,
            _ => TrafficDirection::Unknown,
        }
    }

    fn interface(&self) -> Option<NetworkInterface> {
        let index = match self {
            Notify::Trace(n) => n.ifindex,
            Notify::Capture(n) => n.ifindex(),
            _ => 0,
        };
        // Interface names need a link table, which flowd does not have.
        (index != 0).then(|| NetworkInterface {
            index,
            name: String::new(),
        })
    }

    fn proxy_port(&self) -> u32 {
        match self {
            Notify::Trace(n) if n.hdr.sub_type == layout::TRACE_TO_PROXY => u32::from(n.dst_id),
            Notify::Capture(n) => n.proxy_port(),
            _ => 0,
        }
    }

    fn ip_trace_id(&self) -> u64 {
        match self {
            Notify::Drop(n) => n.ip_trace_id,
            Notify::Trace(n) => n.ip_trace_id,
            _ => 0,
        }
    }
}

/// `decodeTraceReason`: datapath 5 (unknown) is proto 0, values below it shift up by one to
/// make room for it, values above map 1:1.
fn proto_trace_reason(tn: &TraceNotify) -> i32 {
    let r = tn.trace_reason();
    match r.cmp(&layout::TRACE_REASON_UNKNOWN) {
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Less => i32::from(r) + 1,
        std::cmp::Ordering::Greater => i32::from(r),
    }
}

fn proto_ip(l: &IpLayer) -> Ip {
    Ip {
        source: addr::ip(l.src),
        destination: addr::ip(l.dst),
        ip_version: if l.src.is_ipv6() {
            IpVersion::IPv6
        } else {
            IpVersion::IPv4
        } as i32,
        ..Default::default()
    }
}

fn proto_l4(l4: &L4) -> Layer4 {
    let protocol = match *l4 {
        L4::Tcp { src, dst, flags } => layer4::Protocol::Tcp(Tcp {
            source_port: u32::from(src),
            destination_port: u32::from(dst),
            flags: Some(TcpFlags {
                fin: flags & tcp_flags::FIN != 0,
                syn: flags & tcp_flags::SYN != 0,
                rst: flags & tcp_flags::RST != 0,
                psh: flags & tcp_flags::PSH != 0,
                ack: flags & tcp_flags::ACK != 0,
                urg: flags & tcp_flags::URG != 0,
                ece: flags & tcp_flags::ECE != 0,
                cwr: flags & tcp_flags::CWR != 0,
                ns: flags & tcp_flags::NS != 0,
            }),
        }),
        L4::Udp { src, dst } => layer4::Protocol::Udp(Udp {
            source_port: u32::from(src),
            destination_port: u32::from(dst),
        }),
        L4::Sctp { src, dst } => layer4::Protocol::Sctp(Sctp {
            source_port: u32::from(src),
            destination_port: u32::from(dst),
        }),
        L4::Icmpv4 { typ, code } => layer4::Protocol::IcmPv4(IcmPv4 {
            r#type: u32::from(typ),
            code: u32::from(code),
        }),
        L4::Icmpv6 { typ, code } => layer4::Protocol::IcmPv6(IcmPv6 {
            r#type: u32::from(typ),
            code: u32::from(code),
        }),
        L4::Vrrp {
            typ,
            vrid,
            priority,
        } => layer4::Protocol::Vrrp(Vrrp {
            r#type: u32::from(typ),
            vrid: u32::from(vrid),
            priority: u32::from(priority),
        }),
        L4::Igmp { typ, group } => layer4::Protocol::Igmp(Igmp {
            r#type: u32::from(typ),
            group_address: addr::ip(IpAddr::V4(group)),
        }),
    };
    Layer4 {
        protocol: Some(protocol),
    }
}

/// Hubble's endpoint resolution: a record without an IP and without an identity resolves to
/// an empty endpoint (identity 0), not to `world`.
fn endpoint(state: &ClusterState, ip: Option<IpAddr>, identity: u32) -> Endpoint {
    if ip.is_none() && identity == 0 {
        return Endpoint::default();
    }
    enrich::endpoint(state, ip, identity)
}

impl L34Parser {
    pub fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u64_pair();
        L34Parser {
            emitter: crate::emitter(),
            uuid_state: seed.0 ^ seed.1.rotate_left(32),
            ip_trace_option_type: 0,
        }
    }

    /// The agent's `ip-tracing-option-type`, reported in `ip_trace_id.ip_option_type` of
    /// flows whose packet carried an IP trace id (0 by default).
    pub fn with_ip_trace_option_type(mut self, option_type: u32) -> Self {
        self.ip_trace_option_type = option_type;
        self
    }

    /// Decodes one monitor record (starting with the message-type byte). `time` is the
    /// arrival time.
    pub fn decode(
        &mut self,
        record: &[u8],
        time: Timestamp,
        state: &ClusterState,
    ) -> Result<Flow, L34Error> {
        let Some(&msg_type) = record.first() else {
            return Err(L34Error::Truncated {
                layer: "monitor message",
                offset: 0,
                need: 1,
                have: 0,
            });
        };
        let notify = match msg_type {
            layout::MSG_DROP => Notify::Drop(DropNotify::parse(record)?),
            layout::MSG_TRACE => Notify::Trace(TraceNotify::parse(record)?),
            layout::MSG_POLICY_VERDICT => Notify::Policy(PolicyVerdictNotify::parse(record)?),
            layout::MSG_CAPTURE => Notify::Capture(DebugCapture::parse(record)?),
            layout::MSG_TRACE_SOCK => {
                let sock = TraceSockNotify::parse(record)?;
                return Ok(self.sock_flow(&sock, time, state));
            }
            layout::MSG_DEBUG | layout::MSG_ACCESS_LOG | layout::MSG_AGENT => {
                return Err(L34Error::NotAFlow(msg_type));
            }
            other => return Err(L34Error::UnknownMessageType(other)),
        };
        let offset = notify.data_offset();
        let Some(data) = record.get(offset..) else {
            return Err(L34Error::Truncated {
                layer: notify.name(),
                offset: 0,
                need: offset,
                have: record.len(),
            });
        };
        let packet = packet::decode(data, offset, notify.packet_flags());
        Ok(self.packet_flow(&notify, &packet, time, state))
    }

    fn packet_flow(
        &mut self,
        notify: &Notify,
        packet: &Packet,
        time: Timestamp,
        state: &ClusterState,
    ) -> Flow {
        let layers = &packet.layers;
        let mut ip = layers.ip.as_ref().map(proto_ip);
        let mut src_ip = layers.ip.map(|l| l.src);
        let dst_ip = layers.ip.map(|l| l.dst);
        if let (Notify::Trace(tn), Some(ip)) = (notify, ip.as_mut()) {
            // On SNAT the header shows the translated source and `orig_ip` the original;
            // some traces carry the header's own address there, which changes nothing.
            if let Some(orig) = tn.original_ip() {
                src_ip = Some(orig);
                let orig = addr::ip(orig);
                if ip.source != orig {
                    ip.source_xlated = std::mem::replace(&mut ip.source, orig);
                }
            }
            ip.encrypted = tn.is_encrypted();
        }

        let (src_id, dst_id) = notify.identities();
        let source = endpoint(state, src_ip, src_id);
        let destination = endpoint(state, dst_ip, dst_id);
        let traffic_direction = notify.traffic_direction(source.id);
        let is_reply = notify.is_reply();
        let drop_reason = notify.drop_reason();
        let (msg_type, sub_type) = notify.event_type();
        let ip_trace_id = notify.ip_trace_id();

        let mut flow = Flow {
            time: Some(time),
            uuid: self.next_uuid(),
            emitter: Some(self.emitter.clone()),
            verdict: notify.verdict() as i32,
            drop_reason,
            ethernet: layers.ethernet.map(|e| Ethernet {
                source: addr::mac(e.src),
                destination: addr::mac(e.dst),
            }),
            ip,
            l4: layers.l4.as_ref().map(proto_l4),
            tunnel: packet.tunnel.as_ref().map(|t| Tunnel {
                protocol: match t.protocol {
                    TunnelProtocol::Vxlan => tunnel::Protocol::Vxlan,
                    TunnelProtocol::Geneve => tunnel::Protocol::Geneve,
                } as i32,
                ip: t.ip.as_ref().map(proto_ip),
                l4: t.l4.as_ref().map(proto_l4),
                vni: t.vni,
            }),
            source: Some(source),
            destination: Some(destination),
            r#type: FlowType::L3L4 as i32,
            node_name: state.node_name().to_string(),
            reply: is_reply.unwrap_or(false),
            event_type: Some(CiliumEventType {
                r#type: i32::from(msg_type),
                sub_type: i32::from(sub_type),
            }),
            traffic_direction: traffic_direction as i32,
            ip_trace_id: (ip_trace_id != 0).then_some(IpTraceId {
                trace_id: ip_trace_id,
                ip_option_type: self.ip_trace_option_type,
            }),
            drop_reason_desc: drop_reason as i32,
            is_reply: is_reply.map(|value| BoolValue { value }),
            interface: notify.interface(),
            proxy_port: notify.proxy_port(),
            summary: summary::summary(layers),
            ..Default::default()
        };
        match notify {
            Notify::Trace(tn) => {
                flow.trace_observation_point = names::proto_obs_point(tn.hdr.sub_type);
                flow.trace_reason = proto_trace_reason(tn);
            }
            Notify::Drop(dn) => {
                flow.file = Some(FileInfo {
                    name: names::bpf_file_name(dn.file).into_owned(),
                    line: u32::from(dn.line),
                });
            }
            Notify::Policy(pvn) => {
                flow.auth_type = i32::from(pvn.auth_type);
                flow.policy_match_type = pvn.match_type();
            }
            Notify::Capture(dbg) => {
                flow.debug_capture_point = i32::from(dbg.sub_type);
            }
        }
        flow
    }

    /// Hubble's `sock` parser. The source is the socket's pod, found by cgroup id; the cluster
    /// state has no cgroup ids, so the source stays empty (Hubble skips such events by
    /// default, `skipUnknownCGroupIDs`).
    fn sock_flow(&mut self, sock: &TraceSockNotify, time: Timestamp, state: &ClusterState) -> Flow {
        let dst_ip = sock.dst_ip();
        let mut src = (String::new(), 0u16, endpoint(state, None, 0));
        let mut dst = (
            addr::ip(dst_ip),
            sock.dst_port,
            endpoint(state, Some(dst_ip), 0),
        );
        let reverse = matches!(
            sock.xlate_point,
            layout::XLATE_PRE_DIRECTION_REV | layout::XLATE_POST_DIRECTION_REV
        );
        if reverse {
            std::mem::swap(&mut src, &mut dst);
        }
        let verdict = match sock.xlate_point {
            layout::XLATE_PRE_DIRECTION_FWD | layout::XLATE_PRE_DIRECTION_REV => Verdict::Traced,
            layout::XLATE_POST_DIRECTION_FWD | layout::XLATE_POST_DIRECTION_REV => {
                Verdict::Translated
            }
            _ => Verdict::Unknown,
        };
        let (l4, summary) = match sock.l4_proto {
            layout::SOCK_L4_TCP => (
                Some(layer4::Protocol::Tcp(Tcp {
                    source_port: u32::from(src.1),
                    destination_port: u32::from(dst.1),
                    flags: None,
                })),
                "TCP",
            ),
            layout::SOCK_L4_UDP => (
                Some(layer4::Protocol::Udp(Udp {
                    source_port: u32::from(src.1),
                    destination_port: u32::from(dst.1),
                })),
                "UDP",
            ),
            _ => (None, "Unknown"),
        };
        Flow {
            time: Some(time),
            uuid: self.next_uuid(),
            emitter: Some(self.emitter.clone()),
            verdict: verdict as i32,
            ip: Some(Ip {
                source: src.0,
                destination: dst.0,
                ip_version: if sock.is_ipv6() {
                    IpVersion::IPv6
                } else {
                    IpVersion::IPv4
                } as i32,
                ..Default::default()
            }),
            l4: l4.map(|protocol| Layer4 {
                protocol: Some(protocol),
            }),
            source: Some(src.2),
            destination: Some(dst.2),
            r#type: FlowType::Sock as i32,
            node_name: state.node_name().to_string(),
            event_type: Some(CiliumEventType {
                r#type: i32::from(layout::MSG_TRACE_SOCK),
                sub_type: i32::from(sock.xlate_point),
            }),
            sock_xlate_point: i32::from(sock.xlate_point),
            socket_cookie: sock.sock_cookie,
            cgroup_id: sock.cgroup_id,
            summary: summary.to_string(),
            ..Default::default()
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.uuid_state = self.uuid_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.uuid_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random (version 4) UUID, as Hubble gives each monitor event.
    fn next_uuid(&mut self) -> String {
        let hi = self.next_u64().to_le_bytes();
        let lo = self.next_u64().to_le_bytes();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi);
        bytes[8..].copy_from_slice(&lo);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        id.hyphenated().encode_lower(&mut buf).to_string()
    }
}

#[cfg(test)]
mod tests;
