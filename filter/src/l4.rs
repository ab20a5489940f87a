//! Layer-4 filters: `protocol`, `source_port`/`destination_port`, `tcp_flags`.

use flowscope_proto::flow::TcpFlags;

use crate::FilterError;
use crate::view::{FlowView, L4Ref, L7Kind, Side};

const TCP: u16 = 1 << 0;
const UDP: u16 = 1 << 1;
const ICMPV4: u16 = 1 << 2;
const ICMPV6: u16 = 1 << 3;
const SCTP: u16 = 1 << 4;
const VRRP: u16 = 1 << 5;
const IGMP: u16 = 1 << 6;
const DNS: u16 = 1 << 7;
const HTTP: u16 = 1 << 8;
const KAFKA: u16 = 1 << 9;

/// `protocol`: the L4 protocols and L7 record kinds a flow may have (bitmask).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProtocolSet(u16);

impl ProtocolSet {
    pub(crate) fn new(values: &[String]) -> Result<Self, FilterError> {
        let mut bits = 0;
        for v in values {
            bits |= match v.to_ascii_lowercase().as_str() {
                "icmp" => ICMPV4 | ICMPV6,
                "icmpv4" => ICMPV4,
                "icmpv6" => ICMPV6,
                "tcp" => TCP,
                "udp" => UDP,
                "sctp" => SCTP,
                "vrrp" => VRRP,
                "igmp" => IGMP,
                "dns" => DNS,
                "http" => HTTP,
                "kafka" => KAFKA,
                _ => return Err(FilterError::UnknownProtocol { value: v.clone() }),
            };
        }
        Ok(Self(bits))
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(self, flow: &V) -> bool {
        let l4 = match flow.l4() {
            L4Ref::Tcp { .. } => TCP,
            L4Ref::Udp { .. } => UDP,
            L4Ref::Icmpv4 { .. } => ICMPV4,
            L4Ref::Icmpv6 { .. } => ICMPV6,
            L4Ref::Sctp { .. } => SCTP,
            L4Ref::Vrrp => VRRP,
            L4Ref::Igmp => IGMP,
            L4Ref::None => 0,
        };
        let l7 = match flow.l7_kind() {
            L7Kind::Dns => DNS,
            L7Kind::Http => HTTP,
            L7Kind::Kafka => KAFKA,
            L7Kind::None => 0,
        };
        self.0 & (l4 | l7) != 0
    }
}

/// `source_port`, `destination_port`: the TCP, UDP or SCTP port.
#[derive(Debug, Clone, Default)]
pub(crate) struct PortMatcher {
    ports: Vec<u32>,
}

impl PortMatcher {
    pub(crate) fn new(field: &'static str, values: &[String]) -> Result<Self, FilterError> {
        let ports = values
            .iter()
            .map(|v| {
                // Like Go's strconv.ParseUint(v, 10, 16): digits only, no sign.
                let digits_only = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                match v.parse::<u16>() {
                    Ok(p) if digits_only => Ok(u32::from(p)),
                    _ => Err(FilterError::InvalidPort {
                        field,
                        value: v.clone(),
                    }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { ports })
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, side: Side, flow: &V) -> bool {
        let Some((src, dst)) = flow.l4().ports() else {
            return false;
        };
        let port = match side {
            Side::Source => src,
            Side::Destination => dst,
        };
        self.ports.contains(&port)
    }
}

fn flag_bits(f: &TcpFlags) -> u16 {
    [f.fin, f.syn, f.rst, f.psh, f.ack, f.urg, f.ece, f.cwr, f.ns]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, set)| if *set { acc | 1 << i } else { acc })
}

/// `tcp_flags`: the flow has all flags of at least one entry set.
#[derive(Debug, Clone, Default)]
pub(crate) struct TcpFlagsMatcher {
    entries: Vec<u16>,
}

impl TcpFlagsMatcher {
    pub(crate) fn new(entries: &[TcpFlags]) -> Self {
        Self {
            entries: entries.iter().map(flag_bits).collect(),
        }
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        let flags = match flow.l4() {
            L4Ref::Tcp {
                flags: Some(flags), ..
            } => flags,
            _ => return false,
        };
        self.entries.iter().any(|want| want & !flags == 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;
    use flowscope_proto::flow::{
        Dns, Flow, FlowFilter, IcmPv4, IcmPv6, Igmp, Kafka, Sctp, Tcp, TcpFlags, Udp, Vrrp,
        layer4::Protocol, layer7::Record,
    };

    fn proto(ps: &[&str]) -> FlowFilter {
        FlowFilter {
            protocol: strings(ps),
            ..Default::default()
        }
    }

    #[test]
    fn l4_protocols() {
        let tcp = l4_flow(Protocol::Tcp(Tcp::default()));
        let udp = l4_flow(Protocol::Udp(Udp::default()));
        let icmp4 = l4_flow(Protocol::IcmPv4(IcmPv4::default()));
        let icmp6 = l4_flow(Protocol::IcmPv6(IcmPv6::default()));
        let sctp = l4_flow(Protocol::Sctp(Sctp::default()));
        let vrrp = l4_flow(Protocol::Vrrp(Vrrp::default()));
        let igmp = l4_flow(Protocol::Igmp(Igmp::default()));

        assert!(matches(&proto(&["TCP"]), &tcp));
        assert!(!matches(&proto(&["tcp"]), &udp));
        assert!(matches(&proto(&["Udp"]), &udp));
        assert!(matches(&proto(&["icmp"]), &icmp4));
        assert!(matches(&proto(&["icmp"]), &icmp6));
        assert!(!matches(&proto(&["icmp"]), &tcp));
        assert!(matches(&proto(&["ICMPv4"]), &icmp4));
        assert!(!matches(&proto(&["icmpv4"]), &icmp6));
        assert!(matches(&proto(&["icmpv6"]), &icmp6));
        assert!(!matches(&proto(&["icmpv6"]), &icmp4));
        assert!(matches(&proto(&["sctp"]), &sctp));
        assert!(matches(&proto(&["vrrp"]), &vrrp));
        assert!(matches(&proto(&["igmp"]), &igmp));
        assert!(!matches(&proto(&["igmp"]), &vrrp));
        assert!(matches(&proto(&["udp", "tcp"]), &tcp));
        assert!(!matches(&proto(&["tcp"]), &Flow::default()));
    }

    #[test]
    #[allow(deprecated)]
    fn l7_protocols() {
        let mut dns = l7_flow(Record::Dns(Dns::default()));
        dns.l4 = Some(flowscope_proto::flow::Layer4 {
            protocol: Some(Protocol::Udp(Udp::default())),
        });
        let http = http_flow(|_| {});
        let kafka = l7_flow(Record::Kafka(Kafka::default()));
        assert!(matches(&proto(&["DNS"]), &dns));
        assert!(matches(&proto(&["udp"]), &dns));
        assert!(!matches(&proto(&["dns"]), &http));
        assert!(matches(&proto(&["http"]), &http));
        assert!(!matches(&proto(&["http"]), &kafka));
        assert!(matches(&proto(&["kafka"]), &kafka));
    }

    #[test]
    fn unknown_protocol() {
        assert_eq!(
            error(&proto(&["tcp", "foo"])),
            "invalid filter: protocol: unknown protocol \"foo\""
        );
        assert!(error(&proto(&[""])).contains("unknown protocol \"\""));
    }

    fn ports(src: &[&str], dst: &[&str]) -> FlowFilter {
        FlowFilter {
            source_port: strings(src),
            destination_port: strings(dst),
            ..Default::default()
        }
    }

    #[test]
    fn ports_on_tcp_udp_sctp() {
        let tcp = l4_flow(Protocol::Tcp(Tcp {
            source_port: 43210,
            destination_port: 8080,
            flags: None,
        }));
        let udp = l4_flow(Protocol::Udp(Udp {
            source_port: 5353,
            destination_port: 53,
        }));
        let sctp = l4_flow(Protocol::Sctp(Sctp {
            source_port: 1000,
            destination_port: 2000,
        }));
        assert!(matches(&ports(&["43210"], &[]), &tcp));
        assert!(!matches(&ports(&["8080"], &[]), &tcp));
        assert!(matches(&ports(&[], &["8080", "53"]), &tcp));
        assert!(matches(&ports(&[], &["8080", "53"]), &udp));
        assert!(!matches(&ports(&[], &["53"]), &sctp));
        assert!(matches(&ports(&["1000"], &["2000"]), &sctp));
        assert!(!matches(&ports(&["1000"], &["2001"]), &sctp));
        assert!(matches(
            &ports(&["0080"], &[]),
            &l4_flow(Protocol::Udp(Udp {
                source_port: 80,
                destination_port: 0,
            }))
        ));
        // ICMP has no ports.
        assert!(!matches(
            &ports(&["0"], &[]),
            &l4_flow(Protocol::IcmPv4(IcmPv4::default()))
        ));
        assert!(!matches(&ports(&["0"], &[]), &Flow::default()));
    }

    #[test]
    fn bad_ports() {
        for bad in ["", "65536", "-1", "+80", "http", "8o", " 80", "80 "] {
            let e = error(&ports(&[bad], &[]));
            assert_eq!(
                e,
                format!(
                    "invalid filter: source_port: invalid port {bad:?}: must be a decimal number between 0 and 65535"
                )
            );
        }
        assert!(error(&ports(&[], &["x"])).starts_with("invalid filter: destination_port:"));
        assert!(compiles(&ports(&["0", "65535"], &[])));
    }

    fn tcp_flags(f: TcpFlags) -> Flow {
        l4_flow(Protocol::Tcp(Tcp {
            source_port: 1,
            destination_port: 2,
            flags: Some(f),
        }))
    }

    #[test]
    fn tcp_flags_all_of_any_entry() {
        let syn = TcpFlags {
            syn: true,
            ..Default::default()
        };
        let syn_ack = TcpFlags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        let fin = TcpFlags {
            fin: true,
            ..Default::default()
        };
        let f = FlowFilter {
            tcp_flags: vec![syn_ack, fin],
            ..Default::default()
        };
        assert!(matches(&f, &tcp_flags(syn_ack)));
        assert!(matches(
            &f,
            &tcp_flags(TcpFlags {
                fin: true,
                ack: true,
                ..Default::default()
            })
        ));
        assert!(!matches(&f, &tcp_flags(syn)));
        assert!(!matches(
            &f,
            &tcp_flags(TcpFlags {
                ack: true,
                ..Default::default()
            })
        ));
        assert!(!matches(&f, &l4_flow(Protocol::Tcp(Tcp::default()))));
        assert!(!matches(&f, &l4_flow(Protocol::Udp(Udp::default()))));

        let every = TcpFlags {
            fin: true,
            syn: true,
            rst: true,
            psh: true,
            ack: true,
            urg: true,
            ece: true,
            cwr: true,
            ns: true,
        };
        let all = FlowFilter {
            tcp_flags: vec![every],
            ..Default::default()
        };
        assert!(matches(&all, &tcp_flags(every)));
        assert!(!matches(&all, &tcp_flags(syn_ack)));
        let ns_only = FlowFilter {
            tcp_flags: vec![TcpFlags {
                ns: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(!matches(&ns_only, &tcp_flags(syn)));
    }
}
