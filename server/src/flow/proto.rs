//! The reference conversion of a record to the proto `Flow`: what `GetFlows` sends, built
//! the plain way. The wire encoder is checked against it.

// `Flow.Summary`, `Flow.reply` and `Layer7.kafka` are deprecated in the proto but Hubble
// still fills them and clients print them.
#![allow(deprecated)]

use flowscope_proto::flow::{
    CiliumEventType, Dns, Ethernet, FileInfo, Flow, Http, HttpHeader, IcmPv4, IcmPv6, Igmp, Ip,
    IpTraceId, Kafka, Layer4, Layer7, LostEvent, NetworkInterface, Sctp, Tcp, TcpFlags,
    TraceContext, TraceParent, Tunnel, Udp, Vrrp, layer4, layer7, tunnel,
};
use flowscope_proto::names;
use flowscope_proto::observer::{GetFlowsResponse, get_flows_response::ResponseTypes};
use flowscope_proto::types::{BoolValue, Int32Value, Timestamp};

use super::{Event, FlowRecord, IpInfo, L7Data, L7Record, LostRecord, SummaryKind, Time};
use crate::parser::dns;
use crate::parser::l34::addr;
use crate::parser::l34::packet::{L4, TunnelProtocol, tcp_flags};
use crate::parser::l34::summary;

impl From<Time> for Timestamp {
    fn from(t: Time) -> Self {
        Timestamp {
            seconds: t.seconds,
            nanos: t.nanos,
        }
    }
}

impl From<Timestamp> for Time {
    fn from(t: Timestamp) -> Self {
        Time {
            seconds: t.seconds,
            nanos: t.nanos,
        }
    }
}

fn ip_text(a: Option<std::net::IpAddr>) -> String {
    a.map(addr::ip).unwrap_or_default()
}

pub fn ip(ip: &IpInfo) -> Ip {
    Ip {
        source: ip_text(ip.source),
        destination: ip_text(ip.destination),
        source_xlated: ip_text(ip.source_xlated),
        ip_version: i32::from(ip.version),
        encrypted: ip.encrypted,
    }
}

pub fn tcp_flags(flags: u16) -> TcpFlags {
    TcpFlags {
        fin: flags & tcp_flags::FIN != 0,
        syn: flags & tcp_flags::SYN != 0,
        rst: flags & tcp_flags::RST != 0,
        psh: flags & tcp_flags::PSH != 0,
        ack: flags & tcp_flags::ACK != 0,
        urg: flags & tcp_flags::URG != 0,
        ece: flags & tcp_flags::ECE != 0,
        cwr: flags & tcp_flags::CWR != 0,
        ns: flags & tcp_flags::NS != 0,
    }
}

/// `Layer4`; `with_flags` says whether a TCP layer carries its flags message.
pub fn l4(l4: &L4, with_flags: bool) -> Layer4 {
    let protocol = match *l4 {
        L4::Tcp { src, dst, flags } => layer4::Protocol::Tcp(Tcp {
            source_port: u32::from(src),
            destination_port: u32::from(dst),
            flags: with_flags.then(|| tcp_flags(flags)),
        }),
        L4::Udp { src, dst } => layer4::Protocol::Udp(Udp {
            source_port: u32::from(src),
            destination_port: u32::from(dst),
        }),
        L4::Sctp { src, dst, .. } => layer4::Protocol::Sctp(Sctp {
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
            group_address: addr::ip(std::net::IpAddr::V4(group)),
        }),
    };
    Layer4 {
        protocol: Some(protocol),
    }
}

fn l7(rec: &L7Record) -> Layer7 {
    let record = match &rec.data {
        L7Data::None { .. } => None,
        L7Data::Http(h) => Some(layer7::Record::Http(Http {
            code: h.code,
            method: rec.str(h.method).to_string(),
            url: rec.str(h.url).to_string(),
            protocol: h.protocol.to_string(),
            headers: h
                .headers
                .iter()
                .map(|hd| HttpHeader {
                    key: rec.str(hd.key).to_string(),
                    value: rec.str(hd.value).to_string(),
                })
                .collect(),
        })),
        L7Data::Dns(d) => Some(layer7::Record::Dns(Dns {
            query: rec.str(d.query).to_string(),
            ips: d.ips.iter().map(|ip| ip.to_string()).collect(),
            ttl: d.ttl,
            cnames: d.cnames.iter().map(|c| rec.str(*c).to_string()).collect(),
            observation_source: d.observation_source.to_string(),
            rcode: d.rcode,
            qtypes: d
                .qtypes
                .iter()
                .map(|t| dns::type_name(*t).to_string())
                .collect(),
            rrtypes: d
                .rrtypes
                .iter()
                .map(|t| dns::type_name(*t).to_string())
                .collect(),
        })),
        L7Data::Kafka(k) => Some(layer7::Record::Kafka(Kafka {
            error_code: k.error_code,
            api_version: k.api_version,
            api_key: rec.str(k.api_key).to_string(),
            correlation_id: k.correlation_id,
            topic: rec.str(k.topic).to_string(),
        })),
    };
    Layer7 {
        r#type: i32::from(rec.l7_type),
        latency_ns: rec.latency_ns,
        record,
    }
}

/// `Flow.Summary`, as Hubble writes it for each kind of flow.
pub fn summary(r: &FlowRecord) -> String {
    let mut s = String::with_capacity(48);
    push_summary(&mut s, r);
    s
}

/// Appends the flow's `Summary` to `out`.
pub fn push_summary(out: &mut String, r: &FlowRecord) {
    match r.summary {
        SummaryKind::Packet(last) => summary::push_packet_summary(out, last, r.l4),
        SummaryKind::Sock => out.push_str(match r.l4 {
            Some(L4::Tcp { .. }) => "TCP",
            Some(L4::Udp { .. }) => "UDP",
            _ => "Unknown",
        }),
        SummaryKind::L7 => {
            if let Some(l7) = &r.l7 {
                super::l7::push_summary(out, l7);
            }
        }
    }
}

impl FlowRecord {
    /// The proto `Flow` of this record.
    pub fn to_proto(&self) -> Flow {
        let mut uuid_buf = [0u8; 36];
        let mut flow = Flow {
            time: Some(self.time.into()),
            uuid: super::uuid::text(&self.uuid, &mut uuid_buf).to_string(),
            emitter: Some(crate::emitter()),
            verdict: i32::from(self.verdict),
            drop_reason: self.drop_reason,
            auth_type: i32::from(self.auth_type),
            ethernet: self.ethernet.map(|e| Ethernet {
                source: addr::mac(e.src),
                destination: addr::mac(e.dst),
            }),
            ip: self.ip.as_ref().map(ip),
            l4: self.l4.as_ref().map(|x| l4(x, self.tcp_flags_set)),
            tunnel: self.tunnel.as_ref().map(|t| Tunnel {
                protocol: match t.protocol {
                    TunnelProtocol::Vxlan => tunnel::Protocol::Vxlan,
                    TunnelProtocol::Geneve => tunnel::Protocol::Geneve,
                } as i32,
                ip: t.ip.as_ref().map(|l| {
                    ip(&IpInfo {
                        source: Some(l.src),
                        destination: Some(l.dst),
                        source_xlated: None,
                        version: super::ip_version(l.src),
                        encrypted: false,
                    })
                }),
                l4: t.l4.as_ref().map(|x| l4(x, true)),
                vni: t.vni,
            }),
            source: Some(self.source.to_proto()),
            destination: Some(self.destination.to_proto()),
            r#type: i32::from(self.flow_type),
            node_name: self.node.to_string(),
            l7: self.l7.as_deref().map(l7),
            reply: self.is_reply.unwrap_or(false),
            event_type: Some(CiliumEventType {
                r#type: i32::from(self.event_type.0),
                sub_type: i32::from(self.event_type.1),
            }),
            traffic_direction: i32::from(self.traffic_direction),
            policy_match_type: u32::from(self.policy_match_type),
            trace_observation_point: i32::from(self.trace_observation_point),
            trace_reason: i32::from(self.trace_reason),
            file: self
                .file
                .map(|f| (f, self.line))
                .map(|(file, line)| FileInfo {
                    name: names::bpf_file_name(file).into_owned(),
                    line: u32::from(line),
                }),
            ip_trace_id: self.ip_trace.as_ref().map(|t| IpTraceId {
                trace_id: t.id,
                ip_option_type: t.option,
            }),
            drop_reason_desc: self.drop_reason as i32,
            is_reply: self.is_reply.map(|value| BoolValue { value }),
            debug_capture_point: i32::from(self.debug_capture_point()),
            interface: self.interface.as_ref().map(|i| NetworkInterface {
                index: i.index,
                name: i.name.to_string(),
            }),
            proxy_port: u32::from(self.proxy_port),
            trace_context: self
                .l7
                .as_ref()
                .and_then(|l7| l7.trace_id.map(|t| l7.str(t).to_string()))
                .map(|trace_id| TraceContext {
                    parent: Some(TraceParent { trace_id }),
                }),
            sock_xlate_point: self.sock.as_ref().map_or(0, |s| i32::from(s.xlate_point)),
            socket_cookie: self.sock.as_ref().map_or(0, |s| s.cookie),
            cgroup_id: self.sock.as_ref().map_or(0, |s| s.cgroup_id),
            summary: summary(self),
            source_names: self
                .names
                .as_ref()
                .and_then(|n| n.source.as_ref())
                .map_or_else(Vec::new, |n| n.to_vec()),
            destination_names: self
                .names
                .as_ref()
                .and_then(|n| n.destination.as_ref())
                .map_or_else(Vec::new, |n| n.to_vec()),
            ..Default::default()
        };
        if let Some(p) = &self.policy {
            use super::policy_ref as pr;
            let list = match pr::field_for(self.traffic_direction, self.verdict, self.drop_reason) {
                Some(pr::EGRESS_ALLOWED_BY) => &mut flow.egress_allowed_by,
                Some(pr::INGRESS_ALLOWED_BY) => &mut flow.ingress_allowed_by,
                Some(pr::EGRESS_DENIED_BY) => &mut flow.egress_denied_by,
                Some(pr::INGRESS_DENIED_BY) => &mut flow.ingress_denied_by,
                _ => return flow,
            };
            list.push(p.to_proto());
        }
        flow
    }

    /// The `GetFlowsResponse` carrying this record's flow.
    pub fn to_response(&self) -> GetFlowsResponse {
        GetFlowsResponse {
            node_name: self.node.to_string(),
            time: Some(self.time.into()),
            response_types: Some(ResponseTypes::Flow(self.to_proto())),
        }
    }
}

impl LostRecord {
    pub fn to_response(&self) -> GetFlowsResponse {
        GetFlowsResponse {
            node_name: self.node.to_string(),
            time: Some(self.time.into()),
            response_types: Some(ResponseTypes::LostEvents(LostEvent {
                source: self.source,
                num_events_lost: self.count,
                cpu: self.cpu.map(|cpu| Int32Value {
                    value: i32::try_from(cpu).unwrap_or(i32::MAX),
                }),
                first: None,
                last: None,
            })),
        }
    }
}

impl Event {
    /// The `GetFlowsResponse` of this event.
    pub fn to_response(&self) -> GetFlowsResponse {
        match self {
            Event::Flow(f) => f.to_response(),
            Event::Lost(l) => l.to_response(),
        }
    }
}
