//! The nodes behind the relay: announced by a node's Peer service (`--peer-service`), each
//! kept connected, checked with `ServerStatus` every [`CHECK_INTERVAL`], and reconnected
//! when it fails. A node that goes down is marked unavailable and never stalls the others.
//! Every change (a node added, removed, connected or lost) is announced on a watch channel,
//! so followed `GetFlows` streams can start streaming from nodes that (re)connect.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flowscope_cli::client::Dial;
use flowscope_cli::tls::TlsOptions;
use flowscope_peers::PeerMap;
use flowscope_proto::observer::ServerStatusRequest;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::peer::peer_client::PeerClient;
use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
use flowscope_proto::relay::NodeState;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::metrics::Metrics;

/// How often every node is checked (and a lost one reconnected).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long a connection or a check may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// A new node's error until its first check.
pub const NOT_CONNECTED_YET: &str = "not connected yet";

/// How the relay reaches nodes and the Peer service: TLS (with a client certificate: mTLS)
/// as Hubble Relay's `--tls-hubble-*` flags say, or plaintext.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The CAs and client certificate; none: plaintext.
    pub tls: Option<TlsOptions>,
    /// The cluster's name, part of the TLS server names (`--cluster-name`).
    pub cluster: String,
}

impl Links {
    /// How to dial `address`, verifying the server's certificate against `server_name`.
    fn dial(&self, address: &str, server_name: &str) -> (String, Dial) {
        let mut dial = Dial::new(CALL_TIMEOUT);
        let unix = address.starts_with("unix:");
        if let (Some(tls), false) = (&self.tls, unix) {
            dial.tls = TlsOptions {
                enabled: true,
                server_name: server_name.to_string(),
                ..tls.clone()
            };
        }
        (address.to_string(), dial)
    }

    /// The Peer service's TLS name, as Hubble Relay verifies it.
    pub fn peer_service_name(&self) -> String {
        flowscope_tls::hubble_server_name("hubble-peer", &self.cluster)
    }
}

/// One node as the relay sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub address: String,
    pub state: NodeState,
    pub channel: Option<Channel>,
    /// Why the node is unavailable.
    pub error: Option<String>,
    /// The TLS server name the node is verified against, when the link uses TLS.
    pub tls_server_name: Option<String>,
}

/// The nodes, by name.
#[derive(Debug)]
pub struct Pool {
    nodes: RwLock<BTreeMap<String, Node>>,
    links: Links,
    changes: watch::Sender<u64>,
    metrics: Arc<Metrics>,
}

impl Pool {
    pub fn new(links: Links, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Pool {
            nodes: RwLock::default(),
            links,
            changes: watch::Sender::new(0),
            metrics,
        })
    }

    /// Every node, by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.read().values().cloned().collect()
    }

    /// The connected nodes' names and channels.
    pub fn connected(&self) -> Vec<(String, Channel)> {
        self.read()
            .values()
            .filter(|n| n.state == NodeState::NodeConnected)
            .filter_map(|n| Some((n.name.clone(), n.channel.clone()?)))
            .collect()
    }

    /// The connected nodes' Observer clients.
    pub fn clients(&self) -> Vec<(String, ObserverClient<Channel>)> {
        self.connected()
            .into_iter()
            .map(|(n, c)| (n, ObserverClient::new(c)))
            .collect()
    }

    /// Changes to the nodes: the value grows at each one.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Node>> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Node>> {
        self.nodes.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v += 1);
        self.metrics.set_nodes(&self.nodes());
    }

    /// Adds or updates a node from its announcement (a new address or TLS name drops the
    /// old connection).
    pub fn upsert(&self, note: &ChangeNotification) {
        let tls_server_name = self.links.tls.as_ref().map(|_| {
            note.tls
                .as_ref()
                .map(|t| t.server_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| {
                    flowscope_tls::hubble_server_name(&note.name, &self.links.cluster)
                })
        });
        {
            let mut nodes = self.write();
            let same = nodes
                .get(&note.name)
                .is_some_and(|n| n.address == note.address && n.tls_server_name == tls_server_name);
            if same {
                return;
            }
            nodes.insert(
                note.name.clone(),
                Node {
                    name: note.name.clone(),
                    address: note.address.clone(),
                    state: NodeState::NodeUnavailable,
                    channel: None,
                    error: Some(NOT_CONNECTED_YET.to_string()),
                    tls_server_name,
                },
            );
        }
        self.changed();
    }

    pub fn remove(&self, name: &str) {
        if self.write().remove(name).is_some() {
            self.changed();
        }
    }

    /// Follows the Peer service at `peer_service` for good, reconnecting to it when its
    /// stream ends, with a growing pause (at most 10 s).
    pub async fn follow_peers(self: Arc<Self>, peer_service: String) {
        let mut pause = Duration::from_millis(200);
        loop {
            match self.clone().follow_once(&peer_service).await {
                Ok(()) => pause = Duration::from_millis(200),
                Err(e) => tracing::warn!(peer_service, "peer service: {e}"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }

    async fn follow_once(self: Arc<Self>, peer_service: &str) -> Result<(), String> {
        let (address, dial) = self
            .links
            .dial(peer_service, &self.links.peer_service_name());
        let channel = flowscope_cli::client::channel_with(&address, &dial)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = PeerClient::new(channel)
            .notify(NotifyRequest {})
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        while let Some(note) = stream.next().await {
            let note = note.map_err(|e| e.to_string())?;
            match ChangeNotificationType::try_from(note.r#type) {
                Ok(ChangeNotificationType::PeerAdded | ChangeNotificationType::PeerUpdated) => {
                    self.upsert(&note);
                }
                Ok(ChangeNotificationType::PeerDeleted) => self.remove(&note.name),
                _ => {}
            }
        }
        Ok(())
    }

    /// Follows nodes found without a Peer service (`--peer`, `--peer-dns`) for good: each
    /// change adds, moves or removes nodes.
    pub async fn follow_discovery(self: Arc<Self>, mut found: watch::Receiver<PeerMap>) {
        let mut known = PeerMap::new();
        loop {
            let next = found.borrow_and_update().clone();
            for note in flowscope_peers::diff(&known, &next) {
                match ChangeNotificationType::try_from(note.r#type) {
                    Ok(ChangeNotificationType::PeerDeleted) => self.remove(&note.name),
                    _ => self.upsert(&note),
                }
            }
            known = next;
            if found.changed().await.is_err() {
                return;
            }
        }
    }

    /// Checks every node for good: connects the ones without a connection and marks the
    /// ones whose check fails unavailable. Nodes are checked concurrently.
    pub async fn keep_connected(self: Arc<Self>) {
        loop {
            self.check_all().await;
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }

    /// One round of checks.
    pub async fn check_all(&self) {
        let mut checks = tokio::task::JoinSet::new();
        for node in self.nodes() {
            checks.spawn(check(node, self.links.clone()));
        }
        let mut any = false;
        while let Some(done) = checks.join_next().await {
            let Ok((name, address, result)) = done else {
                continue;
            };
            let mut nodes = self.write();
            // The node may have gone or moved meanwhile.
            let Some(n) = nodes.get_mut(&name).filter(|n| n.address == address) else {
                continue;
            };
            let was = n.state;
            match result {
                Ok(channel) => {
                    n.state = NodeState::NodeConnected;
                    n.channel = Some(channel);
                    n.error = None;
                }
                Err(e) => {
                    if was == NodeState::NodeConnected {
                        tracing::warn!(node = name, error = e, "node unavailable");
                    }
                    n.state = NodeState::NodeUnavailable;
                    n.channel = None;
                    n.error = Some(e);
                }
            }
            any |= was != n.state;
        }
        if any {
            self.changed();
        }
    }
}

type Checked = (String, String, Result<Channel, String>);

/// A node's channel, connected if it was not, after a successful `ServerStatus`.
async fn check(node: Node, links: Links) -> Checked {
    let result = async {
        if node.address.is_empty() {
            return Err("the node announces no Observer API address".to_string());
        }
        let channel = match node.channel {
            Some(c) => c,
            None => {
                let name = node.tls_server_name.as_deref().unwrap_or_default();
                let (address, dial) = links.dial(&node.address, name);
                flowscope_cli::client::channel_with(&address, &dial)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let mut client = ObserverClient::new(channel.clone());
        tokio::time::timeout(CALL_TIMEOUT, client.server_status(ServerStatusRequest {}))
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))?
            .map_err(|s| s.message().to_string())?;
        Ok(channel)
    }
    .await;
    (node.name, node.address, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_tls_for_tcp_addresses_only() {
        let plain = Links::default();
        assert!(!plain.dial("10.0.0.1:4244", "x").1.tls.enabled);
        let tls = Links {
            tls: Some(TlsOptions {
                ca_cert_files: vec!["/ca.pem".into()],
                ..Default::default()
            }),
            cluster: "default".into(),
        };
        let (_, dial) = tls.dial("10.0.0.1:4244", "n.default.hubble-grpc.cilium.io");
        assert!(dial.tls.enabled);
        assert_eq!(dial.tls.server_name, "n.default.hubble-grpc.cilium.io");
        assert_eq!(dial.tls.ca_cert_files, ["/ca.pem"]);
        assert!(!tls.dial("unix:///run/hubble.sock", "x").1.tls.enabled);
    }
}
