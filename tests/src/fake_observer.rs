//! A scripted Observer API on loopback TCP: it answers GetFlows with a fixed list of
//! responses and records every request, so a test can check what the real `flowctl` asks
//! for and how it prints what comes back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use flowscope_proto::observer::observer_server::{Observer, ObserverServer};
use flowscope_proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, ServerStatusRequest, ServerStatusResponse,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

type Stream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// What the fake server answers.
#[derive(Clone, Default)]
pub struct Script {
    pub flows: Vec<GetFlowsResponse>,
    pub namespaces: Option<GetNamespacesResponse>,
    /// `None`: Unimplemented, as a Hubble node (not a relay) answers.
    pub nodes: Option<GetNodesResponse>,
}

#[derive(Clone)]
struct Service {
    script: Script,
    requests: Arc<Mutex<Vec<GetFlowsRequest>>>,
}

#[tonic::async_trait]
impl Observer for Service {
    type GetFlowsStream = Stream<GetFlowsResponse>;
    type GetAgentEventsStream = Stream<GetAgentEventsResponse>;
    type GetDebugEventsStream = Stream<GetDebugEventsResponse>;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        self.requests.lock().unwrap().push(request.into_inner());
        let items: Vec<Result<GetFlowsResponse, Status>> =
            self.script.flows.iter().cloned().map(Ok).collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn get_agent_events(
        &self,
        _: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_debug_events(
        &self,
        _: Request<GetDebugEventsRequest>,
    ) -> Result<Response<Self::GetDebugEventsStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_nodes(
        &self,
        _: Request<GetNodesRequest>,
    ) -> Result<Response<GetNodesResponse>, Status> {
        match &self.script.nodes {
            Some(n) => Ok(Response::new(n.clone())),
            None => Err(Status::unimplemented(
                "GetNodes is only implemented by a relay",
            )),
        }
    }

    async fn get_namespaces(
        &self,
        _: Request<GetNamespacesRequest>,
    ) -> Result<Response<GetNamespacesResponse>, Status> {
        match &self.script.namespaces {
            Some(n) => Ok(Response::new(n.clone())),
            None => Err(Status::unimplemented("not scripted")),
        }
    }

    async fn server_status(
        &self,
        _: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        Ok(Response::new(ServerStatusResponse::default()))
    }
}

/// A running fake server; it stops when dropped.
pub struct FakeObserver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<GetFlowsRequest>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeObserver {
    pub fn start(script: Script) -> FakeObserver {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let service = Service {
            script,
            requests: requests.clone(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tonic::transport::Server::builder()
                    .add_service(ObserverServer::new(service))
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        FakeObserver {
            addr,
            requests,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `--server` value for this server.
    pub fn server_arg(&self) -> String {
        self.addr.to_string()
    }

    /// Every GetFlows request received so far.
    pub fn requests(&self) -> Vec<GetFlowsRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeObserver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
