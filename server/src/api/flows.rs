//! `observer.Observer/GetFlows`, served from the ring as protobuf bytes written straight
//! from each record (spec §2: Hubble's local observer semantics).
//!
//! Each stream has its own reader task over the ring and a small bounded channel to the
//! client: a slow client only falls behind in the ring (and is told what it lost), it never
//! slows ingestion or other clients. The request's filters run on the record, its field
//! mask is compiled once into an encoding plan, and streams that ask for the same plan
//! share one encoding of each flow through [`SharedEncodings`].

use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use flowscope_filter::FlowFilters;
use flowscope_proto::flow::LostEventSource;
use flowscope_proto::observer::GetFlowsRequest;
use flowscope_proto::observer::observer_server::ObserverServer;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::{Request, Response, Status};

use super::grpc::{ObserverService, with_version};
use crate::flow::encode::{self, Plan};
use crate::flow::{Event, LostRecord, Time, mask};
use crate::observer::ObserverHandle;
use crate::store::Read;

/// Buffered responses per stream before its reader waits for the client.
const STREAM_BUFFER: usize = 256;
/// Flows whose encodings are kept for streams that ask for the same plan.
const SHARED_SLOTS: usize = 4096;
/// The largest request accepted (filters can be long lists).
const MAX_REQUEST: usize = 16 * 1024 * 1024;
const PATH: &str = "/observer.Observer/GetFlows";

/// A validated GetFlows request.
pub(crate) struct FlowQuery {
    number: u64,
    first: bool,
    follow: bool,
    since: Option<i128>,
    until: Option<i128>,
    filters: FlowFilters,
    plan: Arc<Plan>,
    /// Identifies the plan for [`SharedEncodings`].
    plan_key: u64,
}

impl FlowQuery {
    pub(crate) fn new(req: &GetFlowsRequest) -> Result<Self, Status> {
        if req.first && req.follow {
            return Err(Status::invalid_argument(
                "first cannot be specified with follow",
            ));
        }
        let filters = FlowFilters::new(&req.whitelist, &req.blacklist)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let paths = req
            .field_mask
            .as_ref()
            .map_or(&[][..], |m| m.paths.as_slice());
        let compiled = mask::compile(paths).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let plan = Plan::new(compiled.as_ref());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        plan.hash(&mut h);
        Ok(FlowQuery {
            number: req.number,
            first: req.first,
            follow: req.follow,
            since: req.since.map(|t| t.as_unix_nanos()),
            until: req.until.map(|t| t.as_unix_nanos()),
            filters,
            plan: Arc::new(plan),
            plan_key: h.finish(),
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

/// Recent flows' encodings, by ring sequence number and plan: followers at the head of the
/// ring that ask for the same fields encode each flow once between them.
pub struct SharedEncodings {
    slots: Box<[Mutex<Option<SharedSlot>>]>,
}

/// `(sequence number, plan key, encoding)`.
type SharedSlot = (u64, u64, Bytes);

impl Default for SharedEncodings {
    fn default() -> Self {
        SharedEncodings {
            slots: (0..SHARED_SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl SharedEncodings {
    /// The encoding of flow `seq` for the plan `plan_key`, made by `encode` if no stream
    /// has made it yet.
    pub fn get_or_encode(&self, seq: u64, plan_key: u64, encode: impl FnOnce() -> Bytes) -> Bytes {
        let slot = &self.slots[(seq as usize) % self.slots.len()];
        if let Some((s, k, b)) = lock(slot).as_ref()
            && *s == seq
            && *k == plan_key
        {
            return b.clone();
        }
        let b = encode();
        *lock(slot) = Some((seq, plan_key, b.clone()));
        b
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Sends `item` unless flowd stops first; false when the stream is to end.
async fn send(
    tx: &mpsc::Sender<Result<Bytes, Status>>,
    item: Bytes,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        sent = tx.send(Ok(item)) => sent.is_ok(),
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// One stream: ring → filter → encoded bytes → client. When flowd stops, a stream still
/// running ends with UNAVAILABLE, as a client of a restarting Hubble sees it.
async fn stream_flows(
    handle: Arc<ObserverHandle>,
    shared: Arc<SharedEncodings>,
    q: FlowQuery,
    tx: mpsc::Sender<Result<Bytes, Status>>,
) {
    let mut stop = handle.stopping();
    read_ring(&handle, &shared, &q, &tx, &mut stop).await;
    if *stop.borrow() {
        // Best effort: a client that is not reading just sees the stream end.
        let _ = tx.try_send(Err(Status::unavailable("flowd is shutting down")));
    }
}

async fn read_ring(
    handle: &ObserverHandle,
    shared: &SharedEncodings,
    q: &FlowQuery,
    tx: &mpsc::Sender<Result<Bytes, Status>>,
    stop: &mut watch::Receiver<bool>,
) {
    let ring = handle.ring.clone();
    let mut seq = q.start(handle);
    // A history-only request ends at what was written when it started.
    let end = if q.follow { u64::MAX } else { ring.written() };
    let mut enc = encode::Encoder::default();
    let mut encode = |ev: &Event| {
        let mut out = Vec::with_capacity(768);
        enc.response(ev, &q.plan, &mut out);
        Bytes::from(out)
    };
    let mut sent = 0u64;
    while seq < end {
        let ev = match ring.read(seq) {
            Read::Event(ev) => ev,
            Read::NotYet if q.follow => {
                tokio::select! {
                    _ = ring.wait_for(seq) => continue,
                    _ = tx.closed() => return,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            Read::NotYet => return,
            Read::Overtaken { oldest } => {
                handle.stats.lost_ring_buffer.inc_by(oldest - seq);
                let lost = Event::Lost(LostRecord {
                    time: Time::now(),
                    node: handle.state.snapshot().node_name_shared().clone(),
                    source: LostEventSource::HubbleRingBuffer as i32,
                    count: oldest - seq,
                    cpu: None,
                });
                if !send(tx, encode(&lost), stop).await {
                    return;
                }
                seq = oldest;
                continue;
            }
        };
        let this = seq;
        seq += 1;
        let bytes = match &*ev {
            Event::Flow(flow) => {
                let t = flow.time.as_unix_nanos();
                if q.until.is_some_and(|until| t > until) {
                    return;
                }
                if q.since.is_some_and(|since| t < since) || !q.filters.matches_flow(flow) {
                    continue;
                }
                shared.get_or_encode(this, q.plan_key, || encode(&ev))
            }
            // Lost events bypass filters and the time range and do not count.
            Event::Lost(_) => {
                if !send(tx, encode(&ev), stop).await {
                    return;
                }
                continue;
            }
        };
        if !send(tx, bytes, stop).await {
            return;
        }
        sent += 1;
        if !q.follow && q.number != 0 && sent >= q.number {
            return;
        }
    }
}

/// Decodes `GetFlowsRequest`s and writes ready `GetFlowsResponse` bytes.
#[derive(Debug, Default, Clone, Copy)]
struct FlowsCodec;

struct BytesEncoder;
struct RequestDecoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RequestDecoder {
    type Item = GetFlowsRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<GetFlowsRequest>, Status> {
        GetFlowsRequest::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Codec for FlowsCodec {
    type Encode = Bytes;
    type Decode = GetFlowsRequest;
    type Encoder = BytesEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder
    }
}

/// The GetFlows method over the ring.
#[derive(Clone)]
struct GetFlows {
    handle: Arc<ObserverHandle>,
    shared: Arc<SharedEncodings>,
}

impl ServerStreamingService<GetFlowsRequest> for GetFlows {
    type Response = Bytes;
    type ResponseStream = ReceiverStream<Result<Bytes, Status>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<GetFlowsRequest>) -> Self::Future {
        let handle = self.handle.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let q = FlowQuery::new(request.get_ref())?;
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            tokio::spawn(async move {
                handle.stats.grpc_streams_open.inc();
                stream_flows(handle.clone(), shared, q, tx).await;
                handle.stats.grpc_streams_open.dec();
            });
            Ok(with_version(ReceiverStream::new(rx)))
        })
    }
}

/// `observer.Observer`: GetFlows from the encoder, every other method from the generated
/// service.
#[derive(Clone)]
pub struct ObserverApi {
    flows: GetFlows,
    rest: ObserverServer<ObserverService>,
}

impl ObserverApi {
    pub fn new(handle: Arc<ObserverHandle>) -> Self {
        ObserverApi {
            flows: GetFlows {
                handle: handle.clone(),
                shared: Arc::new(SharedEncodings::default()),
            },
            rest: ObserverServer::new(ObserverService::new(handle))
                .max_decoding_message_size(MAX_REQUEST),
        }
    }
}

impl NamedService for ObserverApi {
    const NAME: &'static str = "observer.Observer";
}

impl Service<http::Request<tonic::body::Body>> for ObserverApi {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if req.uri().path() != PATH {
            return self.rest.call(req);
        }
        let method = self.flows.clone();
        Box::pin(async move {
            let mut grpc =
                Grpc::new(FlowsCodec).apply_max_message_size_config(Some(MAX_REQUEST), None);
            Ok(grpc.server_streaming(method, req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_with_the_same_plan_encode_a_flow_once() {
        let shared = SharedEncodings::default();
        let mut encodes = 0;
        let mut get = |seq: u64, key: u64| {
            shared.get_or_encode(seq, key, || {
                encodes += 1;
                Bytes::from(format!("{seq}/{key}"))
            })
        };
        assert_eq!(get(7, 1), "7/1");
        assert_eq!(get(7, 1), "7/1");
        assert_eq!(get(7, 2), "7/2");
        // A later flow in the same slot replaces the entry.
        assert_eq!(
            get(7 + SHARED_SLOTS as u64, 2),
            format!("{}/2", 7 + SHARED_SLOTS)
        );
        assert_eq!(get(7, 2), "7/2");
        assert_eq!(encodes, 4);
    }

    #[tokio::test]
    async fn stopping_ends_a_following_stream_with_unavailable() {
        use crate::identity::{ClusterState, StateHandle};
        use crate::observer::{Observer, ObserverConfig};
        use crate::parser::l7::RedactOptions;

        let state = ClusterState::parse("node_name: n\n").expect("state");
        let stats = Arc::new(crate::stats::Stats::new(
            &mut prometheus_client::registry::Registry::default(),
        ));
        let (_observer, _sender, handle) = Observer::new(
            ObserverConfig {
                ring_capacity: 15,
                queue_size: 4,
                redact: RedactOptions::default(),
                processors: Vec::new(),
            },
            Arc::new(StateHandle::new(state)),
            stats,
        )
        .expect("observer");
        let q = FlowQuery::new(&GetFlowsRequest {
            follow: true,
            ..Default::default()
        })
        .expect("query");
        let (tx, mut rx) = mpsc::channel(STREAM_BUFFER);
        let task = tokio::spawn(stream_flows(
            handle.clone(),
            Arc::new(SharedEncodings::default()),
            q,
            tx,
        ));
        // Nothing to read: the stream waits for flows until flowd stops.
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err());
        handle.stop_streams();
        let end = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let first = rx.recv().await;
            (first, rx.recv().await)
        })
        .await
        .expect("the stream ends");
        match end {
            (Some(Err(status)), None) => assert_eq!(status.code(), tonic::Code::Unavailable),
            other => panic!("{other:?}"),
        }
        task.await.expect("task");
    }
}
