//! Cluster state: endpoints, their security identities and labels, loaded from a YAML file.
//!
//! This module knows nothing about where flows come from: the access-log source and the
//! datapath maps both read the same [`ClusterState`]. Reloads build a whole new state and swap
//! it in, so a malformed file leaves the previous state in force.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use flowscope_proto::reserved;
use serde::Deserialize;

use crate::flow::PolicyRef;

/// Why a state file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("state file {path}: {message}")]
    Parse { path: String, message: String },
}

/// One endpoint as written in the state file. JSON is valid YAML, so the corpus'
/// `cluster.json` (keys `pod`, `ip`, `ep_id`, `workload`, `local`) loads as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointSpec {
    #[serde(alias = "pod")]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default, alias = "ip")]
    ips: OneOrMany,
    #[serde(default, alias = "ep_id")]
    endpoint_id: Option<u32>,
    #[serde(default)]
    identity: Option<u32>,
    #[serde(default)]
    workload: Option<WorkloadSpec>,
    #[serde(default, alias = "cluster_name")]
    cluster: Option<String>,
    /// Local endpoints (on this node) carry their endpoint ID and workloads in flows, as
    /// Hubble shows them; remote ones do not. Defaults to true when an endpoint ID is given.
    #[serde(default)]
    local: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(untagged)]
enum Labels {
    #[default]
    None,
    /// `["k8s:app=x", "reserved:world"]`, source prefix optional (`k8s:` assumed).
    List(Vec<String>),
    /// `{app: x}`: Kubernetes labels, `k8s:` is prepended.
    Map(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WorkloadSpec {
    /// A bare name is a Deployment.
    Name(String),
    Full {
        name: String,
        #[serde(default = "deployment")]
        kind: String,
    },
}

fn deployment() -> String {
    "Deployment".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSpec {
    #[serde(default)]
    node_name: String,
    #[serde(default)]
    cluster_name: Option<String>,
    #[serde(default)]
    endpoints: Vec<EndpointSpec>,
    /// Workload generator metadata carried by the corpus file; not used here.
    #[serde(default)]
    events: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    mix: Option<serde_yaml_ng::Value>,
}

/// An endpoint as flows show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    pub pod_name: String,
    pub namespace: String,
    /// Sorted `source:key=value` labels.
    pub labels: Arc<[String]>,
    pub ips: Vec<IpAddr>,
    /// Local endpoint ID; `None` for remote endpoints.
    pub endpoint_id: Option<u32>,
    pub identity: u32,
    /// `(name, kind)`; only local endpoints carry workloads.
    pub workloads: Vec<(String, String)>,
    pub cluster_name: String,
    /// This endpoint's `flow.Endpoint` message body, encoded on first use.
    pub encoded: std::sync::OnceLock<Box<[u8]>>,
}

/// The resolved state: endpoints by IP, labels by identity.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// Shared with every flow of this state.
    node_name: Arc<String>,
    endpoints: Vec<Arc<EndpointInfo>>,
    by_ip: HashMap<IpAddr, Arc<EndpointInfo>>,
    identity_labels: HashMap<u32, Arc<[String]>>,
    /// The loaded policy's rules by datapath rule id (the policy-verdict cookie) - 1.
    policy_rules: Vec<Arc<PolicyRef>>,
}

impl ClusterState {
    /// A state with only the reserved identities.
    pub fn empty(node_name: &str) -> Self {
        let mut s = ClusterState {
            node_name: Arc::new(node_name.to_string()),
            ..Default::default()
        };
        s.add_reserved();
        s
    }

    pub fn load(path: &Path) -> Result<Self, StateError> {
        let text = crate::document::read(path)
            .map_err(|source| StateError::Read {
                path: path.display().to_string(),
                source,
            })?
            .map_err(|e| StateError::Parse {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Self::parse(&text).map_err(|message| StateError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses state YAML; errors name the line. Empty, oversized and too deeply nested
    /// documents are rejected before parsing ([`crate::document`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        crate::document::check(text).map_err(|e| e.to_string())?;
        let spec: StateSpec = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(loc) => format!("line {}: {e}", loc.line()),
            None => e.to_string(),
        })?;
        let _ = (&spec.events, &spec.mix);
        Self::from_spec(spec)
    }

    fn from_spec(spec: StateSpec) -> Result<Self, String> {
        let default_cluster = spec.cluster_name.clone().unwrap_or_default();
        let mut state = ClusterState::empty(&spec.node_name);

        // Label sets first, so identities can be derived deterministically and shared.
        let mut resolved = Vec::with_capacity(spec.endpoints.len());
        for (i, ep) in spec.endpoints.into_iter().enumerate() {
            let labels = normalize_labels(&ep)?;
            resolved.push((i, ep, labels));
        }
        let explicit: HashMap<Vec<String>, u32> = resolved
            .iter()
            .filter_map(|(_, ep, labels)| ep.identity.map(|id| (labels.clone(), id)))
            .collect();
        let taken: HashSet<u32> = explicit.values().copied().collect();
        let derived = derive_identities(
            resolved
                .iter()
                .filter(|(_, ep, _)| ep.identity.is_none())
                .map(|(_, _, l)| l.clone()),
            &explicit,
            &taken,
        )?;

        for (i, ep, labels) in resolved {
            let identity = match ep.identity {
                Some(id) => id,
                None => *derived
                    .get(&labels)
                    .ok_or_else(|| format!("endpoint {i}: no identity could be derived"))?,
            };
            let labels: Arc<[String]> = labels.into();
            match state.identity_labels.get(&identity) {
                Some(existing) if identity >= reserved::MIN_ALLOCATED && **existing != *labels => {
                    return Err(format!(
                        "endpoint {} ({}): identity {identity} is already used by a different label set",
                        i, ep.name
                    ));
                }
                Some(_) => {}
                None => {
                    state.identity_labels.insert(identity, labels.clone());
                }
            }
            let ips = match &ep.ips {
                OneOrMany::None => Vec::new(),
                OneOrMany::One(s) => vec![parse_ip(s, i)?],
                OneOrMany::Many(v) => v.iter().map(|s| parse_ip(s, i)).collect::<Result<_, _>>()?,
            };
            let local = ep.local.unwrap_or(ep.endpoint_id.is_some());
            let cluster_name = ep
                .cluster
                .clone()
                .or_else(|| label_value(&labels, "k8s:io.cilium.k8s.policy.cluster"))
                .unwrap_or_else(|| default_cluster.clone());
            let workloads = match (&ep.workload, local) {
                (Some(WorkloadSpec::Name(n)), true) => vec![(n.clone(), deployment())],
                (Some(WorkloadSpec::Full { name, kind }), true) => {
                    vec![(name.clone(), kind.clone())]
                }
                _ => Vec::new(),
            };
            let info = Arc::new(EndpointInfo {
                pod_name: ep.name.clone(),
                namespace: ep.namespace.clone(),
                labels,
                ips: ips.clone(),
                endpoint_id: if local { ep.endpoint_id } else { None },
                identity,
                workloads,
                cluster_name,
                encoded: std::sync::OnceLock::new(),
            });
            for ip in ips {
                if state.by_ip.insert(ip, info.clone()).is_some() {
                    return Err(format!(
                        "endpoint {i} ({}): IP {ip} is already used by another endpoint",
                        ep.name
                    ));
                }
            }
            state.endpoints.push(info);
        }
        Ok(state)
    }

    fn add_reserved(&mut self) {
        for (id, _) in reserved::RESERVED_IDENTITIES {
            self.identity_labels
                .insert(*id, reserved::labels(*id).into());
        }
    }

    /// Labels for an identity that no endpoint owns (e.g. a policy's CIDR identity).
    pub fn add_identity_labels(&mut self, id: u32, labels: Vec<String>) {
        self.identity_labels
            .entry(id)
            .or_insert_with(|| labels.into());
    }

    pub fn set_node_name(&mut self, name: &str) {
        self.node_name = Arc::new(name.to_string());
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The node name as flows share it.
    /// Sets the loaded policy's rules; rule id `n` (the datapath's cookie) is `rules[n - 1]`.
    pub fn set_policy_rules(&mut self, rules: Vec<Arc<PolicyRef>>) {
        self.policy_rules = rules;
    }

    /// The rule with datapath rule id `cookie` (none for 0 or an unknown id).
    pub fn policy_rule(&self, cookie: u32) -> Option<&Arc<PolicyRef>> {
        let i = usize::try_from(cookie).ok()?.checked_sub(1)?;
        self.policy_rules.get(i)
    }

    pub fn node_name_shared(&self) -> &Arc<String> {
        &self.node_name
    }

    pub fn endpoints(&self) -> &[Arc<EndpointInfo>] {
        &self.endpoints
    }

    pub fn endpoint_by_ip(&self, ip: &IpAddr) -> Option<&Arc<EndpointInfo>> {
        self.by_ip.get(ip)
    }

    /// The labels of a known identity (reserved ones included).
    pub fn labels_for_identity(&self, id: u32) -> Option<&Arc<[String]>> {
        self.identity_labels.get(&id)
    }
}

fn parse_ip(s: &str, i: usize) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("endpoint {i}: invalid IP address {s:?}"))
}

fn label_value(labels: &[String], key: &str) -> Option<String> {
    labels.iter().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Sorted `source:key=value` labels, with the namespace label Cilium always adds.
fn normalize_labels(ep: &EndpointSpec) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = match &ep.labels {
        Labels::None => Vec::new(),
        Labels::Map(m) => m.iter().map(|(k, v)| format!("k8s:{k}={v}")).collect(),
        Labels::List(l) => l
            .iter()
            .map(|s| {
                let s = s.trim();
                if s.is_empty() {
                    return Err(format!("endpoint {}: empty label", ep.name));
                }
                // A label without a source prefix is a Kubernetes label.
                let key = s.split('=').next().unwrap_or(s);
                Ok(if key.contains(':') {
                    s.to_string()
                } else {
                    format!("k8s:{s}")
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let is_reserved = out.iter().any(|l| l.starts_with("reserved:"));
    if !ep.namespace.is_empty() && !is_reserved {
        let ns_label = format!("k8s:io.kubernetes.pod.namespace={}", ep.namespace);
        if !out.contains(&ns_label) {
            out.push(ns_label);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The first and last identity a cluster-local label set may get: Cilium's
/// `identity.MinimalAllocationIdentity` and `MaximumAllocationIdentity` (256 and
/// `(1 << ClusterIDShift) - 1`; the bits above 16 carry the cluster ID).
pub const MIN_DERIVED_IDENTITY: u32 = reserved::MIN_ALLOCATED;
pub const MAX_DERIVED_IDENTITY: u32 = (1 << 16) - 1;

/// Assigns each label set without an explicit identity a number in
/// [`MIN_DERIVED_IDENTITY`]`..=`[`MAX_DERIVED_IDENTITY`]: a hash of the sorted labels
/// (stable across reloads and unaffected by other endpoints), probing linearly past numbers
/// already taken. Label sets are processed in sorted order, so the result depends only on
/// the set of label sets. When the range is full the file is rejected: probing a full
/// range would never end.
fn derive_identities(
    label_sets: impl Iterator<Item = Vec<String>>,
    explicit: &HashMap<Vec<String>, u32>,
    taken: &HashSet<u32>,
) -> Result<HashMap<Vec<String>, u32>, String> {
    const SPAN: u32 = MAX_DERIVED_IDENTITY - MIN_DERIVED_IDENTITY + 1;
    let mut sets: Vec<Vec<String>> = label_sets.collect();
    sets.sort();
    sets.dedup();
    let mut used = taken.clone();
    // Only numbers inside the range limit how many more can be derived.
    let mut free = SPAN as usize
        - taken
            .iter()
            .filter(|id| (MIN_DERIVED_IDENTITY..=MAX_DERIVED_IDENTITY).contains(*id))
            .count();
    let mut out = HashMap::new();
    for set in sets {
        if let Some(id) = explicit.get(&set) {
            out.insert(set, *id);
            continue;
        }
        if free == 0 {
            return Err(format!(
                "identity range {MIN_DERIVED_IDENTITY}-{MAX_DERIVED_IDENTITY} is exhausted: \
                 {} label sets without an explicit identity need more than the {SPAN} \
                 cluster-local identities (minus those given explicitly)",
                out.len() + 1
            ));
        }
        let mut h: u32 = 0x811c_9dc5;
        for label in &set {
            for b in label.bytes().chain(std::iter::once(0)) {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        // At least one number is free, so this probe ends within SPAN steps.
        let mut id = MIN_DERIVED_IDENTITY + h % SPAN;
        while used.contains(&id) {
            id = MIN_DERIVED_IDENTITY + (id - MIN_DERIVED_IDENTITY + 1) % SPAN;
        }
        used.insert(id);
        free -= 1;
        out.insert(set, id);
    }
    Ok(out)
}

/// The live state, swapped whole on reload. Readers take a cheap `Arc` snapshot.
#[derive(Debug)]
pub struct StateHandle {
    current: RwLock<Arc<ClusterState>>,
}

impl StateHandle {
    pub fn new(state: ClusterState) -> Self {
        StateHandle {
            current: RwLock::new(Arc::new(state)),
        }
    }

    pub fn snapshot(&self) -> Arc<ClusterState> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, state: ClusterState) {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
node_name: kind-worker
cluster_name: default
endpoints:
  - name: details-v1-79f774bdb9-abcde
    namespace: default
    labels: {app: details, version: v1}
    ips: [10.244.1.10, "fd00::10"]
    endpoint_id: 1234
    workload: details-v1
  - name: details-v1-79f774bdb9-fghij
    namespace: default
    labels: {app: details, version: v1}
    ip: 10.244.2.10
  - name: productpage
    namespace: default
    labels: ["k8s:app=productpage"]
    ips: [10.244.1.11]
    identity: 25000
    endpoint_id: 42
    workload: {name: productpage, kind: StatefulSet}
"#;

    #[test]
    fn loads_endpoints_and_derives_shared_identities() {
        let s = ClusterState::parse(STATE).expect("parse");
        assert_eq!(s.node_name(), "kind-worker");
        let a = s
            .endpoint_by_ip(&"10.244.1.10".parse().expect("ip"))
            .expect("a");
        let b = s
            .endpoint_by_ip(&"10.244.2.10".parse().expect("ip"))
            .expect("b");
        let v6 = s
            .endpoint_by_ip(&"fd00::10".parse().expect("ip"))
            .expect("v6");
        assert_eq!(
            a.identity, b.identity,
            "identical label sets share an identity"
        );
        assert!(a.identity >= 256);
        assert_eq!(v6.pod_name, a.pod_name);
        assert_eq!(
            &*a.labels,
            &[
                "k8s:app=details".to_string(),
                "k8s:io.kubernetes.pod.namespace=default".to_string(),
                "k8s:version=v1".to_string()
            ]
        );
        assert_eq!(a.endpoint_id, Some(1234));
        assert_eq!(
            a.workloads,
            vec![("details-v1".into(), "Deployment".into())]
        );
        assert_eq!(a.cluster_name, "default");
        assert_eq!(b.endpoint_id, None);
        assert!(b.workloads.is_empty(), "remote endpoints carry no workload");
        let p = s
            .endpoint_by_ip(&"10.244.1.11".parse().expect("ip"))
            .expect("p");
        assert_eq!(p.identity, 25000);
        assert_eq!(
            p.workloads,
            vec![("productpage".into(), "StatefulSet".into())]
        );
        assert_eq!(
            s.labels_for_identity(8).map(|l| l.to_vec()),
            Some(vec!["reserved:ingress".to_string()])
        );
    }

    #[test]
    fn derived_identity_is_stable_when_other_endpoints_change() {
        let s1 = ClusterState::parse(STATE).expect("parse");
        let extra = format!(
            "{STATE}  - name: other\n    namespace: x\n    labels: {{app: other}}\n    ips: [10.0.0.9]\n"
        );
        let s2 = ClusterState::parse(&extra).expect("parse");
        let ip: IpAddr = "10.244.1.10".parse().expect("ip");
        assert_eq!(
            s1.endpoint_by_ip(&ip).map(|e| e.identity),
            s2.endpoint_by_ip(&ip).map(|e| e.identity)
        );
    }

    #[test]
    fn malformed_file_names_the_line() {
        let bad = "node_name: n\nendpoints:\n  - name: a\n    ips: [1.2.3.4]\n    bogus: 1\n";
        let err = ClusterState::parse(bad).expect_err("must fail");
        assert!(err.starts_with("line 5:"), "{err}");
        let bad_ip = "endpoints:\n  - name: a\n    ips: [1.2.3]\n";
        let err = ClusterState::parse(bad_ip).expect_err("must fail");
        assert!(err.contains("invalid IP"), "{err}");
    }

    #[test]
    fn empty_and_deeply_nested_documents_are_rejected() {
        // What a reload sees in the middle of truncate-then-write.
        let err = ClusterState::parse("").expect_err("empty");
        assert!(err.contains("document is empty"), "{err}");
        assert!(ClusterState::parse("# nothing yet\n").is_err());
        let t = std::time::Instant::now();
        let err = ClusterState::parse(&"[".repeat(200_000)).expect_err("nested");
        assert!(err.contains("nesting deeper than 64 levels"), "{err}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn duplicate_ip_and_conflicting_identity_are_rejected() {
        let dup = "endpoints:\n  - name: a\n    ips: [1.2.3.4]\n  - name: b\n    ips: [1.2.3.4]\n";
        assert!(ClusterState::parse(dup).is_err());
        let conflict = "endpoints:\n  - name: a\n    identity: 300\n    labels: {app: a}\n  - name: b\n    identity: 300\n    labels: {app: b}\n";
        assert!(ClusterState::parse(conflict).is_err());
    }

    #[test]
    fn corpus_cluster_file_is_expressible() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/monitor-v1.19/cluster.json");
        let s = ClusterState::load(&path).expect("cluster.json loads as state");
        assert_eq!(s.node_name(), "bench/node-1");
        assert_eq!(s.endpoints().len(), 256);
        let local = s
            .endpoint_by_ip(&"10.244.1.19".parse().expect("ip"))
            .expect("local");
        assert_eq!(local.endpoint_id, Some(118));
        assert_eq!(local.identity, 20002);
        assert_eq!(local.cluster_name, "default");
        assert_eq!(local.workloads, vec![("svc-2".into(), "Deployment".into())]);
        assert_eq!(local.labels.len(), 7);
        let remote = s
            .endpoint_by_ip(&"10.244.2.53".parse().expect("ip"))
            .expect("remote");
        assert_eq!(remote.endpoint_id, None);
        assert!(remote.workloads.is_empty());
    }

    /// `count` endpoints, each with its own label set and no explicit identity.
    fn distinct_label_sets(count: usize, explicit: &[u32]) -> String {
        let mut y = String::from("endpoints:\n");
        for i in 0..count {
            y.push_str(&format!("  - {{name: p{i}, labels: [\"k8s:n={i}\"]}}\n"));
        }
        for (i, id) in explicit.iter().enumerate() {
            y.push_str(&format!(
                "  - {{name: e{i}, labels: [\"k8s:e={i}\"], identity: {id}}}\n"
            ));
        }
        y
    }

    #[test]
    fn full_identity_range_is_an_error_not_a_hang() {
        let span = (MAX_DERIVED_IDENTITY - MIN_DERIVED_IDENTITY + 1) as usize;
        // Run on a thread with a deadline: the bug this guards against is an endless loop.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let fits = ClusterState::parse(&distinct_label_sets(span, &[])).map(|s| {
                let ids: HashSet<u32> = s.endpoints().iter().map(|e| e.identity).collect();
                (ids.len(), ids.iter().all(|id| (256..=65535).contains(id)))
            });
            let over = ClusterState::parse(&distinct_label_sets(span + 1, &[])).map(|_| ());
            // An explicit identity inside the range takes one of the numbers.
            let explicit = ClusterState::parse(&distinct_label_sets(span, &[300])).map(|_| ());
            let _ = tx.send((fits, over, explicit));
        });
        let (fits, over, explicit) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("identity derivation must terminate");
        assert_eq!(fits.expect("a full range still loads"), (span, true));
        let err = over.expect_err("one label set too many");
        assert!(
            err.contains("identity range 256-65535 is exhausted"),
            "{err}"
        );
        assert!(explicit.is_err());
    }

    #[test]
    fn handle_swaps_whole_state() {
        let h = StateHandle::new(ClusterState::empty("n1"));
        let before = h.snapshot();
        h.replace(ClusterState::parse(STATE).expect("parse"));
        assert_eq!(before.node_name(), "n1");
        assert_eq!(h.snapshot().node_name(), "kind-worker");
    }
}
