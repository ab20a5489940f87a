//! `observer.Observer` over every connected node, as Hubble Relay serves it.
//!
//! - `GetFlows`: [`crate::flows`], served by [`RelayService`] with the nodes' responses
//!   passed through encoded.
//! - `ServerStatus` sums the connected nodes' counts, takes the longest uptime, and adds
//!   `num_connected_nodes`, `num_unavailable_nodes` and (at most 10 of) the unavailable
//!   nodes' names.
//! - `GetNodes` lists every node with its state and, when connected, its counts.
//! - `GetNamespaces` merges the nodes' lists.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::observer::observer_server::{Observer, ObserverServer};
use flowscope_proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, Namespace, Node, ServerStatusRequest, ServerStatusResponse,
    Tls,
};
use flowscope_proto::relay::NodeState;
use flowscope_proto::types::UInt32Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::flows::FanIn;
use crate::pool::{CALL_TIMEOUT, Pool};
use crate::raw::{RawResponse, ServeCodec};

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

/// Hubble Relay reports at most this many unavailable nodes by name.
const MAX_UNAVAILABLE_NAMES: usize = 10;

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

    /// Starts a `GetFlows` call across the nodes.
    fn fan_in(
        &self,
        req: GetFlowsRequest,
    ) -> Result<mpsc::Receiver<Result<RawResponse, Status>>, Status> {
        FanIn::new(
            self.pool.clone(),
            req,
            self.sort_buffer_len,
            self.drain_timeout,
        )
        .start()
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

#[tonic::async_trait]
impl Observer for Relay {
    type GetFlowsStream = ResponseStream<GetFlowsResponse>;
    type GetAgentEventsStream = ResponseStream<GetAgentEventsResponse>;
    type GetDebugEventsStream = ResponseStream<GetDebugEventsResponse>;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let rx = self.fan_in(request.into_inner())?;
        // The raw path ([`RelayService`]) serves GetFlows; this decodes for in-process users.
        let (tx, out) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut rx = rx;
            while let Some(r) = rx.recv().await {
                let decoded = r.and_then(|r| {
                    r.decode()
                        .map_err(|e| Status::internal(format!("node response: {e}")))
                });
                if tx.send(decoded).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(out)))
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
        let status = statuses(self.pool.clients()).await;
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
                    tls: Some(Tls {
                        enabled: n.tls_server_name.is_some(),
                        server_name: n.tls_server_name.clone().unwrap_or_default(),
                    }),
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
        for (_, mut client) in self.pool.clients() {
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
        let status = statuses(self.pool.clients()).await;
        let mut unavailable: Vec<String> = all
            .iter()
            .filter(|n| {
                n.state != NodeState::NodeConnected
                    || !status.iter().any(|(name, _)| *name == n.name)
            })
            .map(|n| n.name.clone())
            .collect();
        let num_unavailable = unavailable.len();
        unavailable.truncate(MAX_UNAVAILABLE_NAMES);
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
            // The longest-running node's uptime, as Hubble Relay (the relay's own if none).
            uptime_ns: status
                .iter()
                .map(|(_, s)| s.uptime_ns)
                .max()
                .unwrap_or_else(|| {
                    u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
                }),
            num_connected_nodes: count(status.len()),
            num_unavailable_nodes: count(num_unavailable),
            unavailable_nodes: unavailable,
            version: env!("CARGO_PKG_VERSION").to_string(),
            flows_rate: status.iter().map(|(_, s)| s.flows_rate).sum(),
        }))
    }
}

/// The relay's `observer.Observer` service: `GetFlows` streams the nodes' responses as they
/// were encoded ([`ServeCodec`]); every other method is [`Relay`]'s, through the generated
/// server.
#[derive(Clone)]
pub struct RelayService {
    relay: Arc<Relay>,
    inner: ObserverServer<Relay>,
}

impl RelayService {
    pub fn new(relay: Relay) -> Self {
        let relay = Arc::new(relay);
        RelayService {
            inner: ObserverServer::from_arc(relay.clone()),
            relay,
        }
    }
}

impl NamedService for RelayService {
    const NAME: &'static str = "observer.Observer";
}

const GET_FLOWS: &str = "/observer.Observer/GetFlows";

/// The raw `GetFlows` handler.
struct RawGetFlows(Arc<Relay>);

impl tonic::server::ServerStreamingService<GetFlowsRequest> for RawGetFlows {
    type Response = RawResponse;
    type ResponseStream = ResponseStream<RawResponse>;
    type Future = std::future::Ready<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<GetFlowsRequest>) -> Self::Future {
        let rx = self.0.fan_in(request.into_inner());
        std::future::ready(rx.map(|rx| Response::new(ReceiverStream::new(rx))))
    }
}

impl<B> Service<http::Request<B>> for RelayService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() == GET_FLOWS {
            let handler = RawGetFlows(self.relay.clone());
            return Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ServeCodec::default());
                Ok(grpc.server_streaming(handler, req).await)
            });
        }
        let mut inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}
