//! The interactive filters and how they become a `GetFlowsRequest`'s whitelist and
//! blacklist.
//!
//! Every filter is expressed as `observe` flags and the whole set goes through flowctl's own
//! flag parser ([`parse_filter_line`]): the free-form line first (it starts as the command
//! line's filter flags), then the identity, verdict and X-Request-Id flags. So the TUI
//! filters with exactly Hubble's semantics (different flags AND, a repeated flag ORs,
//! `--identity` matches either side) and nothing is parsed twice.

use flowscope_cli::flags::{Filters, FlagError, parse_filter_line};
use flowscope_proto::flow::Verdict;

use super::row::REQUEST_ID_HEADER;

/// Which side of a flow the identity filter applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// `--identity`: source or destination.
    #[default]
    Either,
    /// `--from-identity`.
    Source,
    /// `--to-identity`.
    Destination,
}

impl Direction {
    pub fn flag(self) -> &'static str {
        match self {
            Direction::Either => "--identity",
            Direction::Source => "--from-identity",
            Direction::Destination => "--to-identity",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Direction::Either => "either",
            Direction::Source => "source",
            Direction::Destination => "destination",
        }
    }

    pub fn next(self) -> Direction {
        match self {
            Direction::Either => Direction::Source,
            Direction::Source => Direction::Destination,
            Direction::Destination => Direction::Either,
        }
    }
}

/// An identity given by number or reserved name (`ingress`, `world`, `25001`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityFilter {
    pub value: String,
    pub direction: Direction,
}

/// The verdicts `v` cycles through (then back to "any").
pub const VERDICT_CYCLE: [Verdict; 7] = [
    Verdict::Forwarded,
    Verdict::Dropped,
    Verdict::Audit,
    Verdict::Error,
    Verdict::Redirected,
    Verdict::Traced,
    Verdict::Translated,
];

/// Every active filter of the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterState {
    /// Free-form `observe` flags, e.g. `--from-label app=web --not --verdict DROPPED`.
    pub line: String,
    pub identity: Option<IdentityFilter>,
    pub verdict: Option<Verdict>,
    pub request_id: Option<String>,
}

impl FilterState {
    /// The flags of the identity, verdict and X-Request-Id filters, as argv words.
    pub fn interactive_words(&self) -> Vec<String> {
        let mut words = Vec::new();
        if let Some(id) = &self.identity {
            words.push(id.direction.flag().to_string());
            words.push(id.value.clone());
        }
        if let Some(v) = self.verdict {
            words.push("--verdict".to_string());
            words.push(v.as_str_name().to_string());
        }
        if let Some(id) = &self.request_id {
            // Header keys match exactly: HTTP/1 proxies log them as sent, HTTP/2 lower-cased.
            for key in [
                REQUEST_ID_HEADER.to_string(),
                REQUEST_ID_HEADER.to_lowercase(),
            ] {
                words.push("--http-header".to_string());
                words.push(format!("{key}:{id}"));
            }
        }
        words
    }

    /// The whole filter set as one flag line.
    pub fn combined_line(&self) -> String {
        let mut line = self.line.trim().to_string();
        for word in self.interactive_words() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&quote(&word));
        }
        line
    }

    /// The whitelist and blacklist of the request.
    pub fn filters(&self) -> Result<Filters, FlagError> {
        parse_filter_line(&self.combined_line())
    }

    /// Whether no filter at all is active.
    pub fn is_empty(&self) -> bool {
        self.line.trim().is_empty()
            && self.identity.is_none()
            && self.verdict.is_none()
            && self.request_id.is_none()
    }

    /// `(name, value)` of each active filter, for the filter bar.
    pub fn chips(&self) -> Vec<(&'static str, String)> {
        let mut chips = Vec::new();
        if !self.line.trim().is_empty() {
            chips.push(("flags", self.line.trim().to_string()));
        }
        if let Some(id) = &self.identity {
            chips.push((
                "identity",
                format!("{} ({})", id.value, id.direction.label()),
            ));
        }
        if let Some(v) = self.verdict {
            chips.push(("verdict", v.as_str_name().to_string()));
        }
        if let Some(id) = &self.request_id {
            chips.push((REQUEST_ID_HEADER, id.clone()));
        }
        chips
    }

    /// Cycles any → FORWARDED → DROPPED → … → TRANSLATED → any (backwards with `back`).
    pub fn cycle_verdict(&mut self, back: bool) {
        let n = VERDICT_CYCLE.len();
        let pos = self
            .verdict
            .and_then(|v| VERDICT_CYCLE.iter().position(|c| *c == v));
        self.verdict = match (pos, back) {
            (None, false) => Some(VERDICT_CYCLE[0]),
            (None, true) => Some(VERDICT_CYCLE[n - 1]),
            (Some(i), false) => VERDICT_CYCLE.get(i + 1).copied(),
            (Some(0), true) => None,
            (Some(i), true) => Some(VERDICT_CYCLE[i - 1]),
        };
    }
}

/// A word quoted so that flowctl's filter-line splitter gives it back unchanged.
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/=,@+%^".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
