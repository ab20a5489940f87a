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
mod dns_flow;
pub mod icmp_names;
pub mod layout;
pub mod packet;
pub mod summary;

use std::net::IpAddr;
use std::sync::Arc;

use flowscope_proto::flow::{Flow, FlowType, TrafficDirection, Verdict};
use flowscope_proto::names;
use flowscope_proto::types::Timestamp;

use crate::enrich;
use crate::flow::uuid::UuidGen;
use crate::flow::{
    FlowNames, FlowRecord, InterfaceNames, IpInfo, IpTrace, Peer, SockInfo, SummaryKind, Time,
    ip_version,
};
use crate::fqdn::FqdnCache;
use crate::identity::ClusterState;
use layout::{
    DebugCapture, DropNotify, PacketFlags, PolicyVerdictNotify, TraceNotify, TraceSockNotify,
};
use packet::{L4, Packet};

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
    /// A DNS capture whose payload is not a DNS message flowd reports.
    #[error(transparent)]
    Dns(#[from] crate::parser::dns::DnsError),
}

impl L34Error {
    /// A short label for the drop counter.
    pub fn reason(&self) -> &'static str {
        match self {
            L34Error::Truncated { .. } => "truncated",
            L34Error::Malformed { .. }
            | L34Error::Dns(_)
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

/// Converts monitor records to flow records. Holds only the UUID generator and options.
pub struct L34Parser {
    uuids: UuidGen,
    ip_trace_option_type: u32,
    interfaces: InterfaceNames,
    dns: dns_flow::DnsPairing,
    /// Names learnt from DNS answers, shared with the other decoders.
    fqdn: Option<Arc<FqdnCache>>,
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

    /// The interface index (0: none).
    fn ifindex(&self) -> u32 {
        match self {
            Notify::Trace(n) => n.ifindex,
            Notify::Capture(n) => n.ifindex(),
            _ => 0,
        }
    }

    fn proxy_port(&self) -> u16 {
        match self {
            Notify::Trace(n) if n.hdr.sub_type == layout::TRACE_TO_PROXY => n.dst_id,
            Notify::Capture(n) => u16::try_from(n.proxy_port()).unwrap_or(u16::MAX),
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
fn proto_trace_reason(tn: &TraceNotify) -> u8 {
    let r = tn.trace_reason();
    match r.cmp(&layout::TRACE_REASON_UNKNOWN) {
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Less => r + 1,
        std::cmp::Ordering::Greater => r,
    }
}

/// Hubble's endpoint resolution: a record without an IP and without an identity resolves to
/// an empty endpoint (identity 0), not to `world`.
fn endpoint(state: &ClusterState, ip: Option<IpAddr>, identity: u32) -> Peer {
    if ip.is_none() && identity == 0 {
        return Peer::empty();
    }
    enrich::endpoint(state, ip, identity)
}

impl L34Parser {
    pub fn new() -> Self {
        L34Parser {
            uuids: UuidGen::new(),
            ip_trace_option_type: 0,
            interfaces: InterfaceNames::without_names(),
            dns: dns_flow::DnsPairing::default(),
            fqdn: None,
        }
    }

    /// Learns names from the DNS answers this parser decodes and gives flows to and from
    /// the addresses `source_names` / `destination_names` (Hubble's FQDN cache).
    pub fn with_fqdn_cache(mut self, cache: Arc<FqdnCache>) -> Self {
        self.fqdn = Some(cache);
        self
    }

    /// Names interfaces as this node's kernel does (Hubble's link cache). Without it flows
    /// carry the interface index only: right for records from another machine.
    pub fn with_interface_names(mut self, names: InterfaceNames) -> Self {
        self.interfaces = names;
        self
    }

    /// The agent's `ip-tracing-option-type`, reported in `ip_trace_id.ip_option_type` of
    /// flows whose packet carried an IP trace id (0 by default).
    pub fn with_ip_trace_option_type(mut self, option_type: u32) -> Self {
        self.ip_trace_option_type = option_type;
        self
    }

    /// Decodes one monitor record and converts it to the proto `Flow` (tests, tools).
    pub fn decode_flow(
        &mut self,
        record: &[u8],
        time: Timestamp,
        state: &ClusterState,
    ) -> Result<Flow, L34Error> {
        self.decode(record, time.into(), state)
            .map(|r| r.to_proto())
    }

    /// Decodes one monitor record (starting with the message-type byte). `time` is the
    /// arrival time.
    pub fn decode(
        &mut self,
        record: &[u8],
        time: Time,
        state: &ClusterState,
    ) -> Result<FlowRecord, L34Error> {
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
            layout::MSG_FLOWSCOPE_DNS => return self.dns_flow(record, time, state),
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
        time: Time,
        state: &ClusterState,
    ) -> FlowRecord {
        let layers = &packet.layers;
        let mut ip = layers.ip.map(|l| IpInfo {
            source: Some(l.src),
            destination: Some(l.dst),
            source_xlated: None,
            version: ip_version(l.src),
            encrypted: false,
        });
        let mut src_ip = layers.ip.map(|l| l.src);
        let dst_ip = layers.ip.map(|l| l.dst);
        if let (Notify::Trace(tn), Some(ip)) = (notify, ip.as_mut()) {
            // On SNAT the header shows the translated source and `orig_ip` the original;
            // some traces carry the header's own address there, which changes nothing.
            if let Some(orig) = tn.original_ip() {
                src_ip = Some(orig);
                if ip.source != Some(orig) {
                    ip.source_xlated = ip.source.replace(orig);
                }
            }
            ip.encrypted = tn.is_encrypted();
        }

        let (src_id, dst_id) = notify.identities();
        let source = endpoint(state, src_ip, src_id);
        let destination = endpoint(state, dst_ip, dst_id);
        let src_ep_id = match &source.info {
            crate::flow::PeerInfo::Pod(ep) => ep.endpoint_id.unwrap_or(0),
            _ => 0,
        };
        let drop_reason = notify.drop_reason();
        let (msg_type, sub_type) = notify.event_type();

        let mut r = FlowRecord::new(
            time,
            self.uuids.next_uuid(),
            state.node_name_shared().clone(),
            FlowType::L3L4 as u8,
        );
        r.traffic_direction = notify.traffic_direction(src_ep_id) as u8;
        r.source = source;
        r.destination = destination;
        r.verdict = notify.verdict() as u8;
        r.drop_reason = drop_reason;
        r.ethernet = layers.ethernet;
        r.ip = ip;
        r.l4 = layers.l4;
        r.tcp_flags_set = true;
        r.tunnel = packet.tunnel.map(Box::new);
        r.summary = SummaryKind::Packet(layers.last);
        r.is_reply = notify.is_reply();
        r.event_type = (msg_type, sub_type);
        let trace_id = notify.ip_trace_id();
        r.ip_trace = (trace_id != 0).then(|| {
            Box::new(IpTrace {
                id: trace_id,
                option: self.ip_trace_option_type,
            })
        });
        r.interface = self.interfaces.get(notify.ifindex(), time.seconds);
        r.proxy_port = notify.proxy_port();
        match notify {
            Notify::Trace(tn) => {
                r.trace_observation_point =
                    u8::try_from(names::proto_obs_point(tn.hdr.sub_type)).unwrap_or(0);
                r.trace_reason = proto_trace_reason(tn);
            }
            Notify::Drop(dn) => (r.file, r.line) = (Some(dn.file), dn.line),
            Notify::Policy(pvn) => {
                r.auth_type = pvn.auth_type;
                r.policy_match_type = u8::try_from(pvn.match_type()).unwrap_or(u8::MAX);
                // flowd's datapath reports the matched rule as the cookie.
                r.policy = state.policy_rule(pvn.cookie).cloned();
            }
            // `debug_capture_point` is the subtype, kept in `event_type`.
            Notify::Capture(_) => {}
        }
        r.names = self.names_of(r.ip.as_ref(), time);
        r
    }

    /// The learnt names of a flow's addresses, if either has any.
    fn names_of(&self, ip: Option<&IpInfo>, time: Time) -> Option<Box<FlowNames>> {
        let (cache, ip) = (self.fqdn.as_ref()?, ip?);
        let lookup = |a: Option<IpAddr>| a.and_then(|a| cache.names(a, time.seconds));
        let names = FlowNames {
            source: lookup(ip.source),
            destination: lookup(ip.destination),
        };
        (names.source.is_some() || names.destination.is_some()).then(|| Box::new(names))
    }

    /// Hubble's `sock` parser. The source is the socket's pod, found by cgroup id; the cluster
    /// state has no cgroup ids, so the source stays empty (Hubble skips such events by
    /// default, `skipUnknownCGroupIDs`).
    fn sock_flow(
        &mut self,
        sock: &TraceSockNotify,
        time: Time,
        state: &ClusterState,
    ) -> FlowRecord {
        let dst_ip = sock.dst_ip();
        let mut src = (None, 0u16, endpoint(state, None, 0));
        let mut dst = (
            Some(dst_ip),
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
        let l4 = match sock.l4_proto {
            layout::SOCK_L4_TCP => Some(L4::Tcp {
                src: src.1,
                dst: dst.1,
                flags: 0,
            }),
            layout::SOCK_L4_UDP => Some(L4::Udp {
                src: src.1,
                dst: dst.1,
            }),
            _ => None,
        };
        let mut r = FlowRecord::new(
            time,
            self.uuids.next_uuid(),
            state.node_name_shared().clone(),
            FlowType::Sock as u8,
        );
        r.verdict = verdict as u8;
        r.ip = Some(IpInfo {
            source: src.0,
            destination: dst.0,
            source_xlated: None,
            version: if sock.is_ipv6() { 2 } else { 1 },
            encrypted: false,
        });
        r.l4 = l4;
        r.source = src.2;
        r.destination = dst.2;
        r.event_type = (layout::MSG_TRACE_SOCK, sock.xlate_point);
        r.sock = Some(Box::new(SockInfo {
            xlate_point: sock.xlate_point,
            cookie: sock.sock_cookie,
            cgroup_id: sock.cgroup_id,
        }));
        r.summary = SummaryKind::Sock;
        r
    }
}

#[cfg(test)]
mod tests;
