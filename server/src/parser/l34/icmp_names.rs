//! gopacket's `ICMPv4TypeCode.String()` and `ICMPv6TypeCode.String()`, which Hubble puts in the
//! Summary (`ICMPv4 EchoRequest`, `ICMPv4 DestinationUnreachable(Port)`):
//!
//! - a known type without named codes: the type name, or `Name(Code: 3)` if the code is not 0;
//! - a known type with named codes: `Name(CodeName)`, or `Name(Code: 9)` for an unnamed code;
//! - an unknown type: `type(code)` in numbers.

use std::fmt::Write as _;

/// `(type name, (code, code name) table)`; an empty table means the type uses no codes.
type TypeInfo = (&'static str, &'static [(u8, &'static str)]);

fn icmpv4(t: u8) -> Option<TypeInfo> {
    const UNREACHABLE: &[(u8, &str)] = &[
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
    ];
    const TIME_EXCEEDED: &[(u8, &str)] =
        &[(0, "TTLExceeded"), (1, "FragmentReassemblyTimeExceeded")];
    const PARAMETER_PROBLEM: &[(u8, &str)] = &[
        (0, "PointerIndicatesError"),
        (1, "MissingOption"),
        (2, "BadLength"),
    ];
    const REDIRECT: &[(u8, &str)] = &[(0, "Net"), (1, "Host"), (2, "TOS+Net"), (3, "TOS+Host")];
    Some(match t {
        0 => ("EchoReply", &[]),
        3 => ("DestinationUnreachable", UNREACHABLE),
        4 => ("SourceQuench", &[]),
        5 => ("Redirect", REDIRECT),
        8 => ("EchoRequest", &[]),
        9 => ("RouterAdvertisement", &[]),
        10 => ("RouterSolicitation", &[]),
        11 => ("TimeExceeded", TIME_EXCEEDED),
        12 => ("ParameterProblem", PARAMETER_PROBLEM),
        13 => ("TimestampRequest", &[]),
        14 => ("TimestampReply", &[]),
        15 => ("InfoRequest", &[]),
        16 => ("InfoReply", &[]),
        17 => ("AddressMaskRequest", &[]),
        18 => ("AddressMaskReply", &[]),
        _ => return None,
    })
}

fn icmpv6(t: u8) -> Option<TypeInfo> {
    const UNREACHABLE: &[(u8, &str)] = &[
        (0, "NoRouteToDst"),
        (1, "AdminProhibited"),
        (2, "BeyondScopeOfSrc"),
        (3, "AddressUnreachable"),
        (4, "PortUnreachable"),
        (5, "SrcAddressFailedPolicy"),
        (6, "RejectRouteToDst"),
    ];
    const TIME_EXCEEDED: &[(u8, &str)] = &[
        (0, "HopLimitExceeded"),
        (1, "FragmentReassemblyTimeExceeded"),
    ];
    const PARAMETER_PROBLEM: &[(u8, &str)] = &[
        (0, "ErroneousHeaderField"),
        (1, "UnrecognizedNextHeader"),
        (2, "UnrecognizedIPv6Option"),
    ];
    // MLD types (130–132, 143) have no names in gopacket's table and print as numbers.
    Some(match t {
        1 => ("DestinationUnreachable", UNREACHABLE),
        2 => ("PacketTooBig", &[]),
        3 => ("TimeExceeded", TIME_EXCEEDED),
        4 => ("ParameterProblem", PARAMETER_PROBLEM),
        128 => ("EchoRequest", &[]),
        129 => ("EchoReply", &[]),
        133 => ("RouterSolicitation", &[]),
        134 => ("RouterAdvertisement", &[]),
        135 => ("NeighborSolicitation", &[]),
        136 => ("NeighborAdvertisement", &[]),
        137 => ("Redirect", &[]),
        _ => return None,
    })
}

fn push(out: &mut String, info: Option<TypeInfo>, t: u8, code: u8) {
    let Some((name, codes)) = info else {
        let _ = write!(out, "{t}({code})");
        return;
    };
    out.push_str(name);
    if codes.is_empty() && code == 0 {
        return;
    }
    match codes.iter().find(|(c, _)| *c == code) {
        Some((_, code_name)) => {
            out.push('(');
            out.push_str(code_name);
            out.push(')');
        }
        None => {
            let _ = write!(out, "(Code: {code})");
        }
    }
}

/// Appends gopacket's `ICMPv4TypeCode.String()`.
pub fn push_icmpv4(out: &mut String, t: u8, code: u8) {
    push(out, icmpv4(t), t, code);
}

/// Appends gopacket's `ICMPv6TypeCode.String()`.
pub fn push_icmpv6(out: &mut String, t: u8, code: u8) {
    push(out, icmpv6(t), t, code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(t: u8, c: u8) -> String {
        let mut s = String::new();
        push_icmpv4(&mut s, t, c);
        s
    }

    fn v6(t: u8, c: u8) -> String {
        let mut s = String::new();
        push_icmpv6(&mut s, t, c);
        s
    }

    #[test]
    fn icmpv4_names() {
        assert_eq!(v4(8, 0), "EchoRequest");
        assert_eq!(v4(0, 0), "EchoReply");
        assert_eq!(v4(0, 3), "EchoReply(Code: 3)");
        assert_eq!(v4(3, 3), "DestinationUnreachable(Port)");
        assert_eq!(v4(3, 4), "DestinationUnreachable(FragmentationNeeded)");
        assert_eq!(v4(3, 99), "DestinationUnreachable(Code: 99)");
        assert_eq!(v4(5, 2), "Redirect(TOS+Net)");
        assert_eq!(v4(11, 0), "TimeExceeded(TTLExceeded)");
        assert_eq!(v4(42, 7), "42(7)");
    }

    #[test]
    fn icmpv6_names() {
        assert_eq!(v6(128, 0), "EchoRequest");
        assert_eq!(v6(129, 0), "EchoReply");
        assert_eq!(v6(1, 4), "DestinationUnreachable(PortUnreachable)");
        assert_eq!(v6(3, 0), "TimeExceeded(HopLimitExceeded)");
        assert_eq!(v6(135, 0), "NeighborSolicitation");
        assert_eq!(v6(143, 0), "143(0)");
        assert_eq!(v6(2, 1), "PacketTooBig(Code: 1)");
    }
}
