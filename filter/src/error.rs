//! The error returned when a `FlowFilter` cannot be compiled.

/// Why a `FlowFilter` was rejected.
///
/// Every variant's `Display` starts with `invalid filter: <field>:` where `<field>` is the
/// proto name of the offending `FlowFilter` field, followed by the bad value and the reason.
/// The server sends this text as the message of a gRPC `InvalidArgument` status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// An IP filter value without `/` that is not an IP address.
    #[error("invalid filter: {field}: invalid IP address {value:?}")]
    InvalidIp {
        /// `source_ip`, `destination_ip` or `source_ip_xlated`.
        field: &'static str,
        /// The rejected value.
        value: String,
    },

    /// An IP filter value with `/` that is not a CIDR prefix.
    #[error("invalid filter: {field}: invalid CIDR {value:?}: {reason}")]
    InvalidCidr {
        /// `source_ip`, `destination_ip` or `source_ip_xlated`.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What the parser said.
        reason: String,
    },

    /// A regular expression (`dns_query`, `http_path`, `http_url`) that does not compile.
    /// The regex error text names the pattern.
    #[error("invalid filter: {field}: {source}")]
    InvalidRegex {
        /// The field holding the pattern.
        field: &'static str,
        /// The rejected pattern.
        value: String,
        /// The compiler's complaint.
        source: regex::Error,
    },

    /// An empty `[namespace/][name]` value in a pod or service filter.
    #[error("invalid filter: {field}: empty value, expected [namespace/][<name>]")]
    EmptyName {
        /// `source_pod`, `destination_pod`, `source_service` or `destination_service`.
        field: &'static str,
    },

    /// An empty cluster name.
    #[error("invalid filter: {field}: cluster name must not be empty")]
    EmptyClusterName {
        /// `source_cluster_name` or `destination_cluster_name`.
        field: &'static str,
    },

    /// A bad FQDN or node-name glob pattern.
    #[error("invalid filter: {field}: invalid pattern {value:?}: {reason}")]
    InvalidPattern {
        /// `source_fqdn`, `destination_fqdn` or `node_name`.
        field: &'static str,
        /// The rejected pattern.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A label selector that does not parse.
    #[error("invalid filter: {field}: invalid label selector {value:?}: {reason}")]
    InvalidLabelSelector {
        /// `source_label`, `destination_label` or `node_labels`.
        field: &'static str,
        /// The rejected selector.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `protocol` value that is not one of the known L4/L7 protocols.
    #[error("invalid filter: protocol: unknown protocol {value:?}")]
    UnknownProtocol {
        /// The rejected value.
        value: String,
    },

    /// A port that is not a decimal number in `0..=65535`.
    #[error(
        "invalid filter: {field}: invalid port {value:?}: must be a decimal number between 0 and 65535"
    )]
    InvalidPort {
        /// `source_port` or `destination_port`.
        field: &'static str,
        /// The rejected value.
        value: String,
    },

    /// An `http_status_code` value that is neither a code (`404`) nor a prefix (`5+`, `40+`).
    #[error(
        "invalid filter: http_status_code: invalid status code {value:?}: expected a code such as \"404\" or a prefix such as \"5+\" or \"40+\""
    )]
    InvalidStatusCode {
        /// The rejected value.
        value: String,
    },

    /// An HTTP field combined with an `event_type` list that cannot match L7 events.
    #[error(
        "invalid filter: {field}: filtering by HTTP fields requires the event_type filter to include L7 events (type 129)"
    )]
    IncompatibleEventType {
        /// The first HTTP field that was set.
        field: &'static str,
    },

    /// A CEL expression that does not parse, names something undeclared, or cannot
    /// evaluate to a bool.
    #[error(
        "invalid filter: experimental.cel_expression: error compiling CEL expression {expression:?}: {reason}"
    )]
    InvalidCelExpression {
        /// The rejected expression.
        expression: String,
        /// What the parser or checker said.
        reason: String,
    },
}

impl FilterError {
    /// The proto name of the `FlowFilter` field that was rejected.
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidIp { field, .. }
            | Self::InvalidCidr { field, .. }
            | Self::InvalidRegex { field, .. }
            | Self::EmptyName { field }
            | Self::EmptyClusterName { field }
            | Self::InvalidPattern { field, .. }
            | Self::InvalidLabelSelector { field, .. }
            | Self::InvalidPort { field, .. }
            | Self::IncompatibleEventType { field } => field,
            Self::InvalidCelExpression { .. } => "experimental.cel_expression",
            Self::UnknownProtocol { .. } => "protocol",
            Self::InvalidStatusCode { .. } => "http_status_code",
        }
    }
}
