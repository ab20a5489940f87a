//! Hubble's filter flags (`hubble observe --from-pod … --not --verdict …`) → whitelist and
//! blacklist [`FlowFilter`]s.
//!
//! The flags are declared once in [`FilterFlags`] (flatten it into a clap command) and turned
//! into filters by [`filters_from_matches`]. `--not` negates only the flag that follows it, so
//! the conversion works on the [`ArgMatches`] (which remember argv positions) rather than on
//! the parsed struct. [`parse_filter_line`] runs the same definitions over a free-form line, for
//! the TUI's filter prompt.
//!
//! The conversion follows Hubble's `cmd/observe/flows_filter.go`:
//! - every flag value is appended to its FlowFilter field: a repeated flag ORs its values,
//!   different flags AND inside one filter;
//! - the directionless flags (`--ip`, `--pod`, `-n`, `-A`, `-l`, `--fqdn`, `--port`,
//!   `--identity`, `--service`, `--workload`, `--cluster`) fill the `source_*` field of a
//!   "left" filter and the `destination_*` field of a "right" filter; every other flag goes
//!   into both, so `--ip 1.1.1.1 --port 80` gives `[{source_ip, source_port},
//!   {destination_ip, destination_port}]`. Identical left and right collapse into one filter;
//! - all negated flags share one blacklist "left/right" pair the same way;
//! - namespaces (`-n`, `--from-namespace`, `-A`, …) are applied last: they prefix the pod and
//!   service values that lack a namespace, or become a `ns/` pod filter of their own;
//! - Hubble's conflict groups reject nonsensical combinations ("filters --ip and --from-ip
//!   cannot be combined").

mod line;
mod raw;
mod tracker;
mod values;

#[cfg(test)]
pub(crate) mod tests;

use clap::{ArgMatches, Args, Command};
use flowscope_proto::flow::FlowFilter;

use tracker::Tracker;

/// Filter flags of `flowctl observe`, with Hubble's names and short options.
///
/// Every filter flag is repeatable and keeps each value whole (no comma splitting). The
/// fields only declare the flags: build the filters with [`filters_from_matches`], which
/// needs the argv order for `--not`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Filters")]
pub struct FilterFlags {
    /// Reverse the next filter flag into the blacklist, e.g. --not --from-ip 2.2.2.2
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub not: Vec<String>,

    /// Show only the flow with this unique flow identifier, if any
    #[arg(long, value_name = "UUID")]
    pub uuid: Vec<String>,

    /// Show flows observed on nodes matching this name pattern (e.g. "k8s*",
    /// "test-cluster/*.company.com")
    #[arg(long, value_name = "NAME")]
    pub node_name: Vec<String>,

    /// Show flows observed on nodes matching this label selector (e.g. "key1=value1")
    #[arg(long, value_name = "SELECTOR")]
    pub node_label: Vec<String>,

    /// Show flows from endpoints in this cluster
    #[arg(long, value_name = "CLUSTER")]
    pub from_cluster: Vec<String>,

    /// Show flows from or to endpoints in this cluster
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Vec<String>,

    /// Show flows to endpoints in this cluster
    #[arg(long, value_name = "CLUSTER")]
    pub to_cluster: Vec<String>,

    /// Show flows of this L4/L7 protocol (e.g. "udp", "http")
    #[arg(long, value_name = "PROTOCOL")]
    pub protocol: Vec<String>,

    /// Show flows with all of these TCP flags set (e.g. "syn", "syn,ack", "fin")
    #[arg(long, value_name = "FLAGS")]
    pub tcp_flags: Vec<String>,

    /// Filter by event type TYPE[:SUBTYPE]: drop, debug, capture, trace, policy-verdict,
    /// trace-sock, recorder, l7, agent or a number; sub-types by name for trace and agent,
    /// else by number; e.g. trace:to-endpoint, drop:133
    #[arg(short = 't', long = "type", value_name = "TYPE[:SUBTYPE]")]
    pub event_type: Vec<String>,

    /// Show flows with this verdict [FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED,
    /// TRANSLATED]
    #[arg(long, value_name = "VERDICT")]
    pub verdict: Vec<String>,

    /// Show flows with this drop reason (e.g. "POLICY_DENIED", "UNSUPPORTED_L3_PROTOCOL")
    #[arg(long, value_name = "REASON")]
    pub drop_reason_desc: Vec<String>,

    /// Show flows with this HTTP status code or prefix (e.g. "404", "5+")
    #[arg(long, value_name = "STATUS")]
    pub http_status: Vec<String>,

    /// Show flows with this HTTP method (e.g. "get", "post")
    #[arg(long, value_name = "METHOD")]
    pub http_method: Vec<String>,

    /// Show flows whose HTTP path matches this regular expression (e.g. "/page/\d+")
    #[arg(long, value_name = "REGEX")]
    pub http_path: Vec<String>,

    /// Show flows whose HTTP URL matches this regular expression
    #[arg(long, value_name = "REGEX")]
    pub http_url: Vec<String>,

    /// Show flows with this HTTP header key:value pair (e.g. "foo:bar")
    #[arg(long, value_name = "KEY:VALUE")]
    pub http_header: Vec<String>,

    /// Show flows with this trace ID
    #[arg(long, value_name = "ID")]
    pub trace_id: Vec<String>,

    /// Show flows with this IP trace ID
    #[arg(long, value_name = "ID")]
    pub ip_trace_id: Vec<String>,

    /// Show flows from this fully qualified domain name (e.g. "*.cilium.io")
    #[arg(long, value_name = "FQDN")]
    pub from_fqdn: Vec<String>,

    /// Show flows from or to this fully qualified domain name (e.g. "*.cilium.io")
    #[arg(long, value_name = "FQDN")]
    pub fqdn: Vec<String>,

    /// Show flows to this fully qualified domain name (e.g. "*.cilium.io")
    #[arg(long, value_name = "FQDN")]
    pub to_fqdn: Vec<String>,

    /// Show flows from this IP address or CIDR (e.g. "1.1.1.1", "1.1.1.0/24")
    #[arg(long, value_name = "IP")]
    pub from_ip: Vec<String>,

    /// Show flows SNATed to this IP address or CIDR
    #[arg(long, value_name = "IP")]
    pub snat_ip: Vec<String>,

    /// Show flows from or to this IP address or CIDR
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,

    /// Show flows to this IP address or CIDR
    #[arg(long, value_name = "IP")]
    pub to_ip: Vec<String>,

    /// Show only IPv4 flows
    #[arg(short = '4', long, num_args = 0, default_missing_value = "v4")]
    pub ipv4: Vec<String>,

    /// Show only IPv6 flows
    #[arg(short = '6', long, num_args = 0, default_missing_value = "v6")]
    pub ipv6: Vec<String>,

    /// Show only flows of this IP version: none, v4 or v6
    #[arg(long, value_name = "VERSION")]
    pub ip_version: Vec<String>,

    /// Show flows from this pod name prefix ([namespace/]pod; namespace "default" if absent)
    #[arg(long, value_name = "POD")]
    pub from_pod: Vec<String>,

    /// Show flows from or to this pod name prefix ([namespace/]pod)
    #[arg(long, value_name = "POD")]
    pub pod: Vec<String>,

    /// Show flows to this pod name prefix ([namespace/]pod)
    #[arg(long, value_name = "POD")]
    pub to_pod: Vec<String>,

    /// Show flows from this Kubernetes namespace
    #[arg(long, value_name = "NAMESPACE")]
    pub from_namespace: Vec<String>,

    /// Show flows from or to this Kubernetes namespace
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Vec<String>,

    /// Show flows to this Kubernetes namespace
    #[arg(long, value_name = "NAMESPACE")]
    pub to_namespace: Vec<String>,

    /// Show flows from any Kubernetes namespace
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub from_all_namespaces: Vec<String>,

    /// Show flows from or to any Kubernetes namespace
    #[arg(short = 'A', long, num_args = 0, default_missing_value = "true")]
    pub all_namespaces: Vec<String>,

    /// Show flows to any Kubernetes namespace
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub to_all_namespaces: Vec<String>,

    /// Show flows from endpoints with this label selector (e.g. "key1=value1",
    /// "reserved:world")
    #[arg(long, value_name = "SELECTOR")]
    pub from_label: Vec<String>,

    /// Show flows from or to endpoints with this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub label: Vec<String>,

    /// Show flows to endpoints with this label selector
    #[arg(long, value_name = "SELECTOR")]
    pub to_label: Vec<String>,

    /// Show flows from the ClusterIP of this service name prefix ([namespace/]service)
    #[arg(long, value_name = "SERVICE")]
    pub from_service: Vec<String>,

    /// Show flows from or to the ClusterIP of this service name prefix
    #[arg(long, value_name = "SERVICE")]
    pub service: Vec<String>,

    /// Show flows to the ClusterIP of this service name prefix ([namespace/]service)
    #[arg(long, value_name = "SERVICE")]
    pub to_service: Vec<String>,

    /// Show flows with this source port (e.g. 8080)
    #[arg(long, value_name = "PORT")]
    pub from_port: Vec<String>,

    /// Show flows with this source or destination port (e.g. 8080)
    #[arg(long, value_name = "PORT")]
    pub port: Vec<String>,

    /// Show flows with this destination port (e.g. 8080)
    #[arg(long, value_name = "PORT")]
    pub to_port: Vec<String>,

    /// Show flows from endpoints of this workload ([kind/]name)
    #[arg(long, value_name = "WORKLOAD")]
    pub from_workload: Vec<String>,

    /// Show flows from or to endpoints of this workload ([kind/]name)
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Vec<String>,

    /// Show flows to endpoints of this workload ([kind/]name)
    #[arg(long, value_name = "WORKLOAD")]
    pub to_workload: Vec<String>,

    /// Show flows from endpoints with this security identity (number or reserved name)
    #[arg(long, value_name = "IDENTITY")]
    pub from_identity: Vec<String>,

    /// Show flows from or to endpoints with this security identity
    #[arg(long, value_name = "IDENTITY")]
    pub identity: Vec<String>,

    /// Show flows to endpoints with this security identity (number or reserved name)
    #[arg(long, value_name = "IDENTITY")]
    pub to_identity: Vec<String>,

    /// Show flows in this traffic direction: ingress or egress
    #[arg(long, value_name = "DIRECTION")]
    pub traffic_direction: Vec<String>,

    /// Show flows matching this CEL expression (e.g. "_flow.verdict == Verdict.DROPPED")
    #[arg(long, value_name = "EXPR")]
    pub cel_expression: Vec<String>,

    /// Show flows observed at this network interface (e.g. eth0)
    #[arg(long, value_name = "NAME")]
    pub interface: Vec<String>,

    /// Show only encrypted flows
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub encrypted: Vec<String>,

    /// Show only unencrypted flows
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub unencrypted: Vec<String>,

    /// Add a whitelist filter given as FlowFilter JSON (e.g. '{"source_pod":["default/"]}')
    #[arg(long, value_name = "JSON")]
    pub allowlist: Vec<String>,

    /// Add a blacklist filter given as FlowFilter JSON
    #[arg(long, value_name = "JSON")]
    pub denylist: Vec<String>,

    /// Print the whitelist and blacklist filters the flags produce, and exit
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = crate::goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub print_raw_filters: bool,
}

/// The filters of a `GetFlowsRequest`: a flow is shown if it matches any whitelist filter
/// (or the whitelist is empty) and no blacklist filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub whitelist: Vec<FlowFilter>,
    pub blacklist: Vec<FlowFilter>,
}

impl Filters {
    /// No filter at all: every flow matches.
    pub fn is_empty(&self) -> bool {
        self.whitelist.is_empty() && self.blacklist.is_empty()
    }
}

/// A flag that could not be turned into a filter or request field.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// Two filter flags that Hubble refuses to combine in one (white- or black-) list.
    #[error("filters --{0} and --{1} cannot be combined")]
    Conflict(String, String),
    /// Two selector flags that cannot be combined.
    #[error("cannot set both --{0} and --{1}")]
    SelectorConflict(&'static str, &'static str),
    /// A flag value that is malformed or names nothing known.
    #[error("invalid --{flag} value {value:?}: {reason}")]
    InvalidValue {
        flag: String,
        value: String,
        reason: String,
    },
    /// `--not --not`.
    #[error("consecutive --not statements")]
    ConsecutiveNot,
    /// `--not` with no filter flag after it.
    #[error("trailing --not found in the arguments")]
    TrailingNot,
    /// A pod or service whose namespace contradicts a namespace flag or another value.
    #[error("{0}")]
    NamespaceConflict(String),
    /// `--allowlist` / `--denylist` that is not FlowFilter JSON.
    #[error("invalid --{flag} flag: failed to decode '{value}': {source}")]
    RawFilter {
        flag: &'static str,
        value: String,
        #[source]
        source: serde_json::Error,
    },
    /// `--allowlist` / `--denylist` JSON with a field that FlowFilter does not have.
    #[error("invalid --{flag} flag: failed to decode '{value}': unknown field \"{field}\"")]
    UnknownRawField {
        flag: &'static str,
        value: String,
        field: String,
    },
    /// A `--since` / `--until` value (or a [`crate::request::parse_time`] input) that is
    /// neither a duration nor a supported timestamp.
    #[error("invalid time {value:?}: {hint}", hint = crate::request::TIME_HINT)]
    InvalidTime { value: String },
    /// A filter line that the flag parser rejects (unknown flag, missing value, quoting).
    #[error("{0}")]
    Syntax(String),
}

/// Clap ids of [`FilterFlags`] fields that are not order-dependent filter flags.
const NON_FILTER_IDS: &[&str] = &["allowlist", "denylist", "print_raw_filters"];

/// `(clap id, long flag name)` of every order-dependent filter flag, `not` included.
fn filter_flag_ids() -> Vec<(String, String)> {
    let cmd = FilterFlags::augment_args(Command::new("flowctl"));
    cmd.get_arguments()
        .filter(|arg| !NON_FILTER_IDS.contains(&arg.get_id().as_str()))
        .filter_map(|arg| {
            arg.get_long()
                .map(|long| (arg.get_id().as_str().to_string(), long.to_string()))
        })
        .collect()
}

/// The string values of `id`, each with its argv index; empty when `id` is absent or not
/// defined in `m` (a command that does not flatten [`FilterFlags`]).
fn indexed_values(m: &ArgMatches, id: &str) -> Vec<(usize, String)> {
    let values = match m.try_get_many::<String>(id) {
        Ok(Some(values)) => values,
        _ => return Vec::new(),
    };
    let Some(indices) = m.indices_of(id) else {
        return Vec::new();
    };
    indices.zip(values.cloned()).collect()
}

/// Builds the whitelist and blacklist from parsed matches of a command that flattens
/// [`FilterFlags`].
///
/// `--not` is order-dependent: the flags are replayed in argv order (from
/// [`ArgMatches::indices_of`]). `--allowlist` filters are appended to the whitelist and
/// `--denylist` filters to the blacklist after the flag-built ones; `--not` does not apply
/// to them.
pub fn filters_from_matches(m: &ArgMatches) -> Result<Filters, FlagError> {
    let mut events: Vec<(usize, String, String)> = Vec::new();
    for (id, name) in filter_flag_ids() {
        for (index, value) in indexed_values(m, &id) {
            events.push((index, name.clone(), value));
        }
    }
    events.sort_by_key(|(index, _, _)| *index);

    let mut whitelist = Tracker::default();
    let mut blacklist = Tracker::default();
    let mut negate = false;
    for (_, name, value) in &events {
        if name == "not" {
            if negate {
                return Err(FlagError::ConsecutiveNot);
            }
            negate = true;
            continue;
        }
        let target = if negate {
            &mut blacklist
        } else {
            &mut whitelist
        };
        negate = false;
        target.set(name, value)?;
    }
    if negate {
        return Err(FlagError::TrailingNot);
    }

    let mut filters = Filters {
        whitelist: whitelist.into_filters(),
        blacklist: blacklist.into_filters(),
    };
    for (_, raw) in indexed_values(m, "allowlist") {
        filters
            .whitelist
            .extend(raw::parse_raw_filters("allowlist", &raw)?);
    }
    for (_, raw) in indexed_values(m, "denylist") {
        filters
            .blacklist
            .extend(raw::parse_raw_filters("denylist", &raw)?);
    }
    Ok(filters)
}

/// Parses `--allowlist` / `--denylist` values that did not come from the command line
/// (`HUBBLE_ALLOWLIST`, the config file), with the same strict checks.
pub fn raw_filters(flag: &'static str, values: &[String]) -> Result<Vec<FlowFilter>, FlagError> {
    let mut out = Vec::new();
    for raw in values {
        out.extend(raw::parse_raw_filters(flag, raw)?);
    }
    Ok(out)
}

/// Whether `--allowlist` / `--denylist` (`id`) was given on the command line.
pub fn raw_filter_given(m: &ArgMatches, id: &str) -> bool {
    !indexed_values(m, id).is_empty()
}

/// The clap command that [`parse_filter_line`] runs: just [`FilterFlags`], no binary name.
fn filter_line_command() -> Command {
    FilterFlags::augment_args(
        Command::new("filter")
            .no_binary_name(true)
            .disable_help_flag(true)
            .disable_version_flag(true),
    )
}

/// Parses a free-form filter line with the `observe` flag syntax, e.g.
/// `--identity ingress --not --verdict DROPPED` or `--http-path '/api/v1 .*'`.
///
/// Words split on whitespace; single quotes keep everything literally, double quotes keep
/// whitespace and honour `\"` and `\\`, and a backslash outside quotes escapes the next
/// character. An empty line gives empty filters.
pub fn parse_filter_line(line: &str) -> Result<Filters, FlagError> {
    let words = line::split_words(line)?;
    let matches = filter_line_command()
        .try_get_matches_from(words)
        .map_err(|e| FlagError::Syntax(line::clap_error_message(&e)))?;
    filters_from_matches(&matches)
}

/// The `--print-raw-filters` output of Hubble: a YAML document with each filter as one
/// JSON string, e.g.
///
/// ```text
/// allowlist:
///     - '{"source_pod":["default/client"]}'
/// denylist:
///     - '{"verdict":["DROPPED"]}'
/// ```
///
/// The output can be fed back as a config file (`allowlist:` / `denylist:` keys). Empty
/// filters print `{}`.
pub fn raw_filters_yaml(filters: &Filters) -> String {
    fn section(out: &mut String, key: &str, list: &[FlowFilter]) {
        if list.is_empty() {
            return;
        }
        out.push_str(key);
        out.push_str(":\n");
        for filter in list {
            let json = flowscope_proto::json::to_string(filter);
            out.push_str("    - '");
            out.push_str(&json.replace('\'', "''"));
            out.push_str("'\n");
        }
    }
    if filters.is_empty() {
        return "{}\n".to_string();
    }
    let mut out = String::new();
    section(&mut out, "allowlist", &filters.whitelist);
    section(&mut out, "denylist", &filters.blacklist);
    out
}
