//! [`FlowView`]: the read-only face of a flow that filters and metrics evaluate.
//!
//! flowd keeps flows in its own compact record and `flowctl --input-file` / flowtop read
//! decoded proto `Flow`s; both implement this trait, so one filter engine (and one set of
//! metrics handlers) serves both and the online and offline filters cannot drift apart.
//! Accessors return borrowed or `Copy` data: evaluating a filter never allocates.

#![allow(deprecated)] // Layer7.kafka is deprecated in the proto but still a record kind.

use std::borrow::Cow;
use std::net::IpAddr;

use flowscope_proto::flow::{Endpoint, Flow, HttpHeader, Workload, layer4, layer7};

/// Which endpoint of a flow a field looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// Which address of the flow's IP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpField {
    Source,
    Destination,
    SourceXlated,
}

/// An address as the flow holds it: proto flows carry text, records carry addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRef<'a> {
    /// No address (no IP layer, or the field is empty).
    None,
    Text(&'a str),
    Addr(IpAddr),
}

impl IpRef<'_> {
    /// The address as text (Go's `netip.Addr.String()`, which Rust's `Display` matches),
    /// written into `buf` when it is not stored as text.
    pub fn text<'b>(&'b self, buf: &'b mut [u8; 48]) -> &'b str {
        match self {
            IpRef::None => "",
            IpRef::Text(s) => s,
            IpRef::Addr(a) => {
                use std::io::Write as _;
                let mut cur = std::io::Cursor::new(&mut buf[..]);
                let _ = write!(cur, "{a}");
                let n = usize::try_from(cur.position()).unwrap_or(0);
                std::str::from_utf8(&buf[..n]).unwrap_or("")
            }
        }
    }
}

/// A list of `(key, value)` string pairs: workloads `(name, kind)` or HTTP headers.
pub trait Pairs {
    fn pair_count(&self) -> usize;
    /// The `i`-th pair; `i < pair_count()`.
    fn pair(&self, i: usize) -> (&str, &str);
}

impl dyn Pairs + '_ {
    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.pair_count()).map(move |i| self.pair(i))
    }

    pub fn first(&self) -> Option<(&str, &str)> {
        (self.pair_count() > 0).then(|| self.pair(0))
    }
}

impl Pairs for Vec<Workload> {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&str, &str) {
        (&self[i].name, &self[i].kind)
    }
}

impl Pairs for Vec<HttpHeader> {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&str, &str) {
        (&self[i].key, &self[i].value)
    }
}

impl Pairs for Vec<(String, String)> {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&str, &str) {
        (&self[i].0, &self[i].1)
    }
}

/// One endpoint of a flow.
#[derive(Clone, Copy)]
pub struct EndpointRef<'a> {
    pub id: u32,
    pub identity: u32,
    pub cluster_name: &'a str,
    pub namespace: &'a str,
    pub pod_name: &'a str,
    /// Sorted `source:key=value` labels.
    pub labels: &'a [String],
    /// `(name, kind)` pairs.
    pub workloads: &'a dyn Pairs,
}

impl<'a> From<&'a Endpoint> for EndpointRef<'a> {
    fn from(ep: &'a Endpoint) -> Self {
        EndpointRef {
            id: ep.id,
            identity: ep.identity,
            cluster_name: &ep.cluster_name,
            namespace: &ep.namespace,
            pod_name: &ep.pod_name,
            labels: &ep.labels,
            workloads: &ep.workloads,
        }
    }
}

/// TCP flag bits in the order of the proto's `TCPFlags` fields.
pub mod tcp_flag {
    pub const FIN: u16 = 1 << 0;
    pub const SYN: u16 = 1 << 1;
    pub const RST: u16 = 1 << 2;
    pub const PSH: u16 = 1 << 3;
    pub const ACK: u16 = 1 << 4;
    pub const URG: u16 = 1 << 5;
    pub const ECE: u16 = 1 << 6;
    pub const CWR: u16 = 1 << 7;
    pub const NS: u16 = 1 << 8;
}

/// The flow's layer-4 part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Ref {
    None,
    /// `flags` in [`tcp_flag`] bits; `None` when the flow has no flags message.
    Tcp {
        src: u32,
        dst: u32,
        flags: Option<u16>,
    },
    Udp {
        src: u32,
        dst: u32,
    },
    Sctp {
        src: u32,
        dst: u32,
    },
    Icmpv4 {
        typ: u32,
        code: u32,
    },
    Icmpv6 {
        typ: u32,
        code: u32,
    },
    Vrrp,
    Igmp,
}

impl L4Ref {
    /// `(source, destination)` ports of TCP, UDP and SCTP.
    pub fn ports(self) -> Option<(u32, u32)> {
        match self {
            L4Ref::Tcp { src, dst, .. } | L4Ref::Udp { src, dst } | L4Ref::Sctp { src, dst } => {
                Some((src, dst))
            }
            _ => None,
        }
    }

    /// The protocol's name as metrics label it (`TCP`, `ICMPv4`, …).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            L4Ref::None => return None,
            L4Ref::Tcp { .. } => "TCP",
            L4Ref::Udp { .. } => "UDP",
            L4Ref::Sctp { .. } => "SCTP",
            L4Ref::Icmpv4 { .. } => "ICMPv4",
            L4Ref::Icmpv6 { .. } => "ICMPv6",
            L4Ref::Vrrp => "VRRP",
            L4Ref::Igmp => "IGMP",
        })
    }
}

/// Which L7 record a flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L7Kind {
    None,
    Dns,
    Http,
    Kafka,
}

/// The HTTP record of an L7 flow.
#[derive(Clone, Copy)]
pub struct HttpRef<'a> {
    pub code: u32,
    pub method: &'a str,
    pub url: &'a str,
    pub protocol: &'a str,
    /// `(key, value)`, sorted by key.
    pub headers: &'a dyn Pairs,
}

/// The DNS record of an L7 flow.
#[derive(Clone, Copy, Debug)]
pub struct DnsRef<'a> {
    pub query: &'a str,
    /// The response's return code (0 in requests).
    pub rcode: u32,
    /// The question types (`A`, `AAAA`, …).
    pub qtypes: DnsTypes<'a>,
    /// The answer record types.
    pub rrtypes: DnsTypes<'a>,
    /// How many addresses the response returned.
    pub ips_returned: usize,
    /// `proxy` or `fqdn` (who observed the message).
    pub observation_source: &'a str,
}

/// DNS type names as a flow holds them: proto flows as text, flowd's records as type
/// numbers with the function that names them.
#[derive(Clone, Copy)]
pub enum DnsTypes<'a> {
    Names(&'a [String]),
    Codes(&'a [u16], TypeName),
}

/// Names a DNS type number (`1` → `A`).
pub type TypeName = fn(u16) -> &'static str;

impl std::fmt::Debug for DnsTypes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for DnsTypes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for DnsTypes<'_> {}

impl<'a> DnsTypes<'a> {
    pub fn len(&self) -> usize {
        match self {
            DnsTypes::Names(n) => n.len(),
            DnsTypes::Codes(c, _) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let (names, codes, name_of): (&'a [String], &'a [u16], TypeName) = match *self {
            DnsTypes::Names(n) => (n, &[], |_| ""),
            DnsTypes::Codes(c, f) => (&[], c, f),
        };
        names
            .iter()
            .map(String::as_str)
            .chain(codes.iter().map(move |c| name_of(*c)))
    }
}

/// The Kafka record of an L7 flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaRef<'a> {
    pub error_code: i32,
    pub api_version: i32,
    pub api_key: &'a str,
    pub correlation_id: i32,
    pub topic: &'a str,
}

/// What filters and metrics read of a flow.
pub trait FlowView {
    /// `(seconds, nanos)` of the flow's time.
    fn time(&self) -> Option<(i64, i32)>;
    /// The flow's UUID as text, written into `buf` when it is not stored as text.
    fn uuid<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str;
    fn verdict(&self) -> i32;
    fn drop_reason_desc(&self) -> i32;
    /// `Flow.Type` (L3_L4, L7, SOCK).
    fn flow_type(&self) -> i32;
    /// `(type, sub_type)` of `event_type`, if set.
    fn event_type(&self) -> Option<(i32, i32)>;
    fn is_reply(&self) -> Option<bool>;
    fn traffic_direction(&self) -> i32;
    fn policy_match_type(&self) -> u32;
    fn node_name(&self) -> &str;
    fn node_labels(&self) -> &[String];
    fn endpoint(&self, side: Side) -> Option<EndpointRef<'_>>;
    /// `(namespace, name)` of the source/destination service.
    fn service(&self, side: Side) -> Option<(&str, &str)>;
    /// `source_names` / `destination_names`.
    fn names(&self, side: Side) -> &[String];
    fn ip(&self, field: IpField) -> IpRef<'_>;
    /// Whether the flow has an IP part.
    fn has_ip(&self) -> bool;
    /// `IP.ipVersion`; 0 (IP_NOT_USED) without an IP layer.
    fn ip_version(&self) -> i32;
    fn encrypted(&self) -> bool;
    fn l4(&self) -> L4Ref;
    fn l7_kind(&self) -> L7Kind;
    /// `l7.type` (REQUEST, RESPONSE, SAMPLE); 0 without an L7 part.
    fn l7_type(&self) -> i32;
    fn l7_latency_ns(&self) -> u64;
    fn http(&self) -> Option<HttpRef<'_>>;
    fn dns_query(&self) -> Option<&str>;
    /// The DNS record of an L7 DNS flow; `None` for other flows and for sources that carry
    /// no DNS records.
    fn dns(&self) -> Option<DnsRef<'_>> {
        None
    }
    /// Hubble's `SCTPChunkType` name (`INIT`, `INIT_ACK`, `SHUTDOWN`, `SHUTDOWN_ACK`,
    /// `SHUTDOWN_COMPLETE`, `ABORT`) of the first chunk of an SCTP flow's packet; `None` for
    /// other chunks and flows, and for proto flows (the v1.19 `SCTP` message has no chunk
    /// type).
    fn sctp_chunk_type(&self) -> Option<&'static str> {
        None
    }
    /// The Kafka record of an L7 Kafka flow.
    fn kafka(&self) -> Option<KafkaRef<'_>>;
    /// `trace_context.parent.trace_id`, empty when absent.
    fn trace_id(&self) -> &str;
    /// `(index, name)` of `interface`.
    fn interface(&self) -> Option<(u32, &str)>;
    fn ip_trace_id(&self) -> Option<u64>;
    /// The whole flow as a proto `Flow`, for CEL expressions, which may read any field.
    /// Only called when a filter has such an expression; the other accessors never
    /// allocate, this one may.
    fn proto_flow(&self) -> Cow<'_, Flow>;
}

fn pb_endpoint(ep: Option<&Endpoint>) -> Option<EndpointRef<'_>> {
    ep.map(EndpointRef::from)
}

fn pb_flag_bits(f: &flowscope_proto::flow::TcpFlags) -> u16 {
    [f.fin, f.syn, f.rst, f.psh, f.ack, f.urg, f.ece, f.cwr, f.ns]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, set)| if *set { acc | 1 << i } else { acc })
}

impl FlowView for Flow {
    fn time(&self) -> Option<(i64, i32)> {
        self.time.map(|t| (t.seconds, t.nanos))
    }
    fn uuid<'a>(&'a self, _buf: &'a mut [u8; 36]) -> &'a str {
        &self.uuid
    }
    fn verdict(&self) -> i32 {
        self.verdict
    }
    fn drop_reason_desc(&self) -> i32 {
        self.drop_reason_desc
    }
    fn flow_type(&self) -> i32 {
        self.r#type
    }
    fn event_type(&self) -> Option<(i32, i32)> {
        self.event_type.as_ref().map(|e| (e.r#type, e.sub_type))
    }
    fn is_reply(&self) -> Option<bool> {
        self.is_reply.map(|b| b.value)
    }
    fn traffic_direction(&self) -> i32 {
        self.traffic_direction
    }
    fn policy_match_type(&self) -> u32 {
        self.policy_match_type
    }
    fn node_name(&self) -> &str {
        &self.node_name
    }
    fn node_labels(&self) -> &[String] {
        &self.node_labels
    }
    fn endpoint(&self, side: Side) -> Option<EndpointRef<'_>> {
        match side {
            Side::Source => pb_endpoint(self.source.as_ref()),
            Side::Destination => pb_endpoint(self.destination.as_ref()),
        }
    }
    fn service(&self, side: Side) -> Option<(&str, &str)> {
        let svc = match side {
            Side::Source => self.source_service.as_ref(),
            Side::Destination => self.destination_service.as_ref(),
        }?;
        Some((&svc.namespace, &svc.name))
    }
    fn names(&self, side: Side) -> &[String] {
        match side {
            Side::Source => &self.source_names,
            Side::Destination => &self.destination_names,
        }
    }
    fn ip(&self, field: IpField) -> IpRef<'_> {
        let s = match (&self.ip, field) {
            (None, _) => "",
            (Some(ip), IpField::Source) => &ip.source,
            (Some(ip), IpField::Destination) => &ip.destination,
            (Some(ip), IpField::SourceXlated) => &ip.source_xlated,
        };
        if s.is_empty() {
            IpRef::None
        } else {
            IpRef::Text(s)
        }
    }
    fn has_ip(&self) -> bool {
        self.ip.is_some()
    }
    fn ip_version(&self) -> i32 {
        self.ip.as_ref().map_or(0, |ip| ip.ip_version)
    }
    fn encrypted(&self) -> bool {
        self.ip.as_ref().is_some_and(|ip| ip.encrypted)
    }
    fn l4(&self) -> L4Ref {
        match self.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
            None => L4Ref::None,
            Some(layer4::Protocol::Tcp(p)) => L4Ref::Tcp {
                src: p.source_port,
                dst: p.destination_port,
                flags: p.flags.as_ref().map(pb_flag_bits),
            },
            Some(layer4::Protocol::Udp(p)) => L4Ref::Udp {
                src: p.source_port,
                dst: p.destination_port,
            },
            Some(layer4::Protocol::Sctp(p)) => L4Ref::Sctp {
                src: p.source_port,
                dst: p.destination_port,
            },
            Some(layer4::Protocol::IcmPv4(p)) => L4Ref::Icmpv4 {
                typ: p.r#type,
                code: p.code,
            },
            Some(layer4::Protocol::IcmPv6(p)) => L4Ref::Icmpv6 {
                typ: p.r#type,
                code: p.code,
            },
            Some(layer4::Protocol::Vrrp(_)) => L4Ref::Vrrp,
            Some(layer4::Protocol::Igmp(_)) => L4Ref::Igmp,
        }
    }
    fn l7_kind(&self) -> L7Kind {
        match self.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
            None => L7Kind::None,
            Some(layer7::Record::Dns(_)) => L7Kind::Dns,
            Some(layer7::Record::Http(_)) => L7Kind::Http,
            Some(layer7::Record::Kafka(_)) => L7Kind::Kafka,
        }
    }
    fn l7_type(&self) -> i32 {
        self.l7.as_ref().map_or(0, |l7| l7.r#type)
    }
    fn l7_latency_ns(&self) -> u64 {
        self.l7.as_ref().map_or(0, |l7| l7.latency_ns)
    }
    fn http(&self) -> Option<HttpRef<'_>> {
        match self.l7.as_ref()?.record.as_ref()? {
            layer7::Record::Http(h) => Some(HttpRef {
                code: h.code,
                method: &h.method,
                url: &h.url,
                protocol: &h.protocol,
                headers: &h.headers,
            }),
            _ => None,
        }
    }
    fn dns_query(&self) -> Option<&str> {
        match self.l7.as_ref()?.record.as_ref()? {
            layer7::Record::Dns(d) => Some(&d.query),
            _ => None,
        }
    }
    fn dns(&self) -> Option<DnsRef<'_>> {
        match self.l7.as_ref()?.record.as_ref()? {
            layer7::Record::Dns(d) => Some(DnsRef {
                query: &d.query,
                rcode: d.rcode,
                qtypes: DnsTypes::Names(&d.qtypes),
                rrtypes: DnsTypes::Names(&d.rrtypes),
                ips_returned: d.ips.len(),
                observation_source: &d.observation_source,
            }),
            _ => None,
        }
    }
    fn kafka(&self) -> Option<KafkaRef<'_>> {
        match self.l7.as_ref()?.record.as_ref()? {
            layer7::Record::Kafka(k) => Some(KafkaRef {
                error_code: k.error_code,
                api_version: k.api_version,
                api_key: &k.api_key,
                correlation_id: k.correlation_id,
                topic: &k.topic,
            }),
            _ => None,
        }
    }
    fn trace_id(&self) -> &str {
        self.trace_context
            .as_ref()
            .and_then(|tc| tc.parent.as_ref())
            .map_or("", |p| p.trace_id.as_str())
    }
    fn interface(&self) -> Option<(u32, &str)> {
        self.interface.as_ref().map(|i| (i.index, i.name.as_str()))
    }
    fn ip_trace_id(&self) -> Option<u64> {
        self.ip_trace_id.as_ref().map(|t| t.trace_id)
    }
    fn proto_flow(&self) -> Cow<'_, Flow> {
        Cow::Borrowed(self)
    }
}
