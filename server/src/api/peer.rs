//! `peer.Peer/Notify`: the nodes a relay should connect to. flowd announces itself
//! (PEER_ADDED with its node name and Observer API address) and the peers it knows
//! ([`crate::peers`]: a static list and a DNS name), then every change to them, until the
//! client goes away or flowd stops, as a Cilium agent's Hubble peer service does.

use std::net::SocketAddr;
use std::sync::Arc;

use flowscope_proto::peer::peer_server::Peer;
use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
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
}

impl PeerService {
    pub fn new(
        handle: Arc<ObserverHandle>,
        address: Option<SocketAddr>,
        stop: watch::Receiver<bool>,
        peers: watch::Receiver<PeerMap>,
    ) -> Self {
        PeerService {
            handle,
            address,
            stop,
            peers,
        }
    }

    /// This node, as a change notification.
    fn own(&self) -> ChangeNotification {
        ChangeNotification {
            name: self.handle.state.snapshot().node_name().to_string(),
            address: self.address.map(|a| a.to_string()).unwrap_or_default(),
            r#type: ChangeNotificationType::PeerAdded as i32,
            tls: None,
        }
    }
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
                        for n in peers::diff(&known, &next) {
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
