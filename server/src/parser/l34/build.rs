//! Builders for monitor records with real packet headers, shared by unit tests, the perf
//! reader's tests and benchmarks (Hubble's `testutils/payload.go` plays the same role).
//!
//! Checksums are left at 0: neither the datapath notification nor Hubble checks them.

use std::net::{IpAddr, Ipv6Addr};

use super::layout;

/// Default MACs of built Ethernet frames (Cilium's `0a:58:…` style).
pub const SRC_MAC: [u8; 6] = [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01];
pub const DST_MAC: [u8; 6] = [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x02];

#[derive(Debug, Clone, Copy)]
pub struct Ip4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl Ip4 {
    pub fn new(src: [u8; 4], dst: [u8; 4]) -> Self {
        Ip4 { src, dst }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ip6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ip6 {
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Ip6 { src, dst }
    }
}

/// What follows the IP header.
#[derive(Debug, Clone)]
pub enum L4Spec {
    /// `flags` is TCP header byte 13 (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, …).
    Tcp {
        src: u16,
        dst: u16,
        flags: u8,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    UdpPayload {
        src: u16,
        dst: u16,
        payload: Vec<u8>,
    },
    /// An 8-byte echo-style ICMPv4 header.
    Icmpv4 {
        typ: u8,
        code: u8,
    },
    /// An 8-byte echo-style ICMPv6 header.
    Icmpv6 {
        typ: u8,
        code: u8,
    },
    /// Any protocol number and bytes.
    Raw {
        proto: u8,
        bytes: Vec<u8>,
    },
}

impl L4Spec {
    fn proto_and_bytes(self) -> (u8, Vec<u8>) {
        match self {
            L4Spec::Tcp { src, dst, flags } => {
                let mut b = vec![0u8; 20];
                b[0..2].copy_from_slice(&src.to_be_bytes());
                b[2..4].copy_from_slice(&dst.to_be_bytes());
                b[4..8].copy_from_slice(&1u32.to_be_bytes());
                b[12] = 5 << 4;
                b[13] = flags;
                b[14..16].copy_from_slice(&64240u16.to_be_bytes());
                (6, b)
            }
            L4Spec::Udp { src, dst } => udp(src, dst, &[]),
            L4Spec::UdpPayload { src, dst, payload } => udp(src, dst, &payload),
            L4Spec::Icmpv4 { typ, code } => (1, vec![typ, code, 0, 0, 0, 1, 0, 1]),
            L4Spec::Icmpv6 { typ, code } => (58, vec![typ, code, 0, 0, 0, 1, 0, 1]),
            L4Spec::Raw { proto, bytes } => (proto, bytes),
        }
    }
}

fn udp(src: u16, dst: u16, payload: &[u8]) -> (u8, Vec<u8>) {
    let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut b = Vec::with_capacity(8 + payload.len());
    b.extend_from_slice(&src.to_be_bytes());
    b.extend_from_slice(&dst.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    (17, b)
}

/// An IPv4 packet (20-byte header, TTL 64) carrying `l4`.
pub fn ipv4(ip: Ip4, l4: L4Spec) -> Vec<u8> {
    let (proto, body) = l4.proto_and_bytes();
    let total = u16::try_from(20 + body.len()).unwrap_or(u16::MAX);
    let mut b = Vec::with_capacity(20 + body.len());
    b.extend_from_slice(&[0x45, 0]);
    b.extend_from_slice(&total.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    b.extend_from_slice(&ip.src);
    b.extend_from_slice(&ip.dst);
    b.extend_from_slice(&body);
    b
}

/// An IPv6 packet (no extension headers, hop limit 64) carrying `l4`.
pub fn ipv6(ip: Ip6, l4: L4Spec) -> Vec<u8> {
    let (proto, body) = l4.proto_and_bytes();
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let mut b = Vec::with_capacity(40 + body.len());
    b.extend_from_slice(&[0x60, 0, 0, 0]);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[proto, 64]);
    b.extend_from_slice(&ip.src.octets());
    b.extend_from_slice(&ip.dst.octets());
    b.extend_from_slice(&body);
    b
}

/// An Ethernet frame.
pub fn ether(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(14 + payload.len());
    b.extend_from_slice(&dst);
    b.extend_from_slice(&src);
    b.extend_from_slice(&ethertype.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// Ethernet (default MACs) + IPv4 + `l4`.
pub fn ether_ipv4(ip: Ip4, l4: L4Spec) -> Vec<u8> {
    ether(SRC_MAC, DST_MAC, 0x0800, &ipv4(ip, l4))
}

/// Ethernet (default MACs) + IPv6 + `l4`.
pub fn ether_ipv6(ip: Ip6, l4: L4Spec) -> Vec<u8> {
    ether(SRC_MAC, DST_MAC, 0x86dd, &ipv6(ip, l4))
}

fn notify_header(
    out: &mut Vec<u8>,
    msg_type: u8,
    sub_type: u8,
    source: u16,
    version: u8,
    packet: &[u8],
) {
    let cap = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    out.push(msg_type);
    out.push(sub_type);
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    out.extend_from_slice(&u32::from(cap).to_le_bytes());
    out.extend_from_slice(&cap.to_le_bytes());
    out.push(version);
    out.push(0);
}

/// A TraceNotify of any version; fields a version lacks are not written.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceRecord {
    pub version: u8,
    pub obs_point: u8,
    pub source: u16,
    pub src_label: u32,
    pub dst_label: u32,
    pub dst_id: u16,
    pub reason: u8,
    pub flags: u8,
    pub ifindex: u32,
    pub orig_ip: [u8; 16],
    pub ip_trace_id: u64,
}

impl TraceRecord {
    pub fn record(&self, packet: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(layout::TRACE_V2_LEN + packet.len());
        notify_header(
            &mut b,
            layout::MSG_TRACE,
            self.obs_point,
            self.source,
            self.version,
            packet,
        );
        b.extend_from_slice(&self.src_label.to_le_bytes());
        b.extend_from_slice(&self.dst_label.to_le_bytes());
        b.extend_from_slice(&self.dst_id.to_le_bytes());
        b.push(self.reason);
        b.push(self.flags);
        b.extend_from_slice(&self.ifindex.to_le_bytes());
        if self.version >= 1 {
            b.extend_from_slice(&self.orig_ip);
        }
        if self.version >= 2 {
            b.extend_from_slice(&self.ip_trace_id.to_le_bytes());
        }
        b.extend_from_slice(packet);
        b
    }
}

/// A DropNotify of any version.
#[derive(Debug, Clone, Copy, Default)]
pub struct DropRecord {
    pub version: u8,
    /// The drop reason code.
    pub reason: u8,
    pub source: u16,
    pub src_label: u32,
    pub dst_label: u32,
    pub dst_id: u32,
    pub line: u16,
    pub file: u8,
    pub ext_error: i8,
    pub ifindex: u32,
    pub flags: u8,
    pub ip_trace_id: u64,
}

impl DropRecord {
    pub fn record(&self, packet: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(layout::DROP_V3_LEN + packet.len());
        notify_header(
            &mut b,
            layout::MSG_DROP,
            self.reason,
            self.source,
            self.version,
            packet,
        );
        b.extend_from_slice(&self.src_label.to_le_bytes());
        b.extend_from_slice(&self.dst_label.to_le_bytes());
        b.extend_from_slice(&self.dst_id.to_le_bytes());
        b.extend_from_slice(&self.line.to_le_bytes());
        b.push(self.file);
        b.extend_from_slice(&self.ext_error.to_le_bytes());
        b.extend_from_slice(&self.ifindex.to_le_bytes());
        if self.version >= 2 {
            b.extend_from_slice(&[self.flags, 0, 0, 0]);
        }
        if self.version >= 3 {
            b.extend_from_slice(&self.ip_trace_id.to_le_bytes());
        }
        b.extend_from_slice(packet);
        b
    }
}

/// A PolicyVerdictNotify, current (40-byte) or old (32-byte) layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyVerdictRecord {
    pub old_layout: bool,
    pub sub_type: u8,
    pub source: u16,
    pub remote_label: u32,
    pub verdict: i32,
    pub dst_port: u16,
    pub proto: u8,
    /// Direction (1 ingress, 2 egress) | 0x04 IPv6 | match type << 3 | 0x40 audited | 0x80 L3.
    pub flags: u8,
    pub auth_type: u8,
    pub cookie: u32,
}

impl PolicyVerdictRecord {
    pub fn record(&self, packet: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(layout::POLICY_VERDICT_LEN + packet.len());
        notify_header(
            &mut b,
            layout::MSG_POLICY_VERDICT,
            self.sub_type,
            self.source,
            1,
            packet,
        );
        b.extend_from_slice(&self.remote_label.to_le_bytes());
        b.extend_from_slice(&self.verdict.to_le_bytes());
        b.extend_from_slice(&self.dst_port.to_le_bytes());
        b.push(self.proto);
        b.push(self.flags);
        b.push(self.auth_type);
        b.extend_from_slice(&[0, 0, 0]);
        if !self.old_layout {
            b.extend_from_slice(&self.cookie.to_le_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
        }
        b.extend_from_slice(packet);
        b
    }
}

/// A DebugCapture, current (24-byte) or old (20-byte) layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureRecord {
    pub old_layout: bool,
    /// The capture point.
    pub point: u8,
    pub source: u16,
    pub arg1: u32,
    pub arg2: u32,
}

impl CaptureRecord {
    pub fn record(&self, packet: &[u8]) -> Vec<u8> {
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let mut b = Vec::with_capacity(layout::DEBUG_CAPTURE_LEN + packet.len());
        b.push(layout::MSG_CAPTURE);
        b.push(self.point);
        b.extend_from_slice(&self.source.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&self.arg1.to_le_bytes());
        if !self.old_layout {
            b.extend_from_slice(&self.arg2.to_le_bytes());
        }
        b.extend_from_slice(packet);
        b
    }
}

/// A TraceSockNotify.
#[derive(Debug, Clone, Copy)]
pub struct TraceSockRecord {
    pub xlate_point: u8,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub sock_cookie: u64,
    pub cgroup_id: u64,
    /// 1 TCP, 2 UDP.
    pub l4_proto: u8,
}

impl TraceSockRecord {
    pub fn record(&self) -> Vec<u8> {
        let mut ip = [0u8; 16];
        let flags = match self.dst_ip {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                0
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                1
            }
        };
        let mut b = Vec::with_capacity(layout::TRACE_SOCK_LEN);
        b.push(layout::MSG_TRACE_SOCK);
        b.push(self.xlate_point);
        b.extend_from_slice(&ip);
        b.extend_from_slice(&self.dst_port.to_le_bytes());
        b.extend_from_slice(&self.sock_cookie.to_le_bytes());
        b.extend_from_slice(&self.cgroup_id.to_le_bytes());
        b.push(self.l4_proto);
        b.push(flags);
        b
    }
}

// DNS messages in wire format, as resolvers and servers send them (names compressed with
// pointers, an EDNS0 OPT record in the additional section).

/// Concatenates hex strings (spaces ignored) into bytes.
pub fn hex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat().split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .filter_map(|i| s.get(i..i + 2))
        .map(|pair| u8::from_str_radix(pair, 16).unwrap_or(0))
        .collect()
}

/// `www.Example.com. A`, recursion desired, with an EDNS0 OPT record (glibc's stub resolver
/// sends this).
pub fn query_www_a() -> Vec<u8> {
    hex(&[
        "ab12 0120 0001 0000 0000 0001",
        "03 777777 07 4578616d706c65 03 636f6d 00 0001 0001",
        "00 0029 04d0 00000000 0000",
    ])
}

/// The answer: `www.example.com. CNAME example.com.` (TTL 3600, target compressed into the
/// question's name), then `example.com. A 93.184.216.34` and `A 93.184.216.35` (TTL 300, 60).
pub fn answer_www_cname_a() -> Vec<u8> {
    hex(&[
        "ab12 8180 0001 0003 0000 0000",
        "03 777777 07 6578616d706c65 03 636f6d 00 0001 0001",
        // answer 1: name -> offset 12 (www.example.com), CNAME, rdata -> offset 16
        "c00c 0005 0001 00000e10 0002 c010",
        // answers 2 and 3: name -> offset 16 (example.com), A
        "c010 0001 0001 0000012c 0004 5db8d822",
        "c010 0001 0001 0000003c 0004 5db8d823",
    ])
}
