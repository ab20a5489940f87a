//! Sources: where raw events come from. They do I/O only and hand undecoded records to the
//! observer without ever blocking on it.

pub mod accesslog;
pub mod attached;
pub mod datapath;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Path(#[from] crate::sockets::SocketPathError),
}
