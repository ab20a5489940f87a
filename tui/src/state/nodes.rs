//! The nodes behind a relay, as the header shows them: how many are connected, how many
//! unavailable and which. Two sources feed it: `ServerStatus` (the relay's counts, polled,
//! `num_connected_nodes` unset on a single flowd) and the `node_status` events of the flow
//! stream, which change it between two polls. A poll replaces everything the events said
//! before it.

use std::collections::BTreeMap;

use flowscope_proto::relay::NodeState;

/// A relay's `ServerStatus` node figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub connected: u32,
    pub unavailable: u32,
    /// The unavailable nodes' names (a relay may list only some of them).
    pub unavailable_names: Vec<String>,
}

/// What the header shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSummary {
    pub connected: u32,
    /// Connected plus unavailable.
    pub total: u32,
    pub unavailable_names: Vec<String>,
}

/// A node's state as the events since the last poll say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Up,
    Down,
    Gone,
}

#[derive(Clone, Debug, Default)]
pub struct Nodes {
    /// The last poll's figures, if the server is a relay.
    polled: Option<NodeCounts>,
    /// Node states from `node_status` events since that poll, by name.
    events: BTreeMap<String, Seen>,
}

impl Nodes {
    /// A `ServerStatus` answer: `None` from a single node.
    pub fn polled(&mut self, counts: Option<NodeCounts>) {
        self.polled = counts;
        self.events.clear();
    }

    /// A `node_status` event of the flow stream.
    pub fn event(&mut self, state: NodeState, names: &[String]) {
        let seen = match state {
            NodeState::NodeConnected => Seen::Up,
            NodeState::NodeUnavailable | NodeState::NodeError => Seen::Down,
            NodeState::NodeGone => Seen::Gone,
            NodeState::UnknownNodeState => return,
        };
        for name in names {
            self.events.insert(name.clone(), seen);
        }
    }

    /// Whether the server is a relay: it reported node counts or sent node events.
    pub fn is_relay(&self) -> bool {
        self.polled.is_some() || !self.events.is_empty()
    }

    /// The figures for the header; `None` for a single node.
    pub fn summary(&self) -> Option<NodeSummary> {
        if !self.is_relay() {
            return None;
        }
        let base = self.polled.clone().unwrap_or_default();
        let mut connected = base.connected;
        let mut unavailable = base.unavailable;
        let mut names = base.unavailable_names;
        for (name, seen) in &self.events {
            let listed = names.iter().position(|n| n == name);
            match (seen, listed) {
                // Back: it was one of the unavailable ones.
                (Seen::Up, Some(i)) => {
                    names.remove(i);
                    unavailable = unavailable.saturating_sub(1);
                    connected += 1;
                }
                // Connected before the poll (it counted it) or new since.
                (Seen::Up, None) if self.polled.is_none() => connected += 1,
                (Seen::Up, None) => {}
                (Seen::Down, Some(_)) => {}
                (Seen::Down, None) => {
                    if self.polled.is_some() {
                        connected = connected.saturating_sub(1);
                    }
                    unavailable += 1;
                    names.push(name.clone());
                }
                (Seen::Gone, Some(i)) => {
                    names.remove(i);
                    unavailable = unavailable.saturating_sub(1);
                }
                (Seen::Gone, None) => connected = connected.saturating_sub(1),
            }
        }
        names.sort();
        Some(NodeSummary {
            connected,
            total: connected + unavailable,
            unavailable_names: names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn poll(n: &mut Nodes, connected: u32, unavailable: &[&str]) {
        n.polled(Some(NodeCounts {
            connected,
            unavailable: unavailable.len() as u32,
            unavailable_names: names(unavailable),
        }));
    }

    fn summary(connected: u32, total: u32, unavailable: &[&str]) -> Option<NodeSummary> {
        Some(NodeSummary {
            connected,
            total,
            unavailable_names: names(unavailable),
        })
    }

    #[test]
    fn a_single_node_has_no_summary() {
        let mut n = Nodes::default();
        assert_eq!(n.summary(), None);
        n.polled(None);
        assert!(!n.is_relay());
        assert_eq!(n.summary(), None);
    }

    #[test]
    fn the_poll_gives_the_counts_and_unavailable_names() {
        let mut n = Nodes::default();
        poll(&mut n, 2, &["node-b"]);
        assert_eq!(n.summary(), summary(2, 3, &["node-b"]));
    }

    #[test]
    fn events_change_the_polled_figures_until_the_next_poll() {
        let mut n = Nodes::default();
        poll(&mut n, 3, &[]);
        // Every stream opens with the connected nodes: already counted.
        n.event(
            NodeState::NodeConnected,
            &names(&["node-a", "node-b", "node-c"]),
        );
        assert_eq!(n.summary(), summary(3, 3, &[]));
        n.event(NodeState::NodeUnavailable, &names(&["node-b"]));
        assert_eq!(n.summary(), summary(2, 3, &["node-b"]));
        n.event(NodeState::NodeConnected, &names(&["node-b"]));
        assert_eq!(n.summary(), summary(3, 3, &[]));
        n.event(NodeState::NodeGone, &names(&["node-c"]));
        assert_eq!(n.summary(), summary(2, 2, &[]));
        // The next poll is the truth again.
        poll(&mut n, 1, &["node-a"]);
        assert_eq!(n.summary(), summary(1, 2, &["node-a"]));
        n.event(NodeState::NodeConnected, &names(&["node-a"]));
        assert_eq!(n.summary(), summary(2, 2, &[]));
        n.event(NodeState::NodeError, &names(&["node-a"]));
        n.event(NodeState::NodeGone, &names(&["node-x"]));
        assert_eq!(n.summary(), summary(0, 1, &["node-a"]));
    }

    #[test]
    fn events_alone_make_a_relay_before_the_first_poll() {
        let mut n = Nodes::default();
        n.event(NodeState::UnknownNodeState, &names(&["x"]));
        assert!(!n.is_relay());
        n.event(NodeState::NodeConnected, &names(&["node-a", "node-b"]));
        n.event(NodeState::NodeUnavailable, &names(&["node-c"]));
        assert_eq!(n.summary(), summary(2, 3, &["node-c"]));
    }
}
