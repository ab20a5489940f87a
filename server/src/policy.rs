//! Identity-based network policy: a subset of CiliumNetworkPolicy v2 YAML compiled into the
//! datapath's policy entries.
//!
//! Supported: `endpointSelector.matchLabels`, `ingress`/`egress` rules with
//! `fromEndpoints`/`toEndpoints` (matchLabels), `fromEntities`/`toEntities` (world, cluster,
//! host, ingress, remote-node, health, init, kube-apiserver, unmanaged, all),
//! `fromCIDR`/`fromCIDRSet`/`toCIDR`/`toCIDRSet`, `toPorts.ports` (port, protocol),
//! `ingressDeny`/`egressDeny`. An endpoint selected by an allow rule in a direction is
//! default-deny in that direction, as in Cilium. Anything else is rejected by name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use flowscope_ebpf::layout::{
    ACTION_ALLOW, ACTION_DENY, DIR_EGRESS, DIR_INGRESS, EnforceKey, PolicyKey, PolicyValue,
};
use flowscope_filter::LabelSelector;
use flowscope_proto::reserved;
use ipnet::IpNet;
use serde::Deserialize;

use crate::flow::PolicyRef;
use crate::identity::ClusterState;

mod labels;

pub use labels::{PolicyDigest, PolicyIndex};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file {path}: {message}")]
    Parse { path: String, message: String },
}

/// Cilium's local CIDR identity scope (`1 << 24`); the first allocated is `base + 1`.
pub const CIDR_IDENTITY_BASE: u32 = 1 << 24;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyDoc {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Option<Rule>,
    #[serde(default)]
    specs: Vec<Rule>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default, flatten)]
    _other: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rule {
    endpoint_selector: Selector,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    ingress: Option<Vec<PeerRule>>,
    #[serde(default)]
    egress: Option<Vec<PeerRule>>,
    #[serde(default)]
    ingress_deny: Option<Vec<PeerRule>>,
    #[serde(default)]
    egress_deny: Option<Vec<PeerRule>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PeerRule {
    #[serde(default, alias = "toEndpoints")]
    from_endpoints: Option<Vec<Selector>>,
    #[serde(default, alias = "toEntities")]
    from_entities: Option<Vec<String>>,
    #[serde(default, alias = "toCIDR")]
    #[serde(rename = "fromCIDR")]
    from_cidr: Option<Vec<String>>,
    #[serde(default, alias = "toCIDRSet")]
    #[serde(rename = "fromCIDRSet")]
    from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(default)]
    to_ports: Option<Vec<PortRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CidrRule {
    cidr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PortRule {
    ports: Vec<PortProtocol>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PortProtocol {
    port: serde_yaml_ng::Value,
    #[serde(default)]
    protocol: Option<String>,
}

/// Policy compiled for the datapath maps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CompiledPolicy {
    pub entries: BTreeMap<PolicyKey, PolicyValue>,
    pub enforce: BTreeSet<EnforceKey>,
    /// CIDR → identity, for the ipcache (longest prefix wins there).
    pub cidrs: BTreeMap<IpNet, u32>,
    /// The rules by cookie (the policy-verdict cookie is the rule's index + 1), in
    /// revision 0: [`PolicyRef::with_revision`] stamps the revision they are loaded in.
    pub rules: Vec<PolicyRef>,
}

/// Parsed policy documents, compiled against a cluster state when the maps are filled.
#[derive(Debug, Default)]
pub struct PolicySet {
    rules: Vec<(Source, Rule)>,
}

/// The resource a rule came from, and the policy labels Cilium derives from it.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    namespace: Option<String>,
    kind: &'static str,
    labels: Vec<String>,
}

fn yaml_err(e: serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(loc) => format!("line {}: {e}", loc.line()),
        None => e.to_string(),
    }
}

impl PolicySet {
    pub fn load(path: &std::path::Path) -> Result<Self, PolicyError> {
        let text = crate::document::read(path)
            .map_err(|source| PolicyError::Read {
                path: path.display().to_string(),
                source,
            })?
            .map_err(|e| PolicyError::Parse {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Self::parse(&text).map_err(|message| PolicyError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses one or more YAML documents (`---`-separated) of kind CiliumNetworkPolicy.
    /// An empty file is rejected (it would silently lift every rule); `{}` is no policy.
    pub fn parse(text: &str) -> Result<Self, String> {
        crate::document::check(text).map_err(|e| e.to_string())?;
        let mut set = PolicySet::default();
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_yaml_ng::Value::deserialize(doc).map_err(yaml_err)?;
            if value.is_null() {
                continue;
            }
            let doc: PolicyDoc = serde_yaml_ng::from_value(value).map_err(yaml_err)?;
            if let Some(kind) = doc
                .kind
                .as_deref()
                .filter(|k| *k != "CiliumNetworkPolicy" && *k != "CiliumClusterwideNetworkPolicy")
            {
                return Err(format!("unsupported kind {kind:?}"));
            }
            let _ = &doc.api_version;
            let clusterwide = doc.kind.as_deref() == Some("CiliumClusterwideNetworkPolicy");
            let kind = if clusterwide {
                "CiliumClusterwideNetworkPolicy"
            } else {
                "CiliumNetworkPolicy"
            };
            let namespace = (!clusterwide)
                .then(|| doc.metadata.namespace.clone())
                .flatten();
            let source = Source {
                labels: labels::policy_labels(
                    Some(kind),
                    &doc.metadata.name,
                    namespace.as_deref(),
                    doc.metadata.uid.as_deref(),
                ),
                name: doc.metadata.name.clone(),
                namespace,
                kind,
            };
            for rule in doc.spec.into_iter().chain(doc.specs) {
                let _ = &rule.description;
                set.rules.push((source.clone(), rule));
            }
        }
        // Validate everything now, so a bad file is rejected at load, not at sync.
        set.compile(&ClusterState::empty(""))?;
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Resolves selectors against `state` into map entries.
    pub fn compile(&self, state: &ClusterState) -> Result<CompiledPolicy, String> {
        let mut out = CompiledPolicy::default();
        let mut next_cidr_id = CIDR_IDENTITY_BASE + 1;
        // Every identity known in the cluster: endpoints plus reserved ones.
        let mut identities: BTreeMap<u32, Vec<String>> = state
            .endpoints()
            .iter()
            .map(|e| (e.identity, e.labels.to_vec()))
            .collect();
        for (id, _) in reserved::RESERVED_IDENTITIES {
            identities
                .entry(*id)
                .or_insert_with(|| reserved::labels(*id));
        }

        for (idx, (source, rule)) in self.rules.iter().enumerate() {
            let cookie = idx as u32 + 1;
            let (name, ns) = (&source.name, &source.namespace);
            out.rules.push(PolicyRef::new(
                source.kind,
                name,
                ns.as_deref(),
                source.labels.clone(),
                0,
            ));
            let selected = select(&identities, &rule.endpoint_selector, ns.as_deref())
                .map_err(|e| format!("{name}: endpointSelector: {e}"))?;
            let sections = [
                (&rule.ingress, DIR_INGRESS, ACTION_ALLOW, "ingress"),
                (&rule.egress, DIR_EGRESS, ACTION_ALLOW, "egress"),
                (&rule.ingress_deny, DIR_INGRESS, ACTION_DENY, "ingressDeny"),
                (&rule.egress_deny, DIR_EGRESS, ACTION_DENY, "egressDeny"),
            ];
            for (peers, dir, action, section) in sections {
                let Some(peers) = peers else { continue };
                if action == ACTION_ALLOW {
                    for local in &selected {
                        out.enforce.insert(EnforceKey {
                            identity: *local,
                            direction: dir,
                            pad: [0; 3],
                        });
                    }
                }
                for (i, peer) in peers.iter().enumerate() {
                    let ctx = |e: String| format!("{name}: {section}[{i}]: {e}");
                    let remotes = peer_identities(
                        peer,
                        &identities,
                        ns.as_deref(),
                        &mut out,
                        &mut next_cidr_id,
                    )
                    .map_err(ctx)?;
                    let ports = ports(peer).map_err(ctx)?;
                    for local in &selected {
                        for remote in &remotes {
                            for (port, proto) in &ports {
                                let key = PolicyKey {
                                    local_identity: *local,
                                    remote_identity: *remote,
                                    dport: *port,
                                    proto: *proto,
                                    direction: dir,
                                };
                                let value = PolicyValue {
                                    action,
                                    pad: [0; 3],
                                    cookie,
                                };
                                // A deny for the same key wins over an allow.
                                match out.entries.get(&key) {
                                    Some(v) if v.action == ACTION_DENY => {}
                                    _ => {
                                        out.entries.insert(key, value);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Identities of endpoints matching `sel`; a namespaced policy only selects its namespace.
fn select(
    identities: &BTreeMap<u32, Vec<String>>,
    sel: &Selector,
    ns: Option<&str>,
) -> Result<Vec<u32>, String> {
    let mut pairs: Vec<(&str, &str)> = sel
        .match_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let has_ns = sel
        .match_labels
        .keys()
        .any(|k| k.ends_with("io.kubernetes.pod.namespace"));
    if let (Some(ns), false) = (ns, has_ns) {
        pairs.push(("k8s:io.kubernetes.pod.namespace", ns));
    }
    let selector = LabelSelector::from_match_labels(pairs);
    Ok(identities
        .iter()
        .filter(|(id, labels)| {
            // Reserved identities are selected by entities, not by endpoint selectors.
            **id >= reserved::MIN_ALLOCATED && selector.matches(labels)
        })
        .map(|(id, _)| *id)
        .collect())
}

fn entity_identities(
    entity: &str,
    identities: &BTreeMap<u32, Vec<String>>,
) -> Result<Vec<u32>, String> {
    Ok(match entity {
        "all" => vec![0],
        "world" => vec![reserved::WORLD, 9, 10],
        "host" => vec![reserved::HOST],
        "ingress" => vec![reserved::INGRESS],
        "remote-node" => vec![6],
        "health" => vec![4],
        "init" => vec![5],
        "kube-apiserver" => vec![7],
        "unmanaged" => vec![3],
        "cluster" => {
            let mut v: Vec<u32> = identities
                .keys()
                .copied()
                .filter(|id| *id >= reserved::MIN_ALLOCATED)
                .collect();
            v.extend([1, 3, 4, 5, 6, 7, 8]);
            v
        }
        other => return Err(format!("unsupported entity {other:?}")),
    })
}

fn peer_identities(
    peer: &PeerRule,
    identities: &BTreeMap<u32, Vec<String>>,
    ns: Option<&str>,
    out: &mut CompiledPolicy,
    next_cidr_id: &mut u32,
) -> Result<Vec<u32>, String> {
    let mut remotes = BTreeSet::new();
    let mut any_peer = false;
    if let Some(eps) = &peer.from_endpoints {
        any_peer = true;
        for sel in eps {
            // An empty selector selects every endpoint (of the namespace, if namespaced).
            remotes.extend(select(identities, sel, ns)?);
        }
    }
    if let Some(ents) = &peer.from_entities {
        any_peer = true;
        for e in ents {
            remotes.extend(entity_identities(e, identities)?);
        }
    }
    let cidrs = peer
        .from_cidr
        .iter()
        .flatten()
        .cloned()
        .chain(peer.from_cidr_set.iter().flatten().map(|c| c.cidr.clone()));
    for c in cidrs {
        any_peer = true;
        let net: IpNet = c
            .parse()
            .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("invalid CIDR {c:?}"))?;
        let net = net.trunc();
        let id = *out.cidrs.entry(net).or_insert_with(|| {
            let id = *next_cidr_id;
            *next_cidr_id += 1;
            id
        });
        remotes.insert(id);
    }
    // Only ports: any remote (L4-only).
    if !any_peer {
        remotes.insert(0);
    }
    Ok(remotes.into_iter().collect())
}

/// `(port, protocol)` pairs; `(0, 0)` when the rule has no ports (L3-only).
fn ports(peer: &PeerRule) -> Result<Vec<(u16, u8)>, String> {
    let Some(rules) = &peer.to_ports else {
        return Ok(vec![(0, 0)]);
    };
    let mut out = Vec::new();
    for r in rules {
        for p in &r.ports {
            let port: u16 = match &p.port {
                serde_yaml_ng::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                serde_yaml_ng::Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("invalid port {:?}", p.port))?;
            let protos: &[u8] = match p
                .protocol
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                None | Some("ANY") => &[6, 17, 132],
                Some("TCP") => &[6],
                Some("UDP") => &[17],
                Some("SCTP") => &[132],
                Some(other) => return Err(format!("unsupported protocol {other:?}")),
            };
            out.extend(protos.iter().map(|proto| (port, *proto)));
        }
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
node_name: n
endpoints:
  - name: details
    namespace: default
    labels: {app: details}
    ips: [10.0.1.2]
    identity: 1001
    endpoint_id: 12
  - name: productpage
    namespace: default
    labels: {app: productpage}
    ips: [10.0.1.3]
    identity: 1002
    endpoint_id: 13
  - name: coredns
    namespace: kube-system
    labels: {k8s-app: kube-dns}
    ips: [10.0.1.53]
    identity: 1003
"#;

    const POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: details, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: details}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: productpage}}]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
    - fromEntities: [ingress]
    - fromCIDRSet: [{cidr: 192.0.2.0/24}]
      toPorts: [{ports: [{port: 80, protocol: TCP}]}]
  egress:
    - toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": kube-system, k8s-app: kube-dns}}]
      toPorts: [{ports: [{port: "53", protocol: UDP}]}]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: productpage}}]
      toPorts: [{ports: [{port: "9081", protocol: TCP}]}]
"#;

    fn key(local: u32, remote: u32, dport: u16, proto: u8, direction: u8) -> PolicyKey {
        PolicyKey {
            local_identity: local,
            remote_identity: remote,
            dport,
            proto,
            direction,
        }
    }

    #[test]
    fn compiles_allow_deny_entities_cidrs_and_default_deny() {
        let state = ClusterState::parse(STATE).expect("state");
        let set = PolicySet::parse(POLICY).expect("policy");
        let c = set.compile(&state).expect("compile");
        let action = |k: PolicyKey| c.entries.get(&k).map(|v| v.action);
        assert_eq!(
            action(key(1001, 1002, 9080, 6, DIR_INGRESS)),
            Some(ACTION_ALLOW)
        );
        assert_eq!(
            action(key(1001, 8, 0, 0, DIR_INGRESS)),
            Some(ACTION_ALLOW),
            "L3-only"
        );
        assert_eq!(
            action(key(1001, 1003, 53, 17, DIR_EGRESS)),
            Some(ACTION_ALLOW)
        );
        assert_eq!(
            action(key(1001, 1002, 9081, 6, DIR_INGRESS)),
            Some(ACTION_DENY)
        );
        let cidr_id = c
            .cidrs
            .get(&"192.0.2.0/24".parse().expect("net"))
            .copied()
            .expect("cidr");
        assert_eq!(cidr_id, CIDR_IDENTITY_BASE + 1);
        assert_eq!(
            action(key(1001, cidr_id, 80, 6, DIR_INGRESS)),
            Some(ACTION_ALLOW)
        );
        assert!(c.enforce.contains(&EnforceKey {
            identity: 1001,
            direction: DIR_INGRESS,
            pad: [0; 3]
        }));
        assert!(c.enforce.contains(&EnforceKey {
            identity: 1001,
            direction: DIR_EGRESS,
            pad: [0; 3]
        }));
        assert!(
            !c.enforce.iter().any(|e| e.identity == 1002),
            "productpage is not selected"
        );
        assert_eq!(
            c.entries
                .get(&key(1001, 1002, 9080, 6, DIR_INGRESS))
                .map(|v| v.cookie),
            Some(1)
        );
        let names: Vec<&str> = c.rules.iter().map(|r| &*r.name).collect();
        assert_eq!(names, vec!["details"]);
        assert_eq!(&*c.rules[0].namespace, "default");
        assert_eq!(&*c.rules[0].kind, "CiliumNetworkPolicy");
    }

    #[test]
    fn namespaced_policy_does_not_select_other_namespaces() {
        let state = ClusterState::parse(STATE).expect("state");
        let p = "metadata: {name: x, namespace: other}\nspec:\n  endpointSelector: {matchLabels: {app: details}}\n  ingress: [{}]\n";
        let c = PolicySet::parse(p)
            .expect("policy")
            .compile(&state)
            .expect("compile");
        assert!(c.enforce.is_empty());
        let p = "metadata: {name: x, namespace: default}\nspec:\n  endpointSelector: {}\n  egress: [{toPorts: [{ports: [{port: 53, protocol: ANY}]}]}]\n";
        let c = PolicySet::parse(p)
            .expect("policy")
            .compile(&state)
            .expect("compile");
        assert_eq!(c.enforce.len(), 2, "both default-namespace endpoints");
        assert!(
            c.entries.contains_key(&key(1001, 0, 53, 17, DIR_EGRESS)),
            "L4-only any remote"
        );
        assert!(c.entries.contains_key(&key(1002, 0, 53, 6, DIR_EGRESS)));
    }

    #[test]
    fn unsupported_fields_are_rejected_by_name() {
        let bad = [
            (
                "spec:\n  endpointSelector: {}\n  ingress: [{fromRequires: [{}]}]\n",
                "fromRequires",
            ),
            (
                "spec:\n  endpointSelector: {matchExpressions: []}\n",
                "matchExpressions",
            ),
            (
                "spec:\n  endpointSelector: {}\n  ingress: [{toPorts: [{ports: [{port: 80}], rules: {http: []}}]}]\n",
                "rules",
            ),
            (
                "spec:\n  endpointSelector: {}\n  ingress: [{fromEntities: [galaxy]}]\n",
                "galaxy",
            ),
            (
                "spec:\n  endpointSelector: {}\n  ingress: [{fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]}]\n",
                "except",
            ),
            (
                "spec:\n  endpointSelector: {}\n  ingress: [{fromCIDR: [nonsense]}]\n",
                "invalid CIDR",
            ),
            (
                "kind: NetworkPolicy\nspec:\n  endpointSelector: {}\n",
                "unsupported kind",
            ),
        ];
        for (text, needle) in bad {
            let err = PolicySet::parse(text).expect_err(needle);
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn empty_and_deeply_nested_files_are_rejected() {
        let err = PolicySet::parse("").expect_err("empty");
        assert!(err.contains("document is empty"), "{err}");
        assert!(PolicySet::parse("{}").expect("no policy").is_empty());
        let t = std::time::Instant::now();
        let err = PolicySet::parse(&"{a: ".repeat(50_000)).expect_err("nested");
        assert!(err.contains("nesting deeper"), "{err}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
}
