//! TLS for the gRPC links of flowd, flowrelay and the clients, on rustls with the ring
//! provider.
//!
//! - [`server`]: a listener's configuration from certificate files, reloaded when they change
//!   on disk, and the stream of accepted TLS connections (flowd's Observer API, flowrelay's).
//! - [`client`]: the client configuration of Hubble's `--tls*` flags (flowctl, flowtop, and
//!   flowrelay's links to its nodes).

pub mod client;
pub mod server;
