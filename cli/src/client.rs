//! Connecting to an Observer API: `host:port`, `http://host:port` or `unix:///path`.

use std::time::Duration;

use flowscope_proto::observer::observer_client::ObserverClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Hubble's CLI defaults.
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
    let channel = channel(server).await?;
    Ok(ObserverClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

/// A gRPC channel to `server`.
pub async fn channel(server: &str) -> Result<Channel, ConnectError> {
    let err = |cause| ConnectError::Connect {
        server: server.to_string(),
        cause,
    };
    if let Some(path) = server.strip_prefix("unix://") {
        let path = path.to_string();
        return Endpoint::try_from("http://localhost")
            .map_err(|_| ConnectError::Address(server.to_string()))?
            .connect_timeout(DIAL_TIMEOUT)
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
        .connect_timeout(DIAL_TIMEOUT)
        .connect()
        .await
        .map_err(err)
}
