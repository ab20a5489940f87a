#![doc = include_str!("../README.md")]

/// Generated code is not ours to lint.
macro_rules! generated {
    ($name:ident, $file:literal, $serde:literal) => {
        #[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs)]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
            include!(concat!(env!("OUT_DIR"), "/", $serde));
        }
    };
}

generated!(flow, "flow.rs", "flow.serde.rs");
generated!(relay, "relay.rs", "relay.serde.rs");
generated!(observer, "observer.rs", "observer.serde.rs");
generated!(peer, "peer.rs", "peer.serde.rs");
generated!(cilium, "cilium.rs", "cilium.serde.rs");

/// The serialized `FileDescriptorSet` of every message and service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

pub mod json;
pub mod names;
pub mod reserved;

pub mod timestamp;

/// `observer.GetFlowsResponse` field numbers, for code that reads or writes the message
/// without the generated types (flowd's encoder, flowrelay's pass-through).
pub mod get_flows_response_fields {
    pub const FLOW: u32 = 1;
    pub const NODE_STATUS: u32 = 2;
    pub const LOST_EVENTS: u32 = 3;
    pub const NODE_NAME: u32 = 1000;
    pub const TIME: u32 = 1001;
}

/// Well-known types used by the generated messages.
pub mod types {
    pub use crate::timestamp::Timestamp;
    pub use pbjson_types::{Any, BoolValue, FieldMask, Int32Value, UInt32Value};
}
