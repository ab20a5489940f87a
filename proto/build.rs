//! Compiles the .proto files with a pure-Rust compiler (protox), so no system `protoc` is
//! needed, then generates prost messages, tonic services and pbjson serde impls from the
//! same descriptor set. The descriptor set is also written out for gRPC server reflection.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/flow/flow.proto",
    "proto/relay/relay.proto",
    "proto/observer/observer.proto",
    "proto/peer/peer.proto",
    "proto/cilium/accesslog.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(PROTOS, ["proto"])?;
    let fds_bytes = prost::Message::encode_to_vec(&fds);
    std::fs::write(out.join("descriptor.bin"), &fds_bytes)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf.Timestamp", "crate::timestamp::Timestamp")
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        .preserve_proto_field_names()
        .build(&[".flow", ".observer", ".relay", ".peer", ".cilium"])?;
    Ok(())
}
