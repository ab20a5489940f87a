//! Rust mirrors of the structs in `bpf/flowscope.h`: map keys and values, and the monitor
//! event headers the programs write. `tests::layouts_match_the_c_header` compares every size
//! and offset with what the C compiler computed from the header.

/// `struct ipcache4_key`: LPM-trie key, prefix length in bits then the address (network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipcache4Key {
    pub prefixlen: u32,
    pub addr: [u8; 4],
}

/// `struct ipcache6_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipcache6Key {
    pub prefixlen: u32,
    pub addr: [u8; 16],
}

/// `struct ipcache_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcacheValue {
    pub identity: u32,
    /// Non-zero for endpoints local to this node.
    pub endpoint_id: u16,
    pub pad: u16,
}

pub const DIR_INGRESS: u8 = 1;
pub const DIR_EGRESS: u8 = 2;

/// `struct policy_key`: 0 in `remote_identity`, `dport` or `proto` is a wildcard.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKey {
    pub local_identity: u32,
    pub remote_identity: u32,
    /// Host byte order.
    pub dport: u16,
    pub proto: u8,
    pub direction: u8,
}

pub const ACTION_ALLOW: u8 = 1;
pub const ACTION_DENY: u8 = 2;
pub const ACTION_AUDIT: u8 = 3;

/// `struct policy_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyValue {
    pub action: u8,
    pub pad: [u8; 3],
    pub cookie: u32,
}

/// `struct enforce_key`: endpoints selected by a rule in a direction are default-deny there.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnforceKey {
    pub identity: u32,
    pub direction: u8,
    pub pad: [u8; 3],
}

/// `struct conn_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnKey {
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub family: u8,
    pub hook: u8,
    pub pad: u8,
    pub ifindex: u32,
}

/// `struct conn_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnValue {
    pub tcp_flags_seen: u8,
    pub reply_flags_seen: u8,
    pub pad: u16,
    pub pad2: u32,
}

pub const AGG_NONE: u32 = 0;
pub const AGG_MEDIUM: u32 = 1;
pub const AGG_MAXIMUM: u32 = 2;

/// `struct config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub aggregation: u32,
    pub cap_len: u32,
    pub transport: u32,
    pub wakeup_bytes: u32,
    /// DNS packets (port 53) are copied in full up to this many bytes (≤ 512; 0: off).
    pub dns_cap_len: u32,
}

pub const TRANSPORT_PERF: u32 = 0;
pub const TRANSPORT_RINGBUF: u32 = 1;

/// `struct rb_event`: a ring-buffer record, `len` bytes of monitor record in `data`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RbEvent {
    pub len: u32,
    pub data: [u8; 176],
}

pub const STAT_FORWARDED: u32 = 0;
pub const STAT_DROPPED: u32 = 1;
pub const STAT_EVENTS_EMITTED: u32 = 2;
pub const STAT_EVENTS_FAILED: u32 = 3;
pub const STAT_MAX: u32 = 4;

/// `struct notify_hdr`: Cilium's common 16-byte monitor header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyHdr {
    pub r#type: u8,
    pub subtype: u8,
    pub source: u16,
    pub hash: u32,
    pub len_orig: u32,
    pub len_cap: u16,
    pub version: u8,
    pub ext_version: u8,
}

/// `struct trace_notify`: TraceNotify v1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceNotify {
    pub hdr: NotifyHdr,
    pub src_label: u32,
    pub dst_label: u32,
    pub dst_id: u16,
    pub reason: u8,
    pub flags: u8,
    pub ifindex: u32,
    pub orig_ip: [u8; 16],
}

/// `struct drop_notify`: DropNotify v3.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropNotify {
    pub hdr: NotifyHdr,
    pub src_label: u32,
    pub dst_label: u32,
    pub dst_id: u32,
    pub line: u16,
    pub file: u8,
    pub ext_error: i8,
    pub ifindex: u32,
    pub flags: u8,
    pub pad: [u8; 3],
    pub ip_trace_id: u64,
}

/// `struct policy_verdict_notify`: the 40-byte PolicyVerdictNotify.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyVerdictNotify {
    pub hdr: NotifyHdr,
    pub remote_label: u32,
    pub verdict: i32,
    pub dst_port: u16,
    pub proto: u8,
    pub flags: u8,
    pub auth_type: u8,
    pub pad0: [u8; 3],
    pub cookie: u32,
    pub pad1: u32,
}

// SAFETY: every type above is `repr(C)`, `Copy`, made only of integers and integer arrays,
// and has no padding the kernel could leave uninitialised beyond explicit pad fields.
unsafe impl aya::Pod for Ipcache4Key {}
unsafe impl aya::Pod for Ipcache6Key {}
unsafe impl aya::Pod for IpcacheValue {}
unsafe impl aya::Pod for PolicyKey {}
unsafe impl aya::Pod for PolicyValue {}
unsafe impl aya::Pod for EnforceKey {}
unsafe impl aya::Pod for ConnKey {}
unsafe impl aya::Pod for ConnValue {}
unsafe impl aya::Pod for Config {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::mem::{offset_of, size_of};

    const C_LAYOUT: &str = include_str!(concat!(env!("OUT_DIR"), "/c_layout.txt"));

    #[test]
    fn layouts_match_the_c_header() {
        let c: HashMap<&str, usize> = C_LAYOUT
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k, v.trim().parse().expect("number")))
            .collect();
        let rust: &[(&str, usize)] = &[
            ("ipcache4_key", size_of::<Ipcache4Key>()),
            ("ipcache4_key.prefixlen", offset_of!(Ipcache4Key, prefixlen)),
            ("ipcache4_key.addr", offset_of!(Ipcache4Key, addr)),
            ("ipcache6_key", size_of::<Ipcache6Key>()),
            ("ipcache6_key.prefixlen", offset_of!(Ipcache6Key, prefixlen)),
            ("ipcache6_key.addr", offset_of!(Ipcache6Key, addr)),
            ("ipcache_value", size_of::<IpcacheValue>()),
            ("ipcache_value.identity", offset_of!(IpcacheValue, identity)),
            (
                "ipcache_value.endpoint_id",
                offset_of!(IpcacheValue, endpoint_id),
            ),
            ("policy_key", size_of::<PolicyKey>()),
            (
                "policy_key.local_identity",
                offset_of!(PolicyKey, local_identity),
            ),
            (
                "policy_key.remote_identity",
                offset_of!(PolicyKey, remote_identity),
            ),
            ("policy_key.dport", offset_of!(PolicyKey, dport)),
            ("policy_key.proto", offset_of!(PolicyKey, proto)),
            ("policy_key.direction", offset_of!(PolicyKey, direction)),
            ("policy_value", size_of::<PolicyValue>()),
            ("policy_value.action", offset_of!(PolicyValue, action)),
            ("policy_value.cookie", offset_of!(PolicyValue, cookie)),
            ("enforce_key", size_of::<EnforceKey>()),
            ("enforce_key.identity", offset_of!(EnforceKey, identity)),
            ("enforce_key.direction", offset_of!(EnforceKey, direction)),
            ("conn_key", size_of::<ConnKey>()),
            ("conn_key.saddr", offset_of!(ConnKey, saddr)),
            ("conn_key.daddr", offset_of!(ConnKey, daddr)),
            ("conn_key.sport", offset_of!(ConnKey, sport)),
            ("conn_key.dport", offset_of!(ConnKey, dport)),
            ("conn_key.proto", offset_of!(ConnKey, proto)),
            ("conn_key.family", offset_of!(ConnKey, family)),
            ("conn_key.hook", offset_of!(ConnKey, hook)),
            ("conn_key.ifindex", offset_of!(ConnKey, ifindex)),
            ("conn_value", size_of::<ConnValue>()),
            (
                "conn_value.tcp_flags_seen",
                offset_of!(ConnValue, tcp_flags_seen),
            ),
            (
                "conn_value.reply_flags_seen",
                offset_of!(ConnValue, reply_flags_seen),
            ),
            ("config", size_of::<Config>()),
            ("config.aggregation", offset_of!(Config, aggregation)),
            ("config.cap_len", offset_of!(Config, cap_len)),
            ("config.transport", offset_of!(Config, transport)),
            ("config.wakeup_bytes", offset_of!(Config, wakeup_bytes)),
            ("config.dns_cap_len", offset_of!(Config, dns_cap_len)),
            ("rb_event", size_of::<RbEvent>()),
            ("rb_event.data", offset_of!(RbEvent, data)),
            ("notify_hdr", size_of::<NotifyHdr>()),
            ("notify_hdr.type", offset_of!(NotifyHdr, r#type)),
            ("notify_hdr.subtype", offset_of!(NotifyHdr, subtype)),
            ("notify_hdr.source", offset_of!(NotifyHdr, source)),
            ("notify_hdr.hash", offset_of!(NotifyHdr, hash)),
            ("notify_hdr.len_orig", offset_of!(NotifyHdr, len_orig)),
            ("notify_hdr.len_cap", offset_of!(NotifyHdr, len_cap)),
            ("notify_hdr.version", offset_of!(NotifyHdr, version)),
            ("notify_hdr.ext_version", offset_of!(NotifyHdr, ext_version)),
            ("trace_notify", size_of::<TraceNotify>()),
            ("trace_notify.src_label", offset_of!(TraceNotify, src_label)),
            ("trace_notify.dst_label", offset_of!(TraceNotify, dst_label)),
            ("trace_notify.dst_id", offset_of!(TraceNotify, dst_id)),
            ("trace_notify.reason", offset_of!(TraceNotify, reason)),
            ("trace_notify.flags", offset_of!(TraceNotify, flags)),
            ("trace_notify.ifindex", offset_of!(TraceNotify, ifindex)),
            ("trace_notify.orig_ip", offset_of!(TraceNotify, orig_ip)),
            ("drop_notify", size_of::<DropNotify>()),
            ("drop_notify.src_label", offset_of!(DropNotify, src_label)),
            ("drop_notify.dst_label", offset_of!(DropNotify, dst_label)),
            ("drop_notify.dst_id", offset_of!(DropNotify, dst_id)),
            ("drop_notify.line", offset_of!(DropNotify, line)),
            ("drop_notify.file", offset_of!(DropNotify, file)),
            ("drop_notify.ext_error", offset_of!(DropNotify, ext_error)),
            ("drop_notify.ifindex", offset_of!(DropNotify, ifindex)),
            ("drop_notify.flags", offset_of!(DropNotify, flags)),
            (
                "drop_notify.ip_trace_id",
                offset_of!(DropNotify, ip_trace_id),
            ),
            ("policy_verdict_notify", size_of::<PolicyVerdictNotify>()),
            (
                "policy_verdict_notify.remote_label",
                offset_of!(PolicyVerdictNotify, remote_label),
            ),
            (
                "policy_verdict_notify.verdict",
                offset_of!(PolicyVerdictNotify, verdict),
            ),
            (
                "policy_verdict_notify.dst_port",
                offset_of!(PolicyVerdictNotify, dst_port),
            ),
            (
                "policy_verdict_notify.proto",
                offset_of!(PolicyVerdictNotify, proto),
            ),
            (
                "policy_verdict_notify.flags",
                offset_of!(PolicyVerdictNotify, flags),
            ),
            (
                "policy_verdict_notify.auth_type",
                offset_of!(PolicyVerdictNotify, auth_type),
            ),
            (
                "policy_verdict_notify.cookie",
                offset_of!(PolicyVerdictNotify, cookie),
            ),
        ];
        assert_eq!(rust.len(), c.len(), "every C entry has a Rust counterpart");
        for (name, value) in rust {
            assert_eq!(c.get(name), Some(value), "{name}");
        }
        // The monitor layouts Hubble decodes (spec §9): TraceNotify v1 48, DropNotify v3 48,
        // PolicyVerdictNotify 40.
        assert_eq!(size_of::<TraceNotify>(), 48);
        assert_eq!(size_of::<DropNotify>(), 48);
        assert_eq!(size_of::<PolicyVerdictNotify>(), 40);
    }
}
