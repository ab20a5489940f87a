//! `peer.Peer/Notify`: the nodes a relay should connect to. flowd announces itself
//! (PEER_ADDED with its node name and Observer API address) and the peers it knows
//! ([`crate::peers`]: a static list and a DNS name), then every change to them, until the
//! client goes away or flowd stops, as a Cilium agent's Hubble peer service does.

use std::net::SocketAddr;
use std::sync::Arc;

use flowscope_proto::peer::peer_server::Peer;
use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest, Tls};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::observer::ObserverHandle;
use crate::peers::{self, PeerMap};

pub struct PeerService {
    handle: Arc<ObserverHandle>,
    /// The Observer API's TCP address, if it has one (a unix socket is no use to a relay).
    address: Option<SocketAddr>,
    /// Becomes true when flowd shuts down: open streams end then.
    stop: watch::Receiver<bool>,
    /// The other nodes, as discovery finds them.
    peers: watch::Receiver<PeerMap>,
    /// The cluster name, when the Observer API serves TLS: every node is then announced with
    /// its TLS server name (as the cluster's nodes share one TLS setup, in Hubble too).
    tls_cluster: Option<String>,
}

impl PeerService {
    pub fn new(
        handle: Arc<ObserverHandle>,
        address: Option<SocketAddr>,
        stop: watch::Receiver<bool>,
        peers: watch::Receiver<PeerMap>,
        tls_cluster: Option<String>,
    ) -> Self {
        PeerService {
            handle,
            address,
            stop,
            peers,
            tls_cluster,
        }
    }

    /// This node, as a change notification.
    fn own(&self) -> ChangeNotification {
        with_tls(
            self.tls_cluster.as_deref(),
            ChangeNotification {
                name: self.handle.state.snapshot().node_name().to_string(),
                address: self.address.map(|a| a.to_string()).unwrap_or_default(),
                r#type: ChangeNotificationType::PeerAdded as i32,
                tls: None,
            },
        )
    }
}

/// `n` with its TLS server name when the Observer API serves TLS in `cluster` (a deleted
/// peer needs none).
fn with_tls(cluster: Option<&str>, mut n: ChangeNotification) -> ChangeNotification {
    if let Some(cluster) = cluster
        && n.r#type != ChangeNotificationType::PeerDeleted as i32
    {
        n.tls = Some(Tls {
            server_name: flowscope_tls::hubble_server_name(&n.name, cluster),
        });
    }
    n
}

/// Resolves when flowd stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[tonic::async_trait]
impl Peer for PeerService {
    type NotifyStream = ReceiverStream<Result<ChangeNotification, Status>>;

    async fn notify(
        &self,
        _request: Request<NotifyRequest>,
    ) -> Result<Response<Self::NotifyStream>, Status> {
        let (tx, rx) = mpsc::channel(64);
        let mut watch = self.peers.clone();
        let mut known = watch.borrow_and_update().clone();
        let mut first = vec![self.own()];
        first.extend(peers::added(&known));
        let tls = self.tls_cluster.clone();
        let with_tls = move |n| with_tls(tls.as_deref(), n);
        let first: Vec<_> = first.into_iter().map(&with_tls).collect();
        let mut stop = self.stop.clone();
        // Held open, with every change, until the client goes away or flowd stops.
        tokio::spawn(async move {
            for n in first {
                if tx.send(Ok(n)).await.is_err() {
                    return;
                }
            }
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = stopped(&mut stop) => return,
                    changed = watch.changed() => {
                        if changed.is_err() {
                            // Discovery ended (flowd stops): keep the stream until then.
                            stopped(&mut stop).await;
                            return;
                        }
                        let next = watch.borrow_and_update().clone();
                        for n in peers::diff(&known, &next).into_iter().map(&with_tls) {
                            if tx.send(Ok(n)).await.is_err() {
                                return;
                            }
                        }
                        known = next;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_announced_node_carries_its_tls_name_when_tls_is_on() {
        let deleted = ChangeNotification {
            name: "n".into(),
            r#type: ChangeNotificationType::PeerDeleted as i32,
            ..Default::default()
        };
        assert_eq!(with_tls(Some("c"), deleted).tls, None);
        let added = ChangeNotification {
            name: "n".into(),
            r#type: ChangeNotificationType::PeerAdded as i32,
            ..Default::default()
        };
        assert_eq!(with_tls(None, added.clone()).tls, None);
        assert_eq!(
            with_tls(Some("c"), added).tls.map(|t| t.server_name),
            Some("n.c.hubble-grpc.cilium.io".to_string())
        );
    }
}
