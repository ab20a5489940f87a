//! One compiled test per set `FlowFilter` field, and how each is evaluated.
//!
//! A predicate is an enum rather than a boxed closure so that evaluating a filter is a
//! jump table over inlined code, with no allocation and no indirect calls.

use flowscope_proto::flow::{EventTypeFilter, Verdict};

use crate::cel_filter::CelExpressions;
use crate::view::FlowView;

use crate::http::{HeaderMatcher, MethodMatcher, PathMatcher, StatusCodeMatcher, UrlMatcher};
use crate::ip::{IpField, IpMatcher};
use crate::k8s::{ClusterNameMatcher, NamespacedNameMatcher, WorkloadMatcher};
use crate::l4::{PortMatcher, ProtocolSet, TcpFlagsMatcher};
use crate::label_selector::{LabelsField, SelectorSet};
use crate::pattern::{FqdnMatcher, NodeNameMatcher};

pub(crate) use crate::view::Side;

#[inline(always)]
fn identity_matches<V: FlowView + ?Sized>(side: Side, ids: &[u32], flow: &V) -> bool {
    flow.endpoint(side)
        .is_some_and(|ep| ids.contains(&ep.identity))
}

/// A set of proto enum values (`i32`). Values in `0..256` (every defined Verdict,
/// DropReason, TrafficDirection and IPVersion) live in a bitmap.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnumSet {
    bits: [u64; 4],
    others: Vec<i32>,
}

impl EnumSet {
    pub(crate) fn new(values: &[i32]) -> Self {
        let mut set = Self::default();
        for &v in values {
            match usize::try_from(v) {
                Ok(i) if i < 256 => set.bits[i / 64] |= 1 << (i % 64),
                _ => set.others.push(v),
            }
        }
        set
    }

    #[inline]
    pub(crate) fn contains(&self, v: i32) -> bool {
        match usize::try_from(v) {
            Ok(i) if i < 256 => self.bits[i / 64] & (1 << (i % 64)) != 0,
            _ => self.others.contains(&v),
        }
    }
}

/// A set of booleans (`reply`, `encrypted`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BoolSet {
    want_true: bool,
    want_false: bool,
}

impl BoolSet {
    pub(crate) fn new(values: &[bool]) -> Self {
        Self {
            want_true: values.contains(&true),
            want_false: values.contains(&false),
        }
    }

    #[inline]
    pub(crate) fn contains(self, v: bool) -> bool {
        if v { self.want_true } else { self.want_false }
    }
}

/// One `EventTypeFilter`: `type == 0` is a wildcard; the sub-type is only compared
/// when `match_sub_type` is set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventTypeMatch {
    ty: i32,
    sub_type: Option<i32>,
}

impl From<&EventTypeFilter> for EventTypeMatch {
    fn from(f: &EventTypeFilter) -> Self {
        Self {
            ty: f.r#type,
            sub_type: f.match_sub_type.then_some(f.sub_type),
        }
    }
}

/// The compiled form of one set `FlowFilter` field.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    Uuid(Vec<String>),
    EventType(Vec<EventTypeMatch>),
    Verdict(EnumSet),
    DropReasonDesc(EnumSet),
    Reply(BoolSet),
    Encrypted(BoolSet),
    Identity(Side, Vec<u32>),
    Protocol(ProtocolSet),
    Ip(IpField, IpMatcher),
    Pod(Side, NamespacedNameMatcher),
    Workload(Side, WorkloadMatcher),
    Service(Side, NamespacedNameMatcher),
    Fqdn(Side, FqdnMatcher),
    DnsQuery(Vec<regex::Regex>),
    Labels(LabelsField, SelectorSet),
    Port(Side, PortMatcher),
    HttpStatusCode(StatusCodeMatcher),
    HttpMethod(MethodMatcher),
    HttpPath(PathMatcher),
    HttpUrl(UrlMatcher),
    HttpHeader(HeaderMatcher),
    TcpFlags(TcpFlagsMatcher),
    NodeName(NodeNameMatcher),
    ClusterName(Side, ClusterNameMatcher),
    IpVersion(EnumSet),
    TraceId(Vec<String>),
    TrafficDirection(EnumSet),
    Interface(Vec<(u32, String)>),
    IpTraceId(Vec<u64>),
    /// `experimental.cel_expression`: any of the expressions is true.
    Cel(CelExpressions),
}

impl Predicate {
    /// Whether this predicate holds for a flow. The cheapest and most common tests are
    /// inlined into the caller; the others are one call away.
    #[inline(always)]
    pub(crate) fn matches_flow<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        match self {
            Predicate::Verdict(set) => set.contains(flow.verdict()),
            Predicate::Identity(side, ids) => identity_matches(*side, ids, flow),
            _ => self.matches_flow_slow(flow),
        }
    }

    #[inline(never)]
    fn matches_flow_slow<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        match self {
            Predicate::Uuid(ids) => {
                let mut buf = [0u8; 36];
                let id = flow.uuid(&mut buf);
                ids.iter().any(|u| u == id)
            }
            Predicate::EventType(types) => {
                let Some((ty, sub_type)) = flow.event_type() else {
                    return false;
                };
                types
                    .iter()
                    .any(|t| (t.ty == 0 || t.ty == ty) && t.sub_type.is_none_or(|s| s == sub_type))
            }
            Predicate::Verdict(set) => set.contains(flow.verdict()),
            Predicate::DropReasonDesc(set) => set.contains(flow.drop_reason_desc()),
            Predicate::Reply(set) => match flow.is_reply() {
                Some(r) => set.contains(r),
                // Unknown direction counts as "not a reply" only for drops, for
                // compatibility with clients of the deprecated `reply` field.
                None => flow.verdict() == Verdict::Dropped as i32 && set.contains(false),
            },
            Predicate::Encrypted(set) => set.contains(flow.encrypted()),
            Predicate::Identity(side, ids) => identity_matches(*side, ids, flow),
            Predicate::Protocol(set) => set.matches(flow),
            Predicate::Ip(field, m) => m.matches(flow.ip(*field)),
            Predicate::Pod(side, m) => match flow.endpoint(*side) {
                Some(ep) => m.matches(ep.namespace, ep.pod_name),
                None => false,
            },
            Predicate::Workload(side, m) => flow
                .endpoint(*side)
                .is_some_and(|ep| m.matches(ep.workloads)),
            Predicate::Service(side, m) => match flow.service(*side) {
                Some((namespace, name)) => m.matches(namespace, name),
                None => false,
            },
            Predicate::Fqdn(side, m) => m.matches_any(flow.names(*side)),
            Predicate::DnsQuery(res) => match flow.dns_query() {
                Some(query) => res.iter().any(|re| re.is_match(query)),
                None => false,
            },
            Predicate::Labels(field, set) => set.matches(field.get(flow)),
            Predicate::Port(side, m) => m.matches(*side, flow),
            Predicate::HttpStatusCode(m) => m.matches(flow),
            Predicate::HttpMethod(m) => m.matches(flow),
            Predicate::HttpPath(m) => m.matches(flow),
            Predicate::HttpUrl(m) => m.matches(flow),
            Predicate::HttpHeader(m) => m.matches(flow),
            Predicate::TcpFlags(m) => m.matches(flow),
            Predicate::NodeName(m) => m.matches(flow.node_name()),
            Predicate::ClusterName(side, m) => flow
                .endpoint(*side)
                .is_some_and(|ep| m.matches(ep.cluster_name)),
            Predicate::IpVersion(set) => set.contains(flow.ip_version()),
            Predicate::TraceId(ids) => {
                let id = flow.trace_id();
                ids.iter().any(|t| t == id)
            }
            Predicate::TrafficDirection(set) => set.contains(flow.traffic_direction()),
            Predicate::Interface(ifaces) => {
                let Some((index, name)) = flow.interface() else {
                    return false;
                };
                ifaces.iter().any(|(want_index, want_name)| {
                    (*want_index == 0 || *want_index == index)
                        && (want_name.is_empty() || want_name == name)
                })
            }
            Predicate::IpTraceId(ids) => flow.ip_trace_id().is_some_and(|t| ids.contains(&t)),
            Predicate::Cel(exprs) => exprs.matches_flow(flow),
        }
    }

    /// Whether this predicate holds for a LostEvent: only event-type filters match
    /// lost events (Hubble's `filterByEventType`); every flow-field filter fails.
    #[inline]
    pub(crate) fn matches_lost_event(&self) -> bool {
        matches!(self, Predicate::EventType(_))
    }
}

#[cfg(test)]
mod tests {
    use super::EnumSet;
    use crate::test_util::*;
    use flowscope_proto::flow::{
        CiliumEventType, DropReason, EventTypeFilter, Flow, FlowFilter, Ip, IpTraceId, IpVersion,
        NetworkInterface, TraceContext, TraceParent, TrafficDirection, Verdict,
    };
    use flowscope_proto::types::BoolValue;

    #[test]
    fn enum_set() {
        let s = EnumSet::new(&[0, 63, 64, 255, 256, -1, 1000]);
        for v in [0, 63, 64, 255, 256, -1, 1000] {
            assert!(s.contains(v), "{v}");
        }
        for v in [1, 62, 65, 254, 257, -2, i32::MAX, i32::MIN] {
            assert!(!s.contains(v), "{v}");
        }
    }

    #[test]
    fn uuid() {
        let f = FlowFilter {
            uuid: strings(&["a-1", "b-2"]),
            ..Default::default()
        };
        let flow = |id: &str| Flow {
            uuid: id.into(),
            ..Default::default()
        };
        assert!(matches(&f, &flow("b-2")));
        assert!(!matches(&f, &flow("c-3")));
        assert!(!matches(&f, &flow("")));
    }

    fn event_flow(ty: i32, sub_type: i32) -> Flow {
        Flow {
            event_type: Some(CiliumEventType {
                r#type: ty,
                sub_type,
            }),
            ..Default::default()
        }
    }

    fn et(ty: i32, match_sub_type: bool, sub_type: i32) -> EventTypeFilter {
        EventTypeFilter {
            r#type: ty,
            match_sub_type,
            sub_type,
        }
    }

    #[test]
    fn event_type() {
        let trace = FlowFilter {
            event_type: vec![et(4, false, 0)],
            ..Default::default()
        };
        assert!(matches(&trace, &event_flow(4, 3)));
        assert!(matches(&trace, &event_flow(4, 0)));
        assert!(!matches(&trace, &event_flow(1, 133)));
        assert!(!matches(&trace, &Flow::default()));

        // `trace:to-endpoint` is {type:4, match_sub_type:true, sub_type:0}.
        let to_endpoint = FlowFilter {
            event_type: vec![et(4, true, 0)],
            ..Default::default()
        };
        assert!(matches(&to_endpoint, &event_flow(4, 0)));
        assert!(!matches(&to_endpoint, &event_flow(4, 3)));

        // Type 0 is a wildcard, also with a sub-type.
        let any = FlowFilter {
            event_type: vec![et(0, false, 0)],
            ..Default::default()
        };
        assert!(matches(&any, &event_flow(129, 0)));
        assert!(!matches(&any, &Flow::default()));
        let any_133 = FlowFilter {
            event_type: vec![et(0, true, 133)],
            ..Default::default()
        };
        assert!(matches(&any_133, &event_flow(1, 133)));
        assert!(!matches(&any_133, &event_flow(1, 134)));

        let drop_or_l7 = FlowFilter {
            event_type: vec![et(1, false, 0), et(129, false, 0)],
            ..Default::default()
        };
        assert!(matches(&drop_or_l7, &event_flow(129, 0)));
        assert!(matches(&drop_or_l7, &event_flow(1, 181)));
        assert!(!matches(&drop_or_l7, &event_flow(5, 0)));
    }

    fn verdict_flow(v: Verdict) -> Flow {
        Flow {
            verdict: v as i32,
            ..Default::default()
        }
    }

    #[test]
    fn verdict() {
        let f = FlowFilter {
            verdict: vec![Verdict::Dropped as i32, Verdict::Error as i32],
            ..Default::default()
        };
        assert!(matches(&f, &verdict_flow(Verdict::Dropped)));
        assert!(matches(&f, &verdict_flow(Verdict::Error)));
        assert!(!matches(&f, &verdict_flow(Verdict::Forwarded)));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn drop_reason_desc() {
        let f = FlowFilter {
            drop_reason_desc: vec![DropReason::PolicyDenied as i32],
            ..Default::default()
        };
        let flow = |r: DropReason| Flow {
            drop_reason_desc: r as i32,
            ..Default::default()
        };
        assert!(matches(&f, &flow(DropReason::PolicyDenied)));
        assert!(!matches(&f, &flow(DropReason::PolicyDeny)));
        assert!(!matches(&f, &Flow::default()));
    }

    fn reply_flow(is_reply: Option<bool>, verdict: Verdict) -> Flow {
        Flow {
            is_reply: is_reply.map(|value| BoolValue { value }),
            verdict: verdict as i32,
            ..Default::default()
        }
    }

    #[test]
    #[allow(deprecated)]
    fn reply() {
        let replies = FlowFilter {
            reply: vec![true],
            ..Default::default()
        };
        let requests = FlowFilter {
            reply: vec![false],
            ..Default::default()
        };
        let fwd = Verdict::Forwarded;
        assert!(matches(&replies, &reply_flow(Some(true), fwd)));
        assert!(!matches(&replies, &reply_flow(Some(false), fwd)));
        assert!(matches(&requests, &reply_flow(Some(false), fwd)));
        assert!(!matches(&requests, &reply_flow(Some(true), fwd)));
        // Unknown direction: no match, except that a drop counts as "not a reply".
        assert!(!matches(&replies, &reply_flow(None, fwd)));
        assert!(!matches(&requests, &reply_flow(None, fwd)));
        assert!(matches(&requests, &reply_flow(None, Verdict::Dropped)));
        assert!(!matches(&replies, &reply_flow(None, Verdict::Dropped)));
        // The deprecated `reply` bool plays no part.
        let mut deprecated = reply_flow(None, fwd);
        deprecated.reply = true;
        assert!(!matches(&replies, &deprecated));
        let both = FlowFilter {
            reply: vec![true, false],
            ..Default::default()
        };
        assert!(matches(&both, &reply_flow(Some(true), fwd)));
        assert!(!matches(&both, &reply_flow(None, fwd)));
    }

    fn ip_flow(version: IpVersion, encrypted: bool) -> Flow {
        Flow {
            ip: Some(Ip {
                ip_version: version as i32,
                encrypted,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn encrypted() {
        let yes = FlowFilter {
            encrypted: vec![true],
            ..Default::default()
        };
        let no = FlowFilter {
            encrypted: vec![false],
            ..Default::default()
        };
        assert!(matches(&yes, &ip_flow(IpVersion::IPv4, true)));
        assert!(!matches(&yes, &ip_flow(IpVersion::IPv4, false)));
        assert!(matches(&no, &ip_flow(IpVersion::IPv4, false)));
        assert!(!matches(&no, &ip_flow(IpVersion::IPv4, true)));
        assert!(!matches(&yes, &Flow::default()));
    }

    #[test]
    fn ip_version() {
        let v6 = FlowFilter {
            ip_version: vec![IpVersion::IPv6 as i32],
            ..Default::default()
        };
        assert!(matches(&v6, &ip_flow(IpVersion::IPv6, false)));
        assert!(!matches(&v6, &ip_flow(IpVersion::IPv4, false)));
        assert!(!matches(&v6, &Flow::default()));
        let none = FlowFilter {
            ip_version: vec![IpVersion::IpNotUsed as i32],
            ..Default::default()
        };
        assert!(matches(&none, &Flow::default()));
        assert!(!matches(&none, &ip_flow(IpVersion::IPv4, false)));
    }

    #[test]
    fn identities() {
        let flow = Flow {
            source: Some(flowscope_proto::flow::Endpoint {
                identity: 25000,
                ..Default::default()
            }),
            destination: Some(flowscope_proto::flow::Endpoint {
                identity: 2,
                ..Default::default()
            }),
            ..Default::default()
        };
        let src = |ids: &[u32]| FlowFilter {
            source_identity: ids.to_vec(),
            ..Default::default()
        };
        let dst = |ids: &[u32]| FlowFilter {
            destination_identity: ids.to_vec(),
            ..Default::default()
        };
        assert!(matches(&src(&[1, 25000]), &flow));
        assert!(!matches(&src(&[2]), &flow));
        assert!(matches(&dst(&[2]), &flow));
        assert!(!matches(&dst(&[25000]), &flow));
        // No endpoint: no identity, not even 0.
        assert!(!matches(&src(&[0]), &Flow::default()));
    }

    #[test]
    fn trace_id() {
        let f = FlowFilter {
            trace_id: strings(&["4bf92f3577b34da6a3ce929d0e0e4736"]),
            ..Default::default()
        };
        let flow = |id: &str| Flow {
            trace_context: Some(TraceContext {
                parent: Some(TraceParent {
                    trace_id: id.into(),
                }),
            }),
            ..Default::default()
        };
        assert!(matches(&f, &flow("4bf92f3577b34da6a3ce929d0e0e4736")));
        assert!(!matches(&f, &flow("00000000000000000000000000000001")));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn traffic_direction() {
        let f = FlowFilter {
            traffic_direction: vec![TrafficDirection::Ingress as i32],
            ..Default::default()
        };
        let flow = |d: TrafficDirection| Flow {
            traffic_direction: d as i32,
            ..Default::default()
        };
        assert!(matches(&f, &flow(TrafficDirection::Ingress)));
        assert!(!matches(&f, &flow(TrafficDirection::Egress)));
        assert!(!matches(&f, &flow(TrafficDirection::Unknown)));
    }

    #[test]
    fn interface() {
        let flow = Flow {
            interface: Some(NetworkInterface {
                index: 12,
                name: "lxc1234".into(),
            }),
            ..Default::default()
        };
        let f = |index: u32, name: &str| FlowFilter {
            interface: vec![NetworkInterface {
                index,
                name: name.into(),
            }],
            ..Default::default()
        };
        assert!(matches(&f(0, "lxc1234"), &flow));
        assert!(matches(&f(12, ""), &flow));
        assert!(matches(&f(12, "lxc1234"), &flow));
        assert!(!matches(&f(0, "eth0"), &flow));
        assert!(!matches(&f(13, ""), &flow));
        assert!(!matches(&f(13, "lxc1234"), &flow));
        assert!(!matches(&f(0, ""), &Flow::default()));
    }

    #[test]
    fn ip_trace_id() {
        let f = FlowFilter {
            ip_trace_id: vec![42, 7],
            ..Default::default()
        };
        let flow = |id: u64| Flow {
            ip_trace_id: Some(IpTraceId {
                trace_id: id,
                ip_option_type: 136,
            }),
            ..Default::default()
        };
        assert!(matches(&f, &flow(42)));
        assert!(!matches(&f, &flow(43)));
        assert!(!matches(&f, &Flow::default()));
    }
}
