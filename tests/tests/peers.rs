//! flowd's Peer service announces the other nodes it knows: a static list, and the
//! addresses of a DNS name served by a real DNS server (dnsmasq) in a namespace, resolved
//! again as the records change (root only for the DNS part).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use flowscope_proto::peer::peer_client::PeerClient;
use flowscope_proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
use flowscope_tests::dnsmasq::DnsServer;
use flowscope_tests::netns::{Netns, is_root, veth};
use flowscope_tests::{Flowd, FlowdOptions};
use tokio_stream::StreamExt;

type Notes = tonic::Streaming<ChangeNotification>;

/// The next `n` notifications as `(type, name, address)`, within 15 s.
async fn next(stream: &mut Notes, n: usize) -> Vec<(i32, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let note = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {out:?} within 15 s"))
            .expect("stream open")
            .expect("ok");
        out.push((note.r#type, note.name, note.address));
    }
    out
}

const ADDED: i32 = ChangeNotificationType::PeerAdded as i32;
const DELETED: i32 = ChangeNotificationType::PeerDeleted as i32;

fn note(kind: i32, name: &str, address: &str) -> (i32, String, String) {
    (kind, name.to_string(), address.to_string())
}

#[tokio::test]
async fn static_peers_are_announced_after_this_node() {
    let port = flowscope_tests::free_port();
    let flowd = Flowd::start(FlowdOptions {
        extra_args: vec![
            format!("--listen-address=127.0.0.1:{port}"),
            "--peer=node-b=10.1.2.3:4244".to_string(),
            "--peer=10.1.2.4:4244".to_string(),
        ],
        ..Default::default()
    });
    let mut peers = PeerClient::new(flowd.channel().await);
    let mut stream = peers.notify(NotifyRequest {}).await.unwrap().into_inner();
    assert_eq!(
        next(&mut stream, 3).await,
        [
            note(ADDED, "test-node", &format!("127.0.0.1:{port}")),
            note(ADDED, "10.1.2.4:4244", "10.1.2.4:4244"),
            note(ADDED, "node-b", "10.1.2.3:4244"),
        ]
    );
    // Nothing changes: nothing more arrives, and the stream stays open.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next())
            .await
            .is_err()
    );
}

#[test]
fn a_bad_peer_is_refused_at_start() {
    let out = std::process::Command::new(flowscope_tests::bin("flowd"))
        .args(["--peer", "node-b=10.1.2.3", "--listen-address="])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid peer \"node-b=10.1.2.3\""), "{err}");
}

#[tokio::test]
async fn dns_peers_follow_the_records_of_a_name() {
    if !is_root() {
        eprintln!("skipped: needs root for namespaces");
        return;
    }
    let tag = format!("fspeer{}", std::process::id() % 100_000);
    let node = Netns::new(&format!("{tag}-node"));
    let dns = Netns::new(&format!("{tag}-dns"));
    veth(
        &node,
        "eth0",
        Some("10.204.0.1/24"),
        &dns,
        "eth0",
        Some("10.204.0.2/24"),
    );
    let records = |ips: &[&str]| -> Vec<String> {
        ips.iter()
            .map(|ip| format!("--host-record=peers.lab.example,{ip}"))
            .collect()
    };
    let first = records(&["10.9.0.2", "10.9.0.3"]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let server = DnsServer::start(&dns, "10.204.0.2", &node, &first);
    let flowd = Flowd::start(FlowdOptions {
        netns: Some(node.name.clone()),
        extra_args: vec![
            "--listen-address=".to_string(),
            "--peer-dns=peers.lab.example".to_string(),
            "--peer-dns-interval=1".to_string(),
        ],
        ..Default::default()
    });
    let mut peers = PeerClient::new(flowd.channel().await);
    // dnsmasq may take a moment to answer: this node first, then the two records.
    let mut stream = peers.notify(NotifyRequest {}).await.unwrap().into_inner();
    let mut got = next(&mut stream, 3).await;
    got.sort();
    assert_eq!(
        got,
        [
            note(ADDED, "10.9.0.2", "10.9.0.2:4244"),
            note(ADDED, "10.9.0.3", "10.9.0.3:4244"),
            note(ADDED, "test-node", ""),
        ]
    );

    // The Service's endpoints change: one node leaves, another comes.
    drop(server);
    let second = records(&["10.9.0.3", "10.9.0.4"]);
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let _server = DnsServer::start(&dns, "10.204.0.2", &node, &second);
    assert_eq!(
        next(&mut stream, 2).await,
        [
            note(DELETED, "10.9.0.2", "10.9.0.2:4244"),
            note(ADDED, "10.9.0.4", "10.9.0.4:4244"),
        ]
    );
}
