//! `peer.Peer/Notify`: the nodes a relay should connect to. A flowd node knows only itself:
//! it announces itself (PEER_ADDED with its node name and Observer API address) and keeps
//! the stream open, as a Cilium agent's Hubble peer service does for its own node.

use std::net::SocketAddr;
use std::sync::Arc;

use flowscope_proto::peer::peer_server::Peer;
use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::observer::ObserverHandle;

pub struct PeerService {
    handle: Arc<ObserverHandle>,
    /// The Observer API's TCP address, if it has one (a unix socket is no use to a relay).
    address: Option<SocketAddr>,
    /// Becomes true when flowd shuts down: open streams end then.
    stop: watch::Receiver<bool>,
}

impl PeerService {
    pub fn new(
        handle: Arc<ObserverHandle>,
        address: Option<SocketAddr>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        PeerService {
            handle,
            address,
            stop,
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

#[tonic::async_trait]
impl Peer for PeerService {
    type NotifyStream = ReceiverStream<Result<ChangeNotification, Status>>;

    async fn notify(
        &self,
        _request: Request<NotifyRequest>,
    ) -> Result<Response<Self::NotifyStream>, Status> {
        let (tx, rx) = mpsc::channel(1);
        tx.send(Ok(self.own()))
            .await
            .map_err(|_| Status::internal("stream closed"))?;
        let mut stop = self.stop.clone();
        // Held open until the client goes away or flowd stops.
        tokio::spawn(async move {
            tokio::select! {
                _ = tx.closed() => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
