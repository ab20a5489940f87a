//! Connecting to an Observer API: `host:port`, `http://host:port`, `unix:///path` or
//! `unix:/path`.

use std::time::Duration;

use flowscope_proto::observer::observer_client::ObserverClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Hubble's CLI defaults (`--timeout`, `--request-timeout`).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid server address {0:?}")]
    Address(String),
    #[error("TLS is not supported by this client ({0})")]
    Tls(String),
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
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Connects to `server`, waiting at most [`DIAL_TIMEOUT`].
pub async fn connect(server: &str) -> Result<ObserverClient<Channel>, ConnectError> {
    connect_with_timeout(server, DIAL_TIMEOUT).await
}

/// Connects to `server`, waiting at most `timeout` (`--timeout`).
pub async fn connect_with_timeout(
    server: &str,
    timeout: Duration,
) -> Result<ObserverClient<Channel>, ConnectError> {
    let channel = channel_with_timeout(server, timeout).await?;
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
    channel_with_timeout(server, DIAL_TIMEOUT).await
}

/// A gRPC channel to `server`; connecting may take at most `timeout`.
pub async fn channel_with_timeout(
    server: &str,
    timeout: Duration,
) -> Result<Channel, ConnectError> {
    let timed_out = || ConnectError::Timeout {
        server: server.to_string(),
        timeout,
    };
    tokio::time::timeout(timeout, open(server, timeout))
        .await
        .map_err(|_| timed_out())?
}

async fn open(server: &str, timeout: Duration) -> Result<Channel, ConnectError> {
    let err = |cause| ConnectError::Connect {
        server: server.to_string(),
        cause,
    };
    // gRPC's unix target forms: `unix:///abs/path`, `unix:/abs/path` and `unix:rel/path`.
    let unix_path = server
        .strip_prefix("unix://")
        .or_else(|| server.strip_prefix("unix:"));
    if let Some(path) = unix_path {
        let path = path.to_string();
        return Endpoint::try_from("http://localhost")
            .map_err(|_| ConnectError::Address(server.to_string()))?
            .connect_timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(s))
                }
            }))
            .await
            .map_err(err);
    }
    if server.starts_with("tls://") || server.starts_with("https://") {
        return Err(ConnectError::Tls(server.to_string()));
    }
    let uri = if server.starts_with("http://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    Endpoint::from_shared(uri)
        .map_err(|_| ConnectError::Address(server.to_string()))?
        .connect_timeout(timeout)
        .connect()
        .await
        .map_err(err)
}
