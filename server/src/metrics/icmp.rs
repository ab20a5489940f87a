//! `icmp`: `hubble_icmp_total{family, type, <context>}`. `type` is gopacket's
//! `ICMPv4TypeCode.String()` / `ICMPv6TypeCode.String()` (`EchoRequest`,
//! `DestinationUnreachable(Port)`, `Redirect(Code: 9)`, `42(0)`); the family is `IPv4` for
//! ICMPv4 and `IPv6` for ICMPv6, as in Hubble 1.19 (earlier Hubbles wrote `IPv4` for both).

use flowscope_filter::{FlowView, L4Ref};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Key, Series};
use crate::parser::l34::icmp_names;

/// Writes gopacket's `TypeCode.String()` as one value (the names are the decoder's, so the
/// metric and the flow's Summary always agree).
fn push_type_code(key: &mut Key, scratch: &mut String, v6: bool, t: u32, c: u32) {
    // The proto carries uint32; gopacket's CreateICMPv*TypeCode takes uint8.
    let (t, c) = (t as u8, c as u8);
    scratch.clear();
    if v6 {
        icmp_names::push_icmpv6(scratch, t, c);
    } else {
        icmp_names::push_icmpv4(scratch, t, c);
    }
    key.push(scratch);
}

pub struct Icmp {
    icmp: Series<Counter>,
    ctx: ContextOptions,
    scratch: String,
}

impl Icmp {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> Icmp {
        let mut labels = vec!["family", "type"];
        labels.extend(ctx.label_names());
        Icmp {
            icmp: Series::register(registry, guard, "icmp", "Number of ICMP messages", labels),
            ctx,
            scratch: String::with_capacity(48),
        }
    }
}

impl Handler for Icmp {
    fn process(&mut self, flow: &dyn FlowView) {
        let (v6, t, c) = match flow.l4() {
            L4Ref::Icmpv4 { typ, code } => (false, typ, code),
            L4Ref::Icmpv6 { typ, code } => (true, typ, code),
            _ => return,
        };
        let k = self.icmp.key();
        k.push(if v6 { "IPv6" } else { "IPv4" });
        push_type_code(k, &mut self.scratch, v6, t, c);
        self.ctx.write(flow, false, k);
        self.icmp.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use flowscope_proto::flow::{IcmPv4, IcmPv6, Layer4, Verdict, layer4};

    const ICMPV4: bool = false;
    const ICMPV6: bool = true;

    fn name(v6: bool, t: u32, c: u32) -> String {
        let mut k = Key::default();
        push_type_code(&mut k, &mut String::new(), v6, t, c);
        k.values().next().expect("value").into_owned()
    }

    #[test]
    fn gopacket_type_code_strings() {
        assert_eq!(name(ICMPV4, 8, 0), "EchoRequest");
        assert_eq!(name(ICMPV4, 0, 0), "EchoReply");
        assert_eq!(name(ICMPV4, 8, 1), "EchoRequest(Code: 1)");
        assert_eq!(name(ICMPV4, 3, 3), "DestinationUnreachable(Port)");
        assert_eq!(name(ICMPV4, 3, 99), "DestinationUnreachable(Code: 99)");
        assert_eq!(name(ICMPV4, 5, 2), "Redirect(TOS+Net)");
        assert_eq!(name(ICMPV4, 42, 7), "42(7)");
        assert_eq!(name(ICMPV6, 128, 0), "EchoRequest");
        assert_eq!(
            name(ICMPV6, 1, 4),
            "DestinationUnreachable(PortUnreachable)"
        );
        assert_eq!(
            name(ICMPV6, 4, 2),
            "ParameterProblem(UnrecognizedIPv6Option)"
        );
        assert_eq!(name(ICMPV6, 135, 0), "NeighborSolicitation");
        assert_eq!(name(ICMPV6, 143, 0), "143(0)");
    }

    #[test]
    fn counts_icmp_flows_of_any_verdict() {
        let icmp4 = |t, c, v| {
            let mut f = l34(4, 0, v);
            f.l4 = Some(Layer4 {
                protocol: Some(layer4::Protocol::IcmPv4(IcmPv4 { r#type: t, code: c })),
            });
            f
        };
        let mut v6 = icmp4(0, 0, Verdict::Forwarded);
        v6.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::IcmPv6(IcmPv6 {
                r#type: 129,
                code: 0,
            })),
        });
        let flows = [
            icmp4(8, 0, Verdict::Forwarded),
            icmp4(8, 0, Verdict::Dropped),
            icmp4(3, 3, Verdict::Forwarded),
            v6,
            l34(4, 0, Verdict::Forwarded),
        ];
        assert_eq!(
            run("icmp:sourceContext=ip", &flows, "hubble_icmp"),
            sorted(&[
                r#"hubble_icmp_total{family="IPv4",type="EchoRequest",source="10.244.1.9"} 2"#,
                r#"hubble_icmp_total{family="IPv4",type="DestinationUnreachable(Port)",source="10.244.1.9"} 1"#,
                r#"hubble_icmp_total{family="IPv6",type="EchoReply",source="10.244.1.9"} 1"#,
            ])
        );
    }
}
