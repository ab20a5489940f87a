//! The record as the filter engine and the metrics handlers read it.

use std::borrow::Cow;

use flowscope_filter::{
    DnsRef, DnsTypes, EndpointRef, FlowView, HttpRef, IpField, IpRef, KafkaRef, L4Ref, L7Kind,
    Side, tcp_flag,
};

use flowscope_proto::flow::Flow;

use super::{FlowRecord, L7Data};
use crate::parser::l34::packet::{L4, tcp_flags};

/// Packet flag bits (SYN first) → the proto field order the filter uses (FIN first).
fn view_flags(f: u16) -> u16 {
    const MAP: [(u16, u16); 9] = [
        (tcp_flags::FIN, tcp_flag::FIN),
        (tcp_flags::SYN, tcp_flag::SYN),
        (tcp_flags::RST, tcp_flag::RST),
        (tcp_flags::PSH, tcp_flag::PSH),
        (tcp_flags::ACK, tcp_flag::ACK),
        (tcp_flags::URG, tcp_flag::URG),
        (tcp_flags::ECE, tcp_flag::ECE),
        (tcp_flags::CWR, tcp_flag::CWR),
        (tcp_flags::NS, tcp_flag::NS),
    ];
    MAP.iter().fold(
        0,
        |acc, (from, to)| if f & from != 0 { acc | to } else { acc },
    )
}

impl FlowView for FlowRecord {
    fn time(&self) -> Option<(i64, i32)> {
        Some((self.time.seconds, self.time.nanos))
    }
    fn uuid<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str {
        super::uuid::text(&self.uuid, buf)
    }
    fn verdict(&self) -> i32 {
        i32::from(self.verdict)
    }
    fn drop_reason_desc(&self) -> i32 {
        self.drop_reason as i32
    }
    fn flow_type(&self) -> i32 {
        i32::from(self.flow_type)
    }
    fn event_type(&self) -> Option<(i32, i32)> {
        Some((i32::from(self.event_type.0), i32::from(self.event_type.1)))
    }
    fn is_reply(&self) -> Option<bool> {
        self.is_reply
    }
    fn traffic_direction(&self) -> i32 {
        i32::from(self.traffic_direction)
    }
    fn policy_match_type(&self) -> u32 {
        u32::from(self.policy_match_type)
    }
    fn node_name(&self) -> &str {
        &self.node
    }
    fn node_labels(&self) -> &[String] {
        &[]
    }
    fn endpoint(&self, side: Side) -> Option<EndpointRef<'_>> {
        Some(match side {
            Side::Source => self.source.view(),
            Side::Destination => self.destination.view(),
        })
    }
    fn service(&self, _side: Side) -> Option<(&str, &str)> {
        None
    }
    fn names(&self, side: Side) -> &[String] {
        let names = self.names.as_deref().and_then(|n| match side {
            Side::Source => n.source.as_deref(),
            Side::Destination => n.destination.as_deref(),
        });
        names.unwrap_or(&[])
    }
    fn ip(&self, field: IpField) -> IpRef<'_> {
        let Some(ip) = &self.ip else {
            return IpRef::None;
        };
        let a = match field {
            IpField::Source => ip.source,
            IpField::Destination => ip.destination,
            IpField::SourceXlated => ip.source_xlated,
        };
        a.map_or(IpRef::None, IpRef::Addr)
    }
    fn has_ip(&self) -> bool {
        self.ip.is_some()
    }
    fn ip_version(&self) -> i32 {
        self.ip.as_ref().map_or(0, |ip| i32::from(ip.version))
    }
    fn encrypted(&self) -> bool {
        self.ip.as_ref().is_some_and(|ip| ip.encrypted)
    }
    fn l4(&self) -> L4Ref {
        match self.l4 {
            None => L4Ref::None,
            Some(L4::Tcp { src, dst, flags }) => L4Ref::Tcp {
                src: u32::from(src),
                dst: u32::from(dst),
                flags: self.tcp_flags_set.then(|| view_flags(flags)),
            },
            Some(L4::Udp { src, dst }) => L4Ref::Udp {
                src: u32::from(src),
                dst: u32::from(dst),
            },
            Some(L4::Sctp { src, dst, .. }) => L4Ref::Sctp {
                src: u32::from(src),
                dst: u32::from(dst),
            },
            Some(L4::Icmpv4 { typ, code }) => L4Ref::Icmpv4 {
                typ: u32::from(typ),
                code: u32::from(code),
            },
            Some(L4::Icmpv6 { typ, code }) => L4Ref::Icmpv6 {
                typ: u32::from(typ),
                code: u32::from(code),
            },
            Some(L4::Vrrp { .. }) => L4Ref::Vrrp,
            Some(L4::Igmp { .. }) => L4Ref::Igmp,
        }
    }
    fn l7_kind(&self) -> L7Kind {
        match self.l7.as_deref().map(|l7| &l7.data) {
            None | Some(L7Data::None { .. }) => L7Kind::None,
            Some(L7Data::Http(_)) => L7Kind::Http,
            Some(L7Data::Kafka(_)) => L7Kind::Kafka,
            Some(L7Data::Dns(_)) => L7Kind::Dns,
        }
    }
    fn l7_type(&self) -> i32 {
        self.l7.as_ref().map_or(0, |l7| i32::from(l7.l7_type))
    }
    fn l7_latency_ns(&self) -> u64 {
        self.l7.as_ref().map_or(0, |l7| l7.latency_ns)
    }
    fn http(&self) -> Option<HttpRef<'_>> {
        let l7 = self.l7.as_deref()?;
        let h = l7.http()?;
        Some(HttpRef {
            code: h.code,
            method: l7.str(h.method),
            url: l7.str(h.url),
            protocol: h.protocol,
            headers: l7,
        })
    }
    fn dns_query(&self) -> Option<&str> {
        self.dns().map(|d| d.query)
    }
    fn dns(&self) -> Option<DnsRef<'_>> {
        let l7 = self.l7.as_deref()?;
        match &l7.data {
            L7Data::Dns(d) => Some(DnsRef {
                query: l7.str(d.query),
                rcode: d.rcode,
                qtypes: DnsTypes::Codes(&d.qtypes, crate::parser::dns::type_name),
                rrtypes: DnsTypes::Codes(&d.rrtypes, crate::parser::dns::type_name),
                ips_returned: d.ips.len(),
                observation_source: d.observation_source,
            }),
            _ => None,
        }
    }
    fn sctp_chunk_type(&self) -> Option<&'static str> {
        match self.l4 {
            Some(L4::Sctp { chunk_type, .. }) => {
                crate::parser::l34::packet::sctp_chunk_name(chunk_type)
            }
            _ => None,
        }
    }
    fn kafka(&self) -> Option<KafkaRef<'_>> {
        let l7 = self.l7.as_deref()?;
        match &l7.data {
            L7Data::Kafka(k) => Some(KafkaRef {
                error_code: k.error_code,
                api_version: k.api_version,
                api_key: l7.str(k.api_key),
                correlation_id: k.correlation_id,
                topic: l7.str(k.topic),
            }),
            _ => None,
        }
    }
    fn trace_id(&self) -> &str {
        self.l7
            .as_deref()
            .and_then(|l7| l7.trace_id.map(|t| l7.str(t)))
            .unwrap_or("")
    }
    fn interface(&self) -> Option<(u32, &str)> {
        self.interface.as_ref().map(|i| (i.index, &*i.name))
    }
    fn ip_trace_id(&self) -> Option<u64> {
        self.ip_trace.as_ref().map(|t| t.id)
    }
    fn proto_flow(&self) -> Cow<'_, Flow> {
        Cow::Owned(self.to_proto())
    }
}
