//! `source_ip`, `destination_ip`, `source_ip_xlated`: exact address or CIDR containment.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::FilterError;
pub(crate) use crate::view::IpField;
use crate::view::IpRef;

pub(crate) fn field_name(field: IpField) -> &'static str {
    match field {
        IpField::Source => "source_ip",
        IpField::Destination => "destination_ip",
        IpField::SourceXlated => "source_ip_xlated",
    }
}

/// Addresses compared as strings (as Hubble does) plus CIDR prefixes.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpMatcher {
    addresses: Vec<String>,
    /// The addresses whose text is the canonical form of the address, so that comparing
    /// addresses equals comparing their text.
    canonical: Vec<IpAddr>,
    prefixes: Vec<IpNet>,
}

impl IpMatcher {
    pub(crate) fn new(field: IpField, values: &[String]) -> Result<Self, FilterError> {
        let mut m = Self::default();
        for v in values {
            if v.contains('/') {
                let net: IpNet =
                    v.parse()
                        .map_err(|e: ipnet::AddrParseError| FilterError::InvalidCidr {
                            field: field_name(field),
                            value: v.clone(),
                            reason: e.to_string(),
                        })?;
                m.prefixes.push(net);
            } else if is_ip_address(v) {
                if let Ok(addr) = v.parse::<IpAddr>()
                    && addr.to_string() == *v
                {
                    m.canonical.push(addr);
                }
                m.addresses.push(v.clone());
            } else {
                return Err(FilterError::InvalidIp {
                    field: field_name(field),
                    value: v.clone(),
                });
            }
        }
        Ok(m)
    }

    #[inline]
    pub(crate) fn matches(&self, ip: IpRef<'_>) -> bool {
        match ip {
            IpRef::None => false,
            IpRef::Text(text) => self.matches_text(text),
            IpRef::Addr(addr) => {
                self.canonical.contains(&addr) || self.prefixes.iter().any(|p| p.contains(&addr))
            }
        }
    }

    fn matches_text(&self, ip: &str) -> bool {
        if ip.is_empty() {
            return false;
        }
        if self.addresses.iter().any(|a| a == ip) {
            return true;
        }
        if self.prefixes.is_empty() {
            return false;
        }
        match ip.parse::<IpAddr>() {
            Ok(addr) => self.prefixes.iter().any(|p| p.contains(&addr)),
            Err(_) => false,
        }
    }
}

/// An IPv4 or IPv6 address, the latter optionally with a `%zone` (as Go's
/// `netip.ParseAddr` accepts).
fn is_ip_address(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    match s.split_once('%') {
        Some((addr, zone)) => !zone.is_empty() && addr.parse::<Ipv6Addr>().is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;
    use flowscope_proto::flow::{Flow, FlowFilter, Ip};

    fn ip_flow(src: &str, dst: &str, xlated: &str) -> Flow {
        Flow {
            ip: Some(Ip {
                source: src.into(),
                destination: dst.into(),
                source_xlated: xlated.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn source_ip_exact_and_cidr() {
        let f = FlowFilter {
            source_ip: vec!["10.0.0.1".into(), "192.168.0.0/16".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("10.0.0.1", "1.1.1.1", "")));
        assert!(matches(&f, &ip_flow("192.168.3.4", "1.1.1.1", "")));
        assert!(!matches(&f, &ip_flow("10.0.0.2", "1.1.1.1", "")));
        assert!(!matches(&f, &ip_flow("1.1.1.1", "10.0.0.1", "")));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn destination_ip_v6_cidr() {
        let f = FlowFilter {
            destination_ip: vec!["fd00::/64".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("fd00::1", "fd00::7", "")));
        assert!(!matches(&f, &ip_flow("fd00::7", "fd01::7", "")));
        // An IPv4 address is never inside an IPv6 prefix.
        assert!(!matches(&f, &ip_flow("fd00::7", "10.0.0.1", "")));
    }

    #[test]
    fn exact_match_is_string_equality() {
        let f = FlowFilter {
            source_ip: vec!["fd00::5".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("fd00::5", "", "")));
        assert!(!matches(&f, &ip_flow("fd00:0::5", "", "")));
    }

    #[test]
    fn cidr_with_host_bits_is_accepted() {
        let f = FlowFilter {
            source_ip: vec!["10.1.2.3/8".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("10.200.0.1", "", "")));
        assert!(!matches(&f, &ip_flow("11.0.0.1", "", "")));
    }

    #[test]
    fn source_ip_xlated() {
        let f = FlowFilter {
            source_ip_xlated: vec!["172.16.0.0/12".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("10.0.0.1", "1.1.1.1", "172.16.5.5")));
        assert!(!matches(&f, &ip_flow("172.16.5.5", "1.1.1.1", "")));
        assert!(!matches(&f, &ip_flow("172.16.5.5", "1.1.1.1", "10.0.0.1")));
    }

    #[test]
    fn unparsable_flow_address_does_not_match_cidr() {
        let f = FlowFilter {
            source_ip: vec!["0.0.0.0/0".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("8.8.8.8", "", "")));
        assert!(!matches(&f, &ip_flow("not-an-ip", "", "")));
    }

    #[test]
    fn zone_is_accepted() {
        let f = FlowFilter {
            source_ip: vec!["fe80::1%eth0".into()],
            ..Default::default()
        };
        assert!(matches(&f, &ip_flow("fe80::1%eth0", "", "")));
    }

    #[test]
    fn invalid_values() {
        let e = error(&FlowFilter {
            source_ip: vec!["10.0.0.0/33".into()],
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid filter: source_ip: invalid CIDR \"10.0.0.0/33\""),
            "{e}"
        );
        let e = error(&FlowFilter {
            destination_ip: vec!["10.0.0.256".into()],
            ..Default::default()
        });
        assert_eq!(
            e,
            "invalid filter: destination_ip: invalid IP address \"10.0.0.256\""
        );
        let e = error(&FlowFilter {
            source_ip_xlated: vec!["".into()],
            ..Default::default()
        });
        assert!(e.starts_with("invalid filter: source_ip_xlated:"), "{e}");
        let e = error(&FlowFilter {
            source_ip: vec!["host/24".into()],
            ..Default::default()
        });
        assert!(e.contains("invalid CIDR"), "{e}");
    }
}
