//! Protobuf bytes of a `GetFlowsResponse`, written straight from the record.
//!
//! No intermediate proto `Flow` is built: each field is written from the record as
//! [`FlowRecord::to_proto`] would fill it (the differential test holds the two to the same
//! message), endpoint sub-messages of pods are encoded once per endpoint and reused as
//! bytes, and a client's field mask is compiled once into a [`Plan`].

#![allow(deprecated)] // Flow.Summary, Flow.reply and Layer7.kafka are still sent.

use std::fmt::Write as _;
use std::net::IpAddr;

use flowscope_filter::IpRef;
use flowscope_proto::get_flows_response_fields::{
    FLOW as RESP_FLOW, LOST_EVENTS as RESP_LOST, NODE_NAME as RESP_NODE_NAME, TIME as RESP_TIME,
};
use flowscope_proto::names;

use super::mask::MaskNode;
use super::policy_ref;
use super::wire::{self, begin, bytes_always, end, int32, string, uint};
use super::{Event, FlowRecord, IpInfo, L7Data, L7Record, LostRecord, Peer, PeerInfo};
use crate::parser::dns;
use crate::parser::l34::packet::{L4, Tunnel, TunnelProtocol, tcp_flags};

/// Flow field numbers the record can fill.
mod field {
    pub const TIME: u32 = 1;
    pub const VERDICT: u32 = 2;
    pub const DROP_REASON: u32 = 3;
    pub const ETHERNET: u32 = 4;
    pub const IP: u32 = 5;
    pub const L4: u32 = 6;
    pub const SOURCE: u32 = 8;
    pub const DESTINATION: u32 = 9;
    pub const SOURCE_NAMES: u32 = 13;
    pub const DESTINATION_NAMES: u32 = 14;
    pub const TYPE: u32 = 10;
    pub const NODE_NAME: u32 = 11;
    pub const L7: u32 = 15;
    pub const REPLY: u32 = 16;
    pub const EVENT_TYPE: u32 = 19;
    pub const TRAFFIC_DIRECTION: u32 = 22;
    pub const POLICY_MATCH_TYPE: u32 = 23;
    pub const TRACE_OBSERVATION_POINT: u32 = 24;
    pub const DROP_REASON_DESC: u32 = 25;
    pub const IS_REPLY: u32 = 26;
    pub const DEBUG_CAPTURE_POINT: u32 = 27;
    pub const INTERFACE: u32 = 28;
    pub const PROXY_PORT: u32 = 29;
    pub const TRACE_CONTEXT: u32 = 30;
    pub const SOCK_XLATE_POINT: u32 = 31;
    pub const SOCKET_COOKIE: u32 = 32;
    pub const CGROUP_ID: u32 = 33;
    pub const UUID: u32 = 34;
    pub const AUTH_TYPE: u32 = 35;
    pub const TRACE_REASON: u32 = 36;
    pub const FILE: u32 = 38;
    pub const TUNNEL: u32 = 39;
    pub const IP_TRACE_ID: u32 = 40;
    pub const EMITTER: u32 = 41;
    pub const SUMMARY: u32 = 100_000;
    use super::policy_ref::{
        EGRESS_ALLOWED_BY, EGRESS_DENIED_BY, INGRESS_ALLOWED_BY, INGRESS_DENIED_BY,
    };

    /// Every field, in the order they are written.
    pub const ALL: [u32; 39] = [
        TIME,
        UUID,
        EMITTER,
        VERDICT,
        DROP_REASON,
        AUTH_TYPE,
        ETHERNET,
        IP,
        L4,
        TUNNEL,
        SOURCE,
        DESTINATION,
        SOURCE_NAMES,
        DESTINATION_NAMES,
        TYPE,
        NODE_NAME,
        L7,
        REPLY,
        EVENT_TYPE,
        TRAFFIC_DIRECTION,
        POLICY_MATCH_TYPE,
        TRACE_OBSERVATION_POINT,
        TRACE_REASON,
        FILE,
        IP_TRACE_ID,
        DROP_REASON_DESC,
        IS_REPLY,
        DEBUG_CAPTURE_POINT,
        INTERFACE,
        PROXY_PORT,
        TRACE_CONTEXT,
        SOCK_XLATE_POINT,
        SOCKET_COOKIE,
        CGROUP_ID,
        SUMMARY,
        EGRESS_ALLOWED_BY,
        INGRESS_ALLOWED_BY,
        EGRESS_DENIED_BY,
        INGRESS_DENIED_BY,
    ];
}

/// What to write of a flow: compiled once per request from its field mask.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plan {
    /// `(field, sub-mask)` for each Flow field to write.
    fields: Vec<(u32, Option<MaskNode>)>,
    /// The response's own `time` (whole, or masked) and whether its `node_name` is set:
    /// both come from the masked flow.
    time: Option<Option<MaskNode>>,
    node_name: bool,
}

impl Plan {
    /// Every field: no mask.
    pub fn all() -> Plan {
        Plan {
            fields: field::ALL.iter().map(|f| (*f, None)).collect(),
            time: Some(None),
            node_name: true,
        }
    }

    /// The plan of a compiled mask (`None`: no mask).
    pub fn new(mask: Option<&MaskNode>) -> Plan {
        let Some(mask) = mask else {
            return Plan::all();
        };
        // Fields the record never fills are still created when a mask names sub-paths.
        let fields: Vec<(u32, Option<MaskNode>)> = mask.fields.clone();
        let whole = |n: u32| mask.get(n).is_some_and(|s| s.is_none());
        Plan {
            time: mask.get(field::TIME).cloned(),
            node_name: whole(field::NODE_NAME),
            fields,
        }
    }
}

/// Reusable buffers of one encoder (one per stream, or per shared cache).
#[derive(Debug, Default)]
pub struct Encoder {
    scratch: Vec<u8>,
    text: String,
}

impl Encoder {
    /// Appends the `GetFlowsResponse` of `ev` to `out`.
    pub fn response(&mut self, ev: &Event, plan: &Plan, out: &mut Vec<u8>) {
        match ev {
            Event::Flow(r) => self.flow_response(r, plan, out),
            Event::Lost(l) => lost_response(l, out),
        }
    }

    fn flow_response(&mut self, r: &FlowRecord, plan: &Plan, out: &mut Vec<u8>) {
        let at = begin(out, RESP_FLOW);
        for (number, sub) in &plan.fields {
            match sub {
                None => self.field(r, *number, out),
                Some(sub) => {
                    self.scratch.clear();
                    let mut scratch = std::mem::take(&mut self.scratch);
                    self.field(r, *number, &mut scratch);
                    let body = wire::fields(&scratch)
                        .next()
                        .and_then(Result::ok)
                        .map_or(&[][..], |f| f.body);
                    let sub_at = begin(out, *number);
                    // Written by this module: well-formed.
                    let _ = sub.filter(body, out);
                    end(out, sub_at);
                    self.scratch = scratch;
                }
            }
        }
        end(out, at);
        if plan.node_name {
            string(out, RESP_NODE_NAME, r.node.as_bytes());
        }
        match &plan.time {
            None => {}
            Some(None) => wire::timestamp(out, RESP_TIME, r.time.seconds, r.time.nanos),
            Some(Some(sub)) => {
                self.scratch.clear();
                wire::int64(&mut self.scratch, 1, r.time.seconds);
                wire::int32(&mut self.scratch, 2, r.time.nanos);
                let at = begin(out, RESP_TIME);
                let _ = sub.filter(&self.scratch, out);
                end(out, at);
            }
        }
    }

    /// Writes one Flow field from the record (nothing when the record has no value).
    fn field(&mut self, r: &FlowRecord, number: u32, out: &mut Vec<u8>) {
        match number {
            field::TIME => wire::timestamp(out, number, r.time.seconds, r.time.nanos),
            field::UUID => {
                let mut buf = [0u8; 36];
                string(out, number, super::uuid::text(&r.uuid, &mut buf).as_bytes());
            }
            field::EMITTER => {
                let at = begin(out, number);
                string(out, 1, crate::EMITTER_NAME.as_bytes());
                string(out, 2, crate::VERSION.as_bytes());
                end(out, at);
            }
            field::VERDICT => uint(out, number, u64::from(r.verdict)),
            field::DROP_REASON => uint(out, number, u64::from(r.drop_reason)),
            field::AUTH_TYPE => uint(out, number, u64::from(r.auth_type)),
            field::ETHERNET => {
                if let Some(e) = r.ethernet {
                    let at = begin(out, number);
                    mac(out, 1, e.src);
                    mac(out, 2, e.dst);
                    end(out, at);
                }
            }
            field::IP => {
                if let Some(ip) = &r.ip {
                    self.ip(out, number, ip);
                }
            }
            field::L4 => {
                if let Some(l4) = &r.l4 {
                    self.l4(out, number, l4, r.tcp_flags_set);
                }
            }
            field::TUNNEL => {
                if let Some(t) = &r.tunnel {
                    self.tunnel(out, number, t);
                }
            }
            field::SOURCE => peer(out, number, &r.source),
            field::SOURCE_NAMES | field::DESTINATION_NAMES => {
                let names = r.names.as_deref().and_then(|n| match number {
                    field::SOURCE_NAMES => n.source.as_deref(),
                    _ => n.destination.as_deref(),
                });
                for name in names.unwrap_or(&[]) {
                    bytes_always(out, number, name.as_bytes());
                }
            }
            field::DESTINATION => peer(out, number, &r.destination),
            field::TYPE => uint(out, number, u64::from(r.flow_type)),
            field::NODE_NAME => string(out, number, r.node.as_bytes()),
            field::L7 => {
                if let Some(l7) = &r.l7 {
                    l7_message(out, number, l7);
                }
            }
            field::REPLY => uint(out, number, u64::from(r.is_reply.unwrap_or(false))),
            field::EVENT_TYPE => {
                let at = begin(out, number);
                uint(out, 1, u64::from(r.event_type.0));
                uint(out, 2, u64::from(r.event_type.1));
                end(out, at);
            }
            field::TRAFFIC_DIRECTION => uint(out, number, u64::from(r.traffic_direction)),
            field::POLICY_MATCH_TYPE => uint(out, number, u64::from(r.policy_match_type)),
            field::TRACE_OBSERVATION_POINT => {
                uint(out, number, u64::from(r.trace_observation_point))
            }
            field::TRACE_REASON => uint(out, number, u64::from(r.trace_reason)),
            field::FILE => {
                if let Some((file, line)) = r.file.map(|f| (f, r.line)) {
                    let at = begin(out, number);
                    string(out, 1, names::bpf_file_name(file).as_bytes());
                    uint(out, 2, u64::from(line));
                    end(out, at);
                }
            }
            field::IP_TRACE_ID => {
                if let Some(t) = &r.ip_trace {
                    let at = begin(out, number);
                    uint(out, 1, t.id);
                    uint(out, 2, u64::from(t.option));
                    end(out, at);
                }
            }
            field::DROP_REASON_DESC => int32(out, number, r.drop_reason as i32),
            field::IS_REPLY => {
                if let Some(v) = r.is_reply {
                    let at = begin(out, number);
                    uint(out, 1, u64::from(v));
                    end(out, at);
                }
            }
            field::DEBUG_CAPTURE_POINT => uint(out, number, u64::from(r.debug_capture_point())),
            field::INTERFACE => {
                if let Some(i) = &r.interface {
                    let at = begin(out, number);
                    uint(out, 1, u64::from(i.index));
                    string(out, 2, i.name.as_bytes());
                    end(out, at);
                }
            }
            policy_ref::EGRESS_ALLOWED_BY
            | policy_ref::INGRESS_ALLOWED_BY
            | policy_ref::EGRESS_DENIED_BY
            | policy_ref::INGRESS_DENIED_BY => {
                if let Some(p) = &r.policy
                    && policy_ref::field_for(r.traffic_direction, r.verdict, r.drop_reason)
                        == Some(number)
                {
                    bytes_always(out, number, p.encoded());
                }
            }
            field::PROXY_PORT => uint(out, number, u64::from(r.proxy_port)),
            field::TRACE_CONTEXT => {
                if let Some(l7) = &r.l7
                    && let Some(t) = l7.trace_id
                {
                    let at = begin(out, number);
                    let parent = begin(out, 1);
                    string(out, 1, l7.str(t).as_bytes());
                    end(out, parent);
                    end(out, at);
                }
            }
            field::SOCK_XLATE_POINT => uint(
                out,
                number,
                r.sock.as_ref().map_or(0, |s| u64::from(s.xlate_point)),
            ),
            field::SOCKET_COOKIE => uint(out, number, r.sock.as_ref().map_or(0, |s| s.cookie)),
            field::CGROUP_ID => uint(out, number, r.sock.as_ref().map_or(0, |s| s.cgroup_id)),
            field::SUMMARY => {
                self.text.clear();
                super::proto::push_summary(&mut self.text, r);
                string(out, number, self.text.as_bytes());
            }
            _ => {}
        }
    }

    fn ip(&mut self, out: &mut Vec<u8>, number: u32, ip: &IpInfo) {
        let at = begin(out, number);
        self.addr(out, 1, ip.source);
        self.addr(out, 2, ip.destination);
        uint(out, 3, u64::from(ip.version));
        uint(out, 4, u64::from(ip.encrypted));
        self.addr(out, 5, ip.source_xlated);
        end(out, at);
    }

    fn addr(&mut self, out: &mut Vec<u8>, number: u32, a: Option<IpAddr>) {
        let Some(a) = a else { return };
        self.text.clear();
        let _ = write!(self.text, "{a}");
        string(out, number, self.text.as_bytes());
    }

    fn l4(&mut self, out: &mut Vec<u8>, number: u32, l4: &L4, with_flags: bool) {
        let at = begin(out, number);
        let ports = |out: &mut Vec<u8>, n: u32, src: u16, dst: u16| {
            let p = begin(out, n);
            uint(out, 1, u64::from(src));
            uint(out, 2, u64::from(dst));
            p
        };
        match *l4 {
            L4::Tcp { src, dst, flags } => {
                let p = ports(out, 1, src, dst);
                if with_flags {
                    let f = begin(out, 3);
                    for (i, bit) in [
                        tcp_flags::FIN,
                        tcp_flags::SYN,
                        tcp_flags::RST,
                        tcp_flags::PSH,
                        tcp_flags::ACK,
                        tcp_flags::URG,
                        tcp_flags::ECE,
                        tcp_flags::CWR,
                        tcp_flags::NS,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        uint(out, i as u32 + 1, u64::from(flags & bit != 0));
                    }
                    end(out, f);
                }
                end(out, p);
            }
            L4::Udp { src, dst } => {
                let p = ports(out, 2, src, dst);
                end(out, p);
            }
            L4::Sctp { src, dst, .. } => {
                let p = ports(out, 5, src, dst);
                end(out, p);
            }
            L4::Icmpv4 { typ, code } | L4::Icmpv6 { typ, code } => {
                let n = if matches!(l4, L4::Icmpv4 { .. }) {
                    3
                } else {
                    4
                };
                let p = begin(out, n);
                uint(out, 1, u64::from(typ));
                uint(out, 2, u64::from(code));
                end(out, p);
            }
            L4::Vrrp {
                typ,
                vrid,
                priority,
            } => {
                let p = begin(out, 6);
                uint(out, 1, u64::from(typ));
                uint(out, 2, u64::from(vrid));
                uint(out, 3, u64::from(priority));
                end(out, p);
            }
            L4::Igmp { typ, group } => {
                let p = begin(out, 7);
                uint(out, 1, u64::from(typ));
                self.addr(out, 2, Some(IpAddr::V4(group)));
                end(out, p);
            }
        }
        end(out, at);
    }

    fn tunnel(&mut self, out: &mut Vec<u8>, number: u32, t: &Tunnel) {
        let at = begin(out, number);
        let protocol = match t.protocol {
            TunnelProtocol::Vxlan => 1,
            TunnelProtocol::Geneve => 2,
        };
        uint(out, 1, protocol);
        if let Some(l) = t.ip {
            self.ip(
                out,
                2,
                &IpInfo {
                    source: Some(l.src),
                    destination: Some(l.dst),
                    source_xlated: None,
                    version: super::ip_version(l.src),
                    encrypted: false,
                },
            );
        }
        if let Some(l4) = &t.l4 {
            self.l4(out, 3, l4, true);
        }
        uint(out, 4, u64::from(t.vni));
        end(out, at);
    }
}

fn mac(out: &mut Vec<u8>, number: u32, m: [u8; 6]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = [0u8; 17];
    for (i, b) in m.into_iter().enumerate() {
        s[i * 3] = HEX[usize::from(b >> 4)];
        s[i * 3 + 1] = HEX[usize::from(b & 0x0f)];
        if i < 5 {
            s[i * 3 + 2] = b':';
        }
    }
    string(out, number, &s);
}

/// The body of an `Endpoint` message.
fn endpoint_body(out: &mut Vec<u8>, p: &Peer) {
    let v = p.view();
    uint(out, 1, u64::from(v.id));
    uint(out, 2, u64::from(v.identity));
    string(out, 3, v.namespace.as_bytes());
    for l in v.labels {
        bytes_always(out, 4, l.as_bytes());
    }
    string(out, 5, v.pod_name.as_bytes());
    for (name, kind) in v.workloads.iter() {
        let at = begin(out, 6);
        string(out, 1, name.as_bytes());
        string(out, 2, kind.as_bytes());
        end(out, at);
    }
    string(out, 7, v.cluster_name.as_bytes());
}

fn peer(out: &mut Vec<u8>, number: u32, p: &Peer) {
    match &p.info {
        // A pod's endpoint is the same on every flow: encode it once.
        PeerInfo::Pod(ep) => {
            let body = ep.encoded.get_or_init(|| {
                let mut b = Vec::new();
                endpoint_body(&mut b, p);
                b.into_boxed_slice()
            });
            bytes_always(out, number, body);
        }
        _ => {
            let at = begin(out, number);
            endpoint_body(out, p);
            end(out, at);
        }
    }
}

fn l7_message(out: &mut Vec<u8>, number: u32, l7: &L7Record) {
    let at = begin(out, number);
    uint(out, 1, u64::from(l7.l7_type));
    uint(out, 2, l7.latency_ns);
    match &l7.data {
        L7Data::None { .. } => {}
        L7Data::Http(h) => {
            let r = begin(out, 101);
            uint(out, 1, u64::from(h.code));
            string(out, 2, l7.str(h.method).as_bytes());
            string(out, 3, l7.str(h.url).as_bytes());
            string(out, 4, h.protocol.as_bytes());
            for hd in h.headers.iter() {
                let x = begin(out, 5);
                string(out, 1, l7.str(hd.key).as_bytes());
                string(out, 2, l7.str(hd.value).as_bytes());
                end(out, x);
            }
            end(out, r);
        }
        L7Data::Dns(d) => {
            let r = begin(out, 100);
            string(out, 1, l7.str(d.query).as_bytes());
            let mut buf = [0u8; 48];
            for ip in d.ips.iter() {
                bytes_always(out, 2, IpRef::Addr(*ip).text(&mut buf).as_bytes());
            }
            uint(out, 3, u64::from(d.ttl));
            for c in d.cnames.iter() {
                bytes_always(out, 4, l7.str(*c).as_bytes());
            }
            string(out, 5, d.observation_source.as_bytes());
            uint(out, 6, u64::from(d.rcode));
            for t in d.qtypes.iter() {
                bytes_always(out, 7, dns::type_name(*t).as_bytes());
            }
            for t in d.rrtypes.iter() {
                bytes_always(out, 8, dns::type_name(*t).as_bytes());
            }
            end(out, r);
        }
        L7Data::Kafka(k) => {
            let r = begin(out, 102);
            int32(out, 1, k.error_code);
            int32(out, 2, k.api_version);
            string(out, 3, l7.str(k.api_key).as_bytes());
            int32(out, 4, k.correlation_id);
            string(out, 5, l7.str(k.topic).as_bytes());
            end(out, r);
        }
    }
    end(out, at);
}

fn lost_response(l: &LostRecord, out: &mut Vec<u8>) {
    let at = begin(out, RESP_LOST);
    int32(out, 1, l.source);
    uint(out, 2, l.count);
    if let Some(cpu) = l.cpu {
        let c = begin(out, 3);
        int32(out, 1, i32::try_from(cpu).unwrap_or(i32::MAX));
        end(out, c);
    }
    end(out, at);
    string(out, RESP_NODE_NAME, l.node.as_bytes());
    wire::timestamp(out, RESP_TIME, l.time.seconds, l.time.nanos);
}
