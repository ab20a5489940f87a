//! One endpoint of a flow, as a shared reference into the cluster state.

use std::sync::Arc;

use flowscope_filter::{EndpointRef, Pairs};
use flowscope_proto::flow::{Endpoint, Workload};

use crate::identity::EndpointInfo;

/// What is known of an endpoint beyond its identity.
#[derive(Debug, Clone)]
pub enum PeerInfo {
    /// Only the identity (or nothing at all: identity 0).
    Bare,
    /// The labels of the identity.
    Labels(Arc<[String]>),
    /// A pod of the cluster state whose identity the flow agrees with.
    Pod(Arc<EndpointInfo>),
}

/// `flow.Endpoint` without a copy: the identity and what the state knows of it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub identity: u32,
    pub info: PeerInfo,
}

static NO_WORKLOADS: Vec<(String, String)> = Vec::new();

impl Peer {
    /// The empty endpoint (identity 0, nothing else).
    pub fn empty() -> Self {
        Peer {
            identity: 0,
            info: PeerInfo::Bare,
        }
    }

    /// The borrowed view filters and metrics read.
    pub fn view(&self) -> EndpointRef<'_> {
        let mut out = EndpointRef {
            id: 0,
            identity: self.identity,
            cluster_name: "",
            namespace: "",
            pod_name: "",
            labels: &[],
            workloads: &NO_WORKLOADS as &dyn Pairs,
        };
        match &self.info {
            PeerInfo::Bare => {}
            PeerInfo::Labels(labels) => out.labels = labels,
            PeerInfo::Pod(ep) => {
                out.id = ep.endpoint_id.unwrap_or(0);
                out.cluster_name = &ep.cluster_name;
                out.namespace = &ep.namespace;
                out.pod_name = &ep.pod_name;
                out.labels = &ep.labels;
                out.workloads = &ep.workloads;
            }
        }
        out
    }

    /// The proto message (the reference conversion).
    pub fn to_proto(&self) -> Endpoint {
        let v = self.view();
        Endpoint {
            id: v.id,
            identity: v.identity,
            cluster_name: v.cluster_name.to_string(),
            namespace: v.namespace.to_string(),
            labels: v.labels.to_vec(),
            pod_name: v.pod_name.to_string(),
            workloads: v
                .workloads
                .iter()
                .map(|(name, kind)| Workload {
                    name: name.to_string(),
                    kind: kind.to_string(),
                })
                .collect(),
        }
    }
}
