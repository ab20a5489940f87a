//! L7 proxy access-log records (`cilium.LogEntry`) → flows, as Cilium's access-log server and
//! Hubble's `seven` parser do it (spec §10.3).
//!
//! The only state is the request cache that pairs a response with its request by
//! `X-Request-Id`, for `latency_ns` and `trace_context`.

// `Flow.Summary`, `Flow.reply` and `Layer7.kafka` are deprecated in the proto but Hubble
// still fills them and clients print them.
#![allow(deprecated)]

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;

use flowscope_proto::cilium::{self, EntryType, HttpProtocol, LogEntry};
use flowscope_proto::flow::{Flow, FlowType, L7FlowType, TrafficDirection, Verdict};
use lru::LruCache;

use super::logentry::{self, EntryRef, HttpRef, L7Ref};
use super::{ParseError, header_name};
use crate::enrich;
use crate::flow::l7::{TextBuilder, intern};
use crate::flow::uuid::UuidGen;
use crate::flow::{
    FlowRecord, Header, HttpData, IpInfo, KafkaData, L7Data, L7Record, SummaryKind, Text, Time,
    ip_version,
};
use crate::identity::ClusterState;
use crate::parser::l34::packet::L4;

/// The event type Hubble gives access-log flows (`MessageTypeAccessLog`).
pub const ACCESS_LOG_EVENT_TYPE: i32 = 129;
/// How many open requests are remembered for pairing (Hubble's LRU size).
pub const REQUEST_CACHE_SIZE: usize = 10_000;
const REDACTED: &str = "HUBBLE_REDACTED";

/// Sensitive-data handling, as Hubble's `hubble-redact-*` options.
#[derive(Debug, Clone)]
pub struct RedactOptions {
    /// Replace the password of URL user-info with `HUBBLE_REDACTED` (Hubble's default).
    pub url_user_info: bool,
    /// Drop the URL query string and fragment.
    pub url_query: bool,
    /// Keep only these headers' values (lower-cased names); others are redacted.
    pub headers_allow: Vec<String>,
    /// Redact these headers' values (lower-cased names). Ignored when an allow-list is set.
    /// Defaults to the credential headers of [`super::redact::DEFAULT_DENIED_HEADERS`].
    pub headers_deny: Vec<String>,
}

impl Default for RedactOptions {
    fn default() -> Self {
        RedactOptions {
            url_user_info: true,
            url_query: false,
            headers_allow: Vec::new(),
            headers_deny: super::redact::default_denied_headers(),
        }
    }
}

/// What every flow of one entry shares.
#[derive(Clone, Copy)]
struct Head {
    l7_type: L7FlowType,
    verdict: Verdict,
    is_reply: bool,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    src_id: u32,
    dst_id: u32,
    time_ns: u64,
    is_ingress: bool,
}

struct OpenRequest {
    time_ns: u64,
    /// The request's trace id (32 lower-case hex digits), if it had one.
    trace_id: Option<[u8; 32]>,
}

/// Converts access-log records to flow records.
pub struct L7Parser {
    redact: RedactOptions,
    uuids: UuidGen,
    /// Keyed by a hash of X-Request-Id and the request's addresses: one request id crosses
    /// several proxy hops (world → ingress, ingress → pod), each logged with its own 5-tuple.
    /// A 64-bit hash keeps the cache free of per-request string copies.
    open_requests: LruCache<u64, OpenRequest, BuildHasherDefault<KeyIsHash>>,
    /// The buffer records' text is assembled in before its exact-size copy is kept.
    scratch: String,
    /// Randomly keyed: request ids come from outside, and colliding keys must not be
    /// something a client can compute.
    key_hasher: std::collections::hash_map::RandomState,
}

/// The cache's keys are already hashes: use them as they are.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl L7Parser {
    pub fn new(redact: RedactOptions) -> Self {
        L7Parser {
            redact,
            uuids: UuidGen::new(),
            open_requests: LruCache::with_hasher(
                NonZeroUsize::new(REQUEST_CACHE_SIZE).unwrap_or(NonZeroUsize::MIN),
                BuildHasherDefault::default(),
            ),
            scratch: String::new(),
            key_hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Decodes one serialized `LogEntry` datagram and converts it to the proto `Flow`.
    pub fn parse_bytes(&mut self, bytes: &[u8], state: &ClusterState) -> Result<Flow, ParseError> {
        self.decode(bytes, state).map(|r| r.to_proto())
    }

    /// Converts one entry to the proto `Flow`.
    pub fn parse(&mut self, entry: &LogEntry, state: &ClusterState) -> Result<Flow, ParseError> {
        self.decode_entry(entry, state).map(|r| r.to_proto())
    }

    /// Decodes one serialized `LogEntry` datagram into a flow record, reading it in place.
    /// A Kafka entry with several topics gives one flow per topic: this is the first; see
    /// [`Self::decode_each`] for all of them.
    pub fn decode(&mut self, bytes: &[u8], state: &ClusterState) -> Result<FlowRecord, ParseError> {
        first_flow(|emit| self.decode_each(bytes, state, emit))
    }

    /// Decodes one serialized `LogEntry` datagram, reading it in place, and hands each of
    /// its flows to `emit`; returns how many there were (at least one).
    pub fn decode_each(
        &mut self,
        bytes: &[u8],
        state: &ClusterState,
        mut emit: impl FnMut(FlowRecord),
    ) -> Result<usize, ParseError> {
        let entry = logentry::parse(bytes)?;
        self.decode_ref(&entry, state, &mut emit)
    }

    /// Converts a decoded entry into a flow record (the first, as [`Self::decode`]).
    pub fn decode_entry(
        &mut self,
        entry: &LogEntry,
        state: &ClusterState,
    ) -> Result<FlowRecord, ParseError> {
        first_flow(|emit| self.decode_entry_each(entry, state, emit))
    }

    /// Converts a decoded entry into its flow records, as [`Self::decode_each`].
    pub fn decode_entry_each(
        &mut self,
        entry: &LogEntry,
        state: &ClusterState,
        mut emit: impl FnMut(FlowRecord),
    ) -> Result<usize, ParseError> {
        self.decode_ref(&EntryRef::from(entry), state, &mut emit)
    }

    fn decode_ref(
        &mut self,
        entry: &EntryRef<'_>,
        state: &ClusterState,
        emit: &mut dyn FnMut(FlowRecord),
    ) -> Result<usize, ParseError> {
        let entry_type = EntryType::try_from(entry.entry_type)
            .map_err(|_| ParseError::UnknownEntryType(entry.entry_type))?;
        let (l7_type, verdict) = match entry_type {
            EntryType::Request => (L7FlowType::Request, Verdict::Forwarded),
            EntryType::Denied => (L7FlowType::Request, Verdict::Dropped),
            EntryType::Response => (L7FlowType::Response, Verdict::Forwarded),
        };
        let is_reply = l7_type == L7FlowType::Response;

        let src = parse_address(entry.source_address, "source_address")?;
        let dst = parse_address(entry.destination_address, "destination_address")?;
        let (mut src_id, mut dst_id) = (entry.source_security_id, entry.destination_security_id);
        // Responses travel back: the flow's source is the request's destination.
        let (src, dst) = if is_reply {
            std::mem::swap(&mut src_id, &mut dst_id);
            (dst, src)
        } else {
            (src, dst)
        };

        let time_ns = if entry.timestamp == 0 {
            now_ns()
        } else {
            entry.timestamp
        };
        let head = Head {
            l7_type,
            verdict,
            is_reply,
            src,
            dst,
            src_id,
            dst_id,
            time_ns,
            is_ingress: entry.is_ingress,
        };

        // An entry without an L7 part is read, as Cilium's access-log server reads it, in
        // the deprecated top-level HTTP fields, even when none of them is set.
        let legacy_or_empty;
        let http = match &entry.l7 {
            L7Ref::Http(http) => http,
            L7Ref::None => match &entry.legacy_http {
                Some(legacy) => legacy,
                None => {
                    legacy_or_empty = HttpRef::default();
                    &legacy_or_empty
                }
            },
            L7Ref::Kafka(k) => {
                // Cilium logs one record per topic (a record without topics once).
                let mut n = 0;
                let mut topics = k.topics.iter().peekable();
                let none = topics.peek().is_none();
                for topic in topics.chain(none.then_some("")) {
                    let mut text = TextBuilder::reuse(std::mem::take(&mut self.scratch));
                    let data = L7Data::Kafka(KafkaData {
                        error_code: k.error_code,
                        api_version: k.api_version,
                        api_key: kafka_api_key_name(k.api_key, &mut text),
                        correlation_id: k.correlation_id,
                        topic: text.push(topic),
                    });
                    emit(self.record(&head, state, data, text, 0, None));
                    n += 1;
                }
                return Ok(n);
            }
            L7Ref::Generic(g) => {
                let mut text = TextBuilder::reuse(std::mem::take(&mut self.scratch));
                let start = text.buf().len();
                generic_summary(g, text.buf());
                let data = L7Data::None {
                    summary: text.span_from(start),
                };
                emit(self.record(&head, state, data, text, 0, None));
                return Ok(1);
            }
        };

        // Room for every string the record may keep, so the buffer is never reallocated.
        let need = 64
            + http.scheme.len()
            + http.host.len()
            + http.path.len()
            + http.method.len()
            + http
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.reserve(need);
        let mut text = TextBuilder::reuse(scratch);
        let (latency_ns, trace) = self.pair(entry, http, entry_type, time_ns);
        let trace_id = trace.map(|t| text.push(std::str::from_utf8(&t).unwrap_or("")));
        let data = L7Data::Http(self.http_record(http, &mut text));
        emit(self.record(&head, state, data, text, latency_ns, trace_id));
        Ok(1)
    }

    /// One flow of an entry; the text buffer goes back for reuse.
    fn record(
        &mut self,
        head: &Head,
        state: &ClusterState,
        data: L7Data,
        text: TextBuilder,
        latency_ns: u64,
        trace_id: Option<Text>,
    ) -> FlowRecord {
        let Head {
            l7_type,
            verdict,
            is_reply,
            src,
            dst,
            src_id,
            dst_id,
            time_ns,
            is_ingress,
        } = *head;
        let mut r = FlowRecord::new(
            Time::from_unix_nanos(time_ns),
            self.uuids.next_uuid(),
            state.node_name_shared().clone(),
            FlowType::L7 as u8,
        );
        r.verdict = verdict as u8;
        r.ip = (src.is_some() || dst.is_some()).then(|| IpInfo {
            source: src.map(|a| a.ip()),
            destination: dst.map(|a| a.ip()),
            source_xlated: None,
            version: src.or(dst).map_or(0, |a| ip_version(a.ip())),
            encrypted: false,
        });
        r.l4 = Some(L4::Tcp {
            src: src.map_or(0, |a| a.port()),
            dst: dst.map_or(0, |a| a.port()),
            flags: 0,
        });
        r.source = enrich::endpoint(state, src.map(|a| a.ip()), src_id);
        r.destination = enrich::endpoint(state, dst.map(|a| a.ip()), dst_id);
        let (kept, scratch) = text.finish_exact();
        self.scratch = scratch;
        r.l7 = Some(Box::new(L7Record {
            l7_type: l7_type as u8,
            latency_ns,
            trace_id,
            data,
            text: kept,
        }));
        r.summary = SummaryKind::L7;
        r.is_reply = Some(is_reply);
        r.event_type = (ACCESS_LOG_EVENT_TYPE as u8, 0);
        r.traffic_direction = if is_ingress {
            TrafficDirection::Ingress
        } else {
            TrafficDirection::Egress
        } as u8;
        r
    }

    fn http_record(&self, http: &HttpRef<'_>, text: &mut TextBuilder) -> HttpData {
        let protocol = match HttpProtocol::try_from(http.http_protocol) {
            Ok(HttpProtocol::Http10) => "HTTP/1",
            Ok(HttpProtocol::Http11) => "HTTP/1.1",
            Ok(HttpProtocol::Http2) => "HTTP/2",
            Err(_) => "Unknown",
        };
        // As Go's `http.Header` that Hubble reads them from: names canonicalised, then
        // sorted by name (stably, so one name's values keep their order).
        let mut headers: Vec<Header> = Vec::with_capacity(http.headers.len());
        headers.extend(http.headers.iter().map(|kv| self.header(kv, text)));
        headers.sort_by(|a, b| text.str(a.key).cmp(text.str(b.key)));
        let headers = headers.into_boxed_slice();
        let method = intern(http.method).map_or_else(|| text.push(http.method), Text::Static);
        let start = text.buf().len();
        build_url(http.scheme, http.host, http.path, &self.redact, text.buf());
        HttpData {
            code: http.status,
            method,
            url: text.span_from(start),
            protocol,
            headers,
        }
    }

    fn header(&self, (key, value): (&str, &str), text: &mut TextBuilder) -> Header {
        Header {
            key: header_name::canonical_key(key, text),
            value: if self.header_redacted(key) {
                Text::Static(REDACTED)
            } else {
                text.push(value)
            },
        }
    }

    fn header_redacted(&self, key: &str) -> bool {
        super::redact::header_redacted(key, &self.redact.headers_allow, &self.redact.headers_deny)
    }

    /// Remembers a request, or pairs a response with its request: `(latency_ns, trace_id)`.
    fn pair(
        &mut self,
        entry: &EntryRef<'_>,
        http: &HttpRef<'_>,
        t: EntryType,
        time_ns: u64,
    ) -> (u64, Option<[u8; 32]>) {
        // Read from the unredacted record: redaction must not break pairing.
        let find = |name: &str| {
            http.headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        };
        let own_trace = find("traceparent").and_then(trace_id_from_traceparent);
        let Some(request_id) = find("x-request-id").filter(|v| !v.is_empty()) else {
            return (0, own_trace);
        };
        // A response is logged with its request's (unswapped) addresses.
        let key =
            self.key_hasher
                .hash_one((request_id, entry.source_address, entry.destination_address));
        match t {
            EntryType::Request | EntryType::Denied => {
                self.open_requests.put(
                    key,
                    OpenRequest {
                        time_ns,
                        trace_id: own_trace,
                    },
                );
                (0, own_trace)
            }
            EntryType::Response => match self.open_requests.pop(&key) {
                Some(req) => (
                    time_ns.saturating_sub(req.time_ns),
                    own_trace.or(req.trace_id),
                ),
                None => (0, own_trace),
            },
        }
    }
}

/// `ip:port` or `[ipv6]:port`; a bare IP is accepted; empty means absent.
fn parse_address(s: &str, field: &'static str) -> Result<Option<SocketAddr>, ParseError> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Some(sa));
    }
    if let Ok(ip) = s.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        return Ok(Some(SocketAddr::new(ip, 0)));
    }
    Err(ParseError::InvalidAddress {
        field,
        value: s.chars().take(64).collect(),
    })
}

/// `scheme://host/path` as Go's `url.URL.String()` prints it, after redaction, appended to
/// `url`.
fn build_url(scheme: &str, host: &str, path: &str, redact: &RedactOptions, url: &mut String) {
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push_str("://");
    } else if !host.is_empty() {
        url.push_str("//");
    }
    match host.rfind('@').filter(|_| redact.url_user_info) {
        Some(at) => {
            let (userinfo, rest) = host.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    url.push_str(user);
                    url.push(':');
                    url.push_str(REDACTED);
                    url.push_str(rest);
                }
                None => url.push_str(host),
            }
        }
        None => url.push_str(host),
    }
    let path = match path.find(['?', '#']).filter(|_| redact.url_query) {
        Some(i) => &path[..i],
        None => path,
    };
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    url.push_str(path);
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); all-zero ids are invalid.
fn trace_id_from_traceparent(v: &str) -> Option<[u8; 32]> {
    let mut parts = v.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(version, 2)
        || version == "ff"
        || !hex(trace_id, 32)
        || !hex(span_id, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || span_id.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(trace_id.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

fn generic_summary(g: &cilium::L7LogEntry, out: &mut String) {
    let mut fields: Vec<_> = g.fields.iter().collect();
    fields.sort();
    out.push_str(&g.proto);
    out.push_str(" Fields: map[");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push(']');
}

/// Kafka API key names as Cilium's Kafka parser prints them.
fn kafka_api_key_name(key: i32, text: &mut TextBuilder) -> Text {
    const NAMES: &[&str] = &[
        "produce",
        "fetch",
        "offsets",
        "metadata",
        "leaderandisr",
        "stopreplica",
        "updatemetadata",
        "controlledshutdown",
        "offsetcommit",
        "offsetfetch",
        "findcoordinator",
        "joingroup",
        "heartbeat",
        "leavegroup",
        "syncgroup",
        "describegroups",
        "listgroups",
        "saslhandshake",
        "apiversions",
        "createtopics",
        "deletetopics",
    ];
    match usize::try_from(key).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => Text::Static(name),
        None => text.push(&key.to_string()),
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Helpers to build access-log records, shared by tests and benchmarks.
pub mod build {
    use flowscope_proto::cilium::{
        EntryType, HttpLogEntry, HttpProtocol, KeyValue, LogEntry, log_entry,
    };

    /// An HTTP/1.1 access-log entry.
    #[allow(clippy::too_many_arguments)]
    pub fn http_entry(
        t: EntryType,
        timestamp_ns: u64,
        src: &str,
        src_id: u32,
        dst: &str,
        dst_id: u32,
        method: &str,
        host: &str,
        path: &str,
        status: u32,
        headers: &[(&str, &str)],
    ) -> LogEntry {
        LogEntry {
            timestamp: timestamp_ns,
            is_ingress: true,
            entry_type: t as i32,
            source_security_id: src_id,
            destination_security_id: dst_id,
            source_address: src.to_string(),
            destination_address: dst.to_string(),
            l7: Some(log_entry::L7::Http(HttpLogEntry {
                http_protocol: HttpProtocol::Http11 as i32,
                scheme: "http".to_string(),
                host: host.to_string(),
                path: path.to_string(),
                method: method.to_string(),
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: (*k).to_string(),
                        value: (*v).to_string(),
                    })
                    .collect(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }
}

/// The first flow `each` hands out (a Kafka entry with several topics gives several).
fn first_flow(
    each: impl FnOnce(&mut dyn FnMut(FlowRecord)) -> Result<usize, ParseError>,
) -> Result<FlowRecord, ParseError> {
    let mut first = None;
    each(&mut |r| {
        first.get_or_insert(r);
    })?;
    first.ok_or(ParseError::NoFlow)
}

#[cfg(test)]
#[path = "l7_tests.rs"]
mod tests;
