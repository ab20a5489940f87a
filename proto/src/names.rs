//! Human-readable names Hubble prints for datapath and flow enums.
//!
//! These are the strings of Cilium's `pkg/monitor/api` (trace observation points, drop
//! reasons, policy match types, BPF file ids, message types) and of the Hubble printer
//! (socket translation points). Printers and metrics share them, so they live here as pure
//! functions over raw numbers: no flow is needed to look a name up.

use std::borrow::Cow;

// --- Monitor message types (`event_type.type`, `-t` names) -------------------------------

/// `MessageTypeDrop`.
pub const MESSAGE_TYPE_DROP: i32 = 1;
/// `MessageTypeDebug`.
pub const MESSAGE_TYPE_DEBUG: i32 = 2;
/// `MessageTypeCapture`.
pub const MESSAGE_TYPE_CAPTURE: i32 = 3;
/// `MessageTypeTrace`.
pub const MESSAGE_TYPE_TRACE: i32 = 4;
/// `MessageTypePolicyVerdict`.
pub const MESSAGE_TYPE_POLICY_VERDICT: i32 = 5;
/// `MessageTypeTraceSock`.
pub const MESSAGE_TYPE_TRACE_SOCK: i32 = 7;
/// `MessageTypeAccessLog` (L7).
pub const MESSAGE_TYPE_ACCESS_LOG: i32 = 129;
/// `MessageTypeAgent`.
pub const MESSAGE_TYPE_AGENT: i32 = 130;

/// `(event type number, -t name)` in the order Hubble documents them.
pub const EVENT_TYPE_NAMES: &[(i32, &str)] = &[
    (MESSAGE_TYPE_DROP, "drop"),
    (MESSAGE_TYPE_DEBUG, "debug"),
    (MESSAGE_TYPE_CAPTURE, "capture"),
    (MESSAGE_TYPE_TRACE, "trace"),
    (MESSAGE_TYPE_POLICY_VERDICT, "policy-verdict"),
    (MESSAGE_TYPE_TRACE_SOCK, "trace-sock"),
    (MESSAGE_TYPE_ACCESS_LOG, "l7"),
    (MESSAGE_TYPE_AGENT, "agent"),
];

/// The `-t` name of a monitor message type (`4` → `trace`).
pub fn event_type_name(event_type: i32) -> Option<&'static str> {
    EVENT_TYPE_NAMES
        .iter()
        .find(|(n, _)| *n == event_type)
        .map(|(_, name)| *name)
}

/// The monitor message type of a `-t` name (`policy-verdict` → `5`).
pub fn event_type_by_name(name: &str) -> Option<i32> {
    EVENT_TYPE_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(t, _)| *t)
}

// --- Trace observation points --------------------------------------------------------------

/// `(datapath obs point, name)`. The datapath value is what `event_type.sub_type` carries.
pub const TRACE_OBS_POINTS: &[(u8, &str)] = &[
    (0, "to-endpoint"),
    (1, "to-proxy"),
    (2, "to-host"),
    (3, "to-stack"),
    (4, "to-overlay"),
    (5, "from-endpoint"),
    (6, "from-proxy"),
    (7, "from-host"),
    (8, "from-stack"),
    (9, "from-overlay"),
    (10, "from-network"),
    (11, "to-network"),
    (12, "from-crypto"),
    (13, "to-crypto"),
];

/// Proto `TraceObservationPoint.TO_ENDPOINT`; datapath value 0 (`TraceToLxc`) maps to it.
pub const PROTO_TO_ENDPOINT: i32 = 101;

/// The CLI name of a datapath observation point, or `None` when unknown.
pub fn datapath_obs_point_name(obs_point: u8) -> Option<&'static str> {
    TRACE_OBS_POINTS
        .iter()
        .find(|(n, _)| *n == obs_point)
        .map(|(_, name)| *name)
}

/// The name Hubble prints for a datapath observation point: the CLI name, or the number
/// when unknown (`api.TraceObservationPoint`).
pub fn datapath_obs_point(obs_point: u8) -> Cow<'static, str> {
    match datapath_obs_point_name(obs_point) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(obs_point.to_string()),
    }
}

/// The datapath observation point of a CLI name (`to-endpoint` → `0`).
pub fn datapath_obs_point_by_name(name: &str) -> Option<u8> {
    TRACE_OBS_POINTS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(p, _)| *p)
}

/// The CLI name of a proto `TraceObservationPoint` value (`101` → `to-endpoint`,
/// `3` → `to-stack`). `UNKNOWN_POINT` (0) and unknown values have no name.
pub fn trace_observation_point(point: i32) -> Option<&'static str> {
    match point {
        PROTO_TO_ENDPOINT => datapath_obs_point_name(0),
        1..=13 => u8::try_from(point).ok().and_then(datapath_obs_point_name),
        _ => None,
    }
}

/// The proto `TraceObservationPoint` value of a datapath observation point (0 → 101).
pub fn proto_obs_point(obs_point: u8) -> i32 {
    if obs_point == 0 {
        PROTO_TO_ENDPOINT
    } else {
        i32::from(obs_point)
    }
}

// --- Drop reasons --------------------------------------------------------------------------

/// Codes below this are not drops (`DropMin`).
pub const DROP_MIN: u8 = 130;

/// `(code, description)` of `pkg/monitor/api/drop.go`, including the non-drop codes below
/// [`DROP_MIN`] that the same table names.
pub const DROP_REASONS: &[(u8, &str)] = &[
    (0, "Success"),
    (2, "Invalid packet"),
    (3, "Interface"),
    (4, "Interface Decrypted"),
    (5, "LB, sock cgroup: No backend slot entry found"),
    (6, "LB, sock cgroup: No backend entry found"),
    (7, "LB, sock cgroup: Reverse entry update failed"),
    (8, "LB, sock cgroup: Reverse entry stale"),
    (9, "Fragmented packet"),
    (10, "Fragmented packet entry update failed"),
    (11, "Missed tail call to custom program"),
    (130, "Invalid source mac"),
    (131, "Invalid destination mac"),
    (132, "Invalid source ip"),
    (133, "Policy denied"),
    (134, "Invalid packet"),
    (135, "CT: Truncated or invalid header"),
    (136, "Fragmentation needed"),
    (137, "CT: Unknown L4 protocol"),
    (138, "CT: Can't create entry from packet"),
    (139, "Unsupported L3 protocol"),
    (140, "Missed tail call"),
    (141, "Error writing to packet"),
    (142, "Unknown L4 protocol"),
    (143, "Unknown ICMPv4 code"),
    (144, "Unknown ICMPv4 type"),
    (145, "Unknown ICMPv6 code"),
    (146, "Unknown ICMPv6 type"),
    (147, "Error retrieving tunnel key"),
    (148, "Error retrieving tunnel options"),
    (149, "Invalid Geneve option"),
    (150, "Unknown L3 target address"),
    (151, "Stale or unroutable IP"),
    (152, "No matching local container found"),
    (153, "Error while correcting L3 checksum"),
    (154, "Error while correcting L4 checksum"),
    (155, "CT: Map insertion failed"),
    (156, "Invalid IPv6 extension header"),
    (157, "IP fragmentation not supported"),
    (158, "Service backend not found"),
    (160, "No tunnel/encapsulation endpoint (datapath BUG!)"),
    (161, "NAT 46/64 not enabled"),
    (162, "Reached EDT rate-limiting drop horizon"),
    (163, "Unknown connection tracking state"),
    (164, "Local host is unreachable"),
    (165, "No configuration available to perform policy decision"),
    (166, "Unsupported L2 protocol"),
    (167, "No mapping for NAT masquerade"),
    (168, "Unsupported protocol for NAT masquerade"),
    (169, "FIB lookup failed"),
    (170, "Encapsulation traffic is prohibited"),
    (171, "Invalid identity"),
    (172, "Unknown sender"),
    (173, "NAT not needed"),
    (174, "Is a ClusterIP"),
    (175, "First logical datagram fragment not found"),
    (176, "Forbidden ICMPv6 message"),
    (177, "Denied by LB src range check"),
    (178, "Socket lookup failed"),
    (179, "Socket assign failed"),
    (180, "Proxy redirection not supported for protocol"),
    (181, "Policy denied by denylist"),
    (182, "VLAN traffic disallowed by VLAN filter"),
    (183, "Incorrect VNI from VTEP"),
    (184, "Failed to update or lookup TC buffer"),
    (185, "No SID was found for the IP address"),
    (186, "SRv6 state was removed during tail call"),
    (187, "L3 translation from IPv4 to IPv6 failed (NAT46)"),
    (188, "L3 translation from IPv6 to IPv4 failed (NAT64)"),
    (189, "Authentication required"),
    (190, "No conntrack map found"),
    (191, "No nat map found"),
    (192, "Invalid ClusterID"),
    (193, "Unsupported packet protocol for DSR encapsulation"),
    (194, "No egress gateway found"),
    (195, "Traffic is unencrypted"),
    (196, "TTL exceeded"),
    (197, "No node ID found"),
    (198, "Rate limited"),
    (199, "IGMP handled"),
    (200, "IGMP subscribed"),
    (201, "Multicast handled"),
    (202, "Host datapath not ready"),
    (203, "Endpoint policy program not available"),
    (204, "No Egress IP configured"),
    (205, "Punt to proxy"),
];

/// The description of a drop reason code, or `None` when the code is not in the table.
pub fn drop_reason_description(code: u8) -> Option<&'static str> {
    DROP_REASONS
        .iter()
        .find(|(n, _)| *n == code)
        .map(|(_, desc)| *desc)
}

/// What Hubble prints for a drop reason (`api.DropReason`): the description, or
/// `"<code>, 0"` for an unknown code.
pub fn drop_reason(code: u8) -> Cow<'static, str> {
    drop_reason_ext(code, 0)
}

/// `api.DropReasonExt`: the description, with `", <ext>"` appended when the extended error
/// is non-zero; an unknown code renders as `"<code>, <ext>"`.
pub fn drop_reason_ext(code: u8, ext_error: i8) -> Cow<'static, str> {
    match (drop_reason_description(code), ext_error) {
        (Some(desc), 0) => Cow::Borrowed(desc),
        (Some(desc), ext) => Cow::Owned(format!("{desc}, {ext}")),
        (None, ext) => Cow::Owned(format!("{code}, {ext}")),
    }
}

// --- Policy verdict match types -----------------------------------------------------------

/// `(match type, name)` of `api.PolicyMatchType`.
pub const POLICY_MATCH_TYPES: &[(u32, &str)] = &[
    (0, "none"),
    (1, "L3-Only"),
    (2, "L3-L4"),
    (3, "L4-Only"),
    (4, "all"),
    (5, "L3-Proto"),
    (6, "Proto-Only"),
];

/// The name of a policy-verdict match type (`2` → `L3-L4`); `unknown` for other values.
pub fn policy_match_type(match_type: u32) -> &'static str {
    POLICY_MATCH_TYPES
        .iter()
        .find(|(n, _)| *n == match_type)
        .map_or("unknown", |(_, name)| *name)
}

// --- BPF source files ---------------------------------------------------------------------

/// `(file id, name)` of the datapath's `__id_for_file`.
pub const BPF_FILES: &[(u8, &str)] = &[
    (1, "bpf_host.c"),
    (2, "bpf_lxc.c"),
    (3, "bpf_overlay.c"),
    (4, "bpf_xdp.c"),
    (5, "bpf_sock.c"),
    (6, "bpf_network.c"),
    (7, "bpf_wireguard.c"),
    (101, "drop.h"),
    (102, "srv6.h"),
    (103, "icmp6.h"),
    (104, "nodeport.h"),
    (105, "lb.h"),
    (106, "mcast.h"),
    (107, "ipv4.h"),
    (108, "conntrack.h"),
    (109, "local_delivery.h"),
    (110, "trace.h"),
    (111, "encap.h"),
    (112, "host_firewall.h"),
    (113, "nodeport_egress.h"),
    (114, "ipv6.h"),
    (115, "classifiers.h"),
];

/// The BPF source file name of a drop notification's file id; `unknown(<id>)` if unknown.
pub fn bpf_file_name(id: u8) -> Cow<'static, str> {
    match BPF_FILES.iter().find(|(n, _)| *n == id) {
        Some((_, name)) => Cow::Borrowed(name),
        None => Cow::Owned(format!("unknown({id})")),
    }
}

// --- Socket translation points ------------------------------------------------------------

/// The printer name of a proto `SocketTranslationPoint` value (`1` → `pre-xlate-fwd`);
/// `None` for `SOCK_XLATE_POINT_UNKNOWN` and unknown values.
pub fn sock_xlate_point(point: i32) -> Option<&'static str> {
    match point {
        1 => Some("pre-xlate-fwd"),
        2 => Some("post-xlate-fwd"),
        3 => Some("pre-xlate-rev"),
        4 => Some("post-xlate-rev"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{DropReason, SocketTranslationPoint, TraceObservationPoint};

    #[test]
    fn event_types_round_trip() {
        assert_eq!(event_type_name(5), Some("policy-verdict"));
        assert_eq!(event_type_name(129), Some("l7"));
        assert_eq!(event_type_name(6), None);
        assert_eq!(event_type_by_name("trace-sock"), Some(7));
        assert_eq!(event_type_by_name("agent"), Some(130));
        assert_eq!(event_type_by_name("nope"), None);
        for (t, name) in EVENT_TYPE_NAMES {
            assert_eq!(event_type_by_name(name), Some(*t));
        }
    }

    #[test]
    fn observation_points() {
        assert_eq!(datapath_obs_point(0), "to-endpoint");
        assert_eq!(datapath_obs_point(3), "to-stack");
        assert_eq!(datapath_obs_point(10), "from-network");
        assert_eq!(datapath_obs_point(13), "to-crypto");
        assert_eq!(datapath_obs_point(14), "14");
        assert_eq!(datapath_obs_point_by_name("from-endpoint"), Some(5));
        assert_eq!(datapath_obs_point_by_name("to-lxc"), None);
        assert_eq!(
            trace_observation_point(TraceObservationPoint::ToEndpoint as i32),
            Some("to-endpoint")
        );
        assert_eq!(
            trace_observation_point(TraceObservationPoint::FromNetwork as i32),
            Some("from-network")
        );
        assert_eq!(
            trace_observation_point(TraceObservationPoint::ToCrypto as i32),
            Some("to-crypto")
        );
        assert_eq!(trace_observation_point(0), None);
        assert_eq!(trace_observation_point(14), None);
        assert_eq!(proto_obs_point(0), 101);
        assert_eq!(proto_obs_point(5), 5);
        // Every proto point (except UNKNOWN) has a name that maps back to its datapath value.
        for (dp, name) in TRACE_OBS_POINTS {
            assert_eq!(trace_observation_point(proto_obs_point(*dp)), Some(*name));
        }
    }

    #[test]
    fn drop_reasons() {
        assert_eq!(drop_reason(133), "Policy denied");
        assert_eq!(drop_reason(181), "Policy denied by denylist");
        assert_eq!(drop_reason(189), "Authentication required");
        assert_eq!(drop_reason(136), "Fragmentation needed");
        assert_eq!(drop_reason(161), "NAT 46/64 not enabled");
        assert_eq!(drop_reason(205), "Punt to proxy");
        assert_eq!(drop_reason(159), "159, 0");
        assert_eq!(drop_reason(250), "250, 0");
        assert_eq!(drop_reason_ext(133, 3), "Policy denied, 3");
        assert_eq!(drop_reason_ext(133, -2), "Policy denied, -2");
        assert_eq!(drop_reason_ext(250, -1), "250, -1");
        assert_eq!(drop_reason_description(0), Some("Success"));
        assert_eq!(drop_reason_description(1), None);
    }

    #[test]
    fn every_proto_drop_reason_has_a_description() {
        for code in DROP_MIN..=205 {
            if DropReason::try_from(i32::from(code)).is_ok() {
                assert!(
                    drop_reason_description(code).is_some(),
                    "drop reason {code} has no description"
                );
            }
        }
    }

    #[test]
    fn policy_match_types() {
        assert_eq!(policy_match_type(0), "none");
        assert_eq!(policy_match_type(1), "L3-Only");
        assert_eq!(policy_match_type(2), "L3-L4");
        assert_eq!(policy_match_type(3), "L4-Only");
        assert_eq!(policy_match_type(4), "all");
        assert_eq!(policy_match_type(5), "L3-Proto");
        assert_eq!(policy_match_type(6), "Proto-Only");
        assert_eq!(policy_match_type(7), "unknown");
    }

    #[test]
    fn bpf_files() {
        assert_eq!(bpf_file_name(2), "bpf_lxc.c");
        assert_eq!(bpf_file_name(101), "drop.h");
        assert_eq!(bpf_file_name(115), "classifiers.h");
        assert_eq!(bpf_file_name(0), "unknown(0)");
        assert_eq!(bpf_file_name(200), "unknown(200)");
    }

    #[test]
    fn sock_xlate_points() {
        assert_eq!(
            sock_xlate_point(SocketTranslationPoint::SockXlatePointPreDirectionFwd as i32),
            Some("pre-xlate-fwd")
        );
        assert_eq!(
            sock_xlate_point(SocketTranslationPoint::SockXlatePointPostDirectionFwd as i32),
            Some("post-xlate-fwd")
        );
        assert_eq!(
            sock_xlate_point(SocketTranslationPoint::SockXlatePointPreDirectionRev as i32),
            Some("pre-xlate-rev")
        );
        assert_eq!(
            sock_xlate_point(SocketTranslationPoint::SockXlatePointPostDirectionRev as i32),
            Some("post-xlate-rev")
        );
        assert_eq!(sock_xlate_point(0), None);
        assert_eq!(sock_xlate_point(5), None);
    }
}
