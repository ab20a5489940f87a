//! The real `flowtop` in tmux against a real flowrelay over two flowd nodes on loopback:
//! the header counts the nodes, each row names its node, and a node that goes away is
//! shown as unavailable.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use flowscope_tests::relay::{RelayProcess, feed_requests, loopback_node};
use flowscope_tests::tmux::{Tmux, flowtop_command};
use flowscope_tests::{free_port, temp_dir};

/// How long the relay and flowtop may take to connect and show the flows.
const START_BOUND: Duration = Duration::from_secs(15);
/// How long a node's going away may take to reach the header (the relay's status poll).
const NODE_BOUND: Duration = Duration::from_secs(15);

/// Table rows naming `node` in their NODE column (right after the time of day).
fn rows_of(pane: &str, node: &str) -> usize {
    pane.lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(node))
        .count()
}

#[test]
fn flowtop_through_a_relay_counts_nodes_and_names_each_rows_node() {
    let pb = free_port();
    let b = loopback_node("node-b", pb, &[]);
    let pa = free_port();
    let a = loopback_node("node-a", pa, &[format!("--peer=node-b=127.0.0.1:{pb}")]);
    feed_requests(&a, 0, 3, 1);
    feed_requests(&b, 10, 3, 1);
    let relay = RelayProcess::start(&format!("127.0.0.1:{pa}"));

    let dir = temp_dir("flowtop-relay");
    let tmux = Tmux::start(&dir, &flowtop_command(&dir, &["--server", &relay.address]));
    // 100 columns: the narrow relay layout (NODE instead of the IDENTITY columns).
    let resized = tmux.tmux(&["resize-window", "-t", "flowtop", "-x", "100", "-y", "30"]);
    assert!(resized.status.success());
    let (pane, _) = tmux.wait(START_BOUND, "both nodes' flows through the relay", |p| {
        p.contains("nodes 2/2") && rows_of(p, "node-a") == 3 && rows_of(p, "node-b") == 3
    });
    let header = pane.lines().find(|l| l.starts_with("TIME")).unwrap();
    assert!(header.starts_with("TIME         NODE"), "{pane}");
    assert!(!header.contains("IDENTITY"), "{pane}");

    // node-b goes away: the relay reports it unavailable, flowtop shows it.
    drop(b);
    tmux.wait(NODE_BOUND, "node-b unavailable", |p| {
        p.contains("nodes 1/2 (unavailable: node-b)")
    });
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), "0");
    drop(a);
}
