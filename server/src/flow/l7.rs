//! The L7 part of a flow: one allocation for the record, one for all of its strings.
//!
//! Strings live in one buffer (`text`) and are referred to by [`Text`] spans; header names
//! and methods that almost every request carries are interned as `&'static str` instead.

use std::net::IpAddr;

use flowscope_filter::Pairs;

/// A string of an L7 record: interned, or a span of the record's text buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Static(&'static str),
    Span { start: u32, len: u32 },
}

impl Text {
    pub const EMPTY: Text = Text::Static("");
}

/// One HTTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub key: Text,
    pub value: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpData {
    pub code: u32,
    pub method: Text,
    pub url: Text,
    pub protocol: &'static str,
    /// Sorted by key.
    pub headers: Box<[Header]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaData {
    pub error_code: i32,
    pub api_version: i32,
    pub api_key: Text,
    pub correlation_id: i32,
    pub topic: Text,
}

/// `flow.DNS`: a query (`query`, `qtypes` and the source only, as Hubble fills requests)
/// or an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsData {
    pub query: Text,
    pub ips: Box<[IpAddr]>,
    pub ttl: u32,
    pub cnames: Box<[Text]>,
    pub observation_source: &'static str,
    pub rcode: u32,
    /// DNS type numbers; their names are gopacket's ([`crate::parser::dns::type_name`]).
    pub qtypes: Box<[u16]>,
    pub rrtypes: Box<[u16]>,
}

/// Which L7 record the flow carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L7Data {
    /// No record; the summary is given (generic L7 parsers).
    None {
        summary: Text,
    },
    Http(HttpData),
    Kafka(KafkaData),
    Dns(DnsData),
}

/// `Flow.l7` plus the trace context, which only L7 flows carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L7Record {
    /// `L7FlowType`.
    pub l7_type: u8,
    pub latency_ns: u64,
    /// `trace_context.parent.trace_id`, if any.
    pub trace_id: Option<Text>,
    pub data: L7Data,
    pub text: Box<str>,
}

impl L7Record {
    /// The string `t` stands for.
    pub fn str(&self, t: Text) -> &str {
        match t {
            Text::Static(s) => s,
            Text::Span { start, len } => {
                let (start, len) = (start as usize, len as usize);
                self.text.get(start..start + len).unwrap_or("")
            }
        }
    }

    pub fn http(&self) -> Option<&HttpData> {
        match &self.data {
            L7Data::Http(h) => Some(h),
            _ => None,
        }
    }
}

/// The HTTP headers as `(key, value)` pairs.
impl Pairs for L7Record {
    fn pair_count(&self) -> usize {
        self.http().map_or(0, |h| h.headers.len())
    }

    fn pair(&self, i: usize) -> (&str, &str) {
        match self.http().and_then(|h| h.headers.get(i)) {
            Some(h) => (self.str(h.key), self.str(h.value)),
            None => ("", ""),
        }
    }
}

/// `L7FlowType::Response`.
pub const L7_RESPONSE: u8 = 2;

/// The flow's `Summary`, as Cilium's access-log conversion writes it, appended to `out`.
pub fn push_summary(out: &mut String, rec: &L7Record) {
    use std::fmt::Write as _;
    let response = rec.l7_type == L7_RESPONSE;
    let _ = match &rec.data {
        L7Data::None { summary } => {
            out.push_str(rec.str(*summary));
            Ok(())
        }
        L7Data::Http(h) if response => write!(
            out,
            "{} {} {}ms ({} {})",
            h.protocol,
            h.code,
            rec.latency_ns / 1_000_000,
            rec.str(h.method),
            rec.str(h.url)
        ),
        L7Data::Http(h) => write!(
            out,
            "{} {} {}",
            h.protocol,
            rec.str(h.method),
            rec.str(h.url)
        ),
        L7Data::Kafka(k) if response => write!(
            out,
            "Kafka response {} correlation id {} topic '{}' return code {}",
            rec.str(k.api_key),
            k.correlation_id,
            rec.str(k.topic),
            k.error_code
        ),
        L7Data::Kafka(k) => write!(
            out,
            "Kafka request {} correlation id {} topic '{}'",
            rec.str(k.api_key),
            k.correlation_id,
            rec.str(k.topic)
        ),
        L7Data::Dns(d) => {
            let cnames: Vec<&str> = d.cnames.iter().map(|c| rec.str(*c)).collect();
            crate::parser::dns::push_summary(
                out,
                &crate::parser::dns::SummaryParts {
                    response,
                    query: rec.str(d.query),
                    qtypes: &d.qtypes,
                    rcode: d.rcode,
                    ips: &d.ips,
                    cnames: &cnames,
                    ttl: d.ttl,
                    proxy: d.observation_source == "proxy",
                },
            );
            Ok(())
        }
    };
}

/// Builds the text buffer of an L7 record.
#[derive(Debug, Default)]
pub struct TextBuilder {
    buf: String,
}

impl TextBuilder {
    pub fn with_capacity(n: usize) -> Self {
        TextBuilder {
            buf: String::with_capacity(n),
        }
    }

    /// Appends `s` and returns its span.
    pub fn push(&mut self, s: &str) -> Text {
        if s.is_empty() {
            return Text::EMPTY;
        }
        let start = self.buf.len();
        self.buf.push_str(s);
        self.span_from(start)
    }

    /// The span from `start` to the current end (for text written with [`Self::buf`]).
    pub fn span_from(&self, start: usize) -> Text {
        let len = self.buf.len().saturating_sub(start);
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) => Text::Span { start, len },
            _ => Text::EMPTY,
        }
    }

    /// The string `t` stands for, in the text built so far.
    pub fn str(&self, t: Text) -> &str {
        match t {
            Text::Static(s) => s,
            Text::Span { start, len } => {
                let (start, len) = (start as usize, len as usize);
                self.buf.get(start..start + len).unwrap_or("")
            }
        }
    }

    /// The buffer, to write text in place.
    pub fn buf(&mut self) -> &mut String {
        &mut self.buf
    }

    pub fn finish(self) -> Box<str> {
        self.buf.into_boxed_str()
    }

    /// Starts on a reused buffer (cleared).
    pub fn reuse(mut buf: String) -> Self {
        buf.clear();
        TextBuilder { buf }
    }

    /// The text in one allocation of its exact size, and the buffer back for reuse.
    pub fn finish_exact(self) -> (Box<str>, String) {
        (Box::from(self.buf.as_str()), self.buf)
    }
}

/// Interned names: canonical header names and methods most requests carry.
pub fn intern(s: &str) -> Option<&'static str> {
    // A match compiles to a switch on the length, then a few comparisons.
    Some(match s {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        // Header names in canonical form (see `parser::header_name`); `:authority` and
        // the other pseudo-headers are not tokens and keep their spelling.
        ":authority" => ":authority",
        "Accept" => "Accept",
        "Accept-Encoding" => "Accept-Encoding",
        "Accept-Language" => "Accept-Language",
        "Authorization" => "Authorization",
        "Cache-Control" => "Cache-Control",
        "Connection" => "Connection",
        "Content-Length" => "Content-Length",
        "Content-Type" => "Content-Type",
        "Cookie" => "Cookie",
        "Date" => "Date",
        "Host" => "Host",
        "Server" => "Server",
        "Set-Cookie" => "Set-Cookie",
        "Traceparent" => "Traceparent",
        "Tracestate" => "Tracestate",
        "User-Agent" => "User-Agent",
        "X-B3-Parentspanid" => "X-B3-Parentspanid",
        "X-B3-Sampled" => "X-B3-Sampled",
        "X-B3-Spanid" => "X-B3-Spanid",
        "X-B3-Traceid" => "X-B3-Traceid",
        "X-Envoy-Attempt-Count" => "X-Envoy-Attempt-Count",
        "X-Envoy-Expected-Rq-Timeout-Ms" => "X-Envoy-Expected-Rq-Timeout-Ms",
        "X-Envoy-Internal" => "X-Envoy-Internal",
        "X-Envoy-Upstream-Service-Time" => "X-Envoy-Upstream-Service-Time",
        "X-Forwarded-For" => "X-Forwarded-For",
        "X-Forwarded-Proto" => "X-Forwarded-Proto",
        "X-Request-Id" => "X-Request-Id",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_interned_names() {
        let mut b = TextBuilder::default();
        let a = b.push("/api/v1");
        let e = b.push("");
        let c = b.push("abc");
        let rec = L7Record {
            l7_type: 1,
            latency_ns: 0,
            trace_id: None,
            data: L7Data::Http(HttpData {
                code: 200,
                method: Text::Static(intern("GET").expect("interned")),
                url: a,
                protocol: "HTTP/1.1",
                headers: vec![Header {
                    key: Text::Static("X-Request-Id"),
                    value: c,
                }]
                .into_boxed_slice(),
            }),
            text: b.finish(),
        };
        assert_eq!(rec.str(a), "/api/v1");
        assert_eq!(rec.str(e), "");
        assert_eq!(rec.str(c), "abc");
        assert_eq!(rec.pair_count(), 1);
        assert_eq!(rec.pair(0), ("X-Request-Id", "abc"));
        assert_eq!(intern("x-unknown"), None);
    }
}
