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
use std::time::Duration;

use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::observer::{GetFlowsRequest, GetFlowsResponse};
use flowscope_proto::relay::{NodeState, NodeStatusEvent};
use flowscope_proto::types::Timestamp;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::StreamExt;
use tonic::Status;
use tonic::transport::Channel;

use crate::merge::{SortBuffer, history};
use crate::metrics::{Metrics, NodeLabel};
use crate::pool::Pool;
use crate::raw::{Kind, NodeCodec, RawResponse};

/// Responses waiting between the nodes' streams and the merge.
const FAN_IN_QUEUE: usize = 4096;

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
    Response(Arc<str>, RawResponse),
    /// The node's call or stream failed.
    Failed(Arc<str>, String),
    /// The node ended the stream (history sent, or `until` reached).
    Ended(Arc<str>),
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
            .server_streaming(tonic::Request::new(req), path, NodeCodec)
            .await?
            .into_inner();
        while let Some(resp) = stream.next().await {
            let resp = resp?;
            match resp.kind {
                Kind::Flow => {
                    flows.inc();
                }
                Kind::LostEvents => {
                    lost.inc();
                }
                Kind::NodeStatus | Kind::Other => {}
            }
            if tx
                .send(FromNode::Response(name.clone(), resp))
                .await
                .is_err()
            {
                break;
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
        let mut streaming = BTreeMap::new();
        for (name, channel) in nodes {
            self.spawn(&mut tasks, &tx, &name, channel, self.req.clone());
            streaming.insert(name, None);
        }
        if !self.req.follow {
            drop(tx);
            return self.history(from_nodes, out).await;
        }
        let metrics = self.pool.metrics().clone();
        let mut changes = self.pool.subscribe();
        changes.mark_unchanged();
        // Nodes streamed from at some point, with the time of their last response.
        let mut last: BTreeMap<String, Option<i128>> = BTreeMap::new();
        let mut buffer = SortBuffer::new(self.sort_buffer_len);
        let mut tick = tokio::time::interval(self.drain_timeout);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut idle = true;
        loop {
            tokio::select! {
                msg = from_nodes.recv() => {
                    let Some(msg) = msg else { return Ok(()) };
                    idle = false;
                    match msg {
                        FromNode::Response(name, r) => {
                            if let Some(t) = streaming.get_mut(&*name) {
                                *t = Some(r.time_ns.max(t.unwrap_or(i128::MIN)));
                            }
                            for r in buffer.push(r) {
                                out.send(r, Some(&metrics)).await?;
                            }
                        }
                        FromNode::Failed(name, message) => {
                            if let Some(t) = streaming.remove(&*name) {
                                last.insert(name.to_string(), t);
                            }
                            let names = vec![name.to_string()];
                            out.send(node_status(NodeState::NodeError, names, message), None).await?;
                        }
                        FromNode::Ended(name) => {
                            let t = streaming.remove(&*name);
                            if self.req.until.is_some() {
                                // Every node reached `until`: the call is complete.
                                if streaming.is_empty() {
                                    for r in buffer.drain() {
                                        out.send(r, Some(&metrics)).await?;
                                    }
                                    return Ok(());
                                }
                            } else if let Some(t) = t {
                                // The node stopped (it will be streamed from when it is back).
                                last.insert(name.to_string(), t);
                            }
                        }
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let mut statuses = Vec::new();
                    let known: Vec<String> = self.pool.nodes().into_iter().map(|n| n.name).collect();
                    let gone: Vec<String> = streaming
                        .keys()
                        .chain(last.keys())
                        .filter(|n| !known.contains(n))
                        .cloned()
                        .collect();
                    for name in &gone {
                        streaming.remove(name);
                        last.remove(name);
                    }
                    if !gone.is_empty() {
                        // Its stream task ends with the node's connection.
                        statuses.push(node_status(NodeState::NodeGone, gone, String::new()));
                    }
                    let mut joined = Vec::new();
                    for (name, channel) in self.pool.connected() {
                        if streaming.contains_key(&name) {
                            continue;
                        }
                        let req = match last.remove(&name) {
                            Some(Some(t)) => resumed(&self.req, t),
                            _ => self.req.clone(),
                        };
                        self.spawn(&mut tasks, &tx, &name, channel, req);
                        streaming.insert(name.clone(), None);
                        joined.push(name);
                    }
                    if !joined.is_empty() {
                        statuses.push(node_status(NodeState::NodeConnected, joined, String::new()));
                    }
                    for s in statuses {
                        out.send(s, None).await?;
                    }
                }
                _ = tick.tick() => {
                    // Nothing arrived for a whole period: nothing is worth waiting for.
                    let released = if idle {
                        buffer.drain()
                    } else {
                        buffer.pop_older_than(now_ns() - self.drain_timeout.as_nanos() as i128)
                    };
                    idle = true;
                    for r in released {
                        out.send(r, Some(&metrics)).await?;
                    }
                }
                _ = out.tx.closed() => return Ok(()),
            }
        }
    }

    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::Sender<FromNode>,
        name: &str,
        channel: Channel,
        req: GetFlowsRequest,
    ) {
        let metrics = self.pool.metrics().clone();
        tasks.spawn(stream_node(
            Arc::from(name),
            channel,
            req,
            tx.clone(),
            metrics,
        ));
    }

    /// Gathers every node's answer, then sends the errors, then the history in time order
    /// cut to `number` across the cluster.
    async fn history(&self, mut from_nodes: mpsc::Receiver<FromNode>, mut out: Out) -> Sent {
        let (mut all, mut errors) = (Vec::new(), Vec::new());
        while let Some(msg) = from_nodes.recv().await {
            match msg {
                FromNode::Response(_, r) => all.push(r),
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
