//! Hubble's context options (`pkg/hubble/metrics/api/context.go`), shared by every handler:
//! `sourceContext` / `destinationContext` (and their direction-specific overrides) add a
//! `source` / `destination` label from the first non-empty identifier; `labelsContext` adds
//! a fixed-order subset of per-endpoint labels. Context labels come before `source` and
//! `destination`, and each handler places the whole block before or after its own labels.

use flowscope_filter::{EndpointRef, FlowView, IpField, IpRef, Side};
use flowscope_proto::flow::TrafficDirection;

use super::series::Key;

/// One `sourceContext` / `destinationContext` identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextId {
    Identity,
    Namespace,
    Pod,
    PodShort,
    PodName,
    Dns,
    Ip,
    ReservedIdentity,
    WorkloadName,
    App,
}

/// The identifiers `sourceContext` and friends accept, in Hubble's help order.
pub const CONTEXT_IDS: &[(&str, ContextId)] = &[
    ("identity", ContextId::Identity),
    ("namespace", ContextId::Namespace),
    ("pod", ContextId::Pod),
    ("pod-short", ContextId::PodShort),
    ("pod-name", ContextId::PodName),
    ("dns", ContextId::Dns),
    ("ip", ContextId::Ip),
    ("reserved-identity", ContextId::ReservedIdentity),
    ("workload-name", ContextId::WorkloadName),
    ("app", ContextId::App),
];

/// The `labelsContext` labels, in the order they are always emitted.
pub const CONTEXT_LABELS: &[&str] = &[
    "source_ip",
    "source_pod",
    "source_namespace",
    "source_workload",
    "source_app",
    "destination_ip",
    "destination_pod",
    "destination_namespace",
    "destination_workload",
    "destination_app",
    "traffic_direction",
];

/// App labels, most specific first (`podAppLabels`).
const APP_LABELS: &[&str] = &["k8s:app.kubernetes.io/name=", "k8s:k8s-app=", "k8s:app="];

const KUBE_APISERVER: &str = "reserved:kube-apiserver";

/// The option keys (lower-cased, as Hubble matches them) this module handles.
pub const OPTION_KEYS: &[&str] = &[
    "sourcecontext",
    "sourceegresscontext",
    "sourceingresscontext",
    "destinationcontext",
    "destinationegresscontext",
    "destinationingresscontext",
    "labelscontext",
];

/// Parsed context options of one handler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextOptions {
    source: Vec<ContextId>,
    source_egress: Option<Vec<ContextId>>,
    source_ingress: Option<Vec<ContextId>>,
    destination: Vec<ContextId>,
    destination_egress: Option<Vec<ContextId>>,
    destination_ingress: Option<Vec<ContextId>>,
    /// Indexes into [`CONTEXT_LABELS`], sorted and unique.
    labels: Vec<usize>,
}

impl ContextOptions {
    /// Applies one option if it is a context option (`key` compared case-insensitively).
    /// `Ok(false)`: not a context option. `Err`: a context option with a bad value.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let ids = || parse_ids(value);
        match key.to_ascii_lowercase().as_str() {
            "sourcecontext" => self.source = ids()?,
            "sourceegresscontext" => self.source_egress = Some(ids()?),
            "sourceingresscontext" => self.source_ingress = Some(ids()?),
            "destinationcontext" => self.destination = ids()?,
            "destinationegresscontext" => self.destination_egress = Some(ids()?),
            "destinationingresscontext" => self.destination_ingress = Some(ids()?),
            "labelscontext" => {
                let mut labels = Vec::new();
                for l in value.split(',') {
                    match CONTEXT_LABELS.iter().position(|n| *n == l) {
                        Some(i) => labels.push(i),
                        None => {
                            return Err(format!(
                                "invalid labelsContext value {l:?} (one of: {})",
                                CONTEXT_LABELS.join(", ")
                            ));
                        }
                    }
                }
                labels.sort_unstable();
                labels.dedup();
                self.labels = labels;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The context label names, in order: `labelsContext…`, `source`, `destination`.
    pub fn label_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.labels.iter().map(|i| CONTEXT_LABELS[*i]).collect();
        if !self.source.is_empty() {
            names.push("source");
        }
        if !self.destination.is_empty() {
            names.push("destination");
        }
        names
    }

    /// True if no context label is configured.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.source.is_empty() && self.destination.is_empty()
    }

    /// Writes the context label values of `flow` (see [`ContextOptions::label_names`]).
    ///
    /// `invert` is Hubble's `GetLabelValuesInvertSourceDestination`, for response flows:
    /// `labelsContext` reads the endpoints and IPs swapped, and the `source` and
    /// `destination` values (each computed from its own identifiers on its own endpoint) are
    /// exchanged. `traffic_direction` is not inverted.
    pub fn write(&self, flow: &dyn FlowView, invert: bool, key: &mut Key) {
        if !self.labels.is_empty() {
            let (mut src, mut dst) = (
                flow.endpoint(Side::Source),
                flow.endpoint(Side::Destination),
            );
            let (src_ip, dst_ip) = (flow.ip(IpField::Source), flow.ip(IpField::Destination));
            let (mut sbuf, mut dbuf) = ([0u8; 48], [0u8; 48]);
            let (mut src_ip, mut dst_ip) = (src_ip.text(&mut sbuf), dst_ip.text(&mut dbuf));
            if invert {
                std::mem::swap(&mut src, &mut dst);
                std::mem::swap(&mut src_ip, &mut dst_ip);
            }
            for i in &self.labels {
                match CONTEXT_LABELS[*i] {
                    "source_ip" => key.push(src_ip),
                    "source_pod" => key.push(src.map_or("", |e| e.pod_name)),
                    "source_namespace" => key.push(src.map_or("", |e| e.namespace)),
                    "source_workload" => key.push(workload(src)),
                    "source_app" => key.push(app(src)),
                    "destination_ip" => key.push(dst_ip),
                    "destination_pod" => key.push(dst.map_or("", |e| e.pod_name)),
                    "destination_namespace" => key.push(dst.map_or("", |e| e.namespace)),
                    "destination_workload" => key.push(workload(dst)),
                    "destination_app" => key.push(app(dst)),
                    _ => push_direction(key, flow.traffic_direction()),
                }
            }
        }
        if self.source.is_empty() && self.destination.is_empty() {
            return;
        }
        let dir = flow.traffic_direction();
        let src_ids = select(&self.source, &self.source_ingress, &self.source_egress, dir);
        let dst_ids = select(
            &self.destination,
            &self.destination_ingress,
            &self.destination_egress,
            dir,
        );
        let (first, second) = if invert {
            ((dst_ids, Side::Destination), (src_ids, Side::Source))
        } else {
            ((src_ids, Side::Source), (dst_ids, Side::Destination))
        };
        if !self.source.is_empty() {
            write_context(key, flow, first.0, first.1);
        }
        if !self.destination.is_empty() {
            write_context(key, flow, second.0, second.1);
        }
    }
}

fn select<'a>(
    all: &'a [ContextId],
    ingress: &'a Option<Vec<ContextId>>,
    egress: &'a Option<Vec<ContextId>>,
    dir: i32,
) -> &'a [ContextId] {
    match (ingress, egress) {
        (Some(i), _) if dir == TrafficDirection::Ingress as i32 => i,
        (_, Some(e)) if dir == TrafficDirection::Egress as i32 => e,
        _ => all,
    }
}

fn parse_ids(value: &str) -> Result<Vec<ContextId>, String> {
    value
        .split('|')
        .map(|v| {
            let lower = v.to_ascii_lowercase();
            CONTEXT_IDS
                .iter()
                .find(|(n, _)| *n == lower)
                .map(|(_, id)| *id)
                .ok_or_else(|| {
                    let known: Vec<&str> = CONTEXT_IDS.iter().map(|(n, _)| *n).collect();
                    format!("unknown context {v:?} (one of: {})", known.join(", "))
                })
        })
        .collect()
}

/// The first non-empty value of `ids` for one side, as one label value.
fn write_context(key: &mut Key, flow: &dyn FlowView, ids: &[ContextId], side: Side) {
    key.begin();
    let ep = flow.endpoint(side);
    for id in ids {
        key.reset_value();
        write_id(key, flow, ep, *id, side);
        if key.value_len() > 0 {
            break;
        }
    }
    key.end();
}

fn write_id(
    key: &mut Key,
    flow: &dyn FlowView,
    ep: Option<EndpointRef<'_>>,
    id: ContextId,
    side: Side,
) {
    let namespace = ep.map_or("", |e| e.namespace);
    let pod = ep.map_or("", |e| e.pod_name);
    let labels: &[String] = ep.map_or(&[], |e| e.labels);
    match id {
        ContextId::Namespace => key.extend(namespace),
        ContextId::Identity => join(key, labels),
        ContextId::Pod | ContextId::PodShort => {
            if !namespace.is_empty() {
                key.extend(namespace);
                key.extend("/");
            }
            key.extend(if id == ContextId::Pod {
                pod
            } else {
                shorten_pod_name(pod)
            });
        }
        ContextId::PodName => key.extend(pod),
        ContextId::Dns => join(key, flow.names(side)),
        ContextId::Ip => {
            let ip = flow.ip(match side {
                Side::Source => IpField::Source,
                Side::Destination => IpField::Destination,
            });
            if ip != IpRef::None {
                let mut buf = [0u8; 48];
                key.extend(ip.text(&mut buf));
            }
        }
        ContextId::ReservedIdentity => key.extend(reserved_identity(labels)),
        ContextId::WorkloadName => key.extend(workload(ep)),
        ContextId::App => key.extend(app(ep)),
    }
}

fn join(key: &mut Key, items: &[String]) {
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            key.extend(",");
        }
        key.extend(s);
    }
}

fn push_direction(key: &mut Key, dir: i32) {
    match TrafficDirection::try_from(dir) {
        Ok(TrafficDirection::Unknown) => key.push("unknown"),
        Ok(d) => key.push_lower(d.as_str_name()),
        Err(_) => key.push_u64(u64::from(dir as u32)),
    }
}

fn workload<'a>(ep: Option<EndpointRef<'a>>) -> &'a str {
    ep.and_then(|e| e.workloads.first()).map_or("", |w| w.0)
}

/// `getK8sAppFromLabels`: the value of the first app label with a value.
pub fn app<'a>(ep: Option<EndpointRef<'a>>) -> &'a str {
    let Some(ep) = ep else { return "" };
    for label in ep.labels {
        for prefix in APP_LABELS {
            if let Some(v) = label.strip_prefix(prefix)
                && !v.is_empty()
            {
                return v;
            }
        }
    }
    ""
}

/// `handleReservedIdentityLabels`: `reserved:kube-apiserver` if present, else the first
/// `reserved:` label.
fn reserved_identity(labels: &[String]) -> &str {
    if labels.iter().any(|l| l == KUBE_APISERVER) {
        return KUBE_APISERVER;
    }
    labels
        .iter()
        .find(|l| l.starts_with("reserved:"))
        .map_or("", |l| l.as_str())
}

/// Hubble's `shortenPodName`: `^(.+?)(-[a-z0-9]+){1,2}$` replaced by `$1`, i.e. the
/// ReplicaSet hash and pod suffix (or the StatefulSet ordinal) removed.
pub fn shorten_pod_name(name: &str) -> &str {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    // `.` does not match a newline: a prefix containing one cannot match.
    let prefix_ok = |p: &str| !p.is_empty() && !p.contains('\n');
    let Some(last) = name.rfind('-') else {
        return name;
    };
    if !segment_ok(&name[last + 1..]) {
        return name;
    }
    // The lazy prefix prefers two trailing groups over one.
    if let Some(second) = name[..last].rfind('-')
        && segment_ok(&name[second + 1..last])
        && prefix_ok(&name[..second])
    {
        return &name[..second];
    }
    if prefix_ok(&name[..last]) {
        return &name[..last];
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::{Endpoint, Flow, Ip};

    fn opts(pairs: &[(&str, &str)]) -> ContextOptions {
        let mut o = ContextOptions::default();
        for (k, v) in pairs {
            assert!(o.apply(k, v).expect("valid"), "{k}");
        }
        o
    }

    fn ep(ns: &str, pod: &str, labels: &[&str], workload: &str) -> Endpoint {
        super::super::testutil::endpoint(ns, pod, labels, workload, 0)
    }

    fn flow() -> Flow {
        Flow {
            ip: Some(Ip {
                source: "10.0.0.1".into(),
                destination: "10.0.0.2".into(),
                ..Default::default()
            }),
            source: Some(ep(
                "default",
                "productpage-v1-6b746f74dc-9stvq",
                &[
                    "k8s:app=productpage",
                    "k8s:io.kubernetes.pod.namespace=default",
                ],
                "productpage-v1",
            )),
            destination: Some(ep(
                "kube-system",
                "coredns-0",
                &["k8s:k8s-app=kube-dns", "reserved:world"],
                "",
            )),
            source_names: vec!["a.example.".into(), "b.example.".into()],
            traffic_direction: TrafficDirection::Egress as i32,
            ..Default::default()
        }
    }

    fn values(o: &ContextOptions, f: &Flow, invert: bool) -> Vec<String> {
        let mut k = Key::default();
        o.write(f, invert, &mut k);
        k.values().map(|v| v.into_owned()).collect()
    }

    #[test]
    fn label_names_follow_the_fixed_order_then_source_and_destination() {
        let o = opts(&[
            ("destinationContext", "pod"),
            (
                "labelsContext",
                "traffic_direction,source_pod,destination_ip,source_ip",
            ),
            ("sourceContext", "namespace"),
        ]);
        assert_eq!(
            o.label_names(),
            [
                "source_ip",
                "source_pod",
                "destination_ip",
                "traffic_direction",
                "source",
                "destination"
            ]
        );
    }

    #[test]
    fn every_labels_context_label() {
        let o = opts(&[("labelsContext", &CONTEXT_LABELS.join(","))]);
        assert_eq!(o.label_names(), CONTEXT_LABELS);
        assert_eq!(
            values(&o, &flow(), false),
            [
                "10.0.0.1",
                "productpage-v1-6b746f74dc-9stvq",
                "default",
                "productpage-v1",
                "productpage",
                "10.0.0.2",
                "coredns-0",
                "kube-system",
                "",
                "kube-dns",
                "egress"
            ]
        );
        // Inverted: endpoints and IPs swap, the direction does not.
        assert_eq!(
            values(&o, &flow(), true),
            [
                "10.0.0.2",
                "coredns-0",
                "kube-system",
                "",
                "kube-dns",
                "10.0.0.1",
                "productpage-v1-6b746f74dc-9stvq",
                "default",
                "productpage-v1",
                "productpage",
                "egress"
            ]
        );
        let mut f = flow();
        f.traffic_direction = 0;
        assert_eq!(values(&o, &f, false)[10], "unknown");
        f.traffic_direction = TrafficDirection::Ingress as i32;
        assert_eq!(values(&o, &f, false)[10], "ingress");
    }

    #[test]
    fn every_context_identifier() {
        let cases = [
            (
                "identity",
                "k8s:app=productpage,k8s:io.kubernetes.pod.namespace=default",
                "k8s:k8s-app=kube-dns,reserved:world",
            ),
            ("namespace", "default", "kube-system"),
            (
                "pod",
                "default/productpage-v1-6b746f74dc-9stvq",
                "kube-system/coredns-0",
            ),
            ("pod-short", "default/productpage-v1", "kube-system/coredns"),
            ("pod-name", "productpage-v1-6b746f74dc-9stvq", "coredns-0"),
            ("dns", "a.example.,b.example.", ""),
            ("ip", "10.0.0.1", "10.0.0.2"),
            ("reserved-identity", "", "reserved:world"),
            ("workload-name", "productpage-v1", ""),
            ("app", "productpage", "kube-dns"),
        ];
        for (id, src, dst) in cases {
            let o = opts(&[("sourceContext", id), ("destinationContext", id)]);
            assert_eq!(o.label_names(), ["source", "destination"]);
            assert_eq!(values(&o, &flow(), false), [src, dst], "{id}");
        }
    }

    #[test]
    fn first_non_empty_identifier_wins() {
        let o = opts(&[
            ("sourceContext", "reserved-identity|dns|ip"),
            (
                "destinationContext",
                "workload-name|DNS|reserved-identity|ip",
            ),
        ]);
        assert_eq!(
            values(&o, &flow(), false),
            ["a.example.,b.example.", "reserved:world"]
        );
        let mut f = flow();
        f.destination = None;
        f.ip = None;
        assert_eq!(values(&o, &f, false), ["a.example.,b.example.", ""]);
    }

    #[test]
    fn kube_apiserver_wins_the_reserved_identity() {
        let o = opts(&[("sourceContext", "reserved-identity")]);
        let mut f = flow();
        f.source = Some(ep(
            "",
            "",
            &["reserved:host", "reserved:kube-apiserver"],
            "",
        ));
        assert_eq!(values(&o, &f, false), ["reserved:kube-apiserver"]);
    }

    #[test]
    fn app_label_preference() {
        let e = ep(
            "",
            "",
            &["k8s:app=a", "k8s:app.kubernetes.io/name=", "k8s:k8s-app=b"],
            "",
        );
        // Label order decides; empty values are skipped.
        assert_eq!(app(Some(EndpointRef::from(&e))), "a");
        let e = ep("", "", &["k8s:app.kubernetes.io/name=n", "k8s:app=a"], "");
        assert_eq!(app(Some(EndpointRef::from(&e))), "n");
        assert_eq!(app(None), "");
    }

    #[test]
    fn direction_specific_overrides() {
        let o = opts(&[
            ("sourceContext", "namespace"),
            ("sourceEgressContext", "pod-name"),
            ("destinationContext", "namespace"),
            ("destinationIngressContext", "ip"),
        ]);
        let mut f = flow();
        assert_eq!(
            values(&o, &f, false),
            ["productpage-v1-6b746f74dc-9stvq", "kube-system"]
        );
        f.traffic_direction = TrafficDirection::Ingress as i32;
        assert_eq!(values(&o, &f, false), ["default", "10.0.0.2"]);
        // An override alone adds no label (Hubble appends `source` only for sourceContext).
        let o = opts(&[("sourceEgressContext", "pod-name")]);
        assert!(o.label_names().is_empty());
        assert!(values(&o, &flow(), false).is_empty());
    }

    #[test]
    fn inverted_source_and_destination_exchange_their_values() {
        let o = opts(&[
            ("sourceContext", "namespace"),
            ("destinationContext", "pod"),
        ]);
        assert_eq!(
            values(&o, &flow(), true),
            ["kube-system/coredns-0", "default"]
        );
        // Only sourceContext: the inverted source takes the (empty) destination value.
        let o = opts(&[("sourceContext", "namespace")]);
        assert_eq!(values(&o, &flow(), true), [""]);
    }

    #[test]
    fn bad_values_name_the_token() {
        let mut o = ContextOptions::default();
        let e = o.apply("sourceContext", "pod|nope").expect_err("bad id");
        assert!(e.contains("\"nope\""), "{e}");
        let e = o
            .apply("labelsContext", "source_pod,source_nope")
            .expect_err("bad label");
        assert!(e.contains("\"source_nope\""), "{e}");
        assert_eq!(o.apply("exemplars", "true"), Ok(false));
        // Keys are case-insensitive; identifiers too.
        assert_eq!(o.apply("SOURCECONTEXT", "Namespace"), Ok(true));
    }

    #[test]
    fn pod_name_shortening() {
        for (name, short) in [
            ("details-v1-79f774bdb9-x2x4k", "details-v1"),
            ("coredns-5d78c9869d-abcde", "coredns"),
            ("web-0", "web"),
            ("my-App-x", "my-App"),
            ("noseparator", "noseparator"),
            ("-abc", "-abc"),
            ("a-b-c-d", "a-b"),
            ("trailing-", "trailing-"),
            ("UPPER-CASE", "UPPER-CASE"),
            ("", ""),
        ] {
            assert_eq!(shorten_pod_name(name), short, "{name}");
        }
    }

    #[test]
    fn empty_pod_with_namespace_keeps_the_slash() {
        let o = opts(&[("sourceContext", "pod")]);
        let mut f = flow();
        f.source = Some(ep("default", "", &[], ""));
        assert_eq!(values(&o, &f, false), ["default/"]);
    }
}
