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
        // Go's protojson readers in Hubble's offline mode discard unknown fields; a flow
        // log from a newer Hubble must still be readable.
        .ignore_unknown_fields()
        .build(&[".flow", ".observer", ".relay", ".peer", ".cilium"])?;
    for pkg in ["flow", "observer", "relay", "peer", "cilium"] {
        let path = out.join(format!("{pkg}.serde.rs"));
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(&path, numeric_unknown_enums(&text))?;
    }
    Ok(())
}

/// pbjson fails serialization on an enum value without a name; Go's protojson writes the
/// number instead (a new drop reason from a newer datapath must not break a JSON stream).
/// Rewrites each generated
/// `let v = T::try_from(x).map_err(..)?; struct_ser.serialize_field("k", &v)?;`
/// into a match that falls back to the number.
fn numeric_unknown_enums(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + 4096);
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let next = lines.get(i + 1).copied().unwrap_or("");
        let third = lines.get(i + 2).copied().unwrap_or("");
        let parsed = l.trim_start().strip_prefix("let v = ").and_then(|rest| {
            let (ty_call, _) = rest.split_once("::try_from(")?;
            let expr = rest
                .strip_prefix(ty_call)?
                .strip_prefix("::try_from(")?
                .strip_suffix(')')?;
            let field = third
                .trim_start()
                .strip_prefix("struct_ser.serialize_field(")?
                .strip_suffix(", &v)?;")?;
            next.contains("Invalid variant")
                .then_some((ty_call, expr, field))
        });
        match parsed {
            Some((ty, expr, field)) => {
                let indent = &l[..l.len() - l.trim_start().len()];
                out.push_str(&format!(
                    "{indent}match {ty}::try_from({expr}) {{\n\
                     {indent}    Ok(v) => struct_ser.serialize_field({field}, &v)?,\n\
                     {indent}    Err(_) => struct_ser.serialize_field({field}, &{expr})?,\n\
                     {indent}}}\n"
                ));
                i += 3;
            }
            None => {
                out.push_str(l);
                out.push('\n');
                i += 1;
            }
        }
    }
    out
}
