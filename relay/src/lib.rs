//! flowrelay: many flowd nodes behind one Observer API, as Hubble Relay.
//!
//! Data flows one way: the nodes' Peer service → [`pool`] (connections, states) →
//! [`flows`] (fan-out, [`merge`] in time order, responses kept encoded by [`raw`]) →
//! [`server`] (the Observer API) and [`metrics`].

pub mod flows;
pub mod merge;
pub mod metrics;
pub mod pool;
pub mod raw;
pub mod server;
