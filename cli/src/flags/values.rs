//! Parsers for filter flag values that are not passed through verbatim.

use flowscope_proto::flow::{
    DropReason, EventTypeFilter, HttpHeader, IpVersion, TcpFlags, Verdict, Workload,
};
use flowscope_proto::reserved;

use super::FlagError;

pub(super) fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> FlagError {
    FlagError::InvalidValue {
        flag: flag.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `-t` type names (`monitorAPI.MessageTypeNames` plus `trace-sock`).
const EVENT_TYPES: &[(&str, i32)] = &[
    ("drop", 1),
    ("debug", 2),
    ("capture", 3),
    ("trace", 4),
    ("policy-verdict", 5),
    ("trace-sock", 7),
    ("l7", 129),
    ("agent", 130),
];

const TYPE_DROP: i32 = 1;
const TYPE_TRACE: i32 = 4;
const TYPE_TRACE_SOCK: i32 = 7;
const TYPE_AGENT: i32 = 130;

/// Trace sub-types: datapath observation points (`event_type.sub_type` of trace flows).
const TRACE_POINTS: &[(&str, i32)] = &[
    ("to-endpoint", 0),
    ("to-proxy", 1),
    ("to-host", 2),
    ("to-stack", 3),
    ("to-overlay", 4),
    ("from-endpoint", 5),
    ("from-proxy", 6),
    ("from-host", 7),
    ("from-stack", 8),
    ("from-overlay", 9),
    ("from-network", 10),
    ("to-network", 11),
    ("from-crypto", 12),
    ("to-crypto", 13),
];

/// Trace-sock sub-types: socket translation points.
const XLATE_POINTS: &[(&str, i32)] = &[
    ("pre-xlate-fwd", 1),
    ("post-xlate-fwd", 2),
    ("pre-xlate-rev", 3),
    ("post-xlate-rev", 4),
];

/// Agent event sub-types (Hubble's `agentEventSubtypes`).
const AGENT_SUBTYPES: &[(&str, i32)] = &[
    ("unspecified", 0),
    ("message", 1),
    ("agent-started", 2),
    ("endpoint-regenerate-success", 3),
    ("endpoint-regenerate-failure", 4),
    ("policy-updated", 5),
    ("policy-deleted", 6),
    ("endpoint-created", 7),
    ("endpoint-deleted", 8),
    ("ipcache-upserted", 9),
    ("ipcache-deleted", 10),
    ("service-upserted", 11),
    ("service-deleted", 12),
];

fn lookup(table: &[(&str, i32)], name: &str) -> Option<i32> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn names(table: &[(&str, i32)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// A proto enum name, case-insensitive, `-` accepted for `_` (`policy-denied`).
fn enum_name(value: &str) -> String {
    value.trim().to_ascii_uppercase().replace('-', "_")
}

/// `-t TYPE[:SUBTYPE]` → `{type, match_sub_type, sub_type}`.
pub(super) fn event_type(val: &str) -> Result<EventTypeFilter, FlagError> {
    let (type_part, sub_part) = match val.split_once(':') {
        Some((t, s)) => (t, Some(s)),
        None => (val, None),
    };
    let r#type = match lookup(EVENT_TYPES, type_part) {
        Some(t) => t,
        None => type_part
            .parse::<u32>()
            .ok()
            .and_then(|t| i32::try_from(t).ok())
            .ok_or_else(|| {
                invalid(
                    "type",
                    val,
                    format!(
                        "unknown type {type_part:?}; expected a number or one of {}",
                        names(EVENT_TYPES)
                    ),
                )
            })?,
    };
    let mut filter = EventTypeFilter {
        r#type,
        match_sub_type: false,
        sub_type: 0,
    };
    if let Some(sub) = sub_part {
        let named = match r#type {
            TYPE_TRACE => lookup(TRACE_POINTS, sub),
            TYPE_TRACE_SOCK => lookup(XLATE_POINTS, sub),
            TYPE_AGENT => lookup(AGENT_SUBTYPES, sub),
            TYPE_DROP => DropReason::from_str_name(&enum_name(sub))
                .filter(|r| *r != DropReason::Unknown)
                .map(|r| r as i32),
            _ => None,
        };
        let sub_type = match named {
            Some(s) => s,
            None => sub
                .parse::<u32>()
                .ok()
                .and_then(|s| i32::try_from(s).ok())
                .ok_or_else(|| {
                    let known = match r#type {
                        TYPE_TRACE => format!("a number or one of {}", names(TRACE_POINTS)),
                        TYPE_TRACE_SOCK => format!("a number or one of {}", names(XLATE_POINTS)),
                        TYPE_AGENT => format!("a number or one of {}", names(AGENT_SUBTYPES)),
                        TYPE_DROP => "a number or a drop reason name (e.g. POLICY_DENIED)".into(),
                        _ => "a number".into(),
                    };
                    invalid(
                        "type",
                        val,
                        format!("unknown sub-type {sub:?}; expected {known}"),
                    )
                })?,
        };
        filter.match_sub_type = true;
        filter.sub_type = sub_type;
    }
    Ok(filter)
}

/// Verdict enum name, case-insensitive (`dropped` → DROPPED).
pub(super) fn verdict(val: &str) -> Result<i32, FlagError> {
    Verdict::from_str_name(&enum_name(val))
        .map(|v| v as i32)
        .ok_or_else(|| {
            invalid(
                "verdict",
                val,
                "expected one of FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED, TRANSLATED",
            )
        })
}

/// DropReason enum name, case-insensitive (`POLICY_DENIED`).
pub(super) fn drop_reason(val: &str) -> Result<i32, FlagError> {
    if val.is_empty() {
        return Err(invalid("drop-reason-desc", val, "empty drop reason"));
    }
    DropReason::from_str_name(&enum_name(val))
        .map(|v| v as i32)
        .ok_or_else(|| {
            invalid(
                "drop-reason-desc",
                val,
                "expected a drop reason name such as POLICY_DENIED or UNSUPPORTED_L3_PROTOCOL",
            )
        })
}

/// `--ip-version`: Hubble's aliases (`4`, `v4`, `ipv4`, `ip4`, …), `none`, or the enum name.
pub(super) fn ip_version(flag: &str, val: &str) -> Result<i32, FlagError> {
    let version = match val.to_ascii_lowercase().as_str() {
        "4" | "v4" | "ipv4" | "ip4" => IpVersion::IPv4,
        "6" | "v6" | "ipv6" | "ip6" => IpVersion::IPv6,
        "none" | "0" | "ip_not_used" => IpVersion::IpNotUsed,
        _ => return Err(invalid(flag, val, "expected none, v4 or v6")),
    };
    Ok(version as i32)
}

/// A port must be a decimal u16; it is sent as the string given.
pub(super) fn port(flag: &str, val: &str) -> Result<(), FlagError> {
    if !val.is_empty() && val.bytes().all(|b| b.is_ascii_digit()) && val.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err(invalid(flag, val, "expected a port number (0-65535)"))
    }
}

/// `--ip-trace-id`: a positive u64.
pub(super) fn ip_trace_id(val: &str) -> Result<u64, FlagError> {
    match val.parse::<u64>() {
        Ok(0) => Err(invalid("ip-trace-id", val, "must be greater than 0")),
        Ok(id) => Ok(id),
        Err(_) => Err(invalid("ip-trace-id", val, "expected a positive integer")),
    }
}

/// A security identity: a reserved name (`ingress` → 8) or a number (decimal or `0x` hex).
pub(super) fn identity(flag: &str, val: &str) -> Result<u32, FlagError> {
    if let Some(id) = reserved::by_name(val) {
        return Ok(id);
    }
    let parsed = match val.strip_prefix("0x").or_else(|| val.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => val.parse::<u32>().ok(),
    };
    parsed.ok_or_else(|| {
        let names = reserved::RESERVED_IDENTITIES
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        invalid(
            flag,
            val,
            format!("expected a numeric identity or one of {names}"),
        )
    })
}

/// `[kind/]name` → Workload (empty value: match any workload).
pub(super) fn workload(val: &str) -> Workload {
    match val.split_once('/') {
        Some((kind, name)) => Workload {
            name: name.to_string(),
            kind: kind.to_string(),
        },
        None => Workload {
            name: val.to_string(),
            kind: String::new(),
        },
    }
}

/// `key:value` (split at the first colon).
pub(super) fn http_header(val: &str) -> Result<HttpHeader, FlagError> {
    match val.split_once(':') {
        Some((key, value)) => Ok(HttpHeader {
            key: key.to_string(),
            value: value.to_string(),
        }),
        None => Err(invalid("http-header", val, "expected key:value")),
    }
}

/// `syn,ack` → one TCPFlags entry with both set.
pub(super) fn tcp_flags(val: &str) -> Result<TcpFlags, FlagError> {
    let mut flags = TcpFlags::default();
    for flag in val.split(',') {
        match flag.to_ascii_uppercase().as_str() {
            "SYN" => flags.syn = true,
            "FIN" => flags.fin = true,
            "RST" => flags.rst = true,
            "PSH" => flags.psh = true,
            "ACK" => flags.ack = true,
            "URG" => flags.urg = true,
            "ECE" => flags.ece = true,
            "CWR" => flags.cwr = true,
            "NS" => flags.ns = true,
            _ => {
                return Err(invalid(
                    "tcp-flags",
                    val,
                    format!(
                        "unknown tcp flag {flag:?}; expected SYN, FIN, RST, PSH, ACK, URG, ECE, \
                         CWR or NS"
                    ),
                ));
            }
        }
    }
    Ok(flags)
}
