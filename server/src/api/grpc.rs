//! The Observer gRPC service (`observer.Observer`): status, namespaces, agent events and the
//! methods a node does not serve. GetFlows is served from the encoder by [`super::flows`].

use std::sync::Arc;

use flowscope_proto::observer::observer_server::Observer;
use flowscope_proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, Namespace, ServerStatusRequest, ServerStatusResponse,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::observer::ObserverHandle;

pub const VERSION_HEADER: &str = "hubble-server-version";

pub struct ObserverService {
    handle: Arc<ObserverHandle>,
}

impl ObserverService {
    pub fn new(handle: Arc<ObserverHandle>) -> Self {
        ObserverService { handle }
    }
}

pub(crate) fn with_version<T>(msg: T) -> Response<T> {
    let mut resp = Response::new(msg);
    if let Ok(v) = crate::VERSION.parse() {
        resp.metadata_mut().insert(VERSION_HEADER, v);
    }
    resp
}

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl Observer for ObserverService {
    type GetFlowsStream = ResponseStream<GetFlowsResponse>;
    type GetAgentEventsStream = ResponseStream<GetAgentEventsResponse>;
    type GetDebugEventsStream = ResponseStream<GetDebugEventsResponse>;

    async fn get_flows(
        &self,
        _request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        // ObserverApi routes GetFlows to the encoder before this service sees it.
        Err(Status::internal("GetFlows is served by the flow encoder"))
    }

    async fn get_agent_events(
        &self,
        request: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        let query = super::agent_events::AgentQuery::new(request.get_ref())?;
        let (tx, rx) = tokio::sync::mpsc::channel(super::agent_events::STREAM_BUFFER);
        tokio::spawn(super::agent_events::stream(self.handle.clone(), query, tx));
        Ok(with_version(ReceiverStream::new(rx)))
    }

    async fn get_debug_events(
        &self,
        _request: Request<GetDebugEventsRequest>,
    ) -> Result<Response<Self::GetDebugEventsStream>, Status> {
        Err(Status::unimplemented(
            "GetDebugEvents is not implemented by flowd",
        ))
    }

    async fn get_nodes(
        &self,
        _request: Request<GetNodesRequest>,
    ) -> Result<Response<GetNodesResponse>, Status> {
        Err(Status::unimplemented(
            "GetNodes is only implemented by a relay",
        ))
    }

    async fn get_namespaces(
        &self,
        _request: Request<GetNamespacesRequest>,
    ) -> Result<Response<GetNamespacesResponse>, Status> {
        let namespaces = self
            .handle
            .namespaces()
            .into_iter()
            .map(|(cluster, namespace)| Namespace { cluster, namespace })
            .collect();
        Ok(with_version(GetNamespacesResponse { namespaces }))
    }

    async fn server_status(
        &self,
        _request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        let h = &self.handle;
        Ok(with_version(ServerStatusResponse {
            num_flows: h.ring.len(),
            max_flows: h.ring.capacity(),
            seen_flows: h.seen_flows(),
            uptime_ns: h.uptime().as_nanos() as u64,
            num_connected_nodes: None,
            num_unavailable_nodes: None,
            unavailable_nodes: Vec::new(),
            version: crate::VERSION.to_string(),
            flows_rate: h.flows_rate(),
        }))
    }
}
