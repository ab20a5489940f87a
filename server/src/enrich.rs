//! Enrichment: security identity and IP → the endpoint a flow shows, as shared references
//! into the cluster state.

use std::net::IpAddr;

use flowscope_proto::reserved;

use crate::flow::{Peer, PeerInfo};
use crate::identity::ClusterState;

/// Builds the endpoint for one side of a flow.
///
/// `identity` is what the event itself carried (0 if none): a non-zero value wins over the
/// state, as in Hubble. Pod metadata comes from the endpoint owning `ip`. An IP nobody owns,
/// with no identity on the event, is `world`.
pub fn endpoint(state: &ClusterState, ip: Option<IpAddr>, identity: u32) -> Peer {
    let ep = ip.and_then(|ip| state.endpoint_by_ip(&ip));
    let identity = match (identity, ep) {
        (0, Some(ep)) => ep.identity,
        (0, None) => reserved::WORLD,
        (id, _) => id,
    };
    let info = match ep {
        // Pod metadata only when the event's identity agrees with the endpoint owning the IP
        // (a proxy or host address may be shared by several identities).
        Some(ep) if ep.identity == identity => PeerInfo::Pod(ep.clone()),
        _ => match state.labels_for_identity(identity) {
            Some(labels) => PeerInfo::Labels(labels.clone()),
            None => PeerInfo::Bare,
        },
    };
    Peer { identity, info }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_proto(
        state: &ClusterState,
        ip: Option<IpAddr>,
        identity: u32,
    ) -> flowscope_proto::flow::Endpoint {
        endpoint(state, ip, identity).to_proto()
    }

    fn state() -> ClusterState {
        ClusterState::parse(
            "node_name: n\nendpoints:\n  - name: web-1\n    namespace: shop\n    labels: {app: web}\n    ips: [10.0.0.5]\n    identity: 30000\n    endpoint_id: 7\n    workload: web\n",
        )
        .expect("state")
    }

    #[test]
    fn unknown_ip_without_identity_is_world() {
        let e = endpoint_proto(&state(), Some("192.0.2.1".parse().expect("ip")), 0);
        assert_eq!(e.identity, 2);
        assert_eq!(e.labels, vec!["reserved:world"]);
        assert!(e.pod_name.is_empty());
    }

    #[test]
    fn known_ip_gets_pod_metadata() {
        let e = endpoint_proto(&state(), Some("10.0.0.5".parse().expect("ip")), 0);
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
        let e = endpoint_proto(&state(), Some("10.0.0.5".parse().expect("ip")), 8);
        assert_eq!(e.identity, 8);
        assert_eq!(e.labels, vec!["reserved:ingress"]);
        assert!(e.pod_name.is_empty());
        let e = endpoint_proto(&state(), None, 30000);
        assert_eq!(
            e.labels,
            vec!["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"]
        );
    }
}
