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

/// `-t` type names (`monitorAPI.MessageTypeNames`), matched exactly as Hubble does.
const EVENT_TYPES: &[(&str, i32)] = &[
    ("drop", 1),
    ("debug", 2),
    ("capture", 3),
    ("trace", 4),
    ("policy-verdict", 5),
    ("recorder", 6),
    ("trace-sock", 7),
    ("l7", 129),
    ("agent", 130),
];

const TYPE_TRACE: i32 = 4;
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

/// Agent event sub-types (Hubble's `agentEventSubtypes`; it has no names for the service
/// events 11 and 12, which take their number).
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
];

/// Exact, case-sensitive lookup: Hubble's maps have lower-case keys only.
fn lookup(table: &[(&str, i32)], name: &str) -> Option<i32> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// `strconv.ParseUint(s, 10, 32)`: decimal digits only (no sign).
fn decimal_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn names(table: &[(&str, i32)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// `-t TYPE[:SUBTYPE]` → `{type, match_sub_type, sub_type}`, as Hubble parses it: a type
/// name or a decimal number; a sub-type name only for `trace` (observation points) and
/// `agent`, anything else as a decimal number.
pub(super) fn event_type(val: &str) -> Result<EventTypeFilter, FlagError> {
    let (type_part, sub_part) = match val.split_once(':') {
        Some((t, s)) => (t, Some(s)),
        None => (val, None),
    };
    let r#type = match lookup(EVENT_TYPES, type_part) {
        Some(t) => t,
        None => decimal_u32(type_part)
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
            TYPE_AGENT => lookup(AGENT_SUBTYPES, sub),
            _ => None,
        };
        let sub_type = match named {
            Some(s) => s,
            None => decimal_u32(sub)
                .and_then(|s| i32::try_from(s).ok())
                .ok_or_else(|| {
                    let known = match r#type {
                        TYPE_TRACE => format!("a number or one of {}", names(TRACE_POINTS)),
                        TYPE_AGENT => format!("a number or one of {}", names(AGENT_SUBTYPES)),
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

/// A Verdict enum name, exactly (`DROPPED`; Hubble rejects `dropped`).
pub(super) fn verdict(val: &str) -> Result<i32, FlagError> {
    Verdict::from_str_name(val)
        .map(|v| v as i32)
        .ok_or_else(|| {
            invalid(
                "verdict",
                val,
                "expected one of FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED, TRANSLATED",
            )
        })
}

/// A DropReason enum name, exactly (`POLICY_DENIED`).
pub(super) fn drop_reason(val: &str) -> Result<i32, FlagError> {
    if val.is_empty() {
        return Err(invalid("drop-reason-desc", val, "empty drop reason"));
    }
    DropReason::from_str_name(val)
        .map(|v| v as i32)
        .ok_or_else(|| {
            invalid(
                "drop-reason-desc",
                val,
                "expected a drop reason name such as POLICY_DENIED or UNSUPPORTED_L3_PROTOCOL",
            )
        })
}

/// `--ip-version`: Hubble's aliases (`4`, `v4`, `ipv4`, `ip4`, and the same for 6), any case;
/// every other value, `none` included, means "not IP" (Hubble rejects nothing here).
pub(super) fn ip_version(val: &str) -> i32 {
    let version = match val.to_ascii_lowercase().as_str() {
        "4" | "v4" | "ipv4" | "ip4" => IpVersion::IPv4,
        "6" | "v6" | "ipv6" | "ip6" => IpVersion::IPv6,
        _ => IpVersion::IpNotUsed,
    };
    version as i32
}

/// `--ip-trace-id`: a positive u64.
pub(super) fn ip_trace_id(val: &str) -> Result<u64, FlagError> {
    match val.parse::<u64>() {
        Ok(0) => Err(invalid("ip-trace-id", val, "must be greater than 0")),
        Ok(id) => Ok(id),
        Err(_) => Err(invalid("ip-trace-id", val, "expected a positive integer")),
    }
}

/// A security identity as Hubble's `parseIdentity`: a reserved name other than `unknown`
/// (`ingress` → 8), else `strconv.ParseUint(s, 0, 32)` (decimal, `0x`, `0o`, `0b`, `0`).
pub(super) fn identity(flag: &str, val: &str) -> Result<u32, FlagError> {
    if let Some(id) = reserved::by_name(val).filter(|id| *id != reserved::UNKNOWN) {
        return Ok(id);
    }
    crate::goflags::parse_uint64(val)
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| {
            let names = reserved::RESERVED_IDENTITIES
                .iter()
                .filter(|(id, _)| *id != reserved::UNKNOWN)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(" ");
            invalid(
                flag,
                val,
                format!("invalid security identity, expected one of [{names}] or a numeric value"),
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
