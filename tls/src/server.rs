//! TLS on the Observer API's TCP listener, with certificates reloaded from disk.
//!
//! As in Hubble, a server certificate and key make the listener TLS-only (TLS 1.3, ALPN
//! `h2`), and client CA files make it mutual: a client without a certificate signed by one of
//! those CAs is refused during the handshake. The files are read again every few seconds;
//! when their contents change, a new configuration is built and used for the connections
//! accepted from then on (open connections keep theirs). A change that does not load (a
//! half-written file, a key that does not match the certificate) keeps the previous
//! configuration and is logged, and is tried again at the next poll.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How often the certificate files are read again.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is disconnected.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The files of the listener's TLS configuration (`--tls-cert-file`, `--tls-key-file`,
/// `--tls-client-ca-files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA certificates client certificates must chain to; none: no client certificates.
    pub client_ca_files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("TLS configuration ({cert}, {key}): {reason}")]
    Config {
        cert: String,
        key: String,
        reason: String,
    },
}

impl TlsFiles {
    /// Every file, in a fixed order: certificate, key, then the client CAs.
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [self.cert_file.as_path(), self.key_file.as_path()]
            .into_iter()
            .chain(self.client_ca_files.iter().map(PathBuf::as_path))
    }

    fn read(&self) -> Result<Vec<Vec<u8>>, TlsError> {
        self.paths()
            .map(|path| {
                std::fs::read(path).map_err(|source| TlsError::Read {
                    path: path.display().to_string(),
                    source,
                })
            })
            .collect()
    }

    /// A server configuration from the files' `contents` (as [`TlsFiles::read`] gives them).
    fn build(&self, contents: &[Vec<u8>]) -> Result<ServerConfig, TlsError> {
        let pem_err = |path: &Path, reason: String| TlsError::Pem {
            path: path.display().to_string(),
            reason,
        };
        let config_err = |reason: String| TlsError::Config {
            cert: self.cert_file.display().to_string(),
            key: self.key_file.display().to_string(),
            reason,
        };
        let chain = certificates(&contents[0]).map_err(|r| pem_err(&self.cert_file, r))?;
        let key = PrivateKeyDer::from_pem_slice(&contents[1])
            .map_err(|e| pem_err(&self.key_file, format!("no PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| config_err(e.to_string()))?;
        let builder = if self.client_ca_files.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            for (path, pem) in self.client_ca_files.iter().zip(&contents[2..]) {
                for cert in certificates(pem).map_err(|r| pem_err(path, r))? {
                    roots
                        .add(cert)
                        .map_err(|e| pem_err(path, format!("not a CA certificate: {e}")))?;
                }
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| config_err(format!("client CAs: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| config_err(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The certificates of a PEM file; a file without any is refused, as Hubble does.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("must be a PEM encoded certificate".to_string());
    }
    Ok(certs)
}

/// The listener's current TLS configuration, rebuilt when its files change.
#[derive(Debug)]
pub struct ReloadingConfig {
    files: TlsFiles,
    /// The contents the current configuration was built from, and that configuration.
    current: RwLock<(Vec<Vec<u8>>, Arc<ServerConfig>)>,
}

impl ReloadingConfig {
    /// Loads the files; a file that cannot be read or used is an error.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let contents = files.read()?;
        let config = Arc::new(files.build(&contents)?);
        Ok(Self {
            files,
            current: RwLock::new((contents, config)),
        })
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Whether clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        !self.files.client_ca_files.is_empty()
    }

    /// Reads the files again: `Ok(true)` when they changed and the new configuration is in
    /// use, `Ok(false)` when they are unchanged; on an error the previous configuration stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = self.files.read()?;
        if self.current.read().unwrap_or_else(|e| e.into_inner()).0 == contents {
            return Ok(false);
        }
        let config = Arc::new(self.files.build(&contents)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (contents, config);
        Ok(true)
    }

    /// Reloads every `interval` until `stop` resolves, logging changes and failures (each
    /// distinct failure once).
    pub async fn watch(&self, interval: Duration, stop: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut last_error = None;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticks.tick() => {}
            }
            match self.reload() {
                Ok(changed) => {
                    if changed {
                        tracing::info!(cert = %self.files.cert_file.display(), "TLS certificates reloaded");
                    }
                    last_error = None;
                }
                Err(e) => {
                    let e = e.to_string();
                    if last_error.as_ref() != Some(&e) {
                        tracing::warn!(error = %e, "cannot reload TLS certificates; keeping the previous ones");
                    }
                    last_error = Some(e);
                }
            }
        }
    }
}

/// A TLS connection the Observer API serves.
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The TLS connections accepted on `listener`, each handshake run on its own task with the
/// configuration current when the connection arrived. Failed handshakes (a client without
/// a valid certificate, a plaintext client) are logged and dropped. Accepting stops when the
/// stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ReloadingConfig>,
) -> ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was accepted.
                        tracing::warn!(error = %e, "Observer API: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let acceptor = TlsAcceptor::from(config.current());
            let tx = tx.clone();
            tokio::spawn(async move {
                let accept = acceptor.accept(tcp).into_fallible();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(TlsConn(stream))).await;
                    }
                    Ok(Err((e, tcp))) => {
                        tracing::debug!(%peer, error = %e, "Observer API: TLS handshake failed");
                        linger(tcp).await;
                    }
                    Err(_) => tracing::debug!(%peer, "Observer API: TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Closes a connection whose handshake failed so that the client reads the TLS alert: with
/// TLS 1.3 a refused client has already sent its first request, and closing a socket with
/// unread data resets it, which can discard the alert before the client reads it. So the
/// write side is shut and the client's bytes are read until it closes (bounded).
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let mut buf = [0u8; 4096];
    let drain = async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// How long a refused client is given to read the alert and close.
const LINGER: Duration = Duration::from_secs(2);

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
