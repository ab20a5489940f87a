//! [`FlowRecord`]: flowd's one internal representation of a flow.
//!
//! The parsers build it, the ring stores it, filters and metrics read it through
//! [`flowscope_filter::FlowView`], and proto messages are produced from it only where bytes
//! leave the process. It is fixed-size where it can be: addresses as `IpAddr`, enums as
//! small integers, the UUID as bytes, the node name and both endpoints as shared references
//! into the cluster state (labels, namespaces, pods and workloads are never copied per
//! flow). The L7 part is a separate allocation only L7 flows pay for, with its strings in
//! one buffer and common header names and methods interned. Summaries are produced when a
//! client asks for them.

pub mod encode;
pub mod interface;
pub mod l7;
pub mod mask;
pub mod peer;
pub mod policy_ref;
pub mod proto;
pub mod uuid;
mod view;
pub mod wire;

use std::net::IpAddr;
use std::sync::Arc;

use crate::parser::l34::packet::{EthernetLayer, Kind, L4, Tunnel};

pub use interface::{InterfaceNames, NetInterface};
pub use l7::{DnsData, Header, HttpData, KafkaData, L7Data, L7Record, Text};
pub use peer::{Peer, PeerInfo};
pub use policy_ref::PolicyRef;

/// A flow's time: seconds and nanoseconds since the Unix epoch, as `google.protobuf.Timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    pub seconds: i64,
    pub nanos: i32,
}

impl Time {
    pub fn from_unix_nanos(ns: u64) -> Self {
        Time {
            seconds: (ns / 1_000_000_000) as i64,
            nanos: (ns % 1_000_000_000) as i32,
        }
    }

    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        }
    }

    pub fn as_unix_nanos(self) -> i128 {
        i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos)
    }
}

/// `IPVersion` of an address (1 IPv4, 2 IPv6).
pub fn ip_version(a: IpAddr) -> u8 {
    if a.is_ipv6() { 2 } else { 1 }
}

/// The IP part of a flow (`Flow.IP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    /// The address the source was translated to (SNAT), if any.
    pub source_xlated: Option<IpAddr>,
    /// `IPVersion` (1 IPv4, 2 IPv6).
    pub version: u8,
    pub encrypted: bool,
}

/// What the flow's `Summary` is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryKind {
    /// A datapath packet: the last decoded layer (none: empty summary).
    Packet(Option<Kind>),
    /// A socket trace: `TCP`, `UDP` or `Unknown`.
    Sock,
    /// From the L7 part.
    L7,
}

/// Fields only socket-translation traces carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockInfo {
    pub xlate_point: u8,
    pub cookie: u64,
    pub cgroup_id: u64,
}

/// `flow.IPTraceID`: a packet's IP trace id (never 0) and the IP option type carrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpTrace {
    pub id: u64,
    pub option: u32,
}

/// One flow, as flowd keeps it.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub time: Time,
    pub uuid: [u8; 16],
    pub node: Arc<String>,
    pub source: Peer,
    pub destination: Peer,
    pub ethernet: Option<EthernetLayer>,
    pub ip: Option<IpInfo>,
    pub l4: Option<L4>,
    /// Whether a TCP layer carries its flags (datapath packets do, socket traces and L7
    /// flows do not).
    pub tcp_flags_set: bool,
    pub tunnel: Option<Box<Tunnel>>,
    pub l7: Option<Box<L7Record>>,
    pub summary: SummaryKind,
    /// `FlowType` (L3_L4, L7, SOCK).
    pub flow_type: u8,
    pub verdict: u8,
    /// `CiliumEventType` (type, sub_type).
    pub event_type: (u8, u8),
    pub is_reply: Option<bool>,
    pub traffic_direction: u8,
    pub drop_reason: u32,
    pub auth_type: u8,
    pub policy_match_type: u8,
    pub trace_observation_point: u8,
    pub trace_reason: u8,
    /// BPF source file id of a drop (and [`FlowRecord::line`]).
    pub file: Option<u8>,
    pub line: u16,
    /// The interface of a datapath event (`None`: index 0).
    pub interface: Option<Arc<NetInterface>>,
    /// The rule a policy verdict matched (`*_allowed_by` / `*_denied_by`).
    pub policy: Option<Arc<PolicyRef>>,
    pub proxy_port: u16,
    /// The packet's IP trace id and the agent's IP option type for it; boxed, as few
    /// packets carry one.
    pub ip_trace: Option<Box<IpTrace>>,
    /// Boxed: socket traces are rare, and the ring holds every other flow.
    pub sock: Option<Box<SockInfo>>,
    /// `source_names` / `destination_names` from the DNS answers flowd saw; boxed, as only
    /// flows to or from resolved addresses have them.
    pub names: Option<Box<FlowNames>>,
}

/// The names of a flow's addresses ([`crate::fqdn::FqdnCache`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowNames {
    pub source: Option<Arc<[String]>>,
    pub destination: Option<Arc<[String]>>,
}

impl FlowRecord {
    /// A record of `flow_type` with everything else empty.
    pub fn new(time: Time, uuid: [u8; 16], node: Arc<String>, flow_type: u8) -> Self {
        FlowRecord {
            time,
            uuid,
            node,
            source: Peer::empty(),
            destination: Peer::empty(),
            ethernet: None,
            ip: None,
            l4: None,
            tcp_flags_set: false,
            tunnel: None,
            l7: None,
            summary: SummaryKind::Packet(None),
            flow_type,
            verdict: 0,
            event_type: (0, 0),
            is_reply: None,
            traffic_direction: 0,
            drop_reason: 0,
            auth_type: 0,
            policy_match_type: 0,
            trace_observation_point: 0,
            trace_reason: 0,
            file: None,
            line: 0,
            interface: None,
            policy: None,
            proxy_port: 0,
            ip_trace: None,
            sock: None,
            names: None,
        }
    }
}

impl FlowRecord {
    /// `DebugCapturePoint` of a debug-capture event: its subtype (0 for other events).
    pub fn debug_capture_point(&self) -> u8 {
        if self.event_type.0 == crate::parser::l34::layout::MSG_CAPTURE {
            self.event_type.1
        } else {
            0
        }
    }
}

/// Events the kernel, the observer queue or a reader lost, as the ring stores them.
#[derive(Debug, Clone)]
pub struct LostRecord {
    pub time: Time,
    pub node: Arc<String>,
    /// `LostEventSource`.
    pub source: i32,
    pub count: u64,
    pub cpu: Option<u32>,
}

/// What the ring holds.
#[derive(Debug, Clone)]
// Flows are nearly every event: boxing the record would cost an allocation per flow.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    Flow(FlowRecord),
    Lost(LostRecord),
}

impl Event {
    pub fn time(&self) -> Time {
        match self {
            Event::Flow(f) => f.time,
            Event::Lost(l) => l.time,
        }
    }

    pub fn flow(&self) -> Option<&FlowRecord> {
        match self {
            Event::Flow(f) => Some(f),
            Event::Lost(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_stays_compact() {
        // The ring holds a million of these: growth here is memory on every node.
        assert!(
            std::mem::size_of::<FlowRecord>() <= 256,
            "FlowRecord is {} bytes",
            std::mem::size_of::<FlowRecord>()
        );
    }
}
