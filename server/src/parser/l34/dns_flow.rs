//! DNS flows from flowd's own DNS capture events ([`layout::MSG_FLOWSCOPE_DNS`]).
//!
//! flowd's tc programs copy every forwarded DNS packet (UDP or TCP port 53) behind a
//! TraceNotify header; here it becomes an L7 DNS flow shaped as Hubble shapes the flows of
//! Cilium's DNS proxy (`parser/seven`): type L7, event type access log, `l7.type` REQUEST or
//! RESPONSE, `l7.dns` with the query, types, answers and rcode, the endpoints enriched as
//! every datapath flow is, and the latency of an answer paired with its query by addresses,
//! ports, protocol and DNS id. The observation source is `datapath`.

use std::collections::HashMap;
use std::net::IpAddr;

use flowscope_proto::flow::{FlowType, L7FlowType, TrafficDirection, Verdict};

use super::layout::{self, TraceNotify};
use super::packet::{self, L4};
use super::{L34Error, L34Parser, Notify};
use crate::flow::l7::TextBuilder;
use crate::flow::{DnsData, FlowRecord, L7Data, L7Record, SummaryKind, Time};
use crate::identity::ClusterState;
use crate::parser::dns::DnsMessage;

/// `MessageTypeAccessLog`: the event type of Hubble's L7 flows.
const ACCESS_LOG: u8 = 129;
/// Queries waiting for their answer at most; beyond that the oldest are forgotten.
const MAX_PENDING: usize = 4096;

/// A DNS exchange: client address and port, server address and port, protocol, DNS id.
type ExchangeKey = (IpAddr, u16, IpAddr, u16, u8, u16);

/// Queries seen, by exchange, with their time: an answer's latency.
#[derive(Debug, Default)]
pub struct DnsPairing {
    pending: HashMap<ExchangeKey, Time>,
}

impl DnsPairing {
    fn query(&mut self, key: ExchangeKey, at: Time) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.clear();
        }
        self.pending.insert(key, at);
    }

    fn answer(&mut self, key: &ExchangeKey, at: Time) -> u64 {
        self.pending.remove(key).map_or(0, |q| {
            u64::try_from(at.as_unix_nanos() - q.as_unix_nanos()).unwrap_or(0)
        })
    }
}

impl L34Parser {
    /// The DNS flow of a DNS capture event.
    pub(super) fn dns_flow(
        &mut self,
        record: &[u8],
        time: Time,
        state: &ClusterState,
    ) -> Result<FlowRecord, L34Error> {
        let tn = TraceNotify::parse(record)?;
        let offset = tn.data_offset();
        let data = record.get(offset..).ok_or(L34Error::Truncated {
            layer: "DNS capture",
            offset: 0,
            need: offset,
            have: record.len(),
        })?;
        let packet = packet::decode(data, offset, tn.packet_flags());
        let (proto, sport, dport, tcp) = match packet.layers.l4 {
            Some(L4::Udp { src, dst }) => (17u8, src, dst, false),
            Some(L4::Tcp { src, dst, .. }) => (6u8, src, dst, true),
            _ => return Err(L34Error::NotAFlow(layout::MSG_FLOWSCOPE_DNS)),
        };
        let payload = packet
            .l4_payload_at
            .and_then(|at| record.get(at..))
            .unwrap_or(&[]);
        if payload.is_empty() {
            // A TCP handshake or acknowledgement of a DNS connection: no message.
            return Err(L34Error::NotAFlow(layout::MSG_FLOWSCOPE_DNS));
        }
        let msg = if tcp {
            DnsMessage::parse_tcp(payload)
        } else {
            DnsMessage::parse(payload)
        }
        .map_err(L34Error::Dns)?;

        let mut r = self.packet_flow(&Notify::Trace(tn), &packet, time, state);
        let (src, dst) = match &r.ip {
            Some(ip) => (ip.source, ip.destination),
            None => (None, None),
        };
        let (Some(src), Some(dst)) = (src, dst) else {
            return Err(L34Error::NotAFlow(layout::MSG_FLOWSCOPE_DNS));
        };
        if let Some(cache) = &self.fqdn
            && msg.response
            && msg.rcode == 0
        {
            let mut names: Vec<&str> = vec![&msg.query];
            names.extend(msg.cnames.iter().map(String::as_str));
            cache.learn(&msg.ips, &names, msg.ttl, time.seconds);
        }
        let latency_ns = if msg.response {
            self.dns
                .answer(&(dst, dport, src, sport, proto, msg.id), time)
        } else {
            self.dns
                .query((src, sport, dst, dport, proto, msg.id), time);
            0
        };
        // Relative to the endpoint the packet was seen at: its own lookup is egress, a
        // lookup it answers is ingress.
        let at_sender = tn.hdr.sub_type == layout::TRACE_FROM_ENDPOINT;
        r.traffic_direction = if at_sender != msg.response {
            TrafficDirection::Egress
        } else {
            TrafficDirection::Ingress
        } as u8;
        r.flow_type = FlowType::L7 as u8;
        r.verdict = Verdict::Forwarded as u8;
        r.event_type = (ACCESS_LOG, 0);
        r.is_reply = Some(msg.response);
        r.trace_observation_point = 0;
        r.trace_reason = 0;
        r.ethernet = None;
        r.tcp_flags_set = false;
        r.summary = SummaryKind::L7;
        r.l7 = Some(Box::new(l7_record(&msg, latency_ns)));
        Ok(r)
    }
}

/// The L7 part: a query carries its name, types and source only, as Hubble fills requests.
fn l7_record(msg: &DnsMessage, latency_ns: u64) -> L7Record {
    let mut text = TextBuilder::with_capacity(
        msg.query.len() + msg.cnames.iter().map(String::len).sum::<usize>(),
    );
    let query = text.push(&msg.query);
    let data = if msg.response {
        DnsData {
            query,
            ips: msg.ips.clone().into(),
            ttl: msg.ttl,
            cnames: msg.cnames.iter().map(|c| text.push(c)).collect(),
            observation_source: "datapath",
            rcode: u32::from(msg.rcode),
            qtypes: msg.qtypes.clone().into(),
            rrtypes: msg.rrtypes.clone().into(),
        }
    } else {
        DnsData {
            query,
            ips: Box::new([]),
            ttl: 0,
            cnames: Box::new([]),
            observation_source: "datapath",
            rcode: 0,
            qtypes: msg.qtypes.clone().into(),
            rrtypes: Box::new([]),
        }
    };
    L7Record {
        l7_type: if msg.response {
            L7FlowType::Response
        } else {
            L7FlowType::Request
        } as u8,
        latency_ns,
        trace_id: None,
        data: L7Data::Dns(data),
        text: text.finish(),
    }
}

#[cfg(test)]
mod tests {
    use flowscope_proto::flow::{Flow, layer7};

    use super::*;
    use crate::parser::l34::build::{
        self, DST_MAC, Ip4, L4Spec, SRC_MAC, TraceRecord, answer_www_cname_a, query_www_a,
    };

    const STATE: &str = "node_name: n1\nendpoints:\n  - name: client-1\n    namespace: default\n    labels: {app: client}\n    ips: [10.244.1.10]\n    identity: 30001\n    endpoint_id: 101\n";

    /// A DNS capture event of a UDP packet between the client pod and 10.96.0.10:53,
    /// observed at `obs_point` of the client's endpoint.
    fn capture(query: bool, obs_point: u8, dns: &[u8]) -> Vec<u8> {
        let (src, dst, sport, dport) = if query {
            ([10, 244, 1, 10], [10, 96, 0, 10], 40000, 53)
        } else {
            ([10, 96, 0, 10], [10, 244, 1, 10], 53, 40000)
        };
        let ip = build::ipv4(
            Ip4::new(src, dst),
            L4Spec::UdpPayload {
                src: sport,
                dst: dport,
                payload: dns.to_vec(),
            },
        );
        let mut rec = TraceRecord {
            version: 1,
            obs_point,
            source: 101,
            ifindex: 7,
            ..Default::default()
        }
        .record(&build::ether(SRC_MAC, DST_MAC, 0x0800, &ip));
        rec[0] = layout::MSG_FLOWSCOPE_DNS;
        rec
    }

    fn at(ms: i64) -> Time {
        Time::from_unix_nanos((1_700_000_000_000 + ms) as u64 * 1_000_000)
    }

    #[test]
    fn a_lookup_gives_a_request_and_a_paired_response_flow() {
        let state = ClusterState::parse(STATE).expect("state");
        let mut p = L34Parser::new();
        let q = p
            .decode(
                &capture(true, layout::TRACE_FROM_ENDPOINT, &query_www_a()),
                at(0),
                &state,
            )
            .expect("query flow");
        let r = p
            .decode(&capture(false, 0, &answer_www_cname_a()), at(7), &state)
            .expect("answer flow");

        let q: Flow = q.to_proto();
        assert_eq!(q.r#type, FlowType::L7 as i32);
        assert_eq!(q.verdict, Verdict::Forwarded as i32);
        assert_eq!(
            q.event_type.as_ref().map(|e| (e.r#type, e.sub_type)),
            Some((129, 0))
        );
        assert_eq!(q.traffic_direction, TrafficDirection::Egress as i32);
        assert_eq!(q.summary, "DNS Query www.example.com. A");
        assert_eq!(
            q.source.as_ref().map(|s| s.pod_name.as_str()),
            Some("client-1")
        );
        assert_eq!(q.ethernet, None);
        let l7 = q.l7.expect("l7");
        assert_eq!(l7.r#type, L7FlowType::Request as i32);
        let Some(layer7::Record::Dns(d)) = l7.record else {
            panic!("not DNS")
        };
        assert_eq!(
            (
                d.query.as_str(),
                d.qtypes.as_slice(),
                d.observation_source.as_str()
            ),
            ("www.example.com.", &["A".to_string()][..], "datapath")
        );
        assert!(d.ips.is_empty() && d.rrtypes.is_empty() && d.ttl == 0);

        let r: Flow = r.to_proto();
        assert_eq!(r.traffic_direction, TrafficDirection::Egress as i32);
        assert_eq!(
            r.is_reply,
            Some(flowscope_proto::types::BoolValue { value: true })
        );
        assert_eq!(
            r.summary,
            r#"DNS Answer "93.184.216.34,93.184.216.35" CNAMEs: "example.com." TTL: 60 (Query www.example.com. A)"#
        );
        let l7 = r.l7.expect("l7");
        assert_eq!(
            (l7.r#type, l7.latency_ns),
            (L7FlowType::Response as i32, 7_000_000)
        );
        let Some(layer7::Record::Dns(d)) = l7.record else {
            panic!("not DNS")
        };
        assert_eq!(d.ips, ["93.184.216.34", "93.184.216.35"]);
        assert_eq!(d.cnames, ["example.com."]);
        assert_eq!((d.ttl, d.rcode), (60, 0));
        assert_eq!(d.rrtypes, ["CNAME", "A", "A"]);
    }

    #[test]
    fn answers_name_the_addresses_of_later_flows() {
        let state = ClusterState::parse(STATE).expect("state");
        let cache = std::sync::Arc::new(crate::fqdn::FqdnCache::default());
        let mut p = L34Parser::new().with_fqdn_cache(cache);
        p.decode(&capture(false, 0, &answer_www_cname_a()), at(0), &state)
            .expect("answer");
        // The pod then connects to one of the answer's addresses.
        let ip = build::ipv4(
            Ip4::new([10, 244, 1, 10], [93, 184, 216, 35]),
            L4Spec::Udp {
                src: 5000,
                dst: 443,
            },
        );
        let rec = TraceRecord {
            version: 1,
            obs_point: layout::TRACE_FROM_ENDPOINT,
            source: 101,
            ..Default::default()
        }
        .record(&build::ether(SRC_MAC, DST_MAC, 0x0800, &ip));
        let f = p.decode(&rec, at(1_000), &state).expect("trace").to_proto();
        assert_eq!(f.destination_names, ["example.com", "www.example.com"]);
        assert!(f.source_names.is_empty());
        // After the answer's TTL (60 s), the names no longer apply.
        let later = p
            .decode(&rec, at(61_000), &state)
            .expect("trace")
            .to_proto();
        assert!(later.destination_names.is_empty());
    }

    #[test]
    fn a_lookup_answered_by_the_local_endpoint_is_ingress_and_bad_dns_is_an_error() {
        let state = ClusterState::parse(STATE).expect("state");
        let mut p = L34Parser::new();
        // The query arriving at the endpoint (to-endpoint): it is the server.
        let q = p
            .decode(&capture(true, 0, &query_www_a()), at(0), &state)
            .expect("query flow");
        assert_eq!(q.traffic_direction, TrafficDirection::Ingress as u8);
        // An answer pairs with its query once; without its query it has no latency.
        let answer = capture(false, 0, &answer_www_cname_a());
        let r = p.decode(&answer, at(3), &state).expect("answer");
        assert_eq!(r.l7.as_ref().map(|l| l.latency_ns), Some(3_000_000));
        let again = p.decode(&answer, at(4), &state).expect("answer");
        assert_eq!(again.l7.as_ref().map(|l| l.latency_ns), Some(0));
        // Malformed DNS is an error (counted as undecodable), never a flow or a panic.
        let bad = capture(true, 0, &query_www_a()[..20]);
        let err = p.decode(&bad, at(5), &state).expect_err("malformed");
        assert_eq!(err.reason(), "undecodable");
        for n in 0..bad.len() {
            let _ = p.decode(&bad[..n], at(6), &state);
        }
        // A packet without a payload (a TCP handshake) is not a flow.
        let empty = capture(true, 0, &[]);
        assert!(
            p.decode(&empty, at(7), &state)
                .expect_err("empty")
                .is_ignorable()
        );
    }
}
