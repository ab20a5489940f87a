//! The nodes behind the relay: announced by a node's Peer service (`--peer-service`), each
//! kept connected, checked with `ServerStatus` every [`CHECK_INTERVAL`], and reconnected
//! when it fails. A node that goes down is marked unavailable and never stalls the others.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flowscope_cli::client::Dial;
use flowscope_proto::observer::ServerStatusRequest;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::peer::peer_client::PeerClient;
use flowscope_proto::peer::{ChangeNotificationType, NotifyRequest};
use flowscope_proto::relay::NodeState;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// How often every node is checked (and a lost one reconnected).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long a connection or a check may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// One node as the relay sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub address: String,
    pub state: NodeState,
    pub client: Option<ObserverClient<Channel>>,
    /// Why the node is unavailable.
    pub error: Option<String>,
}

/// The nodes, by name.
#[derive(Debug, Default)]
pub struct Pool {
    nodes: RwLock<BTreeMap<String, Node>>,
}

impl Pool {
    pub fn new() -> Arc<Self> {
        Arc::new(Pool::default())
    }

    /// Every node, by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.read().values().cloned().collect()
    }

    /// The connected nodes' names and clients.
    pub fn connected(&self) -> Vec<(String, ObserverClient<Channel>)> {
        self.read()
            .values()
            .filter(|n| n.state == NodeState::NodeConnected)
            .filter_map(|n| Some((n.name.clone(), n.client.clone()?)))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Node>> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Node>> {
        self.nodes.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or updates a node (a new address drops the old connection).
    pub fn upsert(&self, name: &str, address: &str) {
        let mut nodes = self.write();
        let same = nodes.get(name).is_some_and(|n| n.address == address);
        if !same {
            nodes.insert(
                name.to_string(),
                Node {
                    name: name.to_string(),
                    address: address.to_string(),
                    state: NodeState::NodeUnavailable,
                    client: None,
                    error: Some("not connected yet".to_string()),
                },
            );
        }
    }

    pub fn remove(&self, name: &str) {
        self.write().remove(name);
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
        let channel = flowscope_cli::client::channel_with(peer_service, &Dial::new(CALL_TIMEOUT))
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
                    self.upsert(&note.name, &note.address);
                }
                Ok(ChangeNotificationType::PeerDeleted) => self.remove(&note.name),
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks every node for good: connects the ones without a connection and marks the
    /// ones whose check fails unavailable. Nodes are checked concurrently.
    pub async fn keep_connected(self: Arc<Self>) {
        loop {
            let mut checks = tokio::task::JoinSet::new();
            for node in self.nodes() {
                checks.spawn(check(node));
            }
            while let Some(done) = checks.join_next().await {
                let Ok((name, address, result)) = done else {
                    continue;
                };
                let mut nodes = self.write();
                // The node may have gone or moved meanwhile.
                let Some(n) = nodes.get_mut(&name).filter(|n| n.address == address) else {
                    continue;
                };
                match result {
                    Ok(client) => {
                        n.state = NodeState::NodeConnected;
                        n.client = Some(client);
                        n.error = None;
                    }
                    Err(e) => {
                        n.state = NodeState::NodeUnavailable;
                        n.client = None;
                        n.error = Some(e);
                    }
                }
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }
}

type Checked = (String, String, Result<ObserverClient<Channel>, String>);

/// A node's client, connected if it was not, after a successful `ServerStatus`.
async fn check(node: Node) -> Checked {
    let result = async {
        if node.address.is_empty() {
            return Err("the node announces no Observer API address".to_string());
        }
        let mut client = match node.client {
            Some(c) => c,
            None => ObserverClient::new(
                flowscope_cli::client::channel_with(&node.address, &Dial::new(CALL_TIMEOUT))
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        tokio::time::timeout(CALL_TIMEOUT, client.server_status(ServerStatusRequest {}))
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))?
            .map_err(|s| s.message().to_string())?;
        Ok(client)
    }
    .await;
    (node.name, node.address, result)
}
