//! flowrelay's Prometheus metrics (`--metrics-listen-address`):
//!
//! - `hubble_relay_pool_peer_connection_status{status}`: nodes by connection state, under
//!   Hubble Relay's name and gRPC's state names (READY, CONNECTING, TRANSIENT_FAILURE);
//! - `flowrelay_node_connected{node}`: 1 while a node is connected, else 0;
//! - `flowrelay_flows_relayed_total{node}`, `flowrelay_lost_events_relayed_total{node}`: what
//!   went from each node to clients;
//! - `flowrelay_node_errors_total{node}`: node streams that failed (each a NODE_ERROR);
//! - `flowrelay_get_flows_streams`: GetFlows calls being served;
//! - `flowrelay_flows_out_of_order_total`: responses a followed stream sent older than one
//!   it had already sent (the sort buffer was too small or its drain timeout too short for
//!   the nodes' clock and delivery skew).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::pool::Node;
use flowscope_proto::relay::NodeState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    pub node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// gRPC's connectivity states a node can be in, as Hubble Relay reports them.
const STATUSES: [&str; 3] = ["READY", "CONNECTING", "TRANSIENT_FAILURE"];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    peer_status: Family<StatusLabel, Gauge>,
    connected: Family<NodeLabel, Gauge>,
    pub flows: Family<NodeLabel, Counter>,
    pub lost: Family<NodeLabel, Counter>,
    pub node_errors: Family<NodeLabel, Counter>,
    pub streams: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub out_of_order: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            peer_status: Family::default(),
            connected: Family::default(),
            flows: Family::default(),
            lost: Family::default(),
            node_errors: Family::default(),
            streams: Gauge::default(),
            out_of_order: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "hubble_relay_pool_peer_connection_status",
            "Nodes by the state of the relay's connection to them",
            m.peer_status.clone(),
        );
        registry.register(
            "flowrelay_node_connected",
            "Whether the relay is connected to the node",
            m.connected.clone(),
        );
        registry.register(
            "flowrelay_flows_relayed",
            "Flows relayed from the node to clients",
            m.flows.clone(),
        );
        registry.register(
            "flowrelay_lost_events_relayed",
            "Lost-event notices relayed from the node to clients",
            m.lost.clone(),
        );
        registry.register(
            "flowrelay_node_errors",
            "GetFlows streams from the node that failed",
            m.node_errors.clone(),
        );
        registry.register(
            "flowrelay_get_flows_streams",
            "GetFlows calls being served",
            m.streams.clone(),
        );
        registry.register(
            "flowrelay_flows_out_of_order",
            "Responses sent on a followed stream older than one already sent",
            m.out_of_order.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// Sets the per-node gauges from the pool's nodes (a node that went is removed).
    pub fn set_nodes(&self, nodes: &[Node]) {
        let mut counts = [0i64; STATUSES.len()];
        self.connected.clear();
        for n in nodes {
            let connected = n.state == NodeState::NodeConnected;
            let status = if connected {
                0
            } else if n.error.as_deref() == Some(crate::pool::NOT_CONNECTED_YET) {
                1
            } else {
                2
            };
            counts[status] += 1;
            self.connected
                .get_or_create(&NodeLabel {
                    node: n.name.clone(),
                })
                .set(i64::from(connected));
        }
        for (status, count) in STATUSES.iter().zip(counts) {
            self.peer_status
                .get_or_create(&StatusLabel { status })
                .set(count);
        }
    }

    /// The exposition (OpenMetrics text).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Serves `/metrics` on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        use axum::http::header;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = self.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        );
        axum::serve(listener, app).await
    }
}

/// The address `--metrics-listen-address` names (`:9966` listens on every address).
pub fn listen_address(s: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    if s.starts_with(':') {
        format!("0.0.0.0{s}").parse()
    } else {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, state: NodeState, error: Option<&str>) -> Node {
        Node {
            name: name.into(),
            address: "127.0.0.1:1".into(),
            state,
            channel: None,
            error: error.map(str::to_string),
            tls_server_name: None,
        }
    }

    #[test]
    fn node_states_are_exposed_by_node_and_as_hubbles_status_counts() {
        let m = Metrics::new();
        m.set_nodes(&[
            node("a", NodeState::NodeConnected, None),
            node("b", NodeState::NodeUnavailable, Some("refused")),
            node(
                "c",
                NodeState::NodeUnavailable,
                Some(crate::pool::NOT_CONNECTED_YET),
            ),
        ]);
        m.flows
            .get_or_create(&NodeLabel { node: "a".into() })
            .inc_by(3);
        let text = m.render();
        for line in [
            "hubble_relay_pool_peer_connection_status{status=\"READY\"} 1",
            "hubble_relay_pool_peer_connection_status{status=\"CONNECTING\"} 1",
            "hubble_relay_pool_peer_connection_status{status=\"TRANSIENT_FAILURE\"} 1",
            "flowrelay_node_connected{node=\"a\"} 1",
            "flowrelay_node_connected{node=\"b\"} 0",
            "flowrelay_flows_relayed_total{node=\"a\"} 3",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        m.set_nodes(&[node("a", NodeState::NodeConnected, None)]);
        let text = m.render();
        assert!(!text.contains("node=\"b\""), "{text}");
        assert!(text.contains("status=\"TRANSIENT_FAILURE\"} 0"), "{text}");
    }
}
