//! Connecting to an Observer API: `host:port`, `http://host:port`, `tls://host:port`,
//! `unix:///path` or `unix:/path`; TLS with `tls://` or `--tls` (see [`crate::tls`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use flowscope_proto::observer::observer_client::ObserverClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::tls::TlsOptions;

/// Hubble's CLI defaults (`--timeout`, `--request-timeout`).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid server address {0:?}")]
    Address(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot connect to {server}: {}", root_cause(.cause))]
    Connect {
        server: String,
        cause: tonic::transport::Error,
    },
    /// The connection or the server's first answer took longer than `--timeout`.
    #[error(
        "cannot connect to {server}: no answer within {} (--timeout)",
        crate::goflags::format_duration(*.timeout)
    )]
    Timeout { server: String, timeout: Duration },
}

/// The innermost error of a chain: transport errors repeat their sources in Display.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// How to reach a server: `--timeout` and the TLS flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub timeout: Duration,
    pub tls: TlsOptions,
}

impl Dial {
    /// [`DIAL_TIMEOUT`], and TLS only for a `tls://` address.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            tls: TlsOptions::default(),
        }
    }
}

/// Connects to `server`, waiting at most [`DIAL_TIMEOUT`].
pub async fn connect(server: &str) -> Result<ObserverClient<Channel>, ConnectError> {
    connect_with(server, &Dial::new(DIAL_TIMEOUT)).await
}

/// Connects to `server` as `dial` says.
pub async fn connect_with(
    server: &str,
    dial: &Dial,
) -> Result<ObserverClient<Channel>, ConnectError> {
    let channel = channel_with(server, dial).await?;
    Ok(ObserverClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

/// Waits at most `timeout` for `call`, the first request on a new channel.
///
/// A TCP connect and the HTTP/2 client preface succeed against any listener, so a peer that
/// accepts connections but never speaks HTTP/2 is only noticed when it fails to answer the
/// first call; Hubble gives up after its dial timeout there too, instead of hanging.
pub async fn first_answer<T>(
    server: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = T>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| ConnectError::Timeout {
            server: server.to_string(),
            timeout,
        })
}

/// A gRPC channel to `server`, connecting for at most [`DIAL_TIMEOUT`].
pub async fn channel(server: &str) -> Result<Channel, ConnectError> {
    channel_with(server, &Dial::new(DIAL_TIMEOUT)).await
}

/// A gRPC channel to `server`; connecting may take at most `dial.timeout`.
pub async fn channel_with(server: &str, dial: &Dial) -> Result<Channel, ConnectError> {
    let timed_out = || ConnectError::Timeout {
        server: server.to_string(),
        timeout: dial.timeout,
    };
    tokio::time::timeout(dial.timeout, open(server, dial))
        .await
        .map_err(|_| timed_out())?
}

async fn open(server: &str, dial: &Dial) -> Result<Channel, ConnectError> {
    let err = |cause| ConnectError::Connect {
        server: server.to_string(),
        cause,
    };
    let address = || ConnectError::Address(server.to_string());
    // Hubble: `tls://` or `--tls` selects TLS; the scheme is not part of the address.
    let tls_target = server
        .strip_prefix("tls://")
        .or_else(|| server.strip_prefix("https://"));
    let tls = match tls_target.is_some() || dial.tls.enabled {
        true => Some(Arc::new(crate::tls::client_config(&dial.tls)?)),
        false => None,
    };
    let target = tls_target.unwrap_or(server);
    // gRPC's unix target forms: `unix:///abs/path`, `unix:/abs/path` and `unix:rel/path`.
    let unix_path = target
        .strip_prefix("unix://")
        .or_else(|| target.strip_prefix("unix:"));
    let (peer, uri) = match unix_path {
        Some(path) => (Peer::Unix(path.to_string()), "http://localhost".to_string()),
        None => {
            let hostport = target.strip_prefix("http://").unwrap_or(target);
            let uri = format!("http://{hostport}");
            let parsed: Uri = uri.parse().map_err(|_| address())?;
            let host = parsed.host().ok_or_else(address)?;
            let port = parsed.port_u16().ok_or_else(address)?;
            (Peer::Tcp(host.to_string(), port), uri)
        }
    };
    let host = match &peer {
        Peer::Tcp(host, _) => host.as_str(),
        Peer::Unix(_) => "localhost",
    };
    let tls = match tls {
        Some(config) => Some((
            tokio_rustls::TlsConnector::from(config),
            crate::tls::server_name(&dial.tls, host)?,
        )),
        None => None,
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|_| address())?
        .connect_timeout(dial.timeout);
    if tls.is_none() && matches!(peer, Peer::Tcp(..)) {
        return endpoint.connect().await.map_err(err);
    }
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let (peer, tls) = (peer.clone(), tls.clone());
            async move {
                let stream = peer.connect().await?;
                let stream: Box<dyn Io> = match tls {
                    Some((connector, name)) => {
                        Box::new(Recorded(connector.connect(name, stream).await?))
                    }
                    None => stream,
                };
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(err)
}

/// A connection's byte stream: TCP or unix, plain or inside TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Where the server listens.
#[derive(Debug, Clone)]
enum Peer {
    Tcp(String, u16),
    Unix(String),
}

impl Peer {
    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Peer::Tcp(host, port) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let s = tokio::net::TcpStream::connect((host, *port)).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            Peer::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        })
    }
}

/// `": <cause>"` for a status the client's transport made (a TLS alert, a reset), whose
/// message alone ("transport error") does not say what happened.
pub fn transport_cause(s: &tonic::Status) -> String {
    match (tls_failure(), std::error::Error::source(s)) {
        (Some(tls), _) => format!(": {tls}"),
        (None, Some(cause)) => format!(": {}", root_cause(cause)),
        (None, None) => String::new(),
    }
}

/// How flowctl and flowtop name a failed call's code.
pub fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::Unavailable => "server unavailable",
        tonic::Code::Unimplemented => "not implemented by the server",
        tonic::Code::DeadlineExceeded => "deadline exceeded",
        _ => "request failed",
    }
}

/// Why the last TLS connection failed after its handshake, if one did: with TLS 1.3 a server
/// refusing the client's certificate says so only after the client's handshake is done, in
/// an alert the HTTP/2 layer turns into a bare "connection closed".
pub fn tls_failure() -> Option<String> {
    TLS_FAILURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

static TLS_FAILURE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A TLS stream whose read errors are kept for [`tls_failure`].
struct Recorded<S>(S);

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &result {
            *TLS_FAILURE.lock().unwrap_or_else(|e| e.into_inner()) = Some(root_cause(e));
        }
        result
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
