//! One flow as the table shows it: the columns are derived once, when the flow arrives (in
//! the connection task), so drawing a frame only copies strings.

use flowscope_cli::printer::escape::terminal as esc;
use flowscope_cli::printer::fields;
use flowscope_proto::flow::{Flow, L7FlowType, Verdict, layer7};

/// The header that ties the hops of one request together.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// How a verdict is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictClass {
    Forwarded,
    Dropped,
    Audit,
    Error,
    Other,
}

impl VerdictClass {
    pub fn of(verdict: i32) -> Self {
        match Verdict::try_from(verdict) {
            Ok(Verdict::Forwarded | Verdict::Redirected) => VerdictClass::Forwarded,
            Ok(Verdict::Dropped) => VerdictClass::Dropped,
            Ok(Verdict::Audit) => VerdictClass::Audit,
            Ok(Verdict::Error) => VerdictClass::Error,
            _ => VerdictClass::Other,
        }
    }

    /// Higher is worse: a hop whose request or response was dropped is a dropped hop.
    pub fn severity(self) -> u8 {
        match self {
            VerdictClass::Dropped | VerdictClass::Error => 3,
            VerdictClass::Audit => 2,
            VerdictClass::Forwarded => 1,
            VerdictClass::Other => 0,
        }
    }
}

/// A flow with its table columns. Every string that comes from the server is escaped so a
/// flow cannot inject terminal control sequences.
#[derive(Clone, Debug)]
pub struct Row {
    pub flow: Flow,
    /// Unix nanoseconds (0 when the flow has no time).
    pub time_ns: i128,
    /// `HH:MM:SS.mmm` in UTC.
    pub time: String,
    pub source: String,
    pub source_identity: String,
    pub destination: String,
    pub destination_identity: String,
    pub kind: String,
    pub verdict: String,
    pub verdict_class: VerdictClass,
    pub summary: String,
    /// The node that observed the flow (through a relay, each flow names its node).
    pub node: String,
    /// The X-Request-Id header (any case), raw.
    pub request_id: Option<String>,
}

impl Row {
    pub fn new(flow: Flow) -> Row {
        let time_ns = flow.time.map_or(0, |t| t.as_unix_nanos());
        let time = flow
            .time
            .and_then(|t| t.to_datetime())
            .map(|dt| dt.format("%H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        let (source, destination) = fields::host_names(&flow, true);
        let source_identity = identity(flow.source.as_ref().map_or(0, |e| e.identity));
        let destination_identity = identity(flow.destination.as_ref().map_or(0, |e| e.identity));
        let request_id = request_id(&flow);
        Row {
            time_ns,
            time,
            source: esc(&source).into_owned(),
            source_identity,
            destination: esc(&destination).into_owned(),
            destination_identity,
            kind: esc(&fields::flow_type(&flow)).into_owned(),
            verdict: fields::verdict(&flow),
            verdict_class: VerdictClass::of(flow.verdict),
            summary: esc(&fields::summary(&flow)).into_owned(),
            node: esc(&flow.node_name).into_owned(),
            request_id,
            flow,
        }
    }

    /// Whether the flow is an L7 response (travelling server → client).
    pub fn is_response(&self) -> bool {
        match self.flow.l7.as_ref() {
            Some(l7) => l7.r#type == L7FlowType::Response as i32,
            None => self.flow.is_reply.as_ref().is_some_and(|r| r.value),
        }
    }

    /// The HTTP status code of a response, if any.
    pub fn http_code(&self) -> Option<u32> {
        match self.flow.l7.as_ref()?.record.as_ref()? {
            layer7::Record::Http(h) if h.code != 0 => Some(h.code),
            _ => None,
        }
    }

    /// The L7 latency the server measured (responses only), in nanoseconds.
    pub fn latency_ns(&self) -> Option<u64> {
        self.flow
            .l7
            .as_ref()
            .map(|l7| l7.latency_ns)
            .filter(|n| *n > 0)
    }
}

/// An identity for a table cell: the reserved name, else the number.
pub fn identity(id: u32) -> String {
    match flowscope_proto::reserved::display_name(id) {
        Some(name) => name.to_string(),
        None => id.to_string(),
    }
}

/// The value of the flow's X-Request-Id header (matched case-insensitively).
pub fn request_id(flow: &Flow) -> Option<String> {
    match flow.l7.as_ref()?.record.as_ref()? {
        layer7::Record::Http(h) => h
            .headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(REQUEST_ID_HEADER))
            .map(|h| h.value.clone())
            .filter(|v| !v.is_empty()),
        _ => None,
    }
}

/// A latency the way Go prints a `time.Duration`, trimmed: `12ms`, `1.5ms`, `350µs`, `2.25s`.
pub fn format_duration(ns: u64) -> String {
    fn trim(value: f64, unit: &str) -> String {
        let s = format!("{value:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{unit}")
    }
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => trim(ns as f64 / 1e3, "µs"),
        1_000_000..1_000_000_000 => trim(ns as f64 / 1e6, "ms"),
        _ => trim(ns as f64 / 1e9, "s"),
    }
}
