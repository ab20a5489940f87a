//! `sctp`: `hubble_sctp_chunk_types_total{chunk_type, family, <context>}`: the chunk type of
//! FORWARDED/REDIRECTED SCTP packets, for the types Hubble reports (INIT, INIT_ACK, SHUTDOWN,
//! SHUTDOWN_ACK, SHUTDOWN_COMPLETE, ABORT; DATA and the rest are not counted).
//!
//! The chunk type is read from the packet by flowd's datapath decoder. Proto flows do not
//! carry it (the v1.19 flow proto has no `SCTP.chunk_type`), so they are not counted.

use flowscope_filter::{FlowView, L4Ref};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Series};
use super::values;

pub struct Sctp {
    chunks: Series<Counter>,
    ctx: ContextOptions,
}

impl Sctp {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> Sctp {
        let mut labels = vec!["chunk_type", "family"];
        labels.extend(ctx.label_names());
        Sctp {
            chunks: Series::register(
                registry,
                guard,
                "sctp_chunk_types",
                "SCTP chunk type occurrences",
                labels,
            ),
            ctx,
        }
    }
}

impl Handler for Sctp {
    fn process(&mut self, flow: &dyn FlowView) {
        if !values::is_forwarded_or_redirected(flow)
            || !flow.has_ip()
            || !matches!(flow.l4(), L4Ref::Sctp { .. })
        {
            return;
        }
        let Some(chunk_type) = flow.sctp_chunk_type() else {
            return;
        };
        let k = self.chunks.key();
        k.push(chunk_type);
        values::push_ip_version(k, flow.ip_version());
        self.ctx.write(flow, false, k);
        self.chunks.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::identity::ClusterState;
    use crate::parser::l34::L34Parser;
    use crate::parser::l34::build::{self, Ip4, Ip6, L4Spec, TraceRecord};
    use flowscope_proto::flow::{Layer4, Sctp as SctpL4, Verdict, layer4};
    use flowscope_proto::types::Timestamp;

    const STATE: &str = r#"node_name: kind-worker
endpoints:
  - name: amf-0
    namespace: core
    labels: {app: amf}
    ips: [10.244.1.10, "fd00::10"]
    identity: 30001
    endpoint_id: 101
"#;

    /// An SCTP packet whose first chunk is of `chunk_type` (none when `None`).
    fn sctp(v6: bool, chunk_type: Option<u8>) -> Vec<u8> {
        let mut bytes = vec![0u8; 12];
        bytes[0..2].copy_from_slice(&38412u16.to_be_bytes());
        bytes[2..4].copy_from_slice(&38412u16.to_be_bytes());
        if let Some(t) = chunk_type {
            bytes.extend_from_slice(&[t, 0, 0, 4]);
        }
        let l4 = L4Spec::Raw { proto: 132, bytes };
        if v6 {
            let ip = |s: &str| s.parse().expect("ipv6");
            build::ether_ipv6(Ip6::new(ip("fd00::20"), ip("fd00::10")), l4)
        } else {
            build::ether_ipv4(Ip4::new([10, 244, 1, 20], [10, 244, 1, 10]), l4)
        }
    }

    /// flowd's records of to-endpoint traces of `packets`.
    fn records(packets: &[Vec<u8>]) -> Vec<crate::flow::FlowRecord> {
        let state = ClusterState::parse(STATE).expect("state");
        let mut parser = L34Parser::new();
        let trace = TraceRecord {
            version: 1,
            source: 101,
            dst_id: 101,
            dst_label: 30001,
            reason: 1,
            ..Default::default()
        };
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        };
        packets
            .iter()
            .map(|p| {
                parser
                    .decode(&trace.record(p), t.into(), &state)
                    .expect("decodes")
            })
            .collect()
    }

    #[test]
    fn counts_reported_chunk_types_of_forwarded_sctp_packets() {
        let recs = records(&[
            sctp(false, Some(1)),
            sctp(false, Some(1)),
            sctp(false, Some(2)),
            sctp(true, Some(6)),
            sctp(false, Some(7)),
            sctp(false, Some(8)),
            sctp(false, Some(14)),
            // DATA, SACK, HEARTBEAT and no chunk at all: not reported, as in Hubble.
            sctp(false, Some(0)),
            sctp(false, Some(3)),
            sctp(false, Some(4)),
            sctp(false, None),
        ]);
        let (registry, mut handlers) = setup("sctp:destinationContext=namespace", 0);
        for r in &recs {
            for h in &mut handlers {
                h.process(r);
            }
        }
        assert_eq!(
            samples(&registry, "hubble_sctp"),
            sorted(&[
                r#"hubble_sctp_chunk_types_total{chunk_type="INIT",family="IPv4",destination="core"} 2"#,
                r#"hubble_sctp_chunk_types_total{chunk_type="INIT_ACK",family="IPv4",destination="core"} 1"#,
                r#"hubble_sctp_chunk_types_total{chunk_type="ABORT",family="IPv6",destination="core"} 1"#,
                r#"hubble_sctp_chunk_types_total{chunk_type="SHUTDOWN",family="IPv4",destination="core"} 1"#,
                r#"hubble_sctp_chunk_types_total{chunk_type="SHUTDOWN_ACK",family="IPv4",destination="core"} 1"#,
                r#"hubble_sctp_chunk_types_total{chunk_type="SHUTDOWN_COMPLETE",family="IPv4",destination="core"} 1"#,
            ])
        );
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &registry).expect("encode");
        let text = crate::api::metrics::openmetrics_to_text(&om);
        assert!(
            text.contains("# HELP hubble_sctp_chunk_types_total SCTP chunk type occurrences\n"),
            "{text}"
        );
    }

    #[test]
    fn dropped_packets_and_proto_flows_are_not_counted() {
        let mut recs = records(&[sctp(false, Some(1))]);
        recs[0].verdict = Verdict::Dropped as u8;
        let (registry, mut handlers) = setup("sctp", 0);
        for h in &mut handlers {
            h.process(&recs[0]);
        }
        // A proto flow has no chunk type to report.
        let mut f = l34(4, 0, Verdict::Forwarded);
        f.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::Sctp(SctpL4 {
                source_port: 38412,
                destination_port: 38412,
            })),
        });
        for h in &mut handlers {
            h.process(&f);
        }
        assert!(samples(&registry, "hubble_sctp").is_empty());
    }
}
