//! `GetFlows` across the nodes, as Hubble Relay serves it, with the nodes' responses passed
//! through as they were encoded ([`crate::raw`]).
//!
//! The client's request (filters, field mask, number, since/until, follow) goes to every
//! connected node, which does the filtering. The stream opens with `node_status` events:
//! NODE_CONNECTED with the connected nodes, NODE_UNAVAILABLE with the others.
//! - Without `follow` the answers are gathered, sorted and cut to `number` across the
//!   cluster; a node whose call fails sends NODE_ERROR first.
//! - With `follow` responses go through a bounded sort buffer ([`crate::merge`]). A node
//!   that fails sends NODE_ERROR; a node that (re)connects while the stream is open is
//!   streamed from (NODE_CONNECTED), from just after its last response if it had sent one,
//!   so nothing is repeated; a node the Peer service deletes sends NODE_GONE.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::observer::{GetFlowsRequest, GetFlowsResponse};
use flowscope_proto::relay::{NodeState, NodeStatusEvent};
use flowscope_proto::types::Timestamp;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio_stream::StreamExt;
use tonic::Status;
use tonic::transport::Channel;

use crate::merge::{SortBuffer, history};
use crate::metrics::{Metrics, NodeLabel};
use crate::pool::Pool;
use crate::raw::{Kind, NodeCodec, RawResponse};

/// Responses waiting between the nodes' streams and the merge.
const FAN_IN_QUEUE: usize = 4096;
/// Responses the merge takes from its queue in one turn.
const BATCH: usize = 256;

/// A `node_status` response, as Hubble Relay sends them in `GetFlows`.
pub fn node_status(state: NodeState, names: Vec<String>, message: String) -> RawResponse {
    RawResponse::encode(&GetFlowsResponse {
        node_name: String::new(),
        time: Some(Timestamp::now()),
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent {
            state_change: state as i32,
            node_names: names,
            message,
        })),
    })
}

/// What a node's stream reports to the merge.
enum FromNode {
    /// Responses in the order the node sent them.
    Responses(Arc<str>, Vec<RawResponse>),
    /// The node's call or stream failed.
    Failed(Arc<str>, String),
    /// The node ended the stream (history sent, or `until` reached).
    Ended(Arc<str>),
}

/// Responses a node's stream hands to the merge at once, at most.
const NODE_BATCH: usize = 64;

/// The stream's next item if it is ready now, without waiting (`None`: not yet, or ended).
async fn ready<S: tokio_stream::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *stream).poll_next(cx) {
            std::task::Poll::Ready(item) => item,
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Streams `GetFlows` from one node into `tx`.
async fn stream_node(
    name: Arc<str>,
    channel: Channel,
    req: GetFlowsRequest,
    tx: mpsc::Sender<FromNode>,
    metrics: Arc<Metrics>,
) {
    let label = NodeLabel {
        node: name.to_string(),
    };
    let (flows, lost): (Counter, Counter) = (
        metrics.flows.get_or_create(&label).clone(),
        metrics.lost.get_or_create(&label).clone(),
    );
    let result = async {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/observer.Observer/GetFlows");
        let mut stream = grpc
            .server_streaming(tonic::Request::new(req), path, NodeCodec::default())
            .await?
            .into_inner();
        while let Some(first) = stream.next().await {
            // The first response and what else the connection already holds (at most a
            // batch) go to the merge together.
            let (mut batch, mut failed, mut item) = (Vec::new(), None, Some(first));
            while let Some(next) = item.take() {
                match next {
                    Ok(r) => {
                        match r.kind {
                            Kind::Flow => {
                                flows.inc();
                            }
                            Kind::LostEvents => {
                                lost.inc();
                            }
                            Kind::NodeStatus | Kind::Other => {}
                        }
                        batch.push(r);
                    }
                    Err(e) => failed = Some(e),
                }
                if failed.is_none() && batch.len() < NODE_BATCH {
                    item = ready(&mut stream).await;
                }
            }
            if !batch.is_empty()
                && tx
                    .send(FromNode::Responses(name.clone(), batch))
                    .await
                    .is_err()
            {
                break;
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok::<(), Status>(())
    }
    .await;
    let end = match result {
        Ok(()) => FromNode::Ended(name),
        Err(e) => {
            metrics.node_errors.get_or_create(&label).inc();
            FromNode::Failed(name, e.message().to_string())
        }
    };
    let _ = tx.send(end).await;
}

/// `first` and what else is queued on `rx`, at most `max` messages in all.
fn batch(first: FromNode, rx: &mut mpsc::Receiver<FromNode>, max: usize) -> Vec<FromNode> {
    let mut out = vec![first];
    while out.len() < max {
        match rx.try_recv() {
            Ok(m) => out.push(m),
            Err(_) => break,
        }
    }
    out
}

/// The request for a node that is streamed from again: only what came after `last_ns`.
fn resumed(req: &GetFlowsRequest, last_ns: i128) -> GetFlowsRequest {
    let next = last_ns.saturating_add(1);
    GetFlowsRequest {
        number: 0,
        first: false,
        since: Some(Timestamp {
            seconds: i64::try_from(next.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
            nanos: i32::try_from(next.rem_euclid(1_000_000_000)).unwrap_or(0),
        }),
        ..req.clone()
    }
}

/// How long a followed stream waits before streaming again from a node whose stream failed.
const RETRY_AFTER: Duration = crate::pool::CHECK_INTERVAL;

/// A node a followed stream streams from.
struct Streaming {
    /// The time of its newest response.
    last_ns: Option<i128>,
    task: AbortHandle,
}

/// A node whose stream failed or ended, to be streamed from again when it is connected.
struct Paused {
    last_ns: Option<i128>,
    retry_at: Instant,
}

/// The nodes of a followed stream.
#[derive(Default)]
struct Members {
    streaming: BTreeMap<String, Streaming>,
    paused: BTreeMap<String, Paused>,
}

impl Members {
    fn saw(&mut self, name: &str, time_ns: i128) {
        if let Some(s) = self.streaming.get_mut(name) {
            s.last_ns = Some(s.last_ns.map_or(time_ns, |t| t.max(time_ns)));
        }
    }

    fn pause(&mut self, name: &str) {
        if let Some(s) = self.streaming.remove(name) {
            let retry_at = Instant::now() + RETRY_AFTER;
            self.paused.insert(
                name.to_string(),
                Paused {
                    last_ns: s.last_ns,
                    retry_at,
                },
            );
        }
    }

    /// Forgets the nodes not in `known` (stopping their streams); returns their names.
    fn drop_unknown(&mut self, known: &[String]) -> Vec<String> {
        let gone: Vec<String> = self
            .streaming
            .keys()
            .chain(self.paused.keys())
            .filter(|n| !known.contains(n))
            .cloned()
            .collect();
        for name in &gone {
            if let Some(s) = self.streaming.remove(name) {
                s.task.abort();
            }
            self.paused.remove(name);
        }
        gone
    }
}

/// One `GetFlows` call's fan-in.
pub struct FanIn {
    pool: Arc<Pool>,
    req: GetFlowsRequest,
    sort_buffer_len: usize,
    drain_timeout: Duration,
}

/// Counts a served stream in `flowrelay_get_flows_streams` while it lives.
struct Served(Arc<Metrics>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.streams.dec();
    }
}

impl FanIn {
    pub fn new(
        pool: Arc<Pool>,
        req: GetFlowsRequest,
        sort_buffer_len: usize,
        drain_timeout: Duration,
    ) -> Self {
        FanIn {
            pool,
            req,
            sort_buffer_len,
            drain_timeout,
        }
    }

    /// Starts the call: the responses for the client arrive on the returned channel, which
    /// closes when the call is complete. No connected node: UNAVAILABLE, as Hubble Relay.
    pub fn start(self) -> Result<mpsc::Receiver<Result<RawResponse, Status>>, Status> {
        let nodes = self.pool.connected();
        if nodes.is_empty() {
            return Err(Status::unavailable("no node is connected"));
        }
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
        let (tx, rx) = mpsc::channel(1024);
        let metrics = self.pool.metrics().clone();
        metrics.streams.inc();
        let served = Served(metrics);
        tokio::spawn(async move {
            let _served = served;
            let out = Out { tx, last_ns: None };
            let _ = self.run(nodes, first, out).await;
        });
        Ok(rx)
    }

    async fn run(
        self,
        nodes: Vec<(String, Channel)>,
        first: Vec<RawResponse>,
        mut out: Out,
    ) -> Sent {
        for s in first {
            out.send(s, None).await?;
        }
        let (tx, mut from_nodes) = mpsc::channel(FAN_IN_QUEUE);
        let mut tasks = JoinSet::new();
        let mut members = Members::default();
        for (name, channel) in nodes {
            let task = self.spawn(&mut tasks, &tx, &name, channel, self.req.clone());
            members.streaming.insert(
                name,
                Streaming {
                    last_ns: None,
                    task,
                },
            );
        }
        if !self.req.follow {
            drop(tx);
            return self.history(from_nodes, out).await;
        }
        let metrics = self.pool.metrics().clone();
        let mut changes = self.pool.subscribe();
        changes.mark_unchanged();
        let mut buffer = SortBuffer::new(self.sort_buffer_len);
        // A zero timeout (`--sort-buffer-drain-timeout=0s`) drains at every millisecond.
        let drain = self.drain_timeout.max(Duration::from_millis(1));
        let mut tick = tokio::time::interval(drain);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last_arrival = tokio::time::Instant::now();
        loop {
            let statuses = tokio::select! {
                msg = from_nodes.recv() => {
                    let Some(msg) = msg else { return Ok(()) };
                    last_arrival = tokio::time::Instant::now();
                    let mut statuses = Vec::new();
                    // What else is already queued is taken in the same turn, instead of
                    // one select per response.
                    for msg in batch(msg, &mut from_nodes, BATCH) {
                        match msg {
                            FromNode::Responses(name, rs) => {
                                for r in rs {
                                    members.saw(&name, r.time_ns);
                                    if let Some(r) = buffer.push(r) {
                                        out.send(r, Some(&metrics)).await?;
                                    }
                                }
                            }
                            FromNode::Failed(name, message) => {
                                members.pause(&name);
                                statuses.push(node_status(NodeState::NodeError, vec![name.to_string()], message));
                            }
                            FromNode::Ended(name) if self.req.until.is_some() => {
                                // Every node reached `until`: the call is complete.
                                members.streaming.remove(&*name);
                                if members.streaming.is_empty() {
                                    for s in statuses {
                                        out.send(s, None).await?;
                                    }
                                    for r in buffer.drain() {
                                        out.send(r, Some(&metrics)).await?;
                                    }
                                    return Ok(());
                                }
                            }
                            FromNode::Ended(name) => {
                                // The node stopped: streamed from again when it is back.
                                members.pause(&name);
                            }
                        }
                    }
                    statuses
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    self.sync(&mut members, &mut tasks, &tx)
                }
                // Nothing arrived for the drain timeout: nothing is worth waiting for.
                _ = tokio::time::sleep_until(last_arrival + drain), if !buffer.is_empty() => {
                    for r in buffer.drain() {
                        out.send(r, Some(&metrics)).await?;
                    }
                    Vec::new()
                }
                // While responses keep coming, what is older than the timeout leaves.
                _ = tick.tick() => {
                    let window = i128::try_from(drain.as_nanos()).unwrap_or(i128::MAX);
                    for r in buffer.pop_older_than(now_ns().saturating_sub(window)) {
                        out.send(r, Some(&metrics)).await?;
                    }
                    self.sync(&mut members, &mut tasks, &tx)
                }
                _ = out.tx.closed() => return Ok(()),
            };
            for s in statuses {
                out.send(s, None).await?;
            }
        }
    }

    /// Brings a followed stream's nodes in line with the pool: nodes the Peer service deleted
    /// are dropped (NODE_GONE); connected nodes not streamed from are, unless one failed
    /// less than [`RETRY_AFTER`] ago (NODE_CONNECTED). Returns the status events to send.
    fn sync(
        &self,
        members: &mut Members,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::Sender<FromNode>,
    ) -> Vec<RawResponse> {
        let mut statuses = Vec::new();
        let known: Vec<String> = self.pool.nodes().into_iter().map(|n| n.name).collect();
        let gone = members.drop_unknown(&known);
        if !gone.is_empty() {
            statuses.push(node_status(NodeState::NodeGone, gone, String::new()));
        }
        let now = Instant::now();
        let mut joined = Vec::new();
        for (name, channel) in self.pool.connected() {
            if members.streaming.contains_key(&name) {
                continue;
            }
            let req = match members.paused.get(&name) {
                Some(p) if p.retry_at > now => continue,
                Some(Paused {
                    last_ns: Some(t), ..
                }) => resumed(&self.req, *t),
                _ => self.req.clone(),
            };
            let last_ns = members.paused.remove(&name).and_then(|p| p.last_ns);
            let task = self.spawn(tasks, tx, &name, channel, req);
            members
                .streaming
                .insert(name.clone(), Streaming { last_ns, task });
            joined.push(name);
        }
        if !joined.is_empty() {
            statuses.push(node_status(NodeState::NodeConnected, joined, String::new()));
        }
        statuses
    }

    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::Sender<FromNode>,
        name: &str,
        channel: Channel,
        req: GetFlowsRequest,
    ) -> AbortHandle {
        let metrics = self.pool.metrics().clone();
        tasks.spawn(stream_node(
            Arc::from(name),
            channel,
            req,
            tx.clone(),
            metrics,
        ))
    }

    /// Gathers every node's answer, then sends the errors, then the history in time order
    /// cut to `number` across the cluster.
    async fn history(&self, mut from_nodes: mpsc::Receiver<FromNode>, mut out: Out) -> Sent {
        let (mut all, mut errors) = (Vec::new(), Vec::new());
        while let Some(msg) = from_nodes.recv().await {
            match msg {
                FromNode::Responses(_, rs) => all.extend(rs),
                FromNode::Failed(name, message) => errors.push(node_status(
                    NodeState::NodeError,
                    vec![name.to_string()],
                    message,
                )),
                FromNode::Ended(_) => {}
            }
        }
        for r in errors
            .into_iter()
            .chain(history(all, self.req.number, self.req.first))
        {
            out.send(r, None).await?;
        }
        Ok(())
    }
}

/// The client went away.
struct Gone;
type Sent = Result<(), Gone>;

/// The client's side of the call.
struct Out {
    tx: mpsc::Sender<Result<RawResponse, Status>>,
    /// The newest time sent on a followed stream.
    last_ns: Option<i128>,
}

impl Out {
    /// Sends `r`; on a followed stream (`metrics` given) counts it when it is out of order.
    async fn send(&mut self, r: RawResponse, metrics: Option<&Arc<Metrics>>) -> Sent {
        if let Some(m) = metrics {
            match self.last_ns {
                Some(last) if r.time_ns < last => {
                    m.out_of_order.inc();
                }
                _ => self.last_ns = Some(r.time_ns),
            }
        }
        self.tx.send(Ok(r)).await.map_err(|_| Gone)
    }
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_takes_an_item_only_when_there_is_one_now() {
        let mut two = tokio_stream::iter([1, 2]);
        assert_eq!(ready(&mut two).await, Some(1));
        assert_eq!(ready(&mut two).await, Some(2));
        assert_eq!(ready(&mut two).await, None);
        let mut never = tokio_stream::pending::<u8>();
        assert_eq!(ready(&mut never).await, None);
    }

    #[tokio::test]
    async fn batches_take_what_is_queued_and_lose_nothing() {
        let (tx, mut rx) = mpsc::channel(FAN_IN_QUEUE);
        let node: Arc<str> = Arc::from("n");
        for _ in 0..600 {
            tx.send(FromNode::Ended(node.clone()))
                .await
                .expect("queued");
        }
        let mut sizes = Vec::new();
        while let Ok(first) = rx.try_recv() {
            sizes.push(batch(first, &mut rx, BATCH).len());
        }
        assert_eq!(sizes, [256, 256, 88]);
    }

    #[test]
    fn a_resumed_node_is_asked_only_for_what_came_after_its_last_response() {
        let req = GetFlowsRequest {
            number: 20,
            first: true,
            follow: true,
            ..Default::default()
        };
        let r = resumed(&req, 1_700_000_000_999_999_999);
        assert_eq!(
            r.since,
            Some(Timestamp {
                seconds: 1_700_000_001,
                nanos: 0
            })
        );
        assert_eq!((r.number, r.first, r.follow), (0, false, true));
        let r = resumed(&req, -1);
        assert_eq!(
            r.since,
            Some(Timestamp {
                seconds: 0,
                nanos: 0
            })
        );
    }
}
