//! The fixed headers Cilium's datapath writes in front of each captured packet (spec §9.2–9.7,
//! `pkg/monitor/datapath_*.go`), one struct per message type, every known version.
//!
//! All multi-byte fields are native-endian, which is little-endian on every platform Cilium
//! supports; the decoder reads them as little-endian so a recorded corpus decodes the same
//! everywhere. A header that is shorter than its version requires is an error; everything after
//! the header is the packet, decoded by [`super::packet`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::L34Error;

/// `MessageTypeDrop`.
pub const MSG_DROP: u8 = 1;
/// `MessageTypeDebug`: a `DebugMsg`, which becomes a `DebugEvent`, not a flow.
pub const MSG_DEBUG: u8 = 2;
/// `MessageTypeCapture`: `DebugCapture`.
pub const MSG_CAPTURE: u8 = 3;
/// `MessageTypeTrace`.
pub const MSG_TRACE: u8 = 4;
/// `MessageTypePolicyVerdict`.
pub const MSG_POLICY_VERDICT: u8 = 5;
/// `MessageTypeTraceSock`.
pub const MSG_TRACE_SOCK: u8 = 7;
/// `MessageTypeAccessLog`: an agent-level L7 record, not a datapath event.
pub const MSG_ACCESS_LOG: u8 = 129;
/// `MessageTypeAgent`: an agent notification (`AgentEvent`).
pub const MSG_AGENT: u8 = 130;
/// flowd's own message type, outside Cilium's: a DNS packet copied in full behind a
/// TraceNotify v1 header (`FLOWSCOPE_NOTIFY_DNS` of the tc programs).
pub const MSG_FLOWSCOPE_DNS: u8 = 250;

/// The L3-device, IPv6, VXLAN and Geneve bits a header carries, normalised across message
/// types (policy verdicts use other bit positions than traces and drops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketFlags {
    /// The packet starts with the IP header (no Ethernet).
    pub l3_device: bool,
    /// With `l3_device`: the IP header is IPv6.
    pub ipv6: bool,
    /// The packet is VXLAN-encapsulated; the inner packet is decoded too.
    pub vxlan: bool,
    /// The packet is Geneve-encapsulated.
    pub geneve: bool,
}

/// Trace/drop `flags` bits (`TraceNotifyFlagIs*`, `DropNotifyFlagIs*`).
const FLAG_IPV6: u8 = 0x01;
const FLAG_L3_DEVICE: u8 = 0x02;
const FLAG_VXLAN: u8 = 0x04;
const FLAG_GENEVE: u8 = 0x08;

impl PacketFlags {
    fn from_trace_bits(flags: u8) -> Self {
        PacketFlags {
            l3_device: flags & FLAG_L3_DEVICE != 0,
            ipv6: flags & FLAG_IPV6 != 0,
            vxlan: flags & FLAG_VXLAN != 0,
            geneve: flags & FLAG_GENEVE != 0,
        }
    }
}

/// Downstream extension length per `ext_version` (`*ExtensionLengthFromVersion`). Upstream
/// registers only version 0 (no extension); an unknown version counts as 0, as Go's map
/// lookup does.
fn extension_len(_ext_version: u8) -> usize {
    0
}

fn u16le(b: [u8; 2]) -> u16 {
    u16::from_le_bytes(b)
}

fn u32le(b: [u8; 4]) -> u32 {
    u32::from_le_bytes(b)
}

fn u64le(b: [u8; 8]) -> u64 {
    u64::from_le_bytes(b)
}

/// `N` bytes at `at` of a header already checked to be long enough; the copy keeps the
/// accessors free of slicing.
fn arr<const N: usize, const M: usize>(h: &[u8; M], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        if let Some(v) = h.get(at + i) {
            *b = *v;
        }
    }
    out
}

fn header<'a, const N: usize>(rec: &'a [u8], layer: &'static str) -> Result<&'a [u8; N], L34Error> {
    rec.first_chunk::<N>().ok_or(L34Error::Truncated {
        layer,
        offset: 0,
        need: N,
        have: rec.len(),
    })
}

/// The 16-byte `NOTIFY_CAPTURE_HDR` every packet notification starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyHeader {
    pub msg_type: u8,
    /// Observation point (trace), drop reason (drop), subtype (policy verdict).
    pub sub_type: u8,
    /// The local endpoint ID that emitted the event.
    pub source: u16,
    pub hash: u32,
    pub orig_len: u32,
    pub cap_len: u16,
    /// Byte 14: older releases wrote a u16 version here, which reads the same on LE.
    pub version: u8,
    pub ext_version: u8,
}

const NOTIFY_HEADER_LEN: usize = 16;

impl NotifyHeader {
    fn read<const M: usize>(h: &[u8; M]) -> Self {
        let b = arr::<NOTIFY_HEADER_LEN, M>(h, 0);
        NotifyHeader {
            msg_type: b[0],
            sub_type: b[1],
            source: u16le([b[2], b[3]]),
            hash: u32le([b[4], b[5], b[6], b[7]]),
            orig_len: u32le([b[8], b[9], b[10], b[11]]),
            cap_len: u16le([b[12], b[13]]),
            version: b[14],
            ext_version: b[15],
        }
    }
}

// --- TraceNotify (type 4) ----------------------------------------------------------------

/// Header length (= packet offset) of TraceNotify v0.
pub const TRACE_V0_LEN: usize = 32;
/// v1 adds `orig_ip`.
pub const TRACE_V1_LEN: usize = 48;
/// v2 adds `ip_trace_id`.
pub const TRACE_V2_LEN: usize = 56;

/// Datapath trace reasons (`TraceReason*`).
pub const TRACE_REASON_CT_REPLY: u8 = 2;
pub const TRACE_REASON_UNKNOWN: u8 = 5;
pub const TRACE_REASON_SRV6_ENCAP: u8 = 6;
pub const TRACE_REASON_SRV6_DECAP: u8 = 7;
/// Bit of `reason` that marks an encrypted packet.
pub const TRACE_REASON_ENCRYPT_MASK: u8 = 0x80;

/// Datapath observation point `TraceToProxy` (its `dst_id` is the proxy port).
pub const TRACE_TO_PROXY: u8 = 1;
/// Datapath observation point `TraceFromLxc`: the packet leaves its endpoint.
pub const TRACE_FROM_ENDPOINT: u8 = 5;

/// `TraceNotify`, versions 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceNotify {
    pub hdr: NotifyHeader,
    pub src_label: u32,
    pub dst_label: u32,
    /// Destination endpoint ID, or the proxy port at `TO_PROXY`.
    pub dst_id: u16,
    pub reason: u8,
    pub flags: u8,
    pub ifindex: u32,
    /// Pre-SNAT source address (v1+): IPv4 in the first 4 bytes unless the IPv6 flag is set.
    pub orig_ip: [u8; 16],
    /// v2+.
    pub ip_trace_id: u64,
}

impl TraceNotify {
    /// `TraceNotify.Decode`: the version decides how long the header must be.
    pub fn parse(rec: &[u8]) -> Result<Self, L34Error> {
        const LAYER: &str = "TraceNotify";
        let h = header::<TRACE_V0_LEN>(rec, LAYER)?;
        let hdr = NotifyHeader::read(h);
        let need = match hdr.version {
            0 => TRACE_V0_LEN,
            1 => TRACE_V1_LEN,
            2 => TRACE_V2_LEN,
            version => {
                return Err(L34Error::UnsupportedVersion {
                    message: LAYER,
                    version,
                });
            }
        };
        if rec.len() < need {
            return Err(L34Error::Truncated {
                layer: LAYER,
                offset: 0,
                need,
                have: rec.len(),
            });
        }
        let mut orig_ip = [0u8; 16];
        let mut ip_trace_id = 0;
        if need >= TRACE_V1_LEN {
            let h1 = header::<TRACE_V1_LEN>(rec, LAYER)?;
            orig_ip = arr::<16, TRACE_V1_LEN>(h1, 32);
        }
        if need >= TRACE_V2_LEN {
            let h2 = header::<TRACE_V2_LEN>(rec, LAYER)?;
            ip_trace_id = u64le(arr::<8, TRACE_V2_LEN>(h2, 48));
        }
        Ok(TraceNotify {
            hdr,
            src_label: u32le(arr(h, 16)),
            dst_label: u32le(arr(h, 20)),
            dst_id: u16le(arr(h, 24)),
            reason: h[26],
            flags: h[27],
            ifindex: u32le(arr(h, 28)),
            orig_ip,
            ip_trace_id,
        })
    }

    /// Where the packet starts (`TraceNotify.DataOffset`).
    pub fn data_offset(&self) -> usize {
        let base = match self.hdr.version {
            0 => TRACE_V0_LEN,
            1 => TRACE_V1_LEN,
            _ => TRACE_V2_LEN,
        };
        base + extension_len(self.hdr.ext_version)
    }

    pub fn packet_flags(&self) -> PacketFlags {
        PacketFlags::from_trace_bits(self.flags)
    }

    /// The reason without the encrypt bit (`TraceNotify.TraceReason`).
    pub fn trace_reason(&self) -> u8 {
        self.reason & !TRACE_REASON_ENCRYPT_MASK
    }

    pub fn reason_is_known(&self) -> bool {
        self.trace_reason() != TRACE_REASON_UNKNOWN
    }

    pub fn reason_is_reply(&self) -> bool {
        self.trace_reason() == TRACE_REASON_CT_REPLY
    }

    /// SRv6 encapsulation or decapsulation: the reply state is not known.
    pub fn reason_is_encap_or_decap(&self) -> bool {
        matches!(
            self.trace_reason(),
            TRACE_REASON_SRV6_ENCAP | TRACE_REASON_SRV6_DECAP
        )
    }

    pub fn is_encrypted(&self) -> bool {
        self.reason & TRACE_REASON_ENCRYPT_MASK != 0
    }

    /// The pre-SNAT source (`OriginalIP`), or `None` when unspecified (v0, or not SNATed).
    pub fn original_ip(&self) -> Option<IpAddr> {
        let ip = if self.flags & FLAG_IPV6 != 0 {
            IpAddr::V6(Ipv6Addr::from(self.orig_ip))
        } else {
            let [a, b, c, d, ..] = self.orig_ip;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        };
        (!ip.is_unspecified()).then_some(ip)
    }
}

// --- DropNotify (type 1) -----------------------------------------------------------------

/// Header length of DropNotify v0/v1.
pub const DROP_V1_LEN: usize = 36;
/// v2 adds `flags`.
pub const DROP_V2_LEN: usize = 40;
/// v3 adds `ip_trace_id`.
pub const DROP_V3_LEN: usize = 48;

/// `DropNotify`, versions 0–3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropNotify {
    /// `hdr.sub_type` is the drop reason code.
    pub hdr: NotifyHeader,
    pub src_label: u32,
    pub dst_label: u32,
    pub dst_id: u32,
    /// BPF source line.
    pub line: u16,
    /// BPF source file id (`names::bpf_file_name`).
    pub file: u8,
    pub ext_error: i8,
    pub ifindex: u32,
    /// v2+.
    pub flags: u8,
    /// v3+.
    pub ip_trace_id: u64,
}

impl DropNotify {
    /// `DropNotify.Decode`.
    pub fn parse(rec: &[u8]) -> Result<Self, L34Error> {
        const LAYER: &str = "DropNotify";
        let h = header::<DROP_V1_LEN>(rec, LAYER)?;
        let hdr = NotifyHeader::read(h);
        if hdr.version > 3 {
            return Err(L34Error::UnsupportedVersion {
                message: LAYER,
                version: hdr.version,
            });
        }
        let need = match hdr.version {
            0 | 1 => DROP_V1_LEN,
            2 => DROP_V2_LEN,
            _ => DROP_V3_LEN,
        };
        if rec.len() < need {
            return Err(L34Error::Truncated {
                layer: LAYER,
                offset: 0,
                need,
                have: rec.len(),
            });
        }
        let mut flags = 0;
        let mut ip_trace_id = 0;
        if hdr.version >= 2 {
            flags = header::<DROP_V2_LEN>(rec, LAYER)?[36];
        }
        if hdr.version >= 3 {
            let h3 = header::<DROP_V3_LEN>(rec, LAYER)?;
            ip_trace_id = u64le(arr::<8, DROP_V3_LEN>(h3, 40));
        }
        Ok(DropNotify {
            hdr,
            src_label: u32le(arr(h, 16)),
            dst_label: u32le(arr(h, 20)),
            dst_id: u32le(arr(h, 24)),
            line: u16le(arr(h, 28)),
            file: h[30],
            ext_error: i8::from_le_bytes([h[31]]),
            ifindex: u32le(arr(h, 32)),
            flags,
            ip_trace_id,
        })
    }

    /// Where the packet starts (`DropNotify.DataOffset`).
    pub fn data_offset(&self) -> usize {
        let base = match self.hdr.version {
            0 | 1 => DROP_V1_LEN,
            2 => DROP_V2_LEN,
            _ => DROP_V3_LEN,
        };
        base + extension_len(self.hdr.ext_version)
    }

    pub fn packet_flags(&self) -> PacketFlags {
        PacketFlags::from_trace_bits(self.flags)
    }
}

// --- PolicyVerdictNotify (type 5) --------------------------------------------------------

/// Header length of the current PolicyVerdictNotify (with `cookie`).
pub const POLICY_VERDICT_LEN: usize = 40;
/// Header length before the cookie was added (≤ about 1.17).
pub const POLICY_VERDICT_OLD_LEN: usize = 32;

/// `flags` bits of a policy verdict.
pub const POLICY_FLAG_DIRECTION: u8 = 0x03;
pub const POLICY_FLAG_IPV6: u8 = 0x04;
pub const POLICY_FLAG_MATCH_TYPE: u8 = 0x38;
pub const POLICY_FLAG_AUDITED: u8 = 0x40;
pub const POLICY_FLAG_L3_DEVICE: u8 = 0x80;
/// `api.PolicyIngress`.
pub const POLICY_INGRESS: u8 = 1;

/// `PolicyVerdictNotify`, current 40-byte layout and the older 32-byte one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyVerdictNotify {
    pub hdr: NotifyHeader,
    /// Source identity for ingress, destination identity for egress.
    pub remote_label: u32,
    /// `<0`: dropped (reason = −verdict); `>0`: redirected to this proxy port; `0`: allowed.
    pub verdict: i32,
    /// Host byte order already (the datapath applies `bpf_ntohs`).
    pub dst_port: u16,
    pub proto: u8,
    pub flags: u8,
    pub auth_type: u8,
    /// Policy log cookie; 0 in the old layout.
    pub cookie: u32,
    /// 40 or 32: the header length this record was decoded with.
    pub header_len: usize,
}

impl PolicyVerdictNotify {
    /// The 40- and 32-byte layouts carry the same version number, so the layout is told apart
    /// by where the packet must start: a record is the header, `cap_len` packet bytes and at
    /// most 7 bytes of perf padding, so `len − cap_len` is 40..=47 for the current layout and
    /// 32..=39 for the old one. When `cap_len` is inconsistent, the current layout is assumed.
    pub fn parse(rec: &[u8]) -> Result<Self, L34Error> {
        const LAYER: &str = "PolicyVerdictNotify";
        let h = header::<POLICY_VERDICT_OLD_LEN>(rec, LAYER)?;
        let hdr = NotifyHeader::read(h);
        let header_len = match rec.len().checked_sub(usize::from(hdr.cap_len)) {
            Some(n) if (POLICY_VERDICT_OLD_LEN..POLICY_VERDICT_LEN).contains(&n) => {
                POLICY_VERDICT_OLD_LEN
            }
            _ => POLICY_VERDICT_LEN,
        };
        let cookie = if header_len == POLICY_VERDICT_LEN {
            let h = header::<POLICY_VERDICT_LEN>(rec, LAYER)?;
            u32le(arr::<4, POLICY_VERDICT_LEN>(h, 32))
        } else {
            0
        };
        Ok(PolicyVerdictNotify {
            hdr,
            remote_label: u32le(arr(h, 16)),
            verdict: i32::from_le_bytes(arr(h, 20)),
            dst_port: u16le(arr(h, 24)),
            proto: h[26],
            flags: h[27],
            auth_type: h[28],
            cookie,
            header_len,
        })
    }

    pub fn data_offset(&self) -> usize {
        self.header_len + extension_len(self.hdr.ext_version)
    }

    pub fn is_ingress(&self) -> bool {
        self.flags & POLICY_FLAG_DIRECTION == POLICY_INGRESS
    }

    pub fn is_audited(&self) -> bool {
        self.flags & POLICY_FLAG_AUDITED != 0
    }

    pub fn match_type(&self) -> u32 {
        u32::from((self.flags & POLICY_FLAG_MATCH_TYPE) >> 3)
    }

    pub fn packet_flags(&self) -> PacketFlags {
        PacketFlags {
            l3_device: self.flags & POLICY_FLAG_L3_DEVICE != 0,
            ipv6: self.flags & POLICY_FLAG_IPV6 != 0,
            vxlan: false,
            geneve: false,
        }
    }
}

// --- DebugCapture (type 3) ---------------------------------------------------------------

/// Header length of DebugCapture (with `arg2`).
pub const DEBUG_CAPTURE_LEN: usize = 24;
/// Header length of the older layout without `arg2`.
pub const DEBUG_CAPTURE_OLD_LEN: usize = 20;

/// Capture points whose `arg1` is an ifindex.
pub const DBG_CAPTURE_DELIVERY: u8 = 4;
pub const DBG_CAPTURE_FROM_LB: u8 = 5;
pub const DBG_CAPTURE_AFTER_V46: u8 = 6;
pub const DBG_CAPTURE_AFTER_V64: u8 = 7;
/// Capture points whose `arg1` is the proxy port in network byte order.
pub const DBG_CAPTURE_PROXY_PRE: u8 = 8;
pub const DBG_CAPTURE_PROXY_POST: u8 = 9;
pub const DBG_CAPTURE_SNAT_PRE: u8 = 10;
pub const DBG_CAPTURE_SNAT_POST: u8 = 11;

/// `DebugCapture`: `type, subtype, source, hash, len, orig_len, arg1[, arg2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugCapture {
    pub msg_type: u8,
    /// The capture point (`DebugCapturePoint`).
    pub sub_type: u8,
    pub source: u16,
    pub hash: u32,
    pub len: u32,
    pub orig_len: u32,
    pub arg1: u32,
    /// 0 in the old layout.
    pub arg2: u32,
    /// 24 or 20.
    pub header_len: usize,
}

impl DebugCapture {
    /// Like policy verdicts, the two layouts are told apart by where the packet must start:
    /// the captured length is the smaller of the two length fields.
    pub fn parse(rec: &[u8]) -> Result<Self, L34Error> {
        const LAYER: &str = "DebugCapture";
        let h = header::<DEBUG_CAPTURE_OLD_LEN>(rec, LAYER)?;
        let len = u32le(arr(h, 8));
        let orig_len = u32le(arr(h, 12));
        let cap = usize::try_from(len.min(orig_len)).unwrap_or(usize::MAX);
        let header_len = match rec.len().checked_sub(cap) {
            Some(n) if (DEBUG_CAPTURE_OLD_LEN..DEBUG_CAPTURE_LEN).contains(&n) => {
                DEBUG_CAPTURE_OLD_LEN
            }
            _ => DEBUG_CAPTURE_LEN,
        };
        let arg2 = if header_len == DEBUG_CAPTURE_LEN {
            u32le(arr::<4, DEBUG_CAPTURE_LEN>(
                header::<DEBUG_CAPTURE_LEN>(rec, LAYER)?,
                20,
            ))
        } else {
            0
        };
        Ok(DebugCapture {
            msg_type: h[0],
            sub_type: h[1],
            source: u16le(arr(h, 2)),
            hash: u32le(arr(h, 4)),
            len,
            orig_len,
            arg1: u32le(arr(h, 16)),
            arg2,
            header_len,
        })
    }

    pub fn data_offset(&self) -> usize {
        self.header_len
    }

    /// The interface index, for the capture points that carry one in `arg1`.
    pub fn ifindex(&self) -> u32 {
        match self.sub_type {
            DBG_CAPTURE_DELIVERY
            | DBG_CAPTURE_FROM_LB
            | DBG_CAPTURE_AFTER_V46
            | DBG_CAPTURE_AFTER_V64
            | DBG_CAPTURE_SNAT_PRE
            | DBG_CAPTURE_SNAT_POST => self.arg1,
            _ => 0,
        }
    }

    /// The proxy port, for the proxy capture points (`arg1` is in network byte order).
    pub fn proxy_port(&self) -> u32 {
        match self.sub_type {
            DBG_CAPTURE_PROXY_PRE | DBG_CAPTURE_PROXY_POST => self.arg1.swap_bytes(),
            _ => 0,
        }
    }
}

// --- TraceSockNotify (type 7) ------------------------------------------------------------

/// Go `binary.Read` packed length of TraceSockNotify.
pub const TRACE_SOCK_LEN: usize = 38;

/// Socket translation points.
pub const XLATE_PRE_DIRECTION_FWD: u8 = 1;
pub const XLATE_POST_DIRECTION_FWD: u8 = 2;
pub const XLATE_PRE_DIRECTION_REV: u8 = 3;
pub const XLATE_POST_DIRECTION_REV: u8 = 4;

/// `l4_proto` values.
pub const SOCK_L4_TCP: u8 = 1;
pub const SOCK_L4_UDP: u8 = 2;

const SOCK_FLAG_IPV6: u8 = 0x01;

/// `TraceSockNotify`: a socket-level load-balancing translation, with no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSockNotify {
    pub xlate_point: u8,
    pub dst_ip: [u8; 16],
    pub dst_port: u16,
    pub sock_cookie: u64,
    pub cgroup_id: u64,
    pub l4_proto: u8,
    pub flags: u8,
}

impl TraceSockNotify {
    pub fn parse(rec: &[u8]) -> Result<Self, L34Error> {
        let h = header::<TRACE_SOCK_LEN>(rec, "TraceSockNotify")?;
        Ok(TraceSockNotify {
            xlate_point: h[1],
            dst_ip: arr(h, 2),
            dst_port: u16le(arr(h, 18)),
            sock_cookie: u64le(arr(h, 20)),
            cgroup_id: u64le(arr(h, 28)),
            l4_proto: h[36],
            flags: h[37],
        })
    }

    pub fn is_ipv6(&self) -> bool {
        self.flags & SOCK_FLAG_IPV6 != 0
    }

    /// The destination address (IPv4 in the first 4 bytes unless the IPv6 flag is set).
    pub fn dst_ip(&self) -> IpAddr {
        if self.is_ipv6() {
            IpAddr::V6(Ipv6Addr::from(self.dst_ip))
        } else {
            let [a, b, c, d, ..] = self.dst_ip;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
    }
}
