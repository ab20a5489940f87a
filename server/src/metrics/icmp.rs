//! `icmp`: `hubble_icmp_total{family, type, <context>}`. `type` is gopacket's
//! `ICMPv4TypeCode.String()` / `ICMPv6TypeCode.String()` (`EchoRequest`,
//! `DestinationUnreachable(Port)`, `Redirect(Code: 9)`, `42(0)`); the family is `IPv4` for
//! both ICMPv4 and ICMPv6, as in Hubble.

use std::fmt::Write as _;

use flowscope_proto::flow::{Flow, layer4};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Key, Series};

/// `(type, name, code names)`: gopacket's type/code table. No code names means the type
/// does not use the code field.
type TypeCodes = [(u8, &'static str, &'static [(u8, &'static str)])];

/// gopacket's `icmpv4TypeCodeInfo`.
const ICMPV4: &TypeCodes = &[
    (0, "EchoReply", &[]),
    (
        3,
        "DestinationUnreachable",
        &[
            (0, "Net"),
            (1, "Host"),
            (2, "Protocol"),
            (3, "Port"),
            (4, "FragmentationNeeded"),
            (5, "SourceRoutingFailed"),
            (6, "NetUnknown"),
            (7, "HostUnknown"),
            (8, "SourceIsolated"),
            (9, "NetAdminProhibited"),
            (10, "HostAdminProhibited"),
            (11, "NetTOS"),
            (12, "HostTOS"),
            (13, "CommAdminProhibited"),
            (14, "HostPrecedence"),
            (15, "PrecedenceCutoff"),
        ],
    ),
    (4, "SourceQuench", &[]),
    (
        5,
        "Redirect",
        &[(0, "Net"), (1, "Host"), (2, "TOS+Net"), (3, "TOS+Host")],
    ),
    (8, "EchoRequest", &[]),
    (9, "RouterAdvertisement", &[]),
    (10, "RouterSolicitation", &[]),
    (
        11,
        "TimeExceeded",
        &[(0, "TTLExceeded"), (1, "FragmentReassemblyTimeExceeded")],
    ),
    (
        12,
        "ParameterProblem",
        &[
            (0, "PointerIndicatesError"),
            (1, "MissingOption"),
            (2, "BadLength"),
        ],
    ),
    (13, "TimestampRequest", &[]),
    (14, "TimestampReply", &[]),
    (15, "InfoRequest", &[]),
    (16, "InfoReply", &[]),
    (17, "AddressMaskRequest", &[]),
    (18, "AddressMaskReply", &[]),
];

/// gopacket's `icmpv6TypeCodeInfo` (github.com/gopacket/gopacket, which Cilium uses).
const ICMPV6: &TypeCodes = &[
    (
        1,
        "DestinationUnreachable",
        &[
            (0, "NoRouteToDst"),
            (1, "AdminProhibited"),
            (2, "BeyondScopeOfSrc"),
            (3, "AddressUnreachable"),
            (4, "PortUnreachable"),
            (5, "SrcAddressFailedPolicy"),
            (6, "RejectRouteToDst"),
        ],
    ),
    (2, "PacketTooBig", &[]),
    (
        3,
        "TimeExceeded",
        &[
            (0, "HopLimitExceeded"),
            (1, "FragmentReassemblyTimeExceeded"),
        ],
    ),
    (
        4,
        "ParameterProblem",
        &[
            (0, "ErroneousHeaderField"),
            (1, "UnrecognizedNextHeader"),
            (2, "UnrecognizedIPv6Option"),
        ],
    ),
    (128, "EchoRequest", &[]),
    (129, "EchoReply", &[]),
    (133, "RouterSolicitation", &[]),
    (134, "RouterAdvertisement", &[]),
    (135, "NeighborSolicitation", &[]),
    (136, "NeighborAdvertisement", &[]),
    (137, "Redirect", &[]),
];

/// Writes gopacket's `TypeCode.String()` as one value.
fn push_type_code(key: &mut Key, table: &TypeCodes, t: u32, c: u32) {
    // The proto carries uint32; gopacket's CreateICMPv*TypeCode takes uint8.
    let (t, c) = (t as u8, c as u8);
    key.begin();
    match table.iter().find(|(n, _, _)| *n == t) {
        None => {
            let _ = write!(key, "{t}({c})");
        }
        Some((_, name, codes)) => match codes.iter().find(|(n, _)| *n == c) {
            _ if codes.is_empty() && c == 0 => key.extend(name),
            Some((_, code)) => {
                let _ = write!(key, "{name}({code})");
            }
            None => {
                let _ = write!(key, "{name}(Code: {c})");
            }
        },
    }
    key.end();
}

pub struct Icmp {
    icmp: Series<Counter>,
    ctx: ContextOptions,
}

impl Icmp {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> Icmp {
        let mut labels = vec!["family", "type"];
        labels.extend(ctx.label_names());
        Icmp {
            icmp: Series::register(registry, guard, "icmp", "Number of ICMP messages", labels),
            ctx,
        }
    }
}

impl Handler for Icmp {
    fn process(&mut self, flow: &Flow) {
        let (table, t, c) = match flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
            Some(layer4::Protocol::IcmPv4(i)) => (ICMPV4, i.r#type, i.code),
            Some(layer4::Protocol::IcmPv6(i)) => (ICMPV6, i.r#type, i.code),
            _ => return,
        };
        let k = self.icmp.key();
        k.push("IPv4");
        push_type_code(k, table, t, c);
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
    use flowscope_proto::flow::{IcmPv4, IcmPv6, Layer4, Verdict};

    fn name(table: &TypeCodes, t: u32, c: u32) -> String {
        let mut k = Key::default();
        push_type_code(&mut k, table, t, c);
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
                r#"hubble_icmp_total{family="IPv4",type="EchoReply",source="10.244.1.9"} 1"#,
            ])
        );
    }
}
