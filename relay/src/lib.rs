//! flowrelay: many flowd nodes behind one Observer API, as Hubble Relay.
//!
//! [`pool`] follows a node's Peer service and keeps a connection to every node it
//! announces; [`server`] serves `observer.Observer` over them, merging the nodes' flows in
//! time order ([`merge`]).

pub mod merge;
pub mod pool;
pub mod server;
