//! Nodes found without a Peer service: the other nodes flowd announces through
//! `peer.Peer/Notify` (so a relay pointed at one flowd finds them all), and the nodes
//! flowrelay connects to besides those of its `--peer-service`: a static list (`--peer [NAME=]HOST:PORT`) and the addresses of a
//! DNS name (`--peer-dns NAME[:PORT]`, e.g. a Kubernetes headless Service), resolved again
//! every `--peer-dns-interval`. A peer found by DNS is named by its address (the name
//! carries no node names). A failed resolution keeps the peers found before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType};
use tokio::sync::watch;

/// Peers by name → Observer API address.
pub type PeerMap = BTreeMap<String, String>;

/// The default port of a node's Observer API.
pub const DEFAULT_PORT: u16 = 4244;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeerSpecError {
    #[error("invalid peer {0:?}: want [NAME=]HOST:PORT")]
    Static(String),
    #[error("invalid peer DNS name {0:?}: want NAME[:PORT]")]
    Dns(String),
}

/// `--peer [NAME=]HOST:PORT`; the name defaults to the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPeer {
    pub name: String,
    pub address: String,
}

impl FromStr for StaticPeer {
    type Err = PeerSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, address) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), a.trim()),
            None => (s.trim(), s.trim()),
        };
        let host_port_ok = address
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
        if name.is_empty() || !host_port_ok {
            return Err(PeerSpecError::Static(s.to_string()));
        }
        Ok(StaticPeer {
            name: name.to_string(),
            address: address.to_string(),
        })
    }
}

/// `--peer-dns NAME[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPeers {
    pub name: String,
    pub port: u16,
}

impl FromStr for DnsPeers {
    type Err = PeerSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, port) = match s.rsplit_once(':') {
            Some((n, p)) => (
                n,
                p.parse::<u16>()
                    .map_err(|_| PeerSpecError::Dns(s.to_string()))?,
            ),
            None => (s, DEFAULT_PORT),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !valid || port == 0 {
            return Err(PeerSpecError::Dns(s.to_string()));
        }
        Ok(DnsPeers {
            name: name.to_string(),
            port,
        })
    }
}

/// Where peers come from.
#[derive(Debug, Clone, Default)]
pub struct PeerConfig {
    pub statics: Vec<StaticPeer>,
    pub dns: Option<DnsPeers>,
    pub interval: Duration,
}

impl PeerConfig {
    fn static_map(&self) -> PeerMap {
        self.statics
            .iter()
            .map(|p| (p.name.clone(), p.address.clone()))
            .collect()
    }
}

/// Starts discovery: the current peers, updated until `stop` becomes true. `own` (this
/// node's Observer API address) is never announced as a peer.
pub fn spawn(
    cfg: PeerConfig,
    own: Option<SocketAddr>,
    mut stop: watch::Receiver<bool>,
) -> watch::Receiver<PeerMap> {
    let (tx, rx) = watch::channel(cfg.static_map());
    let Some(dns) = cfg.dns.clone() else {
        return rx;
    };
    let interval = cfg.interval.max(Duration::from_millis(100));
    tokio::spawn(async move {
        loop {
            let lookup = tokio::net::lookup_host((dns.name.as_str(), dns.port));
            match tokio::time::timeout(Duration::from_secs(10), lookup).await {
                Ok(Ok(addrs)) => {
                    let mut next = cfg.static_map();
                    for a in addrs.filter(|a| Some(*a) != own) {
                        next.entry(a.ip().to_string()).or_insert(a.to_string());
                    }
                    tx.send_if_modified(|cur| {
                        let changed = *cur != next;
                        *cur = next;
                        changed
                    });
                }
                Ok(Err(e)) => tracing::warn!(name = %dns.name, "peer DNS lookup failed: {e}"),
                Err(_) => tracing::warn!(name = %dns.name, "peer DNS lookup timed out"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
    rx
}

fn note(name: &str, address: &str, kind: ChangeNotificationType) -> ChangeNotification {
    ChangeNotification {
        name: name.to_string(),
        address: address.to_string(),
        r#type: kind as i32,
        tls: None,
    }
}

/// Every peer of `map` as PEER_ADDED.
pub fn added(map: &PeerMap) -> Vec<ChangeNotification> {
    map.iter()
        .map(|(n, a)| note(n, a, ChangeNotificationType::PeerAdded))
        .collect()
}

/// What turns `old` into `new`: PEER_DELETED, then PEER_UPDATED (same name, new address),
/// then PEER_ADDED, each by name.
pub fn diff(old: &PeerMap, new: &PeerMap) -> Vec<ChangeNotification> {
    let deleted = old
        .iter()
        .filter(|(n, _)| !new.contains_key(*n))
        .map(|(n, a)| note(n, a, ChangeNotificationType::PeerDeleted));
    let updated = new
        .iter()
        .filter(|(n, a)| old.get(*n).is_some_and(|o| o != *a))
        .map(|(n, a)| note(n, a, ChangeNotificationType::PeerUpdated));
    let added = new
        .iter()
        .filter(|(n, _)| !old.contains_key(*n))
        .map(|(n, a)| note(n, a, ChangeNotificationType::PeerAdded));
    deleted.chain(updated).chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_peers_parse_with_and_without_a_name() {
        assert_eq!(
            "node-b=10.0.0.2:4244".parse(),
            Ok(StaticPeer {
                name: "node-b".into(),
                address: "10.0.0.2:4244".into()
            })
        );
        let p: StaticPeer = "[fd00::2]:4244".parse().expect("ipv6");
        assert_eq!(
            (p.name.as_str(), p.address.as_str()),
            ("[fd00::2]:4244", "[fd00::2]:4244")
        );
        for bad in [
            "",
            "node-b=",
            "10.0.0.2",
            "x=10.0.0.2:0",
            "=1.2.3.4:5",
            "h:port",
        ] {
            assert!(bad.parse::<StaticPeer>().is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_peers_parse_with_the_default_port() {
        assert_eq!(
            "flowd-peers.kube-system.svc".parse(),
            Ok(DnsPeers {
                name: "flowd-peers.kube-system.svc".into(),
                port: DEFAULT_PORT
            })
        );
        assert_eq!("peers:4300".parse::<DnsPeers>().map(|d| d.port), Ok(4300));
        for bad in ["", "peers:", "peers:0", "pe ers", "peers:99999"] {
            assert!(bad.parse::<DnsPeers>().is_err(), "{bad}");
        }
    }

    #[test]
    fn diffs_delete_update_and_add_by_name() {
        let map = |v: &[(&str, &str)]| -> PeerMap {
            v.iter()
                .map(|(n, a)| (n.to_string(), a.to_string()))
                .collect()
        };
        let old = map(&[("a", "10.0.0.1:4244"), ("b", "10.0.0.2:4244")]);
        let new = map(&[("b", "10.0.0.9:4244"), ("c", "10.0.0.3:4244")]);
        let got: Vec<(String, String, i32)> = diff(&old, &new)
            .into_iter()
            .map(|n| (n.name, n.address, n.r#type))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "a".into(),
                    "10.0.0.1:4244".into(),
                    ChangeNotificationType::PeerDeleted as i32
                ),
                (
                    "b".into(),
                    "10.0.0.9:4244".into(),
                    ChangeNotificationType::PeerUpdated as i32
                ),
                (
                    "c".into(),
                    "10.0.0.3:4244".into(),
                    ChangeNotificationType::PeerAdded as i32
                ),
            ]
        );
        assert!(diff(&new, &new).is_empty());
        assert_eq!(added(&new).len(), 2);
    }

    #[tokio::test]
    async fn dns_discovery_resolves_and_leaves_out_this_node() {
        let (_stop_tx, stop) = watch::channel(false);
        let own: SocketAddr = "127.0.0.1:4244".parse().expect("addr");
        let cfg = PeerConfig {
            statics: vec!["node-b=10.0.0.2:4244".parse().expect("static")],
            dns: Some("localhost:4244".parse().expect("dns")),
            interval: Duration::from_millis(100),
        };
        let mut rx = spawn(cfg, Some(own), stop);
        // localhost resolves to this node's own address (left out) and perhaps ::1.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let peers = rx.borrow_and_update().clone();
        assert_eq!(
            peers.get("node-b").map(String::as_str),
            Some("10.0.0.2:4244")
        );
        assert!(!peers.contains_key("127.0.0.1"), "{peers:?}");
    }
}
