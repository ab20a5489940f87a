//! `Flow.Summary` for L3/L4 flows: the last decoded layer, as Hubble's `decodeLayers` writes it
//! (`TCP Flags: SYN, ACK`, `UDP`, `ICMPv4 EchoRequest`, `VRRP VRRPv2 Advertisement`,
//! `IGMP IGMPv2 Membership Report`, otherwise the gopacket layer name such as `IPv4`).

use super::icmp_names::{push_icmpv4, push_icmpv6};
use super::packet::{Kind, L4, Layers, tcp_flags};

/// Flag names in Hubble's summary order.
const TCP_FLAG_NAMES: [(u16, &str); 9] = [
    (tcp_flags::SYN, "SYN"),
    (tcp_flags::ACK, "ACK"),
    (tcp_flags::RST, "RST"),
    (tcp_flags::FIN, "FIN"),
    (tcp_flags::PSH, "PSH"),
    (tcp_flags::URG, "URG"),
    (tcp_flags::ECE, "ECE"),
    (tcp_flags::CWR, "CWR"),
    (tcp_flags::NS, "NS"),
];

/// The Summary of a decoded packet; empty when no layer decoded.
pub fn summary(layers: &Layers) -> String {
    packet_summary(layers.last, layers.l4)
}

/// The Summary of a packet whose last decoded layer is `last`.
pub fn packet_summary(last: Option<Kind>, l4: Option<L4>) -> String {
    let mut s = String::with_capacity(40);
    push_packet_summary(&mut s, last, l4);
    s
}

/// Appends the Summary of a packet whose last decoded layer is `last` to `s`.
pub fn push_packet_summary(s: &mut String, last: Option<Kind>, l4: Option<L4>) {
    let Some(last) = last else {
        return;
    };
    match (last, l4) {
        (Kind::Tcp, Some(L4::Tcp { flags, .. })) => {
            s.push_str("TCP Flags: ");
            let mut first = true;
            for (bit, name) in TCP_FLAG_NAMES {
                if flags & bit != 0 {
                    if !first {
                        s.push_str(", ");
                    }
                    s.push_str(name);
                    first = false;
                }
            }
        }
        (Kind::Icmpv4, Some(L4::Icmpv4 { typ, code })) => {
            s.push_str("ICMPv4 ");
            push_icmpv4(s, typ, code);
        }
        (Kind::Icmpv6, Some(L4::Icmpv6 { typ, code })) => {
            s.push_str("ICMPv6 ");
            push_icmpv6(s, typ, code);
        }
        (Kind::Vrrp, Some(L4::Vrrp { typ, .. })) => {
            s.push_str("VRRP ");
            // `VRRPv2Type.String()`: only advertisements decode.
            if typ == 1 {
                s.push_str("VRRPv2 Advertisement");
            }
        }
        (Kind::Igmp, Some(L4::Igmp { typ, .. })) => {
            s.push_str("IGMP ");
            s.push_str(igmp_type_name(typ));
        }
        (kind, _) => s.push_str(kind.name()),
    }
}

/// `IGMPType.String()`.
fn igmp_type_name(t: u8) -> &'static str {
    match t {
        0x11 => "IGMP Membership Query",
        0x12 => "IGMPv1 Membership Report",
        0x16 => "IGMPv2 Membership Report",
        0x22 => "IGMPv3 Membership Report",
        0x17 => "Leave Group",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn with(last: Kind, l4: Option<L4>) -> String {
        summary(&Layers {
            last: Some(last),
            l4,
            ..Default::default()
        })
    }

    #[test]
    fn tcp_flags_in_hubble_order() {
        let all = (1 << 9) - 1;
        assert_eq!(
            with(
                Kind::Tcp,
                Some(L4::Tcp {
                    src: 1,
                    dst: 2,
                    flags: all
                })
            ),
            "TCP Flags: SYN, ACK, RST, FIN, PSH, URG, ECE, CWR, NS"
        );
        assert_eq!(
            with(
                Kind::Tcp,
                Some(L4::Tcp {
                    src: 1,
                    dst: 2,
                    flags: tcp_flags::ACK | tcp_flags::PSH
                })
            ),
            "TCP Flags: ACK, PSH"
        );
        assert_eq!(
            with(
                Kind::Tcp,
                Some(L4::Tcp {
                    src: 1,
                    dst: 2,
                    flags: 0
                })
            ),
            "TCP Flags: "
        );
    }

    #[test]
    fn other_layers() {
        assert_eq!(summary(&Layers::default()), "");
        assert_eq!(with(Kind::Udp, Some(L4::Udp { src: 1, dst: 2 })), "UDP");
        assert_eq!(
            with(
                Kind::Sctp,
                Some(L4::Sctp {
                    src: 1,
                    dst: 2,
                    chunk_type: 0
                })
            ),
            "SCTP"
        );
        assert_eq!(with(Kind::Ipv4, None), "IPv4");
        assert_eq!(with(Kind::Ethernet, None), "Ethernet");
        assert_eq!(
            with(Kind::Icmpv4, Some(L4::Icmpv4 { typ: 8, code: 0 })),
            "ICMPv4 EchoRequest"
        );
        assert_eq!(
            with(Kind::Icmpv6, Some(L4::Icmpv6 { typ: 129, code: 0 })),
            "ICMPv6 EchoReply"
        );
        assert_eq!(
            with(
                Kind::Vrrp,
                Some(L4::Vrrp {
                    typ: 1,
                    vrid: 1,
                    priority: 100
                })
            ),
            "VRRP VRRPv2 Advertisement"
        );
        assert_eq!(
            with(
                Kind::Igmp,
                Some(L4::Igmp {
                    typ: 0x16,
                    group: Ipv4Addr::UNSPECIFIED
                })
            ),
            "IGMP IGMPv2 Membership Report"
        );
        assert_eq!(
            with(
                Kind::Igmp,
                Some(L4::Igmp {
                    typ: 0x99,
                    group: Ipv4Addr::UNSPECIFIED
                })
            ),
            "IGMP "
        );
    }
}
