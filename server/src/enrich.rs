//! Enrichment: security identity and IP → the `flow.Endpoint` a flow shows.

use std::net::IpAddr;

use flowscope_proto::flow::{Endpoint, Workload};
use flowscope_proto::reserved;

use crate::identity::ClusterState;

/// Builds the endpoint for one side of a flow.
///
/// `identity` is what the event itself carried (0 if none): a non-zero value wins over the
/// state, as in Hubble. Pod metadata comes from the endpoint owning `ip`. An IP nobody owns,
/// with no identity on the event, is `world`.
pub fn endpoint(state: &ClusterState, ip: Option<IpAddr>, identity: u32) -> Endpoint {
    let ep = ip.and_then(|ip| state.endpoint_by_ip(&ip));
    let identity = match (identity, ep) {
        (0, Some(ep)) => ep.identity,
        (0, None) => reserved::WORLD,
        (id, _) => id,
    };
    let mut out = Endpoint {
        identity,
        ..Default::default()
    };
    match ep {
        // Pod metadata only when the event's identity agrees with the endpoint owning the IP
        // (a proxy or host address may be shared by several identities).
        Some(ep) if ep.identity == identity => {
            out.id = ep.endpoint_id.unwrap_or(0);
            out.cluster_name = ep.cluster_name.clone();
            out.namespace = ep.namespace.clone();
            out.labels = ep.labels.to_vec();
            out.pod_name = ep.pod_name.clone();
            out.workloads = ep
                .workloads
                .iter()
                .map(|(name, kind)| Workload {
                    name: name.clone(),
                    kind: kind.clone(),
                })
                .collect();
        }
        _ => {
            if let Some(labels) = state.labels_for_identity(identity) {
                out.labels = labels.to_vec();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ClusterState {
        ClusterState::parse(
            "node_name: n\nendpoints:\n  - name: web-1\n    namespace: shop\n    labels: {app: web}\n    ips: [10.0.0.5]\n    identity: 30000\n    endpoint_id: 7\n    workload: web\n",
        )
        .expect("state")
    }

    #[test]
    fn unknown_ip_without_identity_is_world() {
        let e = endpoint(&state(), Some("192.0.2.1".parse().expect("ip")), 0);
        assert_eq!(e.identity, 2);
        assert_eq!(e.labels, vec!["reserved:world"]);
        assert!(e.pod_name.is_empty());
    }

    #[test]
    fn known_ip_gets_pod_metadata() {
        let e = endpoint(&state(), Some("10.0.0.5".parse().expect("ip")), 0);
        assert_eq!(e.identity, 30000);
        assert_eq!(e.id, 7);
        assert_eq!(e.namespace, "shop");
        assert_eq!(e.pod_name, "web-1");
        assert_eq!(e.workloads.len(), 1);
        assert_eq!(
            e.labels,
            vec!["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"]
        );
    }

    #[test]
    fn event_identity_wins() {
        let e = endpoint(&state(), Some("10.0.0.5".parse().expect("ip")), 8);
        assert_eq!(e.identity, 8);
        assert_eq!(e.labels, vec!["reserved:ingress"]);
        assert!(e.pod_name.is_empty());
        let e = endpoint(&state(), None, 30000);
        assert_eq!(
            e.labels,
            vec!["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"]
        );
    }
}
