//! Policy labels and a per-policy digest, for the agent events of a policy (re)load.
//!
//! Cilium labels every rule imported from a CiliumNetworkPolicy with where it came from
//! (`k8s:io.cilium.k8s.policy.derived-from`, `.name`, `.namespace`, `.uid`) and reports
//! those labels in `POLICY_UPDATED` / `POLICY_DELETED`; a policy is its label set.

use std::collections::BTreeMap;

use super::PolicySet;

/// What a reload compares of one policy: its rule count and the content of its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDigest {
    pub rule_count: usize,
    /// The rules' parsed form, so a changed rule shows as a changed policy.
    content: String,
}

/// Every policy of a file by its labels.
pub type PolicyIndex = BTreeMap<Vec<String>, PolicyDigest>;

const PREFIX: &str = "k8s:io.cilium.k8s.policy";

/// Cilium's `GetPolicyLabels` in its (sorted) order; a document without a kind is a
/// CiliumNetworkPolicy, and a UID is added only when the document has one.
pub(super) fn policy_labels(
    kind: Option<&str>,
    name: &str,
    namespace: Option<&str>,
    uid: Option<&str>,
) -> Vec<String> {
    let kind = kind.unwrap_or("CiliumNetworkPolicy");
    let mut labels = vec![
        format!("{PREFIX}.derived-from={kind}"),
        format!("{PREFIX}.name={name}"),
    ];
    if let Some(ns) = namespace {
        labels.push(format!("{PREFIX}.namespace={ns}"));
    }
    if let Some(uid) = uid {
        labels.push(format!("{PREFIX}.uid={uid}"));
    }
    labels
}

impl PolicySet {
    /// The policies of this set, by label set, with their rules' digest.
    pub fn index(&self) -> PolicyIndex {
        let mut index = PolicyIndex::new();
        for (source, rule) in &self.rules {
            let digest = index.entry(source.labels.clone()).or_insert(PolicyDigest {
                rule_count: 0,
                content: String::new(),
            });
            digest.rule_count += 1;
            digest.content.push_str(&format!("{rule:?}\n"));
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: allow-web, namespace: default, uid: 7c1d}\nspecs:\n  - endpointSelector: {matchLabels: {app: web}}\n    ingress: [{fromEntities: [world]}]\n  - endpointSelector: {matchLabels: {app: db}}\n    egress: [{toEntities: [world]}]\n---\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: deny-all}\nspec:\n  endpointSelector: {}\n  ingressDeny: [{fromEntities: [world]}]\n";

    #[test]
    fn policies_are_indexed_by_their_cilium_labels() {
        let index = PolicySet::parse(TWO).expect("policy").index();
        let keys: Vec<_> = index.keys().cloned().collect();
        assert_eq!(
            keys,
            vec![
                vec![
                    "k8s:io.cilium.k8s.policy.derived-from=CiliumClusterwideNetworkPolicy"
                        .to_string(),
                    "k8s:io.cilium.k8s.policy.name=deny-all".to_string(),
                ],
                vec![
                    "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy".to_string(),
                    "k8s:io.cilium.k8s.policy.name=allow-web".to_string(),
                    "k8s:io.cilium.k8s.policy.namespace=default".to_string(),
                    "k8s:io.cilium.k8s.policy.uid=7c1d".to_string(),
                ],
            ]
        );
        let counts: Vec<_> = index.values().map(|d| d.rule_count).collect();
        assert_eq!(counts, vec![1, 2]);
    }

    #[test]
    fn a_changed_rule_changes_the_digest() {
        let a = PolicySet::parse(TWO).expect("a").index();
        let b = PolicySet::parse(&TWO.replace("app: db", "app: cache"))
            .expect("b")
            .index();
        let (ka, da) = a.iter().last().expect("cnp");
        assert_ne!(b.get(ka), Some(da));
        assert_eq!(a.iter().next(), b.iter().next(), "the CCNP did not change");
    }
}
