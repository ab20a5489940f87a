//! `GetFlowsRequest.field_mask`: copy only the requested Flow fields into what is sent.
//!
//! Paths are taken from the binary FieldMask as sent, including Hubble's upper-case `IP`,
//! `Type` and `Summary`. Sub-paths are applied inside `source`/`destination` (Endpoint), `IP`,
//! `ethernet` and `l7`; for other messages a sub-path keeps the whole sub-message.

#![allow(deprecated)] // Flow.Summary and Flow.reply are deprecated but part of the mask.

use flowscope_proto::flow::{Endpoint, Ethernet, Flow, Ip, Layer7};

#[derive(Debug, thiserror::Error)]
#[error("invalid field mask path {0:?}")]
pub struct FieldMaskError(pub String);

/// Which parts of a sub-message to keep: `None` = all of it.
type Sub = Option<Vec<String>>;

/// A compiled field mask.
#[derive(Debug, Default, Clone)]
pub struct FlowMask {
    top: Vec<(&'static str, Sub)>,
}

const FLOW_FIELDS: &[&str] = &[
    "time",
    "uuid",
    "emitter",
    "verdict",
    "drop_reason",
    "auth_type",
    "ethernet",
    "IP",
    "l4",
    "tunnel",
    "source",
    "destination",
    "Type",
    "node_name",
    "node_labels",
    "source_names",
    "destination_names",
    "l7",
    "reply",
    "event_type",
    "source_service",
    "destination_service",
    "traffic_direction",
    "policy_match_type",
    "trace_observation_point",
    "trace_reason",
    "file",
    "ip_trace_id",
    "drop_reason_desc",
    "is_reply",
    "debug_capture_point",
    "interface",
    "proxy_port",
    "trace_context",
    "sock_xlate_point",
    "socket_cookie",
    "cgroup_id",
    "Summary",
    "extensions",
    "egress_allowed_by",
    "ingress_allowed_by",
    "egress_denied_by",
    "ingress_denied_by",
    "policy_log",
    "aggregate",
];
const ENDPOINT_FIELDS: &[&str] = &[
    "ID",
    "identity",
    "cluster_name",
    "namespace",
    "labels",
    "pod_name",
    "workloads",
];
const IP_FIELDS: &[&str] = &[
    "source",
    "source_xlated",
    "destination",
    "ipVersion",
    "encrypted",
];
const ETHERNET_FIELDS: &[&str] = &["source", "destination"];
const L7_FIELDS: &[&str] = &["type", "latency_ns", "dns", "http", "kafka"];

impl FlowMask {
    pub fn new(paths: &[String]) -> Result<Option<Self>, FieldMaskError> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut mask = FlowMask::default();
        for path in paths {
            let (head, rest) = match path.split_once('.') {
                Some((h, r)) => (h, Some(r)),
                None => (path.as_str(), None),
            };
            let Some(&name) = FLOW_FIELDS.iter().find(|f| **f == head) else {
                return Err(FieldMaskError(path.clone()));
            };
            if let Some(rest) = rest {
                let sub_head = rest.split('.').next().unwrap_or(rest);
                let known = match name {
                    "source" | "destination" => Some(ENDPOINT_FIELDS),
                    "IP" => Some(IP_FIELDS),
                    "ethernet" => Some(ETHERNET_FIELDS),
                    "l7" => Some(L7_FIELDS),
                    _ => None,
                };
                if known.is_some_and(|k| !k.contains(&sub_head)) {
                    return Err(FieldMaskError(path.clone()));
                }
            }
            let entry = match mask.top.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e,
                None => {
                    mask.top.push((name, Some(Vec::new())));
                    let last = mask.top.len() - 1;
                    &mut mask.top[last]
                }
            };
            match (rest, &mut entry.1) {
                (None, sub) => *sub = None,
                (Some(r), Some(subs)) => subs.push(r.split('.').next().unwrap_or(r).to_string()),
                (Some(_), None) => {}
            }
        }
        // A top-level entry created only by sub-paths keeps exactly those.
        Ok(Some(mask))
    }

    /// Copies the masked fields of `f` into a new Flow.
    pub fn apply(&self, f: &Flow) -> Flow {
        let mut out = Flow::default();
        for (name, sub) in &self.top {
            let sub = sub.as_deref();
            match *name {
                "time" => out.time = f.time,
                "uuid" => out.uuid = f.uuid.clone(),
                "emitter" => out.emitter = f.emitter.clone(),
                "verdict" => out.verdict = f.verdict,
                "drop_reason" => out.drop_reason = f.drop_reason,
                "auth_type" => out.auth_type = f.auth_type,
                "ethernet" => out.ethernet = f.ethernet.as_ref().map(|e| mask_ethernet(e, sub)),
                "IP" => out.ip = f.ip.as_ref().map(|ip| mask_ip(ip, sub)),
                "l4" => out.l4 = f.l4.clone(),
                "tunnel" => out.tunnel = f.tunnel.clone(),
                "source" => out.source = f.source.as_ref().map(|e| mask_endpoint(e, sub)),
                "destination" => {
                    out.destination = f.destination.as_ref().map(|e| mask_endpoint(e, sub))
                }
                "Type" => out.r#type = f.r#type,
                "node_name" => out.node_name = f.node_name.clone(),
                "node_labels" => out.node_labels = f.node_labels.clone(),
                "source_names" => out.source_names = f.source_names.clone(),
                "destination_names" => out.destination_names = f.destination_names.clone(),
                "l7" => out.l7 = f.l7.as_ref().map(|l| mask_l7(l, sub)),
                "reply" => out.reply = f.reply,
                "event_type" => out.event_type = f.event_type,
                "source_service" => out.source_service = f.source_service.clone(),
                "destination_service" => out.destination_service = f.destination_service.clone(),
                "traffic_direction" => out.traffic_direction = f.traffic_direction,
                "policy_match_type" => out.policy_match_type = f.policy_match_type,
                "trace_observation_point" => {
                    out.trace_observation_point = f.trace_observation_point
                }
                "trace_reason" => out.trace_reason = f.trace_reason,
                "file" => out.file = f.file.clone(),
                "ip_trace_id" => out.ip_trace_id = f.ip_trace_id,
                "drop_reason_desc" => out.drop_reason_desc = f.drop_reason_desc,
                "is_reply" => out.is_reply = f.is_reply,
                "debug_capture_point" => out.debug_capture_point = f.debug_capture_point,
                "interface" => out.interface = f.interface.clone(),
                "proxy_port" => out.proxy_port = f.proxy_port,
                "trace_context" => out.trace_context = f.trace_context.clone(),
                "sock_xlate_point" => out.sock_xlate_point = f.sock_xlate_point,
                "socket_cookie" => out.socket_cookie = f.socket_cookie,
                "cgroup_id" => out.cgroup_id = f.cgroup_id,
                "Summary" => out.summary = f.summary.clone(),
                "extensions" => out.extensions = f.extensions.clone(),
                "egress_allowed_by" => out.egress_allowed_by = f.egress_allowed_by.clone(),
                "ingress_allowed_by" => out.ingress_allowed_by = f.ingress_allowed_by.clone(),
                "egress_denied_by" => out.egress_denied_by = f.egress_denied_by.clone(),
                "ingress_denied_by" => out.ingress_denied_by = f.ingress_denied_by.clone(),
                "policy_log" => out.policy_log = f.policy_log.clone(),
                "aggregate" => out.aggregate = f.aggregate,
                _ => {}
            }
        }
        out
    }
}

fn has(sub: Option<&[String]>, name: &str) -> bool {
    sub.is_none_or(|s| s.iter().any(|n| n == name))
}

fn mask_endpoint(e: &Endpoint, sub: Option<&[String]>) -> Endpoint {
    if sub.is_none() {
        return e.clone();
    }
    Endpoint {
        id: if has(sub, "ID") { e.id } else { 0 },
        identity: if has(sub, "identity") { e.identity } else { 0 },
        cluster_name: if has(sub, "cluster_name") {
            e.cluster_name.clone()
        } else {
            String::new()
        },
        namespace: if has(sub, "namespace") {
            e.namespace.clone()
        } else {
            String::new()
        },
        labels: if has(sub, "labels") {
            e.labels.clone()
        } else {
            Vec::new()
        },
        pod_name: if has(sub, "pod_name") {
            e.pod_name.clone()
        } else {
            String::new()
        },
        workloads: if has(sub, "workloads") {
            e.workloads.clone()
        } else {
            Vec::new()
        },
    }
}

fn mask_ip(ip: &Ip, sub: Option<&[String]>) -> Ip {
    if sub.is_none() {
        return ip.clone();
    }
    Ip {
        source: if has(sub, "source") {
            ip.source.clone()
        } else {
            String::new()
        },
        source_xlated: if has(sub, "source_xlated") {
            ip.source_xlated.clone()
        } else {
            String::new()
        },
        destination: if has(sub, "destination") {
            ip.destination.clone()
        } else {
            String::new()
        },
        ip_version: if has(sub, "ipVersion") {
            ip.ip_version
        } else {
            0
        },
        encrypted: has(sub, "encrypted") && ip.encrypted,
    }
}

fn mask_ethernet(e: &Ethernet, sub: Option<&[String]>) -> Ethernet {
    Ethernet {
        source: if has(sub, "source") {
            e.source.clone()
        } else {
            String::new()
        },
        destination: if has(sub, "destination") {
            e.destination.clone()
        } else {
            String::new()
        },
    }
}

fn mask_l7(l: &Layer7, sub: Option<&[String]>) -> Layer7 {
    use flowscope_proto::flow::layer7::Record;
    let record = l.record.as_ref().filter(|r| match r {
        Record::Dns(_) => has(sub, "dns"),
        Record::Http(_) => has(sub, "http"),
        Record::Kafka(_) => has(sub, "kafka"),
    });
    Layer7 {
        r#type: if has(sub, "type") { l.r#type } else { 0 },
        latency_ns: if has(sub, "latency_ns") {
            l.latency_ns
        } else {
            0
        },
        record: record.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::types::Timestamp;

    fn flow() -> Flow {
        Flow {
            time: Some(Timestamp {
                seconds: 5,
                nanos: 0,
            }),
            uuid: "u".into(),
            verdict: 2,
            summary: "s".into(),
            ip: Some(Ip {
                source: "1.1.1.1".into(),
                destination: "2.2.2.2".into(),
                ip_version: 1,
                ..Default::default()
            }),
            source: Some(Endpoint {
                identity: 8,
                pod_name: "p".into(),
                labels: vec!["reserved:ingress".into()],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_only_masked_fields_with_uppercase_paths() {
        let paths: Vec<String> = [
            "time",
            "IP",
            "Summary",
            "source.identity",
            "source.pod_name",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = FlowMask::new(&paths).expect("valid").expect("some");
        let out = m.apply(&flow());
        assert_eq!(out.time, flow().time);
        assert_eq!(out.ip, flow().ip);
        assert_eq!(out.summary, "s");
        assert_eq!(out.verdict, 0);
        assert!(out.uuid.is_empty());
        let src = out.source.expect("source");
        assert_eq!((src.identity, src.pod_name.as_str()), (8, "p"));
        assert!(src.labels.is_empty());
    }

    #[test]
    fn invalid_paths_are_rejected() {
        assert!(FlowMask::new(&["nope".to_string()]).is_err());
        assert!(FlowMask::new(&["source.nope".to_string()]).is_err());
        assert!(FlowMask::new(&[]).expect("empty").is_none());
    }
}
