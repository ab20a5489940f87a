//! The policy rule that a policy verdict matched, as flows carry it.
//!
//! flowd's datapath reports the matching rule's id as the policy-verdict cookie; the cluster
//! state maps it to one shared [`PolicyRef`], so a flow holds a pointer and its `Policy`
//! message is encoded once per rule. Hubble fills `ingress_allowed_by`, `egress_allowed_by`,
//! `ingress_denied_by` or `egress_denied_by` of policy-verdict flows by direction and verdict
//! (`pkg/hubble/parser/common/correlation`); [`field_for`] makes the same choice.

use flowscope_proto::flow::{DropReason, Policy, TrafficDirection, Verdict};

use super::wire::{bytes_always, string, uint};

/// Flow field numbers of the four policy lists.
pub const EGRESS_ALLOWED_BY: u32 = 21001;
pub const INGRESS_ALLOWED_BY: u32 = 21002;
pub const EGRESS_DENIED_BY: u32 = 21004;
pub const INGRESS_DENIED_BY: u32 = 21005;

/// One loaded policy rule: its resource's kind, name and namespace, the labels Cilium
/// derives for it, and the policy revision it was loaded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub kind: Box<str>,
    pub name: Box<str>,
    pub namespace: Box<str>,
    pub labels: Box<[String]>,
    pub revision: u64,
    /// The `flow.Policy` message body.
    encoded: Box<[u8]>,
}

impl PolicyRef {
    /// A rule of the resource `kind`/`namespace`/`name`, with the policy labels Cilium
    /// derives for it (`k8s:io.cilium.k8s.policy.*`).
    pub fn new(
        kind: &str,
        name: &str,
        namespace: Option<&str>,
        labels: Vec<String>,
        revision: u64,
    ) -> Self {
        let mut encoded = Vec::new();
        string(&mut encoded, 1, name.as_bytes());
        string(&mut encoded, 2, namespace.unwrap_or("").as_bytes());
        for l in &labels {
            // A repeated string keeps its empty elements.
            bytes_always(&mut encoded, 3, l.as_bytes());
        }
        uint(&mut encoded, 4, revision);
        string(&mut encoded, 5, kind.as_bytes());
        PolicyRef {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.unwrap_or("").into(),
            labels: labels.into(),
            revision,
            encoded: encoded.into(),
        }
    }

    /// The same rule in another policy revision.
    pub fn with_revision(&self, revision: u64) -> Self {
        let ns = (!self.namespace.is_empty()).then_some(&*self.namespace);
        PolicyRef::new(&self.kind, &self.name, ns, self.labels.to_vec(), revision)
    }

    /// The body of its `flow.Policy` message.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    pub fn to_proto(&self) -> Policy {
        Policy {
            name: self.name.to_string(),
            namespace: self.namespace.to_string(),
            labels: self.labels.to_vec(),
            revision: self.revision,
            kind: self.kind.to_string(),
        }
    }
}

/// The Flow field that lists the matched rule of a policy verdict with this direction,
/// verdict and drop reason, or `None` where Hubble lists none (an unmatched drop, an unknown
/// direction).
pub fn field_for(traffic_direction: u8, verdict: u8, drop_reason: u32) -> Option<u32> {
    let verdict = i32::from(verdict);
    let allowed = verdict == Verdict::Forwarded as i32 || verdict == Verdict::Redirected as i32;
    let denied = verdict == Verdict::Dropped as i32
        && (drop_reason == DropReason::PolicyDeny as u32
            || drop_reason == DropReason::PolicyDenied as u32);
    let denied = denied || verdict == Verdict::Audit as i32;
    let egress = i32::from(traffic_direction) == TrafficDirection::Egress as i32;
    let ingress = i32::from(traffic_direction) == TrafficDirection::Ingress as i32;
    match (egress, ingress, allowed, denied) {
        (true, _, true, _) => Some(EGRESS_ALLOWED_BY),
        (true, _, _, true) => Some(EGRESS_DENIED_BY),
        (_, true, true, _) => Some(INGRESS_ALLOWED_BY),
        (_, true, _, true) => Some(INGRESS_DENIED_BY),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn encoded_body_is_the_policy_message() {
        let labels = [
            "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy",
            "k8s:io.cilium.k8s.policy.name=server-ingress",
            "k8s:io.cilium.k8s.policy.namespace=default",
            "k8s:io.cilium.k8s.policy.uid=0f1e",
        ];
        let p = PolicyRef::new(
            "CiliumNetworkPolicy",
            "server-ingress",
            Some("default"),
            labels.iter().map(|l| l.to_string()).collect(),
            3,
        );
        let decoded = Policy::decode(p.encoded()).expect("valid Policy");
        assert_eq!(decoded, p.to_proto());
        assert_eq!(decoded.labels, labels);
        assert_eq!(
            (decoded.kind.as_str(), decoded.revision),
            ("CiliumNetworkPolicy", 3)
        );
        let later = p.with_revision(4);
        assert_eq!(later.revision, 4);
        assert_eq!(later.labels, p.labels);
        // A clusterwide rule has no namespace.
        let ccnp = PolicyRef::new("CiliumClusterwideNetworkPolicy", "all", None, Vec::new(), 1);
        assert_eq!(Policy::decode(ccnp.encoded()).expect("valid").namespace, "");
    }

    #[test]
    fn field_follows_direction_and_verdict_as_hubble() {
        let (eg, ing) = (
            TrafficDirection::Egress as u8,
            TrafficDirection::Ingress as u8,
        );
        let (fwd, drop, audit, redir) = (
            Verdict::Forwarded as u8,
            Verdict::Dropped as u8,
            Verdict::Audit as u8,
            Verdict::Redirected as u8,
        );
        let deny = DropReason::PolicyDeny as u32;
        let denied = DropReason::PolicyDenied as u32;
        assert_eq!(field_for(eg, fwd, 0), Some(EGRESS_ALLOWED_BY));
        assert_eq!(field_for(ing, redir, 0), Some(INGRESS_ALLOWED_BY));
        assert_eq!(field_for(ing, drop, deny), Some(INGRESS_DENIED_BY));
        assert_eq!(field_for(eg, drop, denied), Some(EGRESS_DENIED_BY));
        assert_eq!(field_for(ing, audit, 0), Some(INGRESS_DENIED_BY));
        // A drop for another reason, or no direction: nothing.
        assert_eq!(field_for(ing, drop, 132), None);
        assert_eq!(field_for(0, fwd, 0), None);
    }
}
