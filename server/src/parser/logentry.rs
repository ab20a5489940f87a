//! A borrowed view of a serialized `cilium.LogEntry`: the access-log parser reads the
//! datagram in place instead of decoding it into owned strings first.
//!
//! It reads what prost would (same field numbers, last value of a repeated scalar wins,
//! unknown fields skipped, strings must be UTF-8) but allocates nothing for up to
//! [`INLINE_HEADERS`] headers. The parser's tests hold it to prost's decoding.

use std::borrow::Cow;

use flowscope_proto::cilium::{self, L7LogEntry, LogEntry, log_entry};
use prost::Message;

use super::ParseError;
use crate::flow::wire::{self, Field, LEN, VARINT};

/// Headers kept without allocating; more spill into a vector.
pub const INLINE_HEADERS: usize = 24;

/// `(key, value)` pairs of `repeated KeyValue`.
#[derive(Debug, Clone, Default)]
pub struct Headers<'a> {
    inline: [(&'a str, &'a str); INLINE_HEADERS],
    len: usize,
    spill: Vec<(&'a str, &'a str)>,
}

impl<'a> Headers<'a> {
    fn push(&mut self, kv: (&'a str, &'a str)) {
        if self.len < INLINE_HEADERS {
            self.inline[self.len] = kv;
            self.len += 1;
        } else {
            self.spill.push(kv);
        }
    }

    pub fn len(&self) -> usize {
        self.len + self.spill.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers kept inline (all of them when there are at most [`INLINE_HEADERS`]).
    pub fn inline(&self) -> &[(&'a str, &'a str)] {
        &self.inline[..self.len]
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.inline[..self.len].iter().chain(&self.spill).copied()
    }
}

/// `cilium.HttpLogEntry` (or the deprecated top-level HTTP fields of a `LogEntry`).
#[derive(Debug, Clone, Default)]
pub struct HttpRef<'a> {
    pub http_protocol: i32,
    pub scheme: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub method: &'a str,
    pub status: u32,
    pub headers: Headers<'a>,
}

impl HttpRef<'_> {
    /// Whether any legacy top-level HTTP field was set.
    fn is_set(&self) -> bool {
        !self.method.is_empty()
            || !self.path.is_empty()
            || !self.host.is_empty()
            || self.status != 0
    }
}

#[derive(Debug, Clone, Default)]
pub struct KafkaRef<'a> {
    pub correlation_id: i32,
    pub error_code: i32,
    pub api_version: i32,
    pub api_key: i32,
    /// Every topic, in order: Cilium logs one flow per topic.
    pub topics: Topics<'a>,
}

/// The `topics` of a `KafkaLogEntry`, read where they lie: no list is built per entry.
#[derive(Debug, Clone, Copy)]
pub enum Topics<'a> {
    /// The serialized `KafkaLogEntry`, whose topics were checked when it was read.
    Wire(&'a [u8]),
    Decoded(&'a [String]),
}

impl Default for Topics<'_> {
    fn default() -> Self {
        Topics::Decoded(&[])
    }
}

impl<'a> Topics<'a> {
    pub fn iter(self) -> impl Iterator<Item = &'a str> {
        let (wire, decoded) = match self {
            Topics::Wire(body) => (Some(body), None),
            Topics::Decoded(list) => (None, Some(list)),
        };
        let from_wire = wire.into_iter().flat_map(|body| {
            wire::fields(body)
                .map_while(Result::ok)
                .filter(|f| f.number == 5 && f.wire_type == LEN)
                .filter_map(|f| std::str::from_utf8(f.body).ok())
        });
        from_wire.chain(decoded.into_iter().flatten().map(String::as_str))
    }
}

/// The `l7` oneof.
// A short-lived stack value per datagram: boxing the large variant would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default)]
pub enum L7Ref<'a> {
    #[default]
    None,
    Http(HttpRef<'a>),
    Kafka(KafkaRef<'a>),
    /// `cilium.L7LogEntry` (rare: decoded by prost).
    Generic(Cow<'a, L7LogEntry>),
}

/// The fields of a `LogEntry` the parser uses.
#[derive(Debug, Clone, Default)]
pub struct EntryRef<'a> {
    pub timestamp: u64,
    pub is_ingress: bool,
    pub entry_type: i32,
    pub source_security_id: u32,
    pub destination_security_id: u32,
    pub source_address: &'a str,
    pub destination_address: &'a str,
    pub l7: L7Ref<'a>,
    /// The deprecated top-level HTTP fields, if any was set.
    pub legacy_http: Option<HttpRef<'a>>,
}

fn bad(what: &str) -> ParseError {
    ParseError::Undecodable(what.to_string())
}

fn malformed(e: wire::WireError) -> ParseError {
    ParseError::Undecodable(e.to_string())
}

fn text<'a>(f: &Field<'a>, what: &str) -> Result<&'a str, ParseError> {
    if f.wire_type != LEN {
        return Err(bad(what));
    }
    std::str::from_utf8(f.body).map_err(|_| bad(&format!("{what}: invalid UTF-8")))
}

fn number(f: &Field<'_>, what: &str) -> Result<u64, ParseError> {
    if f.wire_type != VARINT {
        return Err(bad(what));
    }
    Ok(f.value)
}

fn message<'a>(f: &Field<'a>, what: &str) -> Result<&'a [u8], ParseError> {
    if f.wire_type != LEN {
        return Err(bad(what));
    }
    Ok(f.body)
}

fn key_value(body: &[u8]) -> Result<(&str, &str), ParseError> {
    let mut kv = ("", "");
    for f in wire::fields(body) {
        let f = f.map_err(malformed)?;
        match f.number {
            1 => kv.0 = text(&f, "KeyValue.key")?,
            2 => kv.1 = text(&f, "KeyValue.value")?,
            _ => {}
        }
    }
    Ok(kv)
}

/// Reads one HTTP field into `h`; false when `f` is not an HTTP field number.
fn http_field<'a>(h: &mut HttpRef<'a>, f: &Field<'a>, n: [u32; 7]) -> Result<bool, ParseError> {
    let [protocol, scheme, host, path, method, headers, status] = n;
    match f.number {
        x if x == protocol => h.http_protocol = number(f, "http_protocol")? as i32,
        x if x == scheme => h.scheme = text(f, "scheme")?,
        x if x == host => h.host = text(f, "host")?,
        x if x == path => h.path = text(f, "path")?,
        x if x == method => h.method = text(f, "method")?,
        x if x == headers => h.headers.push(key_value(message(f, "headers")?)?),
        x if x == status => h.status = number(f, "status")? as u32,
        _ => return Ok(false),
    }
    Ok(true)
}

fn http(body: &[u8]) -> Result<HttpRef<'_>, ParseError> {
    let mut h = HttpRef::default();
    for f in wire::fields(body) {
        let f = f.map_err(malformed)?;
        if !http_field(&mut h, &f, [1, 2, 3, 4, 5, 6, 7])? && matches!(f.number, 8 | 9) {
            // missing_headers / rejected_headers: not shown, but read as prost reads them.
            key_value(message(&f, "headers")?)?;
        }
    }
    Ok(h)
}

fn kafka(body: &[u8]) -> Result<KafkaRef<'_>, ParseError> {
    let mut k = KafkaRef {
        topics: Topics::Wire(body),
        ..Default::default()
    };
    for f in wire::fields(body) {
        let f = f.map_err(malformed)?;
        match f.number {
            1 => k.correlation_id = number(&f, "correlation_id")? as i32,
            2 => k.error_code = number(&f, "error_code")? as i32,
            3 => k.api_version = number(&f, "api_version")? as i32,
            4 => k.api_key = number(&f, "api_key")? as i32,
            5 => {
                // Checked here so that `Topics::iter` can read them without failing.
                text(&f, "topics")?;
            }
            _ => {}
        }
    }
    Ok(k)
}

/// Reads a serialized `LogEntry`.
pub fn parse(bytes: &[u8]) -> Result<EntryRef<'_>, ParseError> {
    let mut e = EntryRef::default();
    let mut legacy = HttpRef::default();
    for f in wire::fields(bytes) {
        let f = f.map_err(malformed)?;
        match f.number {
            1 => e.timestamp = number(&f, "timestamp")?,
            15 => e.is_ingress = number(&f, "is_ingress")? != 0,
            3 => e.entry_type = number(&f, "entry_type")? as i32,
            6 => e.source_security_id = number(&f, "source_security_id")? as u32,
            16 => e.destination_security_id = number(&f, "destination_security_id")? as u32,
            7 => e.source_address = text(&f, "source_address")?,
            8 => e.destination_address = text(&f, "destination_address")?,
            100 => e.l7 = L7Ref::Http(http(message(&f, "http")?)?),
            101 => e.l7 = L7Ref::Kafka(kafka(message(&f, "kafka")?)?),
            102 => {
                let g = L7LogEntry::decode(message(&f, "generic_l7")?)?;
                e.l7 = L7Ref::Generic(Cow::Owned(g));
            }
            4 | 5 => {
                text(&f, "policy")?;
            }
            17 => {
                number(&f, "proxy_id")?;
            }
            _ => {
                http_field(&mut legacy, &f, [2, 9, 10, 11, 12, 14, 13])?;
            }
        }
    }
    if legacy.is_set() {
        e.legacy_http = Some(legacy);
    }
    Ok(e)
}

impl<'a> From<&'a cilium::HttpLogEntry> for HttpRef<'a> {
    fn from(h: &'a cilium::HttpLogEntry) -> Self {
        let mut headers = Headers::default();
        for kv in &h.headers {
            headers.push((&kv.key, &kv.value));
        }
        HttpRef {
            http_protocol: h.http_protocol,
            scheme: &h.scheme,
            host: &h.host,
            path: &h.path,
            method: &h.method,
            status: h.status,
            headers,
        }
    }
}

/// A decoded entry seen through the same view (tests and tools that hold a `LogEntry`).
impl<'a> From<&'a LogEntry> for EntryRef<'a> {
    #[allow(deprecated)] // the top-level HTTP fields of old proxies
    fn from(e: &'a LogEntry) -> Self {
        let l7 = match &e.l7 {
            None => L7Ref::None,
            Some(log_entry::L7::Http(h)) => L7Ref::Http(h.into()),
            Some(log_entry::L7::Kafka(k)) => L7Ref::Kafka(KafkaRef {
                correlation_id: k.correlation_id,
                error_code: k.error_code,
                api_version: k.api_version,
                api_key: k.api_key,
                topics: Topics::Decoded(&k.topics),
            }),
            Some(log_entry::L7::GenericL7(g)) => L7Ref::Generic(Cow::Borrowed(g)),
        };
        let mut legacy = HttpRef {
            http_protocol: e.http_protocol,
            scheme: &e.scheme,
            host: &e.host,
            path: &e.path,
            method: &e.method,
            status: e.status,
            headers: Headers::default(),
        };
        for kv in &e.headers {
            legacy.headers.push((&kv.key, &kv.value));
        }
        EntryRef {
            timestamp: e.timestamp,
            is_ingress: e.is_ingress,
            entry_type: e.entry_type,
            source_security_id: e.source_security_id,
            destination_security_id: e.destination_security_id,
            source_address: &e.source_address,
            destination_address: &e.destination_address,
            l7,
            legacy_http: legacy.is_set().then_some(legacy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ClusterState;
    use crate::parser::l7::build::http_entry;
    use crate::parser::l7::{L7Parser, RedactOptions};
    use flowscope_proto::cilium::{EntryType, HttpLogEntry, KafkaLogEntry, KeyValue};
    use flowscope_proto::flow::Flow;

    fn entries() -> Vec<LogEntry> {
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("x-h{:02}", 40 - i), format!("v{i}")))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut out = vec![
            http_entry(
                EntryType::Request,
                5,
                "10.0.0.1:4000",
                8,
                "10.0.0.2:80",
                0,
                "GET",
                "svc",
                "/a?b",
                0,
                &[("x-request-id", "r1"), ("B", "2"), ("a", "1"), ("a", "0")],
            ),
            http_entry(
                EntryType::Response,
                9,
                "10.0.0.1:4000",
                8,
                "10.0.0.2:80",
                0,
                "PATCH",
                "u:p@svc",
                "x",
                503,
                &many,
            ),
            http_entry(
                EntryType::Denied,
                0,
                "[fd00::1]:1",
                2,
                "",
                7,
                "GET",
                "",
                "",
                0,
                &[],
            ),
        ];
        #[allow(deprecated)]
        out.push(LogEntry {
            entry_type: EntryType::Request as i32,
            method: "POST".into(),
            path: "/legacy".into(),
            headers: vec![KeyValue {
                key: "x-request-id".into(),
                value: "l".into(),
            }],
            ..Default::default()
        });
        out.push(LogEntry {
            entry_type: EntryType::Response as i32,
            source_address: "10.1.1.1:9092".into(),
            l7: Some(log_entry::L7::Kafka(KafkaLogEntry {
                correlation_id: 4,
                error_code: -1,
                api_version: 2,
                api_key: 99,
                topics: vec!["t1".into(), "t2".into()],
            })),
            ..Default::default()
        });
        out.push(LogEntry {
            entry_type: EntryType::Request as i32,
            l7: Some(log_entry::L7::GenericL7(cilium::L7LogEntry {
                proto: "r2d2".into(),
                fields: [("cmd".to_string(), "READ".to_string())].into(),
            })),
            ..Default::default()
        });
        out.push(LogEntry {
            entry_type: EntryType::Request as i32,
            l7: Some(log_entry::L7::Http(HttpLogEntry::default())),
            ..Default::default()
        });
        out
    }

    fn state() -> ClusterState {
        ClusterState::parse("node_name: n\n").expect("state")
    }

    /// Random per flow, or the time of parsing when the entry has none.
    fn without_uuid(mut f: Flow) -> Flow {
        f.uuid.clear();
        f.time = None;
        f
    }

    /// Both ways of reading an entry give the same flows, request pairing included.
    #[allow(clippy::type_complexity)]
    fn both(bytes: &[u8]) -> (Result<Vec<Flow>, String>, Result<Vec<Flow>, String>) {
        let st = state();
        let mut a = L7Parser::new(RedactOptions::default());
        let mut b = L7Parser::new(RedactOptions::default());
        let mut in_place = Vec::new();
        let in_place = a
            .decode_each(bytes, &st, |r| in_place.push(without_uuid(r.to_proto())))
            .map(|_| in_place)
            .map_err(|e| e.reason().to_string());
        let via_prost = LogEntry::decode(bytes)
            .map_err(|_| "undecodable".to_string())
            .and_then(|e| {
                let mut flows = Vec::new();
                b.decode_entry_each(&e, &st, |r| flows.push(without_uuid(r.to_proto())))
                    .map(|_| flows)
                    .map_err(|e| e.reason().to_string())
            });
        (in_place, via_prost)
    }

    #[test]
    fn reads_as_prost_does() {
        for e in entries() {
            let (a, b) = both(&e.encode_to_vec());
            assert!(a.is_ok(), "{e:?}: {a:?}");
            assert_eq!(a, b, "{e:?}");
        }
    }

    #[test]
    fn mutated_entries_read_as_prost_does() {
        // Seeded byte mutations of valid entries: the in-place reader accepts what prost
        // accepts, rejects what it rejects, and reads the same flow.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: Vec<Vec<u8>> = entries().iter().map(|e| e.encode_to_vec()).collect();
        let mut compared = 0;
        for i in 0..20_000 {
            let mut b = seeds[i % seeds.len()].clone();
            for _ in 0..1 + next() % 3 {
                if b.is_empty() {
                    break;
                }
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] ^= 1 << (next() % 8),
                    1 => b[at] = next() as u8,
                    _ => b.truncate(at),
                }
            }
            let (a, p) = both(&b);
            if p.is_ok() {
                compared += 1;
                // A mutation can leave an entry prost reads but the parser rejects (a
                // bad address): both must then reject it alike.
                assert_eq!(a, p, "input {b:02x?}");
            } else {
                assert!(
                    a.is_err(),
                    "prost rejects {b:02x?}, the in-place reader took it"
                );
            }
        }
        assert!(compared > 1_000, "{compared}");
    }
}
