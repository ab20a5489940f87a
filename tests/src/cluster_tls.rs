//! Mutual TLS on every link of a [`crate::cluster::Cluster`], with certificates the test
//! makes: one CA; the nodes' server certificate for the names their Peer service announces
//! (`<node>.default.hubble-grpc.cilium.io`, and `hubble-peer.default.hubble-grpc.cilium.io`
//! for the Peer service itself, as Cilium's); the relay's server certificate for its
//! address and its client certificate towards the nodes; flowctl's client certificate.
//! Each program gets them through its own (Hubble's) flags.

use flowscope_cli::tls::TlsOptions;
use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};

use crate::pki::Pki;

/// The names the nodes' certificate is valid for, as in a Cilium cluster named `default`.
pub const NODE_NAMES: &str = "*.default.hubble-grpc.cilium.io";

/// How a client talks to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// As the cluster's own clients: with TLS and a client certificate if the cluster runs
    /// mutual TLS, in plaintext otherwise.
    Cluster,
    /// TLS trusting the cluster's CA, without a client certificate.
    NoCertificate,
    /// Plaintext.
    Plaintext,
}

/// The certificates of a cluster running mutual TLS; their files go away on drop.
pub struct ClusterTls {
    pki: Pki,
}

impl ClusterTls {
    /// Makes the CA and every certificate; the relay's is for `relay_ip`.
    pub fn new(relay_ip: &str) -> ClusterTls {
        let pki = Pki::new();
        let ca = pki.ca("ca");
        pki.leaf_for(&ca, "node", ServerAuth, &[NODE_NAMES]);
        pki.leaf_for(&ca, "relay", ServerAuth, &[relay_ip]);
        pki.leaf(&ca, "relay-client", ClientAuth);
        pki.leaf(&ca, "flowctl", ClientAuth);
        ClusterTls { pki }
    }

    fn ca(&self) -> String {
        self.pki.path("ca.crt")
    }

    /// flowd's flags: TLS on its Observer API and Peer service, client certificates
    /// required (signed by the CA).
    pub fn node_args(&self) -> Vec<String> {
        vec![
            format!("--tls-cert-file={}", self.pki.path("node.crt")),
            format!("--tls-key-file={}", self.pki.path("node.key")),
            format!("--tls-client-ca-files={}", self.ca()),
        ]
    }

    /// flowrelay's flags: its client certificate and the CA towards the nodes, its own
    /// server certificate and client certificates required from its clients.
    pub fn relay_args(&self) -> Vec<String> {
        vec![
            format!("--tls-hubble-server-ca-files={}", self.ca()),
            format!(
                "--tls-hubble-client-cert-file={}",
                self.pki.path("relay-client.crt")
            ),
            format!(
                "--tls-hubble-client-key-file={}",
                self.pki.path("relay-client.key")
            ),
            format!(
                "--tls-relay-server-cert-file={}",
                self.pki.path("relay.crt")
            ),
            format!("--tls-relay-server-key-file={}", self.pki.path("relay.key")),
            format!("--tls-relay-client-ca-files={}", self.ca()),
        ]
    }

    /// A client's TLS towards the relay: trusting the CA, with flowctl's client
    /// certificate if `certificate`.
    pub fn client(&self, certificate: bool) -> TlsOptions {
        let (cert, key) = match certificate {
            true => (self.pki.path("flowctl.crt"), self.pki.path("flowctl.key")),
            false => (String::new(), String::new()),
        };
        TlsOptions {
            enabled: true,
            ca_cert_files: vec![self.ca()],
            client_cert_file: cert,
            client_key_file: key,
            ..Default::default()
        }
    }
}

/// flowctl's flags for `tls` (Hubble's `--tls*` flags), with a `tls://` server address.
pub fn flowctl_args(tls: &TlsOptions) -> Vec<String> {
    let mut args = Vec::new();
    for ca in &tls.ca_cert_files {
        args.push(format!("--tls-ca-cert-files={ca}"));
    }
    if !tls.client_cert_file.is_empty() {
        args.push(format!("--tls-client-cert-file={}", tls.client_cert_file));
        args.push(format!("--tls-client-key-file={}", tls.client_key_file));
    }
    args
}
