//! Pure decoders: source records → flows. No I/O; enrichment only through the read-only
//! [`ClusterState`](crate::identity::ClusterState).

pub mod dns;
pub mod header_name;
pub mod l34;
pub mod l7;
pub mod logentry;
pub mod redact;

/// Why a record could not become a flow. Every variant is counted and the record dropped;
/// the stream goes on.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("undecodable protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("undecodable access-log entry: {0}")]
    Undecodable(String),
    #[error("unknown access-log entry type {0}")]
    UnknownEntryType(i32),
    #[error("invalid {field}: {value:?}")]
    InvalidAddress { field: &'static str, value: String },
    #[error("access-log entry gave no flow")]
    NoFlow,
    #[error(transparent)]
    L34(#[from] l34::L34Error),
}

impl ParseError {
    /// A short label for the drop counter.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Protobuf(_) | ParseError::Undecodable(_) => "undecodable",
            ParseError::UnknownEntryType(_)
            | ParseError::InvalidAddress { .. }
            | ParseError::NoFlow => "invalid",
            ParseError::L34(e) => e.reason(),
        }
    }
}
