#![doc = include_str!("../README.md")]

pub mod agent;
pub mod api;
pub mod daemon;
pub mod decode;
pub mod document;
pub mod enrich;
pub mod flow;
pub mod fqdn;
pub mod identity;
pub mod metrics;
pub mod observer;
pub mod parser;
pub use flowscope_peers as peers;
pub mod policy;
pub mod sockets;
pub mod source;
pub mod stats;
pub mod store;
pub use flowscope_tls::server as tls;

/// What flowd reports as the flows' emitter and as its server version.
pub fn emitter() -> flowscope_proto::flow::Emitter {
    flowscope_proto::flow::Emitter {
        name: EMITTER_NAME.to_string(),
        version: VERSION.to_string(),
    }
}

/// The emitter name flows carry.
pub const EMITTER_NAME: &str = "Flowscope";

/// flowd's version, as `ServerStatus.version` and the `hubble-server-version` header report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
