//! `port-distribution`: `hubble_port_distribution_total{protocol, port, <context>}`:
//! destination ports of FORWARDED/REDIRECTED flows known not to be replies (`is_reply` set
//! and false). ICMP counts as port `0`.

use flowscope_filter::{FlowView, L4Ref};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Series};
use super::values;

pub struct PortDistribution {
    ports: Series<Counter>,
    ctx: ContextOptions,
}

impl PortDistribution {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> PortDistribution {
        let mut labels = vec!["protocol", "port"];
        labels.extend(ctx.label_names());
        PortDistribution {
            ports: Series::register(
                registry,
                guard,
                "port_distribution",
                "Numbers of packets distributed by destination port",
                labels,
            ),
            ctx,
        }
    }
}

impl Handler for PortDistribution {
    fn process(&mut self, flow: &dyn FlowView) {
        // An unknown reply state (is_reply absent) does not say which port is the service.
        let reply = flow.is_reply().is_none_or(|r| r);
        if reply || !values::is_forwarded_or_redirected(flow) {
            return;
        }
        let (protocol, port) = match flow.l4() {
            L4Ref::Tcp { dst, .. } => ("TCP", dst),
            L4Ref::Udp { dst, .. } => ("UDP", dst),
            L4Ref::Sctp { dst, .. } => ("SCTP", dst),
            L4Ref::Icmpv4 { .. } => ("ICMPv4", 0),
            L4Ref::Icmpv6 { .. } => ("ICMPv6", 0),
            _ => return,
        };
        let k = self.ports.key();
        k.push(protocol);
        k.push_u64(u64::from(port));
        self.ctx.write(flow, false, k);
        self.ports.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{IcmPv6, Layer4, Udp, Verdict, layer4};

    #[test]
    fn counts_destination_ports_of_non_replies() {
        let mut udp = with_reply(l34(4, 0, Verdict::Forwarded), Some(false));
        udp.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::Udp(Udp {
                source_port: 5353,
                destination_port: 53,
            })),
        });
        let mut icmp = udp.clone();
        icmp.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::IcmPv6(IcmPv6 {
                r#type: 128,
                code: 0,
            })),
        });
        let flows = [
            with_reply(l34(4, 0, Verdict::Forwarded), Some(false)),
            with_reply(l34(4, 0, Verdict::Redirected), Some(false)),
            udp,
            icmp,
            // Not counted: a reply, unknown reply state, dropped.
            with_reply(l34(4, 0, Verdict::Forwarded), Some(true)),
            with_reply(l34(4, 0, Verdict::Forwarded), None),
            with_reply(l34(1, 133, Verdict::Dropped), Some(false)),
        ];
        assert_eq!(
            run(
                "port-distribution:destinationContext=namespace",
                &flows,
                "hubble_port_distribution"
            ),
            sorted(&[
                r#"hubble_port_distribution_total{protocol="TCP",port="9080",destination="default"} 2"#,
                r#"hubble_port_distribution_total{protocol="UDP",port="53",destination="default"} 1"#,
                r#"hubble_port_distribution_total{protocol="ICMPv6",port="0",destination="default"} 1"#,
            ])
        );
    }
}
