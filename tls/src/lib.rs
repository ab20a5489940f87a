//! TLS for the gRPC links of flowd, flowrelay and the clients, on rustls with the ring
//! provider.
//!
//! - [`server`]: a listener's configuration from certificate files, reloaded when they change
//!   on disk, and the stream of accepted TLS connections (flowd's Observer API, flowrelay's).
//! - [`client`]: the client configuration of Hubble's `--tls*` flags (flowctl, flowtop, and
//!   flowrelay's links to its nodes).

pub mod client;
pub mod server;

/// The name a node's (or the Peer service's) certificate is verified against, as Hubble
/// names them: `<name>.<cluster>.hubble-grpc.cilium.io`, with dots in both names replaced by
/// dashes; a cluster-qualified node name (`cluster/node`) contributes the node part.
pub fn hubble_server_name(name: &str, cluster: &str) -> String {
    let name = name.rsplit('/').next().unwrap_or(name);
    format!(
        "{}.{}.hubble-grpc.cilium.io",
        name.replace('.', "-"),
        cluster.replace('.', "-")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_names_are_hubbles() {
        let name = super::hubble_server_name;
        assert_eq!(
            name("hubble-peer", "default"),
            "hubble-peer.default.hubble-grpc.cilium.io"
        );
        assert_eq!(
            name("ip-10-0-0-1.ec2.internal", "prod.eu"),
            "ip-10-0-0-1-ec2-internal.prod-eu.hubble-grpc.cilium.io"
        );
        assert_eq!(
            name("mesh-a/node-2", "mesh-a"),
            "node-2.mesh-a.hubble-grpc.cilium.io"
        );
    }
}
