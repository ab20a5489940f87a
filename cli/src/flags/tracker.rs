//! Hubble's `filterTracker`: one white- or blacklist under construction.

use flowscope_proto::flow::{FlowFilter, NetworkInterface, TrafficDirection, flow_filter};

use super::FlagError;
use super::values;

/// Groups of flags of which at most one may be given per list (Hubble's `conflicts`
/// table, plus `--cluster` with its directed forms). Single-flag groups of Hubble's table
/// never fire and are left out.
const CONFLICT_GROUPS: &[&[&str]] = &[
    &[
        "from-fqdn",
        "from-ip",
        "ip",
        "fqdn",
        "from-namespace",
        "namespace",
        "from-all-namespaces",
        "all-namespaces",
    ],
    &["from-fqdn", "from-ip", "ip", "fqdn", "from-pod", "pod"],
    &[
        "to-fqdn",
        "to-ip",
        "ip",
        "fqdn",
        "to-namespace",
        "namespace",
        "to-all-namespaces",
        "all-namespaces",
    ],
    &["to-fqdn", "to-ip", "ip", "fqdn", "to-pod", "pod"],
    &["to-pod", "namespace", "all-namespaces"],
    &["from-pod", "namespace", "all-namespaces"],
    &["to-service", "namespace", "all-namespaces"],
    &["from-service", "namespace", "all-namespaces"],
    &["label", "from-label"],
    &["label", "to-label"],
    &["service", "from-service"],
    &["service", "to-service"],
    &["port", "to-port"],
    &["port", "from-port"],
    &["identity", "to-identity"],
    &["identity", "from-identity"],
    &["workload", "to-workload"],
    &["workload", "from-workload"],
    &["cluster", "to-cluster"],
    &["cluster", "from-cluster"],
    &["encrypted", "unencrypted"],
];

/// Flags that fill `source_*` on the left filter and `destination_*` on the right one.
const DIRECTIONLESS: &[&str] = &[
    "ip",
    "pod",
    "namespace",
    "all-namespaces",
    "label",
    "fqdn",
    "port",
    "identity",
    "service",
    "workload",
    "cluster",
];

/// One list (white or black) being built: `left OR right`, plus the namespace flags that
/// are applied to pods and services when the filters are materialized.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    left: Option<FlowFilter>,
    right: Option<FlowFilter>,
    ns: Vec<String>,
    src_ns: Vec<String>,
    dst_ns: Vec<String>,
    changed: Vec<String>,
}

impl Tracker {
    fn left(&mut self) -> &mut FlowFilter {
        self.left.get_or_insert_with(FlowFilter::default)
    }

    fn right(&mut self) -> &mut FlowFilter {
        self.right.get_or_insert_with(FlowFilter::default)
    }

    /// A directed or direction-agnostic flag: same update on both filters.
    fn both(&mut self, update: impl Fn(&mut FlowFilter)) {
        update(self.left());
        update(self.right());
    }

    /// A directionless flag: the source side on the left, the destination side on the right.
    fn split(&mut self, src: impl FnOnce(&mut FlowFilter), dst: impl FnOnce(&mut FlowFilter)) {
        src(self.left());
        dst(self.right());
    }

    fn check_conflict(&self) -> Result<(), FlagError> {
        let changed = |flag: &str| self.changed.iter().any(|c| c == flag);
        for group in CONFLICT_GROUPS {
            for flag in group.iter().copied().filter(|f| changed(f)) {
                if let Some(other) = group.iter().copied().find(|o| *o != flag && changed(o)) {
                    // Name the directionless flag first: "--ip and --from-ip".
                    let (a, b) = if DIRECTIONLESS.contains(&other) && !DIRECTIONLESS.contains(&flag)
                    {
                        (other, flag)
                    } else {
                        (flag, other)
                    };
                    return Err(FlagError::Conflict(a.to_string(), b.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Applies one flag occurrence (long name without dashes).
    pub(super) fn set(&mut self, name: &str, val: &str) -> Result<(), FlagError> {
        if !self.changed.iter().any(|c| c == name) {
            self.changed.push(name.to_string());
        }
        self.check_conflict()?;

        let v = val.to_string();
        match name {
            "uuid" => self.both(|f| f.uuid.push(v.clone())),

            "fqdn" => self.split(
                |f| f.source_fqdn.push(v.clone()),
                |f| f.destination_fqdn.push(v.clone()),
            ),
            "from-fqdn" => self.both(|f| f.source_fqdn.push(v.clone())),
            "to-fqdn" => self.both(|f| f.destination_fqdn.push(v.clone())),

            "pod" => self.split(
                |f| f.source_pod.push(v.clone()),
                |f| f.destination_pod.push(v.clone()),
            ),
            "from-pod" => self.both(|f| f.source_pod.push(v.clone())),
            "to-pod" => self.both(|f| f.destination_pod.push(v.clone())),

            "ip" => self.split(
                |f| f.source_ip.push(v.clone()),
                |f| f.destination_ip.push(v.clone()),
            ),
            "from-ip" => self.both(|f| f.source_ip.push(v.clone())),
            "to-ip" => self.both(|f| f.destination_ip.push(v.clone())),
            "snat-ip" => self.both(|f| f.source_ip_xlated.push(v.clone())),

            "ipv4" => {
                let version = values::ip_version("v4");
                self.both(|f| f.ip_version.push(version));
            }
            "ipv6" => {
                let version = values::ip_version("v6");
                self.both(|f| f.ip_version.push(version));
            }
            "ip-version" => {
                let version = values::ip_version(val);
                self.both(|f| f.ip_version.push(version));
            }

            "label" => self.split(
                |f| f.source_label.push(v.clone()),
                |f| f.destination_label.push(v.clone()),
            ),
            "from-label" => self.both(|f| f.source_label.push(v.clone())),
            "to-label" => self.both(|f| f.destination_label.push(v.clone())),

            "namespace" => self.ns.push(v),
            "from-namespace" => self.src_ns.push(v),
            "to-namespace" => self.dst_ns.push(v),
            "all-namespaces" => self.ns.push(String::new()),
            "from-all-namespaces" => self.src_ns.push(String::new()),
            "to-all-namespaces" => self.dst_ns.push(String::new()),

            "service" => self.split(
                |f| f.source_service.push(v.clone()),
                |f| f.destination_service.push(v.clone()),
            ),
            "from-service" => self.both(|f| f.source_service.push(v.clone())),
            "to-service" => self.both(|f| f.destination_service.push(v.clone())),

            // Ports pass through unchecked, as in Hubble: the filter engine (server or
            // --input-file) rejects a value that is not a port.
            "port" => self.split(
                |f| f.source_port.push(v.clone()),
                |f| f.destination_port.push(v.clone()),
            ),
            "from-port" => self.both(|f| f.source_port.push(v.clone())),
            "to-port" => self.both(|f| f.destination_port.push(v.clone())),

            "trace-id" => self.both(|f| f.trace_id.push(v.clone())),
            "ip-trace-id" => {
                let id = values::ip_trace_id(val)?;
                self.both(|f| f.ip_trace_id.push(id));
            }

            "verdict" => {
                let verdict = values::verdict(val)?;
                self.both(|f| f.verdict.push(verdict));
            }
            "drop-reason-desc" => {
                let reason = values::drop_reason(val)?;
                self.both(|f| f.drop_reason_desc.push(reason));
            }

            "http-status" => self.both(|f| f.http_status_code.push(v.clone())),
            "http-method" => self.both(|f| f.http_method.push(v.clone())),
            "http-path" => self.both(|f| f.http_path.push(v.clone())),
            "http-url" => self.both(|f| f.http_url.push(v.clone())),
            "http-header" => {
                let header = values::http_header(val)?;
                self.both(|f| f.http_header.push(header.clone()));
            }

            "type" => {
                let event_type = values::event_type(val)?;
                self.both(|f| f.event_type.push(event_type));
            }
            "protocol" => self.both(|f| f.protocol.push(v.clone())),

            "workload" => {
                let workload = values::workload(val);
                self.split(
                    |f| f.source_workload.push(workload.clone()),
                    |f| f.destination_workload.push(workload.clone()),
                );
            }
            "from-workload" => {
                let workload = values::workload(val);
                self.both(|f| f.source_workload.push(workload.clone()));
            }
            "to-workload" => {
                let workload = values::workload(val);
                self.both(|f| f.destination_workload.push(workload.clone()));
            }

            "identity" => {
                let id = values::identity(name, val)?;
                self.split(
                    |f| f.source_identity.push(id),
                    |f| f.destination_identity.push(id),
                );
            }
            "from-identity" => {
                let id = values::identity(name, val)?;
                self.both(|f| f.source_identity.push(id));
            }
            "to-identity" => {
                let id = values::identity(name, val)?;
                self.both(|f| f.destination_identity.push(id));
            }

            "node-name" => self.both(|f| f.node_name.push(v.clone())),
            "node-label" => self.both(|f| f.node_labels.push(v.clone())),

            "cluster" => self.split(
                |f| f.source_cluster_name.push(v.clone()),
                |f| f.destination_cluster_name.push(v.clone()),
            ),
            "from-cluster" => self.both(|f| f.source_cluster_name.push(v.clone())),
            "to-cluster" => self.both(|f| f.destination_cluster_name.push(v.clone())),

            "tcp-flags" => {
                let flags = values::tcp_flags(val)?;
                self.both(|f| f.tcp_flags.push(flags));
            }

            "traffic-direction" => {
                let direction = match val.to_ascii_lowercase().as_str() {
                    "ingress" => TrafficDirection::Ingress,
                    "egress" => TrafficDirection::Egress,
                    _ => {
                        return Err(values::invalid(name, val, "expected ingress or egress"));
                    }
                };
                self.both(|f| f.traffic_direction.push(direction as i32));
            }
            "cel-expression" => self.both(|f| {
                f.experimental
                    .get_or_insert_with(flow_filter::Experimental::default)
                    .cel_expression
                    .push(v.clone());
            }),
            "interface" => self.both(|f| {
                f.interface.push(NetworkInterface {
                    index: 0,
                    name: v.clone(),
                });
            }),
            "encrypted" => self.both(|f| f.encrypted.push(true)),
            "unencrypted" => self.both(|f| f.encrypted.push(false)),

            _ => return Err(values::invalid(name, val, "not a filter flag")),
        }

        if let Some(left) = &self.left {
            self.check_namespace_conflicts(left)?;
        }
        if let Some(right) = &self.right {
            self.check_namespace_conflicts(right)?;
        }
        Ok(())
    }

    /// Hubble's `checkNamespaceConflicts`: explicit `ns/` prefixes must agree with the
    /// namespace flags, and a namespaced pod with the services of the same side.
    fn check_namespace_conflicts(&self, ff: &FlowFilter) -> Result<(), FlagError> {
        ns_conflicts(&self.ns, &ff.source_pod)?;
        ns_conflicts(&self.ns, &ff.source_service)?;
        ns_conflicts(&self.ns, &ff.destination_pod)?;
        ns_conflicts(&self.ns, &ff.destination_service)?;
        ns_conflicts(&self.src_ns, &ff.source_pod)?;
        ns_conflicts(&self.src_ns, &ff.source_service)?;
        ns_conflicts(&self.dst_ns, &ff.destination_pod)?;
        ns_conflicts(&self.dst_ns, &ff.destination_service)?;
        inconsistent_namespaces(&ff.source_pod, &ff.source_service)?;
        inconsistent_namespaces(&ff.destination_pod, &ff.destination_service)
    }

    /// The finished list: nothing if no flag touched it, one filter if left and right are
    /// equal, else both.
    pub(super) fn into_filters(self) -> Vec<FlowFilter> {
        if self.left.is_none()
            && self.right.is_none()
            && self.ns.is_empty()
            && self.src_ns.is_empty()
            && self.dst_ns.is_empty()
        {
            return Vec::new();
        }
        let mut left = self.left.unwrap_or_default();
        let mut right = self.right.unwrap_or_default();
        if !self.dst_ns.is_empty() {
            apply_dst_ns(&mut left, &self.dst_ns);
            apply_dst_ns(&mut right, &self.dst_ns);
        }
        if !self.src_ns.is_empty() {
            apply_src_ns(&mut left, &self.src_ns);
            apply_src_ns(&mut right, &self.src_ns);
        }
        if !self.ns.is_empty() {
            apply_src_ns(&mut left, &self.ns);
            apply_dst_ns(&mut right, &self.ns);
        }
        if left == right {
            vec![left]
        } else {
            vec![left, right]
        }
    }
}

fn namespace_of(name: &str) -> &str {
    match name.split_once('/') {
        Some((ns, _)) => ns,
        None => "",
    }
}

fn ns_conflicts(namespaces: &[String], names: &[String]) -> Result<(), FlagError> {
    for ns in namespaces {
        for name in names {
            let nn = namespace_of(name);
            if !nn.is_empty() && nn != ns {
                return Err(FlagError::NamespaceConflict(format!(
                    "namespace conflict: {ns:?} does not contain {name:?}"
                )));
            }
        }
    }
    Ok(())
}

fn inconsistent_namespaces(pods: &[String], services: &[String]) -> Result<(), FlagError> {
    for pod in pods {
        let pod_ns = namespace_of(pod);
        if pod_ns.is_empty() {
            continue;
        }
        if let Some(svc) = services.iter().find(|svc| namespace_of(svc) != pod_ns) {
            return Err(FlagError::NamespaceConflict(format!(
                "namespace of service {svc:?} conflict with pod {pod_ns:?}"
            )));
        }
    }
    Ok(())
}

/// Prefixes every value without a namespace with each namespace (`x` → `ns/x`).
fn add_namespaces(filter: &[String], namespaces: &[String]) -> Vec<String> {
    if namespaces.is_empty() || filter.is_empty() {
        return filter.to_vec();
    }
    let mut out = Vec::new();
    for value in filter {
        if value.contains('/') {
            out.push(value.clone());
            continue;
        }
        for ns in namespaces {
            out.push(format!("{ns}/{value}"));
        }
    }
    out
}

fn apply_src_ns(ff: &mut FlowFilter, namespaces: &[String]) {
    if ff.source_pod.is_empty() && ff.source_service.is_empty() {
        ff.source_pod = vec![String::new()];
    }
    ff.source_pod = add_namespaces(&ff.source_pod, namespaces);
    ff.source_service = add_namespaces(&ff.source_service, namespaces);
}

fn apply_dst_ns(ff: &mut FlowFilter, namespaces: &[String]) {
    if ff.destination_pod.is_empty() && ff.destination_service.is_empty() {
        ff.destination_pod = vec![String::new()];
    }
    ff.destination_pod = add_namespaces(&ff.destination_pod, namespaces);
    ff.destination_service = add_namespaces(&ff.destination_service, namespaces);
}
