//! What changed between two loads of the cluster state and policy, as agent events.
//!
//! Pure functions of (old, new): endpoints created and deleted (local ones, by endpoint ID),
//! endpoints whose labels changed (regenerated), ipcache entries upserted (new, or with a
//! new identity: `old_identity` set) and deleted, and policies updated or deleted (by their
//! label set; each change bumps the policy revision, as Cilium's repository does).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use flowscope_proto::flow::AgentEvent;
use ipnet::IpNet;

use super::notify::{self, IpcacheEntry, PolicyChange};
use crate::identity::{ClusterState, EndpointInfo};
use crate::policy::PolicyIndex;

/// What the agent events of a load are computed from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Local endpoints by endpoint ID.
    endpoints: BTreeMap<u32, Arc<EndpointInfo>>,
    ipcache: BTreeMap<IpNet, IpcacheEntry>,
    policies: PolicyIndex,
}

impl Snapshot {
    /// The endpoints' IPs as host prefixes plus the policy's CIDR identities (an endpoint's
    /// own entry wins over an equal CIDR), and the policies by label set.
    pub fn new(state: &ClusterState, cidrs: &BTreeMap<IpNet, u32>, policies: PolicyIndex) -> Self {
        let mut endpoints = BTreeMap::new();
        let mut ipcache = BTreeMap::new();
        for ep in state.endpoints() {
            if let Some(id) = ep.endpoint_id {
                endpoints.insert(id, ep.clone());
            }
            for ip in &ep.ips {
                ipcache.insert(
                    host_prefix(*ip),
                    IpcacheEntry {
                        identity: ep.identity,
                        namespace: ep.namespace.clone(),
                        pod_name: ep.pod_name.clone(),
                    },
                );
            }
        }
        for (net, id) in cidrs {
            ipcache.entry(*net).or_insert_with(|| IpcacheEntry {
                identity: *id,
                namespace: String::new(),
                pod_name: String::new(),
            });
        }
        Snapshot {
            endpoints,
            ipcache,
            policies,
        }
    }
}

fn host_prefix(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// The policy repository revision: 1 when empty, bumped by every import and deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision(pub u64);

impl Default for Revision {
    fn default() -> Self {
        Revision(1)
    }
}

/// The revision after `new` replaces `old` in a repository at `revision`.
pub fn revision_after(old: &Snapshot, new: &Snapshot, revision: Revision) -> u64 {
    let mut r = revision;
    policy_events(&old.policies, &new.policies, &mut r);
    r.0
}

/// The events that turn `old` into `new`, in this order: policies updated, policies
/// deleted, endpoints created, endpoints regenerated, ipcache upserts, ipcache deletes,
/// endpoints deleted; each group sorted by its key.
pub fn events(old: &Snapshot, new: &Snapshot, revision: &mut Revision) -> Vec<AgentEvent> {
    let mut out = policy_events(&old.policies, &new.policies, revision);
    let mut regenerated = Vec::new();
    for (id, ep) in &new.endpoints {
        match old.endpoints.get(id) {
            Some(before) if !is_other_pod(before, ep) => {
                if before.labels != ep.labels {
                    regenerated.extend(notify::endpoint_regenerated(ep));
                }
            }
            _ => out.extend(notify::endpoint(true, ep)),
        }
    }
    let deleted: Vec<AgentEvent> = old
        .endpoints
        .iter()
        .filter(|(id, before)| {
            new.endpoints
                .get(id)
                .is_none_or(|ep| is_other_pod(before, ep))
        })
        .filter_map(|(_, before)| notify::endpoint(false, before))
        .collect();
    out.extend(regenerated);
    for (net, entry) in &new.ipcache {
        let cidr = net.to_string();
        match old.ipcache.get(net) {
            None => out.push(notify::ipcache(true, &cidr, entry, None)),
            Some(before) if before.identity != entry.identity => {
                out.push(notify::ipcache(true, &cidr, entry, Some(before.identity)))
            }
            Some(before) if before != entry => out.push(notify::ipcache(true, &cidr, entry, None)),
            Some(_) => {}
        }
    }
    for (net, before) in &old.ipcache {
        if !new.ipcache.contains_key(net) {
            out.push(notify::ipcache(false, &net.to_string(), before, None));
        }
    }
    out.extend(deleted);
    out
}

/// An endpoint ID now names a different pod: the old endpoint went, a new one came.
fn is_other_pod(a: &EndpointInfo, b: &EndpointInfo) -> bool {
    a.pod_name != b.pod_name || a.namespace != b.namespace
}

fn policy_events(old: &PolicyIndex, new: &PolicyIndex, revision: &mut Revision) -> Vec<AgentEvent> {
    let mut out = Vec::new();
    for (labels, digest) in new {
        if old.get(labels) != Some(digest) {
            revision.0 += 1;
            out.push(notify::policy(
                PolicyChange::Updated,
                labels.clone(),
                revision.0,
                digest.rule_count,
            ));
        }
    }
    for (labels, digest) in old {
        if !new.contains_key(labels) {
            revision.0 += 1;
            out.push(notify::policy(
                PolicyChange::Deleted,
                labels.clone(),
                revision.0,
                digest.rule_count,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;
    use flowscope_proto::flow::AgentEventType;
    use flowscope_proto::flow::agent_event::Notification;

    const STATE: &str = "node_name: n\nendpoints:\n  - {name: web, namespace: default, labels: {app: web}, ips: [10.0.0.1], identity: 1001, endpoint_id: 11}\n  - {name: db, namespace: default, labels: {app: db}, ips: [10.0.0.2, 'fd00::2'], identity: 1002, endpoint_id: 12}\n  - {name: far, namespace: other, labels: {app: far}, ips: [10.0.9.9], identity: 1009}\n";

    fn snap(state: &str, policy: &str) -> Snapshot {
        let state = ClusterState::parse(state).expect("state");
        let set = PolicySet::parse(policy).expect("policy");
        let compiled = set.compile(&state).expect("compile");
        Snapshot::new(&state, &compiled.cidrs, set.index())
    }

    /// `TYPE detail` lines, to compare whole sequences at once.
    fn describe(events: &[AgentEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let kind = AgentEventType::try_from(e.r#type)
                    .map(|t| t.as_str_name())
                    .unwrap_or("?");
                let detail = match &e.notification {
                    Some(Notification::EndpointUpdate(n)) => {
                        format!("{} {}/{} {}", n.id, n.namespace, n.pod_name, n.labels.len())
                    }
                    Some(Notification::EndpointRegenerate(n)) => {
                        format!("{} {}", n.id, n.labels.join(","))
                    }
                    Some(Notification::IpcacheUpdate(n)) => format!(
                        "{} {} {:?} {}/{}",
                        n.cidr,
                        n.identity,
                        n.old_identity.map(|v| v.value),
                        n.namespace,
                        n.pod_name
                    ),
                    Some(Notification::PolicyUpdate(n)) => {
                        format!("{} r{} n{}", n.labels.join(","), n.revision, n.rule_count)
                    }
                    other => format!("{other:?}"),
                };
                format!("{kind} {detail}")
            })
            .collect()
    }

    const POLICY: &str = "metadata: {name: p, namespace: default}\nspec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toCIDR: [192.0.2.0/24]}]\n";

    #[test]
    fn first_load_announces_everything() {
        let mut rev = Revision::default();
        let ev = events(&Snapshot::default(), &snap(STATE, POLICY), &mut rev);
        assert_eq!(
            describe(&ev),
            vec![
                "POLICY_UPDATED k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy,k8s:io.cilium.k8s.policy.name=p,k8s:io.cilium.k8s.policy.namespace=default r2 n1",
                "ENDPOINT_CREATED 11 default/web 2",
                "ENDPOINT_CREATED 12 default/db 2",
                "IPCACHE_UPSERTED 10.0.0.1/32 1001 None default/web",
                "IPCACHE_UPSERTED 10.0.0.2/32 1002 None default/db",
                "IPCACHE_UPSERTED 10.0.9.9/32 1009 None other/far",
                "IPCACHE_UPSERTED 192.0.2.0/24 16777217 None /",
                "IPCACHE_UPSERTED fd00::2/128 1002 None default/db",
            ]
        );
        assert_eq!(rev, Revision(2));
    }

    #[test]
    fn reload_reports_only_the_differences() {
        let old = snap(STATE, POLICY);
        // web moves to a new identity (new labels), db goes, cache comes, far is unchanged.
        let new_state = "node_name: n\nendpoints:\n  - {name: web, namespace: default, labels: {app: web, v: '2'}, ips: [10.0.0.1], identity: 1005, endpoint_id: 11}\n  - {name: cache, namespace: default, labels: {app: cache}, ips: [10.0.0.3], identity: 1003, endpoint_id: 13}\n  - {name: far, namespace: other, labels: {app: far}, ips: [10.0.9.9], identity: 1009}\n";
        let mut rev = Revision(2);
        let ev = events(&old, &snap(new_state, "{}"), &mut rev);
        assert_eq!(
            describe(&ev),
            vec![
                "POLICY_DELETED k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy,k8s:io.cilium.k8s.policy.name=p,k8s:io.cilium.k8s.policy.namespace=default r3 n1",
                "ENDPOINT_CREATED 13 default/cache 2",
                "ENDPOINT_REGENERATE_SUCCESS 11 k8s:app=web,k8s:io.kubernetes.pod.namespace=default,k8s:v=2",
                "IPCACHE_UPSERTED 10.0.0.1/32 1005 Some(1001) default/web",
                "IPCACHE_UPSERTED 10.0.0.3/32 1003 None default/cache",
                "IPCACHE_DELETED 10.0.0.2/32 1002 None default/db",
                "IPCACHE_DELETED 192.0.2.0/24 16777217 None /",
                "IPCACHE_DELETED fd00::2/128 1002 None default/db",
                "ENDPOINT_DELETED 12 default/db 2",
            ]
        );
        assert_eq!(rev, Revision(3));
        assert!(
            events(&old, &old, &mut rev).is_empty(),
            "no change, no event"
        );
        assert_eq!(rev, Revision(3));
    }

    #[test]
    fn a_reused_endpoint_id_is_a_new_endpoint() {
        let old = snap(STATE, "{}");
        let new_state = STATE.replace("name: db", "name: db-2");
        let ev = events(&old, &snap(&new_state, "{}"), &mut Revision::default());
        assert_eq!(
            describe(&ev),
            vec![
                "ENDPOINT_CREATED 12 default/db-2 2",
                "IPCACHE_UPSERTED 10.0.0.2/32 1002 None default/db-2",
                "IPCACHE_UPSERTED fd00::2/128 1002 None default/db-2",
                "ENDPOINT_DELETED 12 default/db 2",
            ]
        );
    }
}
