//! Address text as Hubble writes it: MACs as lowercase `aa:bb:cc:dd:ee:ff`, IPv4 dotted,
//! IPv6 in RFC 5952 form (Go's `netip.Addr.String()`, which Rust's `Display` matches). IPv4
//! and MACs are formatted by hand: they are on every flow, and `fmt` is slow for them.

use std::fmt::Write as _;
use std::net::IpAddr;

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn mac(m: [u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in m.into_iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

pub fn ip(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_u8(&mut s, octet);
            }
            s
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(39);
            let _ = write!(s, "{v6}");
            s
        }
    }
}

fn push_u8(s: &mut String, n: u8) {
    if n >= 100 {
        s.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        s.push(char::from(b'0' + (n / 10) % 10));
    }
    s.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            mac([0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x13]),
            "0a:58:0a:f4:01:13"
        );
        assert_eq!(mac([0xff; 6]), "ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn ips_match_std_and_go() {
        for s in ["0.0.0.0", "10.244.1.19", "255.255.255.255", "1.20.100.9"] {
            assert_eq!(ip(s.parse().expect("ip")), s);
        }
        // Go's netip: RFC 5952, first longest zero run, v4-mapped as ::ffff:a.b.c.d.
        for s in [
            "::",
            "::1",
            "fd00::1",
            "2001:db8::1:0:0:1",
            "2001:db8:0:1:1:1:1:1",
            "::ffff:10.0.0.1",
            "fe80::a:b",
        ] {
            assert_eq!(ip(s.parse().expect("ip")), s);
        }
    }
}
