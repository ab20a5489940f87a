//! The TLS client configuration of `--tls`, `--tls-allow-insecure`, `--tls-ca-cert-files`,
//! `--tls-client-cert-file`, `--tls-client-key-file` and `--tls-server-name`, as Hubble's
//! CLI builds it: custom CAs replace the system's, a client certificate is sent when both its
//! files are given (mutual TLS), and the server name defaults to the address's host.

use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};

/// The TLS settings of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--tls`: use TLS even without a `tls://` address.
    pub enabled: bool,
    /// `--tls-allow-insecure`: accept any server certificate.
    pub allow_insecure: bool,
    /// `--tls-ca-cert-files`: CAs to trust instead of the system's.
    pub ca_cert_files: Vec<String>,
    pub client_cert_file: String,
    pub client_key_file: String,
    /// `--tls-server-name`: the name to verify instead of the address's host.
    pub server_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot load cert '{path}': {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot process cert '{0}': must be a PEM encoded certificate")]
    NotACertificate(String),
    #[error("cannot load client key '{path}': {reason}")]
    Key { path: String, reason: String },
    #[error("no CA certificates: none of the system's CA bundles exists; use --tls-ca-cert-files")]
    NoSystemRoots,
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where Linux distributions keep their CA bundle (the list Go's crypto/x509 reads).
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn read(path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_string(),
        source,
    })
}

fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NotACertificate(path.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NotACertificate(path.to_string()));
    }
    Ok(certs)
}

/// The CAs to trust: `--tls-ca-cert-files`, else `SSL_CERT_FILE` or the system's bundle.
fn roots(opts: &TlsOptions) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if !opts.ca_cert_files.is_empty() {
        for path in &opts.ca_cert_files {
            for cert in certificates(path)? {
                roots
                    .add(cert)
                    .map_err(|_| TlsError::NotACertificate(path.clone()))?;
            }
        }
        return Ok(roots);
    }
    let env = std::env::var("SSL_CERT_FILE").ok();
    let bundle = env
        .iter()
        .map(String::as_str)
        .chain(SYSTEM_BUNDLES)
        .find(|p| std::path::Path::new(p).is_file())
        .ok_or(TlsError::NoSystemRoots)?;
    let pem = read(bundle)?;
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    Ok(roots)
}

/// The client configuration of `opts` (ALPN `h2`, as gRPC requires).
pub fn client_config(opts: &TlsOptions) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if opts.allow_insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    } else {
        builder.with_root_certificates(roots(opts)?)
    };
    let mut config = if !opts.client_cert_file.is_empty() && !opts.client_key_file.is_empty() {
        let chain = certificates(&opts.client_cert_file)?;
        let key = PrivateKeyDer::from_pem_slice(&read(&opts.client_key_file)?).map_err(|e| {
            TlsError::Key {
                path: opts.client_key_file.clone(),
                reason: e.to_string(),
            }
        })?;
        builder.with_client_auth_cert(chain, key)?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The name the server's certificate is verified against: `--tls-server-name`, else `host`.
pub fn server_name(opts: &TlsOptions, host: &str) -> Result<ServerName<'static>, TlsError> {
    let name = if opts.server_name.is_empty() {
        host.trim_start_matches('[').trim_end_matches(']')
    } else {
        opts.server_name.as_str()
    };
    ServerName::try_from(name.to_string()).map_err(|_| TlsError::ServerName(name.to_string()))
}

/// `--tls-allow-insecure`: any certificate is accepted, but the handshake's signatures are
/// still checked, so the connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_flag_else_the_address_host() {
        let mut opts = TlsOptions::default();
        let name = |o: &TlsOptions, host| server_name(o, host).map(|n| n.to_str().into_owned());
        assert_eq!(name(&opts, "node1.example").expect("ok"), "node1.example");
        assert_eq!(name(&opts, "127.0.0.1").expect("ok"), "127.0.0.1");
        assert_eq!(name(&opts, "[::1]").expect("ok"), "::1");
        opts.server_name = "relay.hubble.local".to_string();
        assert_eq!(name(&opts, "127.0.0.1").expect("ok"), "relay.hubble.local");
        opts.server_name = "not a name".to_string();
        assert!(matches!(name(&opts, "x"), Err(TlsError::ServerName(_))));
    }

    #[test]
    fn unusable_ca_files_are_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("flowctl-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("ok");
        let not_pem = dir.join("ca.crt");
        std::fs::write(&not_pem, "not a certificate").expect("ok");
        let config = |path: &std::path::Path| {
            client_config(&TlsOptions {
                ca_cert_files: vec![path.display().to_string()],
                ..TlsOptions::default()
            })
        };
        let err = config(&not_pem).expect_err("refused").to_string();
        assert_eq!(
            err,
            format!(
                "cannot process cert '{}': must be a PEM encoded certificate",
                not_pem.display()
            )
        );
        let err = config(&dir.join("absent.crt"))
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with("cannot load cert '"), "{err}");
        assert!(err.contains("absent.crt"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
