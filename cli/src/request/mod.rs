//! Selector flags (`--last`, `--first`, `--all`, `-f`, `--since`, `--until`) and filters →
//! `GetFlowsRequest`, as `hubble observe` builds it (`getFlowsRequest` in
//! `cmd/observe/flows.go`).

mod events;
mod time;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use clap::Args;
use flowscope_proto::observer::GetFlowsRequest;
use flowscope_proto::types::{FieldMask, Timestamp};

use crate::flags::{Filters, FlagError};

pub use events::{DEFAULT_EVENTS_NUMBER, build_agent_events_request};
pub(crate) use time::go_duration;
pub use time::parse_time;

/// How many flows a plain `observe` asks for (`defaults.FlowPrintCount`).
pub const DEFAULT_NUMBER: u64 = 20;

/// The field mask Hubble's CLI sends for compact, dict and table output
/// (`defaults.FieldMask`). `IP`, `Type` and `Summary` are upper-case on purpose.
pub const DEFAULT_FIELD_MASK: &[&str] = &[
    "time",
    "verdict",
    "ethernet",
    "IP",
    "l4",
    "source.identity",
    "source.namespace",
    "source.pod_name",
    "destination.identity",
    "destination.namespace",
    "destination.pod_name",
    "Type",
    "node_name",
    "l7",
    "event_type",
    "source_service",
    "destination_service",
    "is_reply",
    "Summary",
    "ip_trace_id",
];

/// [`DEFAULT_FIELD_MASK`] as owned paths, for [`build_request`].
pub fn default_field_mask() -> Vec<String> {
    DEFAULT_FIELD_MASK.iter().map(|p| p.to_string()).collect()
}

/// Which flows to read: how many, from which end of the ring, in which time range, and
/// whether to keep following.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Selectors")]
pub struct SelectorFlags {
    /// Get the last N flows (default 20 without any other selector)
    #[arg(long, value_name = "N", value_parser = crate::goflags::parse_uint64)]
    pub last: Option<u64>,

    /// Get the first N flows stored in the ring
    #[arg(long, value_name = "N", value_parser = crate::goflags::parse_uint64)]
    pub first: Option<u64>,

    /// Get all the flows stored in the ring
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = crate::goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub all: bool,

    /// Follow new flows as they are observed
    #[arg(short = 'f', long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = crate::goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub follow: bool,

    /// Only flows since this time: a duration ago (e.g. 5s, 2m, 1h43m, 500ms) or a time
    /// (e.g. 2006-01-02, 2006-01-02T15:04:05Z07:00, "Jan _2 15:04:05.000", RFC1123Z)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only flows until this time (same formats as --since; ignored with --follow)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// What `--since` / `--until` accept, for error messages.
pub(crate) const TIME_HINT: &str = "expected a duration such as 30s, 5m or 1h30m, or a time \
     such as 2006-01-02, 2006-01-02T15:04:05Z07:00, \"Jan _2 15:04:05.000\" or RFC1123Z";

fn time_flag(flag: &str, value: &str, now: DateTime<Utc>) -> Result<Timestamp, FlagError> {
    parse_time(value, now).map_err(|_| FlagError::InvalidValue {
        flag: flag.to_string(),
        value: value.to_string(),
        reason: TIME_HINT.to_string(),
    })
}

/// Builds the `GetFlowsRequest` of `observe`.
///
/// - Rejects `--first` with `--last`, `--all` or `--follow`, and `--last` with `--all`
///   (a count of 0 counts as not given, as in Hubble). The `-o table` + `--follow` check
///   belongs to the caller.
/// - Without `--since`, `--until` or `--first`: `--all` asks for `u64::MAX` flows, and no
///   count at all asks for [`DEFAULT_NUMBER`] unless following. With a time range the
///   number is `--last` or 0 (the range alone selects). The offline `--input-file` mode
///   should set `number` itself.
/// - `--until` is ignored (not even parsed) with `--follow`.
/// - `field_mask`: the paths to send (e.g. [`default_field_mask`] for compact output);
///   `None` or an empty list sends no mask.
pub fn build_request(
    sel: &SelectorFlags,
    filters: Filters,
    field_mask: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> Result<GetFlowsRequest, FlagError> {
    let first = sel.first.is_some_and(|n| n > 0);
    let last = sel.last.is_some_and(|n| n > 0);
    if first && last {
        return Err(FlagError::SelectorConflict("first", "last"));
    }
    if first && sel.all {
        return Err(FlagError::SelectorConflict("first", "all"));
    }
    if first && sel.follow {
        return Err(FlagError::SelectorConflict("first", "follow"));
    }
    if last && sel.all {
        return Err(FlagError::SelectorConflict("last", "all"));
    }

    let since = match &sel.since {
        Some(s) => Some(time_flag("since", s, now)?),
        None => None,
    };
    let until = match &sel.until {
        Some(u) if !sel.follow => Some(time_flag("until", u, now)?),
        _ => None,
    };

    let mut number = sel.last.unwrap_or(0);
    if since.is_none() && until.is_none() && !first {
        if sel.all {
            number = u64::MAX;
        } else if number == 0 && !sel.follow {
            number = DEFAULT_NUMBER;
        }
    }
    if first {
        number = sel.first.unwrap_or(0);
    }

    Ok(GetFlowsRequest {
        number,
        first,
        follow: sel.follow,
        blacklist: filters.blacklist,
        whitelist: filters.whitelist,
        since,
        until,
        field_mask: field_mask
            .filter(|paths| !paths.is_empty())
            .map(|paths| FieldMask { paths }),
        ..Default::default()
    })
}
