//! `observer.Observer` over every connected node, as Hubble Relay serves it.
//!
//! - `GetFlows` goes to every connected node with the client's request (filters, field
//!   mask, number, since/until, follow: the nodes do the filtering); without `follow` the
//!   answers are gathered, sorted and cut to `number` across the cluster, with `follow`
//!   they go through a sort buffer ([`crate::merge`]). Flows already carry their node's
//!   name; lost events pass through.
//! - `ServerStatus` sums the connected nodes' and adds `num_connected_nodes`,
//!   `num_unavailable_nodes` and the unavailable nodes' names.
//! - `GetNodes` lists every node with its state and, when connected, its counts.
//! - `GetNamespaces` merges the nodes' lists.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::observer::observer_server::Observer;
use flowscope_proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, Namespace, Node, ServerStatusRequest, ServerStatusResponse,
};
use flowscope_proto::relay::{NodeState, NodeStatusEvent};
use flowscope_proto::types::UInt32Value;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::merge::{SortBuffer, history};
use crate::pool::{CALL_TIMEOUT, Pool};

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

pub struct Relay {
    pool: Arc<Pool>,
    sort_buffer_len: usize,
    drain_timeout: Duration,
    started: Instant,
}

impl Relay {
    pub fn new(pool: Arc<Pool>, sort_buffer_len: usize, drain_timeout: Duration) -> Self {
        Relay {
            pool,
            sort_buffer_len,
            drain_timeout,
            started: Instant::now(),
        }
    }
}

/// Every connected node's `ServerStatus` (a node that does not answer in time is left out).
async fn statuses(
    nodes: Vec<(String, ObserverClient<Channel>)>,
) -> Vec<(String, ServerStatusResponse)> {
    let mut calls = tokio::task::JoinSet::new();
    for (name, mut client) in nodes {
        calls.spawn(async move {
            let r =
                tokio::time::timeout(CALL_TIMEOUT, client.server_status(ServerStatusRequest {}))
                    .await;
            (name, r)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = calls.join_next().await {
        if let Ok((name, Ok(Ok(resp)))) = done {
            out.push((name, resp.into_inner()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A `node_status` response, as Hubble Relay sends them in `GetFlows`.
pub fn node_status(state: NodeState, names: Vec<String>, message: String) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: String::new(),
        time: Some(flowscope_proto::types::Timestamp::now()),
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent {
            state_change: state as i32,
            node_names: names,
            message,
        })),
    }
}

/// Starts `GetFlows` on every connected node; each response arrives on the returned channel,
/// and a node whose call or stream fails sends a `NODE_ERROR` status.
fn fan_out(
    nodes: Vec<(String, ObserverClient<Channel>)>,
    req: &GetFlowsRequest,
) -> mpsc::Receiver<GetFlowsResponse> {
    let (tx, rx) = mpsc::channel(1024);
    for (name, mut client) in nodes {
        let (tx, req) = (tx.clone(), req.clone());
        tokio::spawn(async move {
            let failed =
                |e: Status| node_status(NodeState::NodeError, vec![name], e.message().into());
            let mut stream = match client.get_flows(req).await {
                Ok(s) => s.into_inner(),
                Err(e) => {
                    let _ = tx.send(failed(e)).await;
                    return;
                }
            };
            while let Some(next) = stream.next().await {
                let resp = match next {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(failed(e)).await;
                        return;
                    }
                };
                if tx.send(resp).await.is_err() {
                    return;
                }
            }
        });
    }
    rx
}

#[tonic::async_trait]
impl Observer for Relay {
    type GetFlowsStream = ResponseStream<GetFlowsResponse>;
    type GetAgentEventsStream = ResponseStream<GetAgentEventsResponse>;
    type GetDebugEventsStream = ResponseStream<GetDebugEventsResponse>;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let req = request.into_inner();
        let nodes = self.pool.connected();
        if nodes.is_empty() {
            return Err(Status::unavailable("no node is connected"));
        }
        // First the nodes' states, as Hubble Relay reports them.
        let connected: Vec<String> = nodes.iter().map(|(n, _)| n.clone()).collect();
        let unavailable: Vec<String> = self
            .pool
            .nodes()
            .into_iter()
            .filter(|n| !connected.contains(&n.name))
            .map(|n| n.name)
            .collect();
        let mut first = vec![node_status(
            NodeState::NodeConnected,
            connected,
            String::new(),
        )];
        if !unavailable.is_empty() {
            first.push(node_status(
                NodeState::NodeUnavailable,
                unavailable,
                String::new(),
            ));
        }
        let mut from_nodes = fan_out(nodes, &req);
        let (tx, rx) = mpsc::channel(1024);
        let (len, drain) = (self.sort_buffer_len, self.drain_timeout);
        tokio::spawn(async move {
            for s in first {
                if tx.send(Ok(s)).await.is_err() {
                    return;
                }
            }
            if !req.follow {
                let (mut all, mut statuses) = (Vec::new(), Vec::new());
                while let Some(r) = from_nodes.recv().await {
                    match r.response_types {
                        Some(ResponseTypes::NodeStatus(_)) => statuses.push(r),
                        _ => all.push(r),
                    }
                }
                // `number` counts flows and lost events; a node's error comes first.
                for r in statuses
                    .into_iter()
                    .chain(history(all, req.number, req.first))
                {
                    if tx.send(Ok(r)).await.is_err() {
                        return;
                    }
                }
                return;
            }
            let mut buffer = SortBuffer::new(len);
            loop {
                let out = match tokio::time::timeout(drain, from_nodes.recv()).await {
                    Ok(Some(r)) => buffer.push(r),
                    Ok(None) => {
                        for r in buffer.drain() {
                            let _ = tx.send(Ok(r)).await;
                        }
                        return;
                    }
                    Err(_) => buffer.drain(),
                };
                for r in out {
                    if tx.send(Ok(r)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_agent_events(
        &self,
        _request: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        Err(Status::unimplemented(
            "GetAgentEvents is not served by flowrelay",
        ))
    }

    async fn get_debug_events(
        &self,
        _request: Request<GetDebugEventsRequest>,
    ) -> Result<Response<Self::GetDebugEventsStream>, Status> {
        Err(Status::unimplemented(
            "GetDebugEvents is not served by flowrelay",
        ))
    }

    async fn get_nodes(
        &self,
        _request: Request<GetNodesRequest>,
    ) -> Result<Response<GetNodesResponse>, Status> {
        let all = self.pool.nodes();
        let status = statuses(self.pool.connected()).await;
        let nodes = all
            .into_iter()
            .map(|n| {
                let st = status
                    .iter()
                    .find(|(name, _)| *name == n.name)
                    .map(|s| &s.1);
                Node {
                    name: n.name.clone(),
                    version: st.map(|s| s.version.clone()).unwrap_or_default(),
                    address: n.address.clone(),
                    state: n.state as i32,
                    tls: None,
                    uptime_ns: st.map_or(0, |s| s.uptime_ns),
                    num_flows: st.map_or(0, |s| s.num_flows),
                    max_flows: st.map_or(0, |s| s.max_flows),
                    seen_flows: st.map_or(0, |s| s.seen_flows),
                }
            })
            .collect();
        Ok(Response::new(GetNodesResponse { nodes }))
    }

    async fn get_namespaces(
        &self,
        _request: Request<GetNamespacesRequest>,
    ) -> Result<Response<GetNamespacesResponse>, Status> {
        let mut calls = tokio::task::JoinSet::new();
        for (_, mut client) in self.pool.connected() {
            calls.spawn(async move {
                tokio::time::timeout(CALL_TIMEOUT, client.get_namespaces(GetNamespacesRequest {}))
                    .await
            });
        }
        let mut set = BTreeSet::new();
        while let Some(done) = calls.join_next().await {
            if let Ok(Ok(Ok(resp))) = done {
                for ns in resp.into_inner().namespaces {
                    set.insert((ns.cluster, ns.namespace));
                }
            }
        }
        let namespaces = set
            .into_iter()
            .map(|(cluster, namespace)| Namespace { cluster, namespace })
            .collect();
        Ok(Response::new(GetNamespacesResponse { namespaces }))
    }

    async fn server_status(
        &self,
        _request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        let all = self.pool.nodes();
        let status = statuses(self.pool.connected()).await;
        let unavailable: Vec<String> = all
            .iter()
            .filter(|n| {
                n.state != NodeState::NodeConnected
                    || !status.iter().any(|(name, _)| *name == n.name)
            })
            .map(|n| n.name.clone())
            .collect();
        let sum = |f: fn(&ServerStatusResponse) -> u64| status.iter().map(|(_, s)| f(s)).sum();
        let count = |n: usize| {
            Some(UInt32Value {
                value: u32::try_from(n).unwrap_or(u32::MAX),
            })
        };
        Ok(Response::new(ServerStatusResponse {
            num_flows: sum(|s| s.num_flows),
            max_flows: sum(|s| s.max_flows),
            seen_flows: sum(|s| s.seen_flows),
            uptime_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            num_connected_nodes: count(status.len()),
            num_unavailable_nodes: count(unavailable.len()),
            unavailable_nodes: unavailable,
            version: env!("CARGO_PKG_VERSION").to_string(),
            flows_rate: status.iter().map(|(_, s)| s.flows_rate).sum(),
        }))
    }
}
