//! The Observer gRPC service (`observer.Observer`), with GetFlows semantics of Hubble's
//! local observer (spec §2).
//!
//! Each GetFlows stream has its own reader task over the ring and a small bounded channel to
//! tonic: a slow client only falls behind in the ring (and is told what it lost), it never
//! slows ingestion or other clients.

use std::sync::Arc;

use flowscope_filter::FlowFilters;
use flowscope_proto::flow::LostEventSource;
use flowscope_proto::observer::observer_server::Observer;
use flowscope_proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, Namespace, ServerStatusRequest, ServerStatusResponse,
    get_flows_response::ResponseTypes,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::fieldmask::FlowMask;
use crate::flow::{Event, LostRecord, Time};
use crate::observer::ObserverHandle;
use crate::store::Read;

/// Buffered responses per stream before its reader waits for the client.
const STREAM_BUFFER: usize = 256;
pub const VERSION_HEADER: &str = "hubble-server-version";

pub struct ObserverService {
    handle: Arc<ObserverHandle>,
}

impl ObserverService {
    pub fn new(handle: Arc<ObserverHandle>) -> Self {
        ObserverService { handle }
    }
}

fn with_version<T>(msg: T) -> Response<T> {
    let mut resp = Response::new(msg);
    if let Ok(v) = crate::VERSION.parse() {
        resp.metadata_mut().insert(VERSION_HEADER, v);
    }
    resp
}

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

/// A validated GetFlows request.
struct FlowQuery {
    number: u64,
    first: bool,
    follow: bool,
    since: Option<i128>,
    until: Option<i128>,
    filters: FlowFilters,
    mask: Option<FlowMask>,
}

impl FlowQuery {
    fn new(req: &GetFlowsRequest) -> Result<Self, Status> {
        if req.first && req.follow {
            return Err(Status::invalid_argument(
                "first cannot be specified with follow",
            ));
        }
        let filters = FlowFilters::new(&req.whitelist, &req.blacklist)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mask = match &req.field_mask {
            Some(m) => {
                FlowMask::new(&m.paths).map_err(|e| Status::invalid_argument(e.to_string()))?
            }
            None => None,
        };
        Ok(FlowQuery {
            number: req.number,
            first: req.first,
            follow: req.follow,
            since: req.since.map(|t| t.as_unix_nanos()),
            until: req.until.map(|t| t.as_unix_nanos()),
            filters,
            mask,
        })
    }

    /// Where the forward read starts (spec §2 step 2).
    fn start(&self, handle: &ObserverHandle) -> u64 {
        let ring = &handle.ring;
        let written = ring.written();
        if self.first && self.since.is_none() {
            return ring.oldest();
        }
        if self.follow && self.number == 0 && self.since.is_none() {
            return written;
        }
        // Walk backwards until `number` matching flows (last-N), an event older than `since`,
        // or the oldest entry; the forward read starts where the walk stopped, so lost events
        // in that range are delivered too.
        let limit = if self.first { 0 } else { self.number };
        let mut start = written;
        let mut counted = 0u64;
        while start > 0 {
            let ev = match ring.read(start - 1) {
                Read::Event(ev) => ev,
                Read::Overtaken { .. } | Read::NotYet => break,
            };
            let flow = ev.flow();
            if flow.is_some()
                && self
                    .since
                    .is_some_and(|since| ev.time().as_unix_nanos() < since)
            {
                break;
            }
            start -= 1;
            if flow.is_some_and(|f| self.filters.matches_flow(f)) {
                counted += 1;
                if limit != 0 && counted >= limit {
                    break;
                }
            }
        }
        start
    }
}

async fn stream_flows(
    handle: Arc<ObserverHandle>,
    q: FlowQuery,
    tx: mpsc::Sender<Result<GetFlowsResponse, Status>>,
) {
    let ring = handle.ring.clone();
    let mut seq = q.start(&handle);
    // A history-only request ends at what was written when it started.
    let end = if q.follow { u64::MAX } else { ring.written() };
    let mut sent = 0u64;
    while seq < end {
        let ev = match ring.read(seq) {
            Read::Event(ev) => ev,
            Read::NotYet if q.follow => {
                tokio::select! {
                    _ = ring.wait_for(seq) => continue,
                    _ = tx.closed() => return,
                }
            }
            Read::NotYet => return,
            Read::Overtaken { oldest } => {
                handle.stats.lost_ring_buffer.inc_by(oldest - seq);
                let lost = LostRecord {
                    time: Time::now(),
                    node: handle.state.snapshot().node_name_shared().clone(),
                    source: LostEventSource::HubbleRingBuffer as i32,
                    count: oldest - seq,
                    cpu: None,
                }
                .to_response();
                if tx.send(Ok(lost)).await.is_err() {
                    return;
                }
                seq = oldest;
                continue;
            }
        };
        seq += 1;
        let resp = match &*ev {
            Event::Flow(flow) => {
                let t = flow.time.as_unix_nanos();
                if q.until.is_some_and(|until| t > until) {
                    return;
                }
                if q.since.is_some_and(|since| t < since) || !q.filters.matches_flow(flow) {
                    continue;
                }
                match &q.mask {
                    Some(mask) => {
                        let masked = mask.apply(&flow.to_proto());
                        GetFlowsResponse {
                            node_name: masked.node_name.clone(),
                            time: masked.time,
                            response_types: Some(ResponseTypes::Flow(masked)),
                        }
                    }
                    None => flow.to_response(),
                }
            }
            // Lost events bypass filters and the time range and do not count.
            Event::Lost(lost) => {
                if tx.send(Ok(lost.to_response())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if tx.send(Ok(resp)).await.is_err() {
            return;
        }
        sent += 1;
        if !q.follow && q.number != 0 && sent >= q.number {
            return;
        }
    }
}

#[tonic::async_trait]
impl Observer for ObserverService {
    type GetFlowsStream = ResponseStream<GetFlowsResponse>;
    type GetAgentEventsStream = ResponseStream<GetAgentEventsResponse>;
    type GetDebugEventsStream = ResponseStream<GetDebugEventsResponse>;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<Self::GetFlowsStream>, Status> {
        let q = FlowQuery::new(request.get_ref())?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let handle = self.handle.clone();
        tokio::spawn(async move {
            handle.stats.grpc_streams_open.inc();
            stream_flows(handle.clone(), q, tx).await;
            handle.stats.grpc_streams_open.dec();
        });
        Ok(with_version(ReceiverStream::new(rx)))
    }

    async fn get_agent_events(
        &self,
        _request: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        Err(Status::unimplemented(
            "GetAgentEvents is not implemented by flowd",
        ))
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
