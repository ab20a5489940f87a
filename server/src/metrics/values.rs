//! Label values several handlers share, as Hubble computes them.

use flowscope_filter::{FlowView, L7Kind};
use flowscope_proto::flow::{DropReason, IpVersion, Verdict};
use flowscope_proto::names;

use super::series::Key;

/// `flow.GetEventType().GetType()`: 0 when absent.
pub fn event_type(flow: &dyn FlowView) -> i32 {
    flow.event_type().map_or(0, |e| e.0)
}

/// Hubble's `v1.FlowProtocol`: the L7 protocol of access-log flows, the L4 protocol of
/// datapath flows, `Unknown flow` for other event types.
pub fn flow_protocol(flow: &dyn FlowView) -> &'static str {
    match event_type(flow) {
        names::MESSAGE_TYPE_ACCESS_LOG => match l7_record(flow) {
            "" => "Unknown L7",
            p => p,
        },
        names::MESSAGE_TYPE_DROP
        | names::MESSAGE_TYPE_TRACE
        | names::MESSAGE_TYPE_POLICY_VERDICT
        | names::MESSAGE_TYPE_CAPTURE => l4_protocol(flow).unwrap_or("Unknown L4"),
        _ => "Unknown flow",
    }
}

/// `DNS`, `HTTP`, `Kafka` or `""` for the flow's L7 record.
pub fn l7_record(flow: &dyn FlowView) -> &'static str {
    match flow.l7_kind() {
        L7Kind::Dns => "DNS",
        L7Kind::Http => "HTTP",
        L7Kind::Kafka => "Kafka",
        L7Kind::None => "",
    }
}

/// The L4 protocol name, if the flow has one.
pub fn l4_protocol(flow: &dyn FlowView) -> Option<&'static str> {
    flow.l4().name()
}

/// Go's `String()` of a proto enum: its name, or the number for values it does not know.
fn push_enum(key: &mut Key, name: Option<&'static str>, raw: i32, lower: bool) {
    match name {
        Some(n) if lower => key.push_lower(n),
        Some(n) => key.push(n),
        None => {
            key.begin();
            if raw < 0 {
                key.extend("-");
            }
            key.extend_u64(u64::from(raw.unsigned_abs()));
            key.end();
        }
    }
}

/// `FORWARDED`, `DROPPED`, …
pub fn push_verdict(key: &mut Key, verdict: i32) {
    let name = Verdict::try_from(verdict).ok().map(|v| v.as_str_name());
    push_enum(key, name, verdict, false);
}

/// `forwarded`, `dropped`, …
pub fn push_verdict_lower(key: &mut Key, verdict: i32) {
    let name = Verdict::try_from(verdict).ok().map(|v| v.as_str_name());
    push_enum(key, name, verdict, true);
}

/// The `DropReason` enum name of `drop_reason_desc` (`POLICY_DENIED`).
pub fn push_drop_reason(key: &mut Key, reason: i32) {
    let name = DropReason::try_from(reason).ok().map(|v| v.as_str_name());
    push_enum(key, name, reason, false);
}

/// `IPv4`, `IPv6` or `IP_NOT_USED`.
pub fn push_ip_version(key: &mut Key, version: i32) {
    let name = IpVersion::try_from(version).ok().map(|v| v.as_str_name());
    push_enum(key, name, version, false);
}

/// Lower-cased `TrafficDirection` name: `ingress`, `egress`, `traffic_direction_unknown`.
pub fn push_direction_lower(key: &mut Key, dir: i32) {
    let name = flowscope_proto::flow::TrafficDirection::try_from(dir)
        .ok()
        .map(|v| v.as_str_name());
    push_enum(key, name, dir, true);
}

/// The L7 handlers' `reporter`: `client` for EGRESS, `server` for INGRESS, else `unknown`.
pub fn reporter(flow: &dyn FlowView) -> &'static str {
    use flowscope_proto::flow::TrafficDirection;
    match TrafficDirection::try_from(flow.traffic_direction()) {
        Ok(TrafficDirection::Egress) => "client",
        Ok(TrafficDirection::Ingress) => "server",
        _ => "unknown",
    }
}

pub fn is_verdict(flow: &dyn FlowView, v: Verdict) -> bool {
    flow.verdict() == v as i32
}

/// FORWARDED or REDIRECTED: what the tcp and port-distribution handlers count.
pub fn is_forwarded_or_redirected(flow: &dyn FlowView) -> bool {
    is_verdict(flow, Verdict::Forwarded) || is_verdict(flow, Verdict::Redirected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::{CiliumEventType, Flow, Http, Layer4, Layer7, Tcp, layer4, layer7};

    fn one(f: impl Fn(&mut Key)) -> String {
        let mut k = Key::default();
        f(&mut k);
        k.values().next().expect("one value").into_owned()
    }

    #[test]
    fn enum_names_and_unknown_numbers() {
        assert_eq!(one(|k| push_verdict(k, 2)), "DROPPED");
        assert_eq!(one(|k| push_verdict(k, 0)), "VERDICT_UNKNOWN");
        assert_eq!(one(|k| push_verdict(k, 99)), "99");
        assert_eq!(one(|k| push_verdict(k, -3)), "-3");
        assert_eq!(one(|k| push_verdict_lower(k, 5)), "redirected");
        assert_eq!(one(|k| push_drop_reason(k, 133)), "POLICY_DENIED");
        assert_eq!(one(|k| push_drop_reason(k, 0)), "DROP_REASON_UNKNOWN");
        assert_eq!(one(|k| push_ip_version(k, 1)), "IPv4");
        assert_eq!(one(|k| push_ip_version(k, 0)), "IP_NOT_USED");
        assert_eq!(
            one(|k| push_direction_lower(k, 0)),
            "traffic_direction_unknown"
        );
        assert_eq!(one(|k| push_direction_lower(k, 2)), "egress");
    }

    #[test]
    fn flow_protocol_by_event_type() {
        let mut f = Flow {
            event_type: Some(CiliumEventType {
                r#type: 129,
                sub_type: 0,
            }),
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp::default())),
            }),
            ..Default::default()
        };
        assert_eq!(flow_protocol(&f), "Unknown L7");
        f.l7 = Some(Layer7 {
            record: Some(layer7::Record::Http(Http::default())),
            ..Default::default()
        });
        assert_eq!(flow_protocol(&f), "HTTP");
        for t in [1, 3, 4, 5] {
            f.event_type = Some(CiliumEventType {
                r#type: t,
                sub_type: 0,
            });
            assert_eq!(flow_protocol(&f), "TCP");
        }
        f.l4 = None;
        assert_eq!(flow_protocol(&f), "Unknown L4");
        f.event_type = Some(CiliumEventType {
            r#type: 7,
            sub_type: 0,
        });
        assert_eq!(flow_protocol(&f), "Unknown flow");
        f.event_type = None;
        assert_eq!(flow_protocol(&f), "Unknown flow");
    }
}
