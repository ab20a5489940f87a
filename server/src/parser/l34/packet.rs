//! The captured packet after a monitor header: Ethernet / IPv4 / IPv6 / TCP / UDP / SCTP /
//! ICMPv4 / ICMPv6 / VRRP / IGMP, and VXLAN / Geneve overlays, decoded the way Hubble's
//! gopacket `DecodingLayerParser` does it (same decoders, same length and option checks, same
//! next-layer choices), without allocating.
//!
//! Layers are decoded in order until the payload is empty, the next layer is one Hubble has no
//! decoder for (ARP, IPv6 extension headers, fragments, …), or a layer fails its checks. A
//! failing layer ends the walk and is recorded in [`Packet::stopped`]; the layers before it
//! still describe the flow (partial decode). Hubble instead drops the whole event when
//! gopacket reports an error; keeping the decoded layers is deliberate (a record cut inside
//! its TCP options still says who talked to whom).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::L34Error;
use super::layout::PacketFlags;

/// The layer types Hubble's parser decodes. `name` is gopacket's `LayerType.String()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ethernet,
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Sctp,
    Icmpv4,
    Icmpv6,
    Vrrp,
    Igmp,
    Vxlan,
    Geneve,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ethernet => "Ethernet",
            Kind::Ipv4 => "IPv4",
            Kind::Ipv6 => "IPv6",
            Kind::Tcp => "TCP",
            Kind::Udp => "UDP",
            Kind::Sctp => "SCTP",
            Kind::Icmpv4 => "ICMPv4",
            Kind::Icmpv6 => "ICMPv6",
            Kind::Vrrp => "VRRP",
            Kind::Igmp => "IGMP",
            Kind::Vxlan => "VXLAN",
            Kind::Geneve => "Geneve",
        }
    }
}

/// TCP flag bits as Hubble's summary table indexes them (SYN first, NS last).
pub mod tcp_flags {
    pub const SYN: u16 = 1 << 0;
    pub const ACK: u16 = 1 << 1;
    pub const RST: u16 = 1 << 2;
    pub const FIN: u16 = 1 << 3;
    pub const PSH: u16 = 1 << 4;
    pub const URG: u16 = 1 << 5;
    pub const ECE: u16 = 1 << 6;
    pub const CWR: u16 = 1 << 7;
    pub const NS: u16 = 1 << 8;
}

/// Ethernet source and destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetLayer {
    pub src: [u8; 6],
    pub dst: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLayer {
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// The transport (or ICMP, VRRP, IGMP) layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// `flags` uses the [`tcp_flags`] bits.
    Tcp {
        src: u16,
        dst: u16,
        flags: u16,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Sctp {
        src: u16,
        dst: u16,
        /// The type of the packet's first chunk (0, DATA, when it has none).
        chunk_type: u8,
    },
    Icmpv4 {
        typ: u8,
        code: u8,
    },
    Icmpv6 {
        typ: u8,
        code: u8,
    },
    Vrrp {
        typ: u8,
        vrid: u8,
        priority: u8,
    },
    Igmp {
        typ: u8,
        group: Ipv4Addr,
    },
}

/// Hubble's `SCTPChunkType` name of an SCTP chunk type, for the types it reports: INIT,
/// INIT_ACK, SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE and ABORT (others are UNSUPPORTED).
pub fn sctp_chunk_name(chunk_type: u8) -> Option<&'static str> {
    Some(match chunk_type {
        1 => "INIT",
        2 => "INIT_ACK",
        6 => "ABORT",
        7 => "SHUTDOWN",
        8 => "SHUTDOWN_ACK",
        14 => "SHUTDOWN_COMPLETE",
        _ => return None,
    })
}

impl L4 {
    /// `(source port, destination port)`; 0 for port-less protocols.
    pub fn ports(&self) -> (u16, u16) {
        match *self {
            L4::Tcp { src, dst, .. } | L4::Udp { src, dst } | L4::Sctp { src, dst, .. } => {
                (src, dst)
            }
            _ => (0, 0),
        }
    }
}

/// What one pass of the layer decoder found; later layers of a kind replace earlier ones, as
/// gopacket's reused decoders do (an IP-in-IP packet shows the inner addresses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layers {
    pub ethernet: Option<EthernetLayer>,
    pub ip: Option<IpLayer>,
    pub l4: Option<L4>,
    /// The last decoded layer: it decides the flow's Summary.
    pub last: Option<Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelProtocol {
    Vxlan,
    Geneve,
}

/// The outer headers of an encapsulated packet whose inner packet was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub protocol: TunnelProtocol,
    pub vni: u32,
    pub ip: Option<IpLayer>,
    pub l4: Option<L4>,
}

/// A decoded packet: the (inner, when a tunnel was decoded) layers and the tunnel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Packet {
    pub layers: Layers,
    pub tunnel: Option<Tunnel>,
    /// Where the payload of the (inner) TCP or UDP layer starts, at the same base as the
    /// offsets (the record, when `decode` was given the packet's offset in it).
    pub l4_payload_at: Option<usize>,
    /// Why decoding stopped early, if a layer failed its checks (offsets are relative to the
    /// start of the record when `decode` was given the packet's offset in it).
    pub stopped: Option<L34Error>,
}

/// Decodes `data` (the packet bytes, found at `offset` in the record) as Hubble does: from
/// Ethernet, or from IPv4/IPv6 for an L3 device; then the VXLAN/Geneve payload of the outer UDP
/// layer when the header says the packet is encapsulated.
pub fn decode(data: &[u8], offset: usize, flags: PacketFlags) -> Packet {
    let first = match (flags.l3_device, flags.ipv6) {
        (false, _) => Kind::Ethernet,
        (true, true) => Kind::Ipv6,
        (true, false) => Kind::Ipv4,
    };
    let outer = walk(data, offset, first);
    let mut packet = Packet {
        layers: outer.layers,
        tunnel: None,
        l4_payload_at: outer.l4_payload_at,
        stopped: outer.stopped,
    };
    let overlay = match (flags.vxlan, flags.geneve) {
        (true, _) => Some((Kind::Vxlan, TunnelProtocol::Vxlan)),
        (false, true) => Some((Kind::Geneve, TunnelProtocol::Geneve)),
        (false, false) => None,
    };
    if let (Some((kind, protocol)), Some((udp_offset, udp_payload))) = (overlay, outer.udp_payload)
    {
        let inner = walk(udp_payload, udp_offset, kind);
        if let Some(vni) = inner.vni {
            packet.tunnel = Some(Tunnel {
                protocol,
                vni,
                ip: packet.layers.ip,
                l4: packet.layers.l4,
            });
            // The inner packet replaces the outer one, even when nothing inside decoded, so
            // the flow never shows the underlay addresses as the overlay's.
            packet.layers = inner.layers;
            packet.l4_payload_at = inner.l4_payload_at;
        }
        if packet.stopped.is_none() {
            packet.stopped = inner.stopped;
        }
    }
    packet
}

#[derive(Default)]
struct Walk<'a> {
    layers: Layers,
    /// The payload of the last UDP layer and its offset, for the overlay decoder.
    udp_payload: Option<(usize, &'a [u8])>,
    /// The VNI of a VXLAN/Geneve first layer.
    vni: Option<u32>,
    /// Where the payload of the last TCP or UDP layer starts.
    l4_payload_at: Option<usize>,
    stopped: Option<L34Error>,
}

fn walk(mut data: &[u8], mut offset: usize, first: Kind) -> Walk<'_> {
    let mut w = Walk::default();
    let mut next = Some(first);
    while let Some(kind) = next {
        if data.is_empty() {
            break;
        }
        let step = match decode_layer(kind, data, offset) {
            Ok(step) => step,
            Err(e) => {
                w.stopped = Some(e);
                break;
            }
        };
        match step.info {
            Info::Ethernet(e) => w.layers.ethernet = Some(e),
            Info::Ip(ip) => w.layers.ip = Some(ip),
            Info::L4(l4) => w.layers.l4 = Some(l4),
            Info::Overlay(vni) => w.vni = Some(vni),
        }
        if kind == Kind::Udp {
            w.udp_payload = Some((offset + step.payload_at, step.payload));
        }
        if matches!(kind, Kind::Udp | Kind::Tcp) {
            w.l4_payload_at = Some(offset + step.payload_at);
        }
        if !matches!(kind, Kind::Vxlan | Kind::Geneve) {
            w.layers.last = Some(kind);
        }
        next = step.next;
        offset += step.payload_at;
        data = step.payload;
    }
    w
}

enum Info {
    Ethernet(EthernetLayer),
    Ip(IpLayer),
    L4(L4),
    Overlay(u32),
}

struct Step<'a> {
    info: Info,
    /// Where `payload` starts within the layer's data.
    payload_at: usize,
    payload: &'a [u8],
    next: Option<Kind>,
}

fn decode_layer(kind: Kind, data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    match kind {
        Kind::Ethernet => ethernet(data, offset),
        Kind::Ipv4 => ipv4(data, offset),
        Kind::Ipv6 => ipv6(data, offset),
        Kind::Tcp => tcp(data, offset),
        Kind::Udp => udp(data, offset),
        Kind::Sctp => sctp(data, offset),
        Kind::Icmpv4 => icmpv4(data, offset),
        Kind::Icmpv6 => icmpv6(data, offset),
        Kind::Vrrp => vrrp(data, offset),
        Kind::Igmp => igmp(data, offset),
        Kind::Vxlan => vxlan(data, offset),
        Kind::Geneve => geneve(data, offset),
    }
}

fn truncated(layer: &'static str, offset: usize, need: usize, have: usize) -> L34Error {
    L34Error::Truncated {
        layer,
        offset,
        need,
        have,
    }
}

fn malformed(layer: &'static str, offset: usize, what: &'static str) -> L34Error {
    L34Error::Malformed {
        layer,
        offset,
        what,
    }
}

/// The fixed part of a layer, or a truncation error naming it.
fn fixed<'a, const N: usize>(
    data: &'a [u8],
    layer: &'static str,
    offset: usize,
) -> Result<&'a [u8; N], L34Error> {
    data.first_chunk::<N>()
        .ok_or_else(|| truncated(layer, offset, N, data.len()))
}

fn be16(a: u8, b: u8) -> u16 {
    u16::from_be_bytes([a, b])
}

/// `data[from..to]`, clamped so it can never panic.
fn sub(data: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(data.len());
    data.get(from.min(to)..to).unwrap_or_default()
}

/// `EthernetType.LayerType()` for the types Hubble decodes.
fn ethertype_kind(t: u16) -> Option<Kind> {
    match t {
        0x0800 | 0xffff => Some(Kind::Ipv4),
        0x86dd => Some(Kind::Ipv6),
        // Transparent Ethernet bridging: Ethernet again.
        0x6558 => Some(Kind::Ethernet),
        _ => None,
    }
}

/// `IPProtocol.LayerType()` for the protocols Hubble decodes.
fn protocol_kind(p: u8) -> Option<Kind> {
    match p {
        1 => Some(Kind::Icmpv4),
        2 => Some(Kind::Igmp),
        // IPv4-in-IPv4 and IPIP.
        4 | 94 => Some(Kind::Ipv4),
        6 => Some(Kind::Tcp),
        17 => Some(Kind::Udp),
        41 => Some(Kind::Ipv6),
        58 => Some(Kind::Icmpv6),
        112 => Some(Kind::Vrrp),
        132 => Some(Kind::Sctp),
        _ => None,
    }
}

fn ethernet(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<14>(data, "Ethernet", offset)?;
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&h[0..6]);
    src.copy_from_slice(&h[6..12]);
    let ethertype = be16(h[12], h[13]);
    let mut payload = sub(data, 14, data.len());
    let next = if ethertype < 0x0600 {
        // 802.3 length field: an LLC frame, which Hubble does not decode further.
        payload = sub(payload, 0, usize::from(ethertype));
        None
    } else {
        ethertype_kind(ethertype)
    };
    Ok(Step {
        info: Info::Ethernet(EthernetLayer { src, dst }),
        payload_at: 14,
        payload,
        next,
    })
}

fn ipv4(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "IPv4";
    let h = fixed::<20>(data, LAYER, offset)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let mut total = usize::from(be16(h[2], h[3]));
    if total == 0 {
        // TSO: the length is that of the captured data (as a u16, like gopacket).
        total = data.len() & 0xffff;
    }
    if total < 20 {
        return Err(malformed(LAYER, offset, "total length below 20"));
    }
    if ihl < 20 {
        return Err(malformed(LAYER, offset, "header length below 20"));
    }
    if ihl > total {
        return Err(malformed(LAYER, offset, "header length above total length"));
    }
    if ihl > data.len() {
        return Err(truncated(LAYER, offset, ihl, data.len()));
    }
    // Options: End (0) stops, NOP (1) is one byte, others are TLVs longer than 2 bytes.
    let mut opts = sub(data, 20, ihl);
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let Some(&len) = rest.first() else {
                    return Err(truncated(LAYER, offset + ihl - opts.len(), 2, opts.len()));
                };
                let len = usize::from(len);
                if opts.len() < len {
                    return Err(truncated(LAYER, offset + ihl - opts.len(), len, opts.len()));
                }
                if len <= 2 {
                    return Err(malformed(
                        LAYER,
                        offset + ihl - opts.len(),
                        "option length 2 or less",
                    ));
                }
                opts = sub(opts, len, opts.len());
            }
        }
    }
    let flags_frag = be16(h[6], h[7]);
    let more_fragments = flags_frag & 0x2000 != 0;
    let frag_offset = flags_frag & 0x1fff;
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    // Bytes past the total length are link padding.
    let payload = sub(data, ihl, total);
    let next = if more_fragments || frag_offset != 0 {
        None
    } else {
        protocol_kind(h[9])
    };
    Ok(Step {
        info: Info::Ip(IpLayer {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
        }),
        payload_at: ihl,
        payload,
        next,
    })
}

fn ipv6(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "IPv6";
    let h = fixed::<40>(data, LAYER, offset)?;
    let length = usize::from(be16(h[4], h[5]));
    let mut next_header = h[6];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    let mut payload = sub(data, 40, data.len());
    let mut payload_at = 40;
    // A hop-by-hop header is part of gopacket's IPv6 layer; any other extension header is a
    // layer Hubble does not decode.
    if next_header == 0 {
        let hbh = hop_by_hop(payload, offset + 40)?;
        next_header = hbh.next_header;
        match (hbh.jumbo, length) {
            (Some(jumbo), 0) => {
                // gopacket keeps the hop-by-hop header in a jumbogram's payload.
                let end = usize::try_from(jumbo).unwrap_or(usize::MAX);
                return Ok(Step {
                    info: ip6_info(src, dst),
                    payload_at,
                    payload: sub(payload, 0, end),
                    next: protocol_kind(next_header),
                });
            }
            (Some(_), _) => {
                return Err(malformed(
                    LAYER,
                    offset,
                    "jumbo option with a non-zero length",
                ));
            }
            (None, 0) => {
                return Err(malformed(
                    LAYER,
                    offset,
                    "zero length without a jumbo option",
                ));
            }
            (None, _) => {
                payload = sub(payload, hbh.len, payload.len());
                payload_at += hbh.len;
            }
        }
    }
    if length == 0 {
        return Err(malformed(LAYER, offset, "zero payload length"));
    }
    Ok(Step {
        info: ip6_info(src, dst),
        payload_at,
        payload: sub(payload, 0, length),
        next: protocol_kind(next_header),
    })
}

fn ip6_info(src: [u8; 16], dst: [u8; 16]) -> Info {
    Info::Ip(IpLayer {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
    })
}

struct HopByHop {
    next_header: u8,
    len: usize,
    jumbo: Option<u32>,
}

fn hop_by_hop(data: &[u8], offset: usize) -> Result<HopByHop, L34Error> {
    const LAYER: &str = "IPv6HopByHop";
    let h = fixed::<2>(data, LAYER, offset)?;
    let len = usize::from(h[1]) * 8 + 8;
    if data.len() < len {
        return Err(truncated(LAYER, offset, len, data.len()));
    }
    let mut jumbo = None;
    let mut at = 2;
    while at < len {
        // Options are read from the rest of the payload, not just the header (as gopacket).
        let opt = sub(data, at, data.len());
        let [kind, olen, ..] = *opt else {
            return Err(truncated(LAYER, offset + at, 2, opt.len()));
        };
        if kind == 0 {
            at += 1;
            continue;
        }
        let actual = usize::from(olen) + 2;
        if opt.len() < actual {
            return Err(truncated(LAYER, offset + at, actual, opt.len()));
        }
        if kind == 0xc2 && jumbo.is_none() {
            let [a, b, c, d] = *sub(opt, 2, actual) else {
                return Err(malformed(LAYER, offset + at, "jumbo option not 4 bytes"));
            };
            let value = u32::from_be_bytes([a, b, c, d]);
            if value <= 65535 {
                return Err(malformed(LAYER, offset + at, "jumbo length below 65536"));
            }
            jumbo = Some(value);
        }
        at += actual;
    }
    Ok(HopByHop {
        next_header: h[0],
        len,
        jumbo,
    })
}

fn tcp(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "TCP";
    let h = fixed::<20>(data, LAYER, offset)?;
    let data_offset = usize::from(h[12] >> 4) * 4;
    if data_offset < 20 {
        return Err(malformed(LAYER, offset, "data offset below 5"));
    }
    if data_offset > data.len() {
        return Err(truncated(LAYER, offset, data_offset, data.len()));
    }
    let mut opts = sub(data, 20, data_offset);
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let at = offset + data_offset - opts.len();
                let Some(&len) = rest.first() else {
                    return Err(truncated(LAYER, at, 2, opts.len()));
                };
                let len = usize::from(len);
                if len < 2 {
                    return Err(malformed(LAYER, at, "option length below 2"));
                }
                if len > opts.len() {
                    return Err(truncated(LAYER, at, len, opts.len()));
                }
                opts = sub(opts, len, opts.len());
            }
        }
    }
    let f = h[13];
    let bits = [
        (0x02, tcp_flags::SYN),
        (0x10, tcp_flags::ACK),
        (0x04, tcp_flags::RST),
        (0x01, tcp_flags::FIN),
        (0x08, tcp_flags::PSH),
        (0x20, tcp_flags::URG),
        (0x40, tcp_flags::ECE),
        (0x80, tcp_flags::CWR),
    ];
    let mut flags = bits
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .fold(0, |acc, (_, flag)| acc | flag);
    if h[12] & 0x01 != 0 {
        flags |= tcp_flags::NS;
    }
    Ok(Step {
        info: Info::L4(L4::Tcp {
            src: be16(h[0], h[1]),
            dst: be16(h[2], h[3]),
            flags,
        }),
        payload_at: data_offset,
        payload: sub(data, data_offset, data.len()),
        // Application protocols are not decoded.
        next: None,
    })
}

fn udp(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "UDP";
    let h = fixed::<8>(data, LAYER, offset)?;
    let length = usize::from(be16(h[4], h[5]));
    let payload = match length {
        0 => sub(data, 8, data.len()),
        1..=7 => return Err(malformed(LAYER, offset, "length below 8")),
        _ => sub(data, 8, length),
    };
    Ok(Step {
        info: Info::L4(L4::Udp {
            src: be16(h[0], h[1]),
            dst: be16(h[2], h[3]),
        }),
        payload_at: 8,
        payload,
        next: None,
    })
}

fn sctp(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<12>(data, "SCTP", offset)?;
    Ok(Step {
        info: Info::L4(L4::Sctp {
            src: be16(h[0], h[1]),
            dst: be16(h[2], h[3]),
            chunk_type: data.get(12).copied().unwrap_or(0),
        }),
        payload_at: 12,
        payload: sub(data, 12, data.len()),
        next: None,
    })
}

fn icmpv4(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<8>(data, "ICMPv4", offset)?;
    Ok(Step {
        info: Info::L4(L4::Icmpv4 {
            typ: h[0],
            code: h[1],
        }),
        payload_at: 8,
        payload: sub(data, 8, data.len()),
        next: None,
    })
}

fn icmpv6(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<4>(data, "ICMPv6", offset)?;
    Ok(Step {
        info: Info::L4(L4::Icmpv6 {
            typ: h[0],
            code: h[1],
        }),
        payload_at: 4,
        payload: sub(data, 4, data.len()),
        next: None,
    })
}

fn vrrp(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "VRRP";
    // Only VRRPv2 advertisements (type 1) decode; RFC 3768 says to discard the rest.
    if data.first().is_some_and(|b| b & 0x0f != 1) {
        return Err(malformed(LAYER, offset, "type is not advertisement"));
    }
    let h = fixed::<8>(data, LAYER, offset)?;
    let count = usize::from(h[3]);
    if count < 1 {
        return Err(malformed(LAYER, offset, "no IP addresses"));
    }
    let need = 8 + 4 * count;
    if data.len() < need {
        return Err(truncated(LAYER, offset, need, data.len()));
    }
    Ok(Step {
        info: Info::L4(L4::Vrrp {
            typ: h[0] & 0x0f,
            vrid: h[1],
            priority: h[2],
        }),
        payload_at: data.len(),
        payload: &[],
        next: None,
    })
}

fn igmp(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<8>(data, "IGMP", offset)?;
    Ok(Step {
        info: Info::L4(L4::Igmp {
            typ: h[0],
            group: Ipv4Addr::new(h[4], h[5], h[6], h[7]),
        }),
        payload_at: data.len(),
        payload: &[],
        next: None,
    })
}

fn vxlan(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    let h = fixed::<8>(data, "VXLAN", offset)?;
    Ok(Step {
        info: Info::Overlay(u32::from_be_bytes([0, h[4], h[5], h[6]])),
        payload_at: 8,
        payload: sub(data, 8, data.len()),
        next: Some(Kind::Ethernet),
    })
}

fn geneve(data: &[u8], offset: usize) -> Result<Step<'_>, L34Error> {
    const LAYER: &str = "Geneve";
    let h = fixed::<8>(data, LAYER, offset)?;
    let options_len = usize::from(h[0] & 0x3f) * 4;
    let protocol = be16(h[2], h[3]);
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    if data.len() < 8 + options_len {
        return Err(truncated(LAYER, offset, 8 + options_len, data.len()));
    }
    let mut at = 8;
    let mut remaining = options_len;
    while remaining > 0 {
        let opt = sub(data, at, data.len());
        let [_, _, _, flags_len, ..] = *opt else {
            return Err(truncated(LAYER, offset + at, 4, opt.len()));
        };
        let len = usize::from(flags_len & 0x0f) * 4 + 4;
        if opt.len() < len {
            return Err(truncated(LAYER, offset + at, len, opt.len()));
        }
        remaining = remaining.saturating_sub(len);
        at += len;
    }
    Ok(Step {
        info: Info::Overlay(vni),
        payload_at: at,
        payload: sub(data, at, data.len()),
        next: ethertype_kind(protocol),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::l34::build::{self, Ip4, Ip6, L4Spec};

    fn l2() -> PacketFlags {
        PacketFlags::default()
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let pkt = build::ether_ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Tcp {
                src: 1234,
                dst: 80,
                flags: 0x12,
            },
        );
        let p = decode(&pkt, 0, l2());
        assert_eq!(p.stopped, None);
        assert_eq!(p.layers.last, Some(Kind::Tcp));
        assert_eq!(
            p.layers.l4,
            Some(L4::Tcp {
                src: 1234,
                dst: 80,
                flags: tcp_flags::SYN | tcp_flags::ACK
            })
        );
        assert_eq!(
            p.layers.ip.map(|ip| ip.src),
            Some("10.0.0.1".parse().expect("ip"))
        );
        assert!(p.layers.ethernet.is_some());
    }

    #[test]
    fn ipv4_padding_is_not_payload() {
        // A 40-byte IP packet in a 60-byte frame: the 6 bytes of padding must not become a
        // TCP payload (and here would not change anything), nor break the decode.
        let mut pkt = build::ether_ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Tcp {
                src: 1,
                dst: 2,
                flags: 0x10,
            },
        );
        pkt.extend_from_slice(&[0xff; 6]);
        let p = decode(&pkt, 0, l2());
        assert_eq!(p.stopped, None);
        assert_eq!(p.layers.last, Some(Kind::Tcp));
    }

    #[test]
    fn fragments_stop_at_ip() {
        let mut pkt = build::ether_ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Udp { src: 1, dst: 2 },
        );
        pkt[14 + 6] = 0x20; // more fragments
        let p = decode(&pkt, 0, l2());
        assert_eq!(p.layers.last, Some(Kind::Ipv4));
        assert_eq!(p.layers.l4, None);
        assert_eq!(p.stopped, None);
    }

    #[test]
    fn truncated_tcp_keeps_ip() {
        let pkt = build::ether_ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Tcp {
                src: 1,
                dst: 2,
                flags: 0x02,
            },
        );
        let p = decode(&pkt[..14 + 20 + 10], 100, l2());
        assert_eq!(p.layers.last, Some(Kind::Ipv4));
        assert_eq!(p.layers.l4, None);
        assert!(matches!(
            p.stopped,
            Some(L34Error::Truncated {
                layer: "TCP",
                offset: 134,
                need: 20,
                have: 10
            })
        ));
    }

    #[test]
    fn arp_stops_at_ethernet() {
        let mut pkt = vec![0u8; 42];
        pkt[12] = 0x08;
        pkt[13] = 0x06;
        let p = decode(&pkt, 0, l2());
        assert_eq!(p.layers.last, Some(Kind::Ethernet));
        assert_eq!(p.layers.ip, None);
    }

    #[test]
    fn l3_device_ipv6_udp() {
        let pkt = build::ipv6(
            Ip6::new(
                "fd00::1".parse().expect("ip"),
                "fd00::2".parse().expect("ip"),
            ),
            L4Spec::Udp { src: 53, dst: 5353 },
        );
        let flags = PacketFlags {
            l3_device: true,
            ipv6: true,
            ..Default::default()
        };
        let p = decode(&pkt, 0, flags);
        assert_eq!(p.layers.ethernet, None);
        assert_eq!(p.layers.l4, Some(L4::Udp { src: 53, dst: 5353 }));
        assert_eq!(
            p.layers.ip.map(|ip| ip.dst),
            Some("fd00::2".parse().expect("ip"))
        );
    }

    #[test]
    fn ipv6_hop_by_hop_then_icmpv6() {
        let mut pkt = build::ipv6(
            Ip6::new(
                "fd00::1".parse().expect("ip"),
                "ff02::1".parse().expect("ip"),
            ),
            L4Spec::Icmpv6 { typ: 143, code: 0 },
        );
        // Insert an 8-byte hop-by-hop header (router alert + padding).
        let nh = pkt[6];
        pkt[6] = 0;
        let len = u16::from_be_bytes([pkt[4], pkt[5]]) + 8;
        pkt[4..6].copy_from_slice(&len.to_be_bytes());
        let hbh = [nh, 0, 5, 2, 0, 0, 1, 0];
        pkt.splice(40..40, hbh);
        let flags = PacketFlags {
            l3_device: true,
            ipv6: true,
            ..Default::default()
        };
        let p = decode(&pkt, 0, flags);
        assert_eq!(p.stopped, None);
        assert_eq!(p.layers.l4, Some(L4::Icmpv6 { typ: 143, code: 0 }));
    }

    #[test]
    fn ipv6_routing_header_stops_at_ipv6() {
        let mut pkt = build::ipv6(
            Ip6::new(
                "fd00::1".parse().expect("ip"),
                "fd00::2".parse().expect("ip"),
            ),
            L4Spec::Udp { src: 1, dst: 2 },
        );
        pkt[6] = 43;
        let flags = PacketFlags {
            l3_device: true,
            ipv6: true,
            ..Default::default()
        };
        let p = decode(&pkt, 0, flags);
        assert_eq!(p.layers.last, Some(Kind::Ipv6));
        assert_eq!(p.layers.l4, None);
    }

    #[test]
    fn ip_in_ip_shows_the_inner_header() {
        let inner = build::ipv4(
            Ip4::new([192, 168, 0, 1], [192, 168, 0, 2]),
            L4Spec::Icmpv4 { typ: 8, code: 0 },
        );
        let outer = build::ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Raw {
                proto: 4,
                bytes: inner,
            },
        );
        let flags = PacketFlags {
            l3_device: true,
            ..Default::default()
        };
        let p = decode(&outer, 0, flags);
        assert_eq!(
            p.layers.ip.map(|ip| ip.src),
            Some("192.168.0.1".parse().expect("ip"))
        );
        assert_eq!(p.layers.l4, Some(L4::Icmpv4 { typ: 8, code: 0 }));
    }

    #[test]
    fn tcp_bad_option_fails_the_layer() {
        let mut pkt = build::ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Tcp {
                src: 1,
                dst: 2,
                flags: 0x02,
            },
        );
        // Data offset 6 with a 1-length option.
        let tcp = 20;
        pkt[tcp + 12] = 0x60;
        pkt.splice(tcp + 20..tcp + 20, [2, 1, 0, 0]);
        let total = u16::try_from(pkt.len()).expect("len");
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        let flags = PacketFlags {
            l3_device: true,
            ..Default::default()
        };
        let p = decode(&pkt, 0, flags);
        assert_eq!(p.layers.l4, None);
        assert!(matches!(
            p.stopped,
            Some(L34Error::Malformed { layer: "TCP", .. })
        ));
    }

    #[test]
    fn vrrp_and_igmp() {
        let flags = PacketFlags {
            l3_device: true,
            ..Default::default()
        };
        let vrrp = build::ipv4(
            Ip4::new([10, 0, 0, 1], [224, 0, 0, 18]),
            L4Spec::Raw {
                proto: 112,
                bytes: vec![0x21, 7, 100, 1, 0, 1, 0, 0, 10, 0, 0, 254],
            },
        );
        let p = decode(&vrrp, 0, flags);
        assert_eq!(
            p.layers.l4,
            Some(L4::Vrrp {
                typ: 1,
                vrid: 7,
                priority: 100
            })
        );
        let igmp = build::ipv4(
            Ip4::new([10, 0, 0, 1], [224, 0, 0, 22]),
            L4Spec::Raw {
                proto: 2,
                bytes: vec![0x16, 0, 0, 0, 239, 1, 2, 3],
            },
        );
        let p = decode(&igmp, 0, flags);
        assert_eq!(
            p.layers.l4,
            Some(L4::Igmp {
                typ: 0x16,
                group: Ipv4Addr::new(239, 1, 2, 3)
            })
        );
    }

    #[test]
    fn vxlan_overlay_decodes_the_inner_packet() {
        let inner = build::ether_ipv4(
            Ip4::new([10, 244, 1, 5], [10, 244, 2, 7]),
            L4Spec::Tcp {
                src: 40000,
                dst: 8080,
                flags: 0x02,
            },
        );
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vx.extend_from_slice(&inner);
        let outer = build::ether_ipv4(
            Ip4::new([192, 168, 1, 1], [192, 168, 1, 2]),
            L4Spec::UdpPayload {
                src: 50000,
                dst: 8472,
                payload: vx,
            },
        );
        let flags = PacketFlags {
            vxlan: true,
            ..Default::default()
        };
        let p = decode(&outer, 0, flags);
        let t = p.tunnel.expect("tunnel");
        assert_eq!(t.protocol, TunnelProtocol::Vxlan);
        assert_eq!(t.vni, 42);
        assert_eq!(
            t.ip.map(|ip| ip.src),
            Some("192.168.1.1".parse().expect("ip"))
        );
        assert_eq!(
            t.l4,
            Some(L4::Udp {
                src: 50000,
                dst: 8472
            })
        );
        assert_eq!(
            p.layers.ip.map(|ip| ip.src),
            Some("10.244.1.5".parse().expect("ip"))
        );
        assert_eq!(p.layers.last, Some(Kind::Tcp));
    }

    #[test]
    fn geneve_overlay_with_options() {
        let inner = build::ether_ipv4(
            Ip4::new([10, 244, 1, 5], [10, 244, 2, 7]),
            L4Spec::Udp { src: 1, dst: 53 },
        );
        // 8-byte option area: one option with 4 bytes of data.
        let mut gn = vec![
            0x02, 0, 0x65, 0x58, 0, 0, 9, 0, 0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4,
        ];
        gn.extend_from_slice(&inner);
        let outer = build::ether_ipv4(
            Ip4::new([192, 168, 1, 1], [192, 168, 1, 2]),
            L4Spec::UdpPayload {
                src: 50000,
                dst: 6081,
                payload: gn,
            },
        );
        let flags = PacketFlags {
            geneve: true,
            ..Default::default()
        };
        let p = decode(&outer, 0, flags);
        assert_eq!(p.stopped, None);
        let t = p.tunnel.expect("tunnel");
        assert_eq!((t.protocol, t.vni), (TunnelProtocol::Geneve, 9));
        assert_eq!(p.layers.l4, Some(L4::Udp { src: 1, dst: 53 }));
    }

    #[test]
    fn every_prefix_and_garbage_never_panics() {
        let pkt = build::ether_ipv4(
            Ip4::new([10, 0, 0, 1], [10, 0, 0, 2]),
            L4Spec::Tcp {
                src: 1,
                dst: 2,
                flags: 0x18,
            },
        );
        let all = [
            PacketFlags::default(),
            PacketFlags {
                l3_device: true,
                ipv6: true,
                vxlan: true,
                geneve: true,
            },
            PacketFlags {
                l3_device: true,
                geneve: true,
                ..Default::default()
            },
        ];
        for flags in all {
            for n in 0..=pkt.len() {
                let _ = decode(&pkt[..n], 0, flags);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = [0u8; 160];
        for _ in 0..20_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // Steer some inputs into deeper layers.
            buf[12] = 0x08;
            buf[13] = if x & 1 == 0 { 0x00 } else { 0xdd };
            buf[14] = 0x45;
            for flags in all {
                let n = (x >> 8) as usize % buf.len();
                let _ = decode(&buf[..n], 0, flags);
            }
        }
    }
}
