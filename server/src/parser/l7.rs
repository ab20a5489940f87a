//! L7 proxy access-log records (`cilium.LogEntry`) → flows, as Cilium's access-log server and
//! Hubble's `seven` parser do it (spec §10.3).
//!
//! The only state is the request cache that pairs a response with its request by
//! `X-Request-Id`, for `latency_ns` and `trace_context`.

// `Flow.Summary`, `Flow.reply` and `Layer7.kafka` are deprecated in the proto but Hubble
// still fills them and clients print them.
#![allow(deprecated)]

use std::hash::{BuildHasherDefault, Hash, Hasher};
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
    pub fn decode(&mut self, bytes: &[u8], state: &ClusterState) -> Result<FlowRecord, ParseError> {
        let entry = logentry::parse(bytes)?;
        self.decode_ref(&entry, state)
    }

    /// Converts a decoded entry into a flow record.
    pub fn decode_entry(
        &mut self,
        entry: &LogEntry,
        state: &ClusterState,
    ) -> Result<FlowRecord, ParseError> {
        self.decode_ref(&EntryRef::from(entry), state)
    }

    fn decode_ref(
        &mut self,
        entry: &EntryRef<'_>,
        state: &ClusterState,
    ) -> Result<FlowRecord, ParseError> {
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

        let http = match &entry.l7 {
            L7Ref::Http(http) => Some(http),
            L7Ref::None => entry.legacy_http.as_ref(),
            _ => None,
        };
        // Room for every string the record may keep, so the buffer is never reallocated.
        let need = 64
            + http.map_or(0, |h| {
                h.scheme.len()
                    + h.host.len()
                    + h.path.len()
                    + h.method.len()
                    + h.headers
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            });
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.reserve(need);
        let mut text = TextBuilder::reuse(scratch);
        let mut latency_ns = 0;
        let mut trace_id = None;
        let data = match (http, &entry.l7) {
            (Some(http), _) => {
                let (latency, trace) = self.pair(entry, http, entry_type, time_ns);
                latency_ns = latency;
                trace_id = trace.map(|t| text.push(std::str::from_utf8(&t).unwrap_or("")));
                L7Data::Http(self.http_record(http, &mut text))
            }
            (None, L7Ref::Kafka(k)) => L7Data::Kafka(KafkaData {
                error_code: k.error_code,
                api_version: k.api_version,
                api_key: kafka_api_key_name(k.api_key, &mut text),
                correlation_id: k.correlation_id,
                topic: text.push(k.topic.unwrap_or("")),
            }),
            (None, L7Ref::Generic(g)) => {
                let start = text.buf().len();
                generic_summary(g, text.buf());
                L7Data::None {
                    summary: text.span_from(start),
                }
            }
            (None, _) => return Err(ParseError::MissingL7Record),
        };

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
        r.l7 = Some(Box::new(L7Record {
            l7_type: l7_type as u8,
            latency_ns,
            trace_id,
            data,
            text: {
                let (kept, scratch) = text.finish_exact();
                self.scratch = scratch;
                kept
            },
        }));
        r.summary = SummaryKind::L7;
        r.is_reply = Some(is_reply);
        r.event_type = (ACCESS_LOG_EVENT_TYPE as u8, 0);
        r.traffic_direction = if entry.is_ingress {
            TrafficDirection::Ingress
        } else {
            TrafficDirection::Egress
        } as u8;
        Ok(r)
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
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (request_id, entry.source_address, entry.destination_address).hash(&mut h);
        let key = h.finish();
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

#[cfg(test)]
mod tests {
    use super::build::http_entry;
    use super::*;
    use flowscope_proto::cilium::log_entry;
    use flowscope_proto::flow::{layer4, layer7};
    use flowscope_proto::json;
    use flowscope_proto::types::BoolValue;

    const T0: u64 = 1_692_805_406_000_000_000; // 2023-08-23T15:43:26Z

    fn state() -> ClusterState {
        ClusterState::parse(
            "node_name: kind-worker\nendpoints:\n  - name: details-v1-abc\n    namespace: default\n    labels: {app: details}\n    ips: [10.244.1.7]\n    identity: 25001\n    endpoint_id: 2345\n    workload: details-v1\n",
        )
        .expect("state")
    }

    fn seed_denied() -> LogEntry {
        http_entry(
            EntryType::Denied,
            T0,
            "127.0.0.1:32848",
            8,
            "127.0.0.1:12412",
            2,
            "GET",
            "192.168.10.211",
            "/details/1",
            0,
            &[
                ("X-Request-Id", "abc"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
            ],
        )
    }

    #[test]
    fn denied_request_is_an_http_request_dropped() {
        let mut p = L7Parser::new(RedactOptions::default());
        let f = p.parse(&seed_denied(), &state()).expect("parse");
        assert_eq!(f.verdict, Verdict::Dropped as i32);
        assert_eq!(f.summary, "HTTP/1.1 GET http://192.168.10.211/details/1");
        assert_eq!(f.source.as_ref().map(|e| e.identity), Some(8));
        assert_eq!(
            f.source.as_ref().map(|e| e.labels.clone()),
            Some(vec!["reserved:ingress".to_string()])
        );
        assert_eq!(f.destination.as_ref().map(|e| e.identity), Some(2));
        assert_eq!(f.is_reply, Some(BoolValue { value: false }));
        assert_eq!(f.event_type.as_ref().map(|e| e.r#type), Some(129));
        assert_eq!(f.node_name, "kind-worker");
        assert_eq!(
            f.trace_context
                .as_ref()
                .and_then(|t| t.parent.as_ref())
                .map(|p| p.trace_id.as_str()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let mut f2 = f.clone();
        f2.uuid.clear();
        f2.emitter = None;
        assert_eq!(
            json::to_string(&f2),
            r#"{"time":"2023-08-23T15:43:26Z","verdict":"DROPPED","IP":{"source":"127.0.0.1","destination":"127.0.0.1","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":32848,"destination_port":12412}},"source":{"identity":8,"labels":["reserved:ingress"]},"destination":{"identity":2,"labels":["reserved:world"]},"Type":"L7","node_name":"kind-worker","l7":{"type":"REQUEST","http":{"method":"GET","url":"http://192.168.10.211/details/1","protocol":"HTTP/1.1","headers":[{"key":"Traceparent","value":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},{"key":"X-Request-Id","value":"abc"}]}},"event_type":{"type":129},"traffic_direction":"INGRESS","is_reply":false,"trace_context":{"parent":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}},"Summary":"HTTP/1.1 GET http://192.168.10.211/details/1"}"#
        );
    }

    #[test]
    fn response_is_swapped_paired_and_timed() {
        let mut p = L7Parser::new(RedactOptions::default());
        let s = state();
        p.parse(&seed_denied(), &s).expect("request");
        let mut resp = seed_denied();
        resp.entry_type = EntryType::Response as i32;
        resp.timestamp = T0 + 1_500_000;
        if let Some(log_entry::L7::Http(h)) = resp.l7.as_mut() {
            h.status = 403;
            h.headers.retain(|kv| kv.key == "X-Request-Id");
        }
        let f = p.parse(&resp, &s).expect("response");
        assert_eq!(f.verdict, Verdict::Forwarded as i32);
        assert_eq!(f.source.as_ref().map(|e| e.identity), Some(2), "swapped");
        assert_eq!(f.destination.as_ref().map(|e| e.identity), Some(8));
        let ip = f.ip.as_ref().expect("ip");
        assert_eq!(
            (ip.source.as_str(), ip.destination.as_str()),
            ("127.0.0.1", "127.0.0.1")
        );
        match f.l4.as_ref().and_then(|l| l.protocol.as_ref()) {
            Some(layer4::Protocol::Tcp(t)) => {
                assert_eq!((t.source_port, t.destination_port), (12412, 32848))
            }
            other => panic!("{other:?}"),
        }
        let l7 = f.l7.as_ref().expect("l7");
        assert_eq!(l7.latency_ns, 1_500_000);
        assert_eq!(l7.r#type, L7FlowType::Response as i32);
        assert_eq!(
            f.summary,
            "HTTP/1.1 403 1ms (GET http://192.168.10.211/details/1)"
        );
        assert_eq!(f.is_reply, Some(BoolValue { value: true }));
        assert!(f.reply);
        assert!(
            f.trace_context.is_some(),
            "trace context copied from the request"
        );
        // A second response with the same id has nothing to pair with.
        let f = p.parse(&resp, &s).expect("response");
        assert_eq!(f.l7.as_ref().map(|l| l.latency_ns), Some(0));
    }

    #[test]
    fn one_request_id_across_two_hops_pairs_each_hop() {
        let mut p = L7Parser::new(RedactOptions::default());
        let s = state();
        let hdrs = [("X-Request-Id", "same")];
        let hop = |t, ts, src: &str, dst: &str, code| {
            http_entry(t, ts, src, 2, dst, 8, "GET", "h", "/", code, &hdrs)
        };
        let ms = 1_000_000;
        p.parse(
            &hop(EntryType::Request, T0, "192.0.2.1:1", "10.0.0.1:80", 0),
            &s,
        )
        .expect("req 1");
        p.parse(
            &hop(
                EntryType::Request,
                T0 + ms,
                "10.0.0.1:2",
                "10.244.1.7:80",
                0,
            ),
            &s,
        )
        .expect("req 2");
        let inner = p
            .parse(
                &hop(
                    EntryType::Response,
                    T0 + 3 * ms,
                    "10.0.0.1:2",
                    "10.244.1.7:80",
                    200,
                ),
                &s,
            )
            .expect("resp 2");
        let outer = p
            .parse(
                &hop(
                    EntryType::Response,
                    T0 + 10 * ms,
                    "192.0.2.1:1",
                    "10.0.0.1:80",
                    200,
                ),
                &s,
            )
            .expect("resp 1");
        assert_eq!(inner.l7.map(|l| l.latency_ns), Some(2 * ms));
        assert_eq!(outer.l7.map(|l| l.latency_ns), Some(10 * ms));
    }

    #[test]
    fn endpoints_are_enriched_by_ip() {
        let mut p = L7Parser::new(RedactOptions::default());
        let e = http_entry(
            EntryType::Request,
            T0,
            "10.0.0.1:40000",
            0,
            "10.244.1.7:9080",
            0,
            "GET",
            "details:9080",
            "/details/1",
            0,
            &[],
        );
        let f = p.parse(&e, &state()).expect("parse");
        let src = f.source.expect("src");
        let dst = f.destination.expect("dst");
        assert_eq!(src.identity, 2);
        assert_eq!(dst.identity, 25001);
        assert_eq!(dst.pod_name, "details-v1-abc");
        assert_eq!(dst.namespace, "default");
        assert_eq!(dst.id, 2345);
    }

    #[test]
    fn redaction() {
        let mut e = seed_denied();
        if let Some(log_entry::L7::Http(h)) = e.l7.as_mut() {
            h.host = "bob:secret@example.com".into();
            h.path = "/p?token=1#frag".into();
            h.headers.push(cilium::KeyValue {
                key: "Authorization".into(),
                value: "Bearer x".into(),
            });
        }
        let mut p = L7Parser::new(RedactOptions::default());
        let f = p.parse(&e, &state()).expect("parse");
        let http = |f: &Flow| match f.l7.as_ref().and_then(|l| l.record.as_ref()) {
            Some(layer7::Record::Http(h)) => h.clone(),
            _ => panic!("no http"),
        };
        assert_eq!(
            http(&f).url,
            "http://bob:HUBBLE_REDACTED@example.com/p?token=1#frag"
        );

        let mut p = L7Parser::new(RedactOptions {
            url_query: true,
            headers_deny: vec!["authorization".into()],
            ..Default::default()
        });
        let h = http(&p.parse(&e, &state()).expect("parse"));
        assert_eq!(h.url, "http://bob:HUBBLE_REDACTED@example.com/p");
        let auth = h
            .headers
            .iter()
            .find(|kv| kv.key == "Authorization")
            .expect("auth");
        assert_eq!(auth.value, "HUBBLE_REDACTED");

        let mut p = L7Parser::new(RedactOptions {
            headers_allow: vec!["x-request-id".into()],
            ..Default::default()
        });
        let h = http(&p.parse(&e, &state()).expect("parse"));
        for kv in &h.headers {
            if kv.key == "X-Request-Id" {
                assert_eq!(kv.value, "abc");
            } else {
                assert_eq!(kv.value, "HUBBLE_REDACTED", "{}", kv.key);
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut p = L7Parser::new(RedactOptions::default());
        let s = state();
        assert!(matches!(
            p.parse_bytes(&[0xff, 0xff, 0xff], &s),
            Err(ParseError::Protobuf(_) | ParseError::Undecodable(_))
        ));
        let mut e = seed_denied();
        e.source_address = "not-an-address".into();
        assert!(matches!(
            p.parse(&e, &s),
            Err(ParseError::InvalidAddress { .. })
        ));
        let mut e = seed_denied();
        e.l7 = None;
        assert!(matches!(p.parse(&e, &s), Err(ParseError::MissingL7Record)));
        let mut e = seed_denied();
        e.entry_type = 9;
        assert!(matches!(
            p.parse(&e, &s),
            Err(ParseError::UnknownEntryType(9))
        ));
        // Truncated encodings of a valid record never panic.
        let bytes = prost::Message::encode_to_vec(&seed_denied());
        for n in 0..bytes.len() {
            let _ = p.parse_bytes(&bytes[..n], &s);
        }
    }

    #[test]
    fn header_names_are_canonical_and_grouped_as_go_http_header() {
        let e = http_entry(
            EntryType::Request,
            T0,
            "10.0.0.1:1",
            2,
            "10.0.0.2:80",
            8,
            "GET",
            "h",
            "/",
            0,
            &[
                ("x-request-id", "r1"),
                ("x-b", "1"),
                (":authority", "h"),
                ("X-B", "2"),
                ("authorization", "secret"),
                ("a b", "kept"),
                ("x-b", "3"),
            ],
        );
        let mut p = L7Parser::new(RedactOptions::default());
        let f = p.parse(&e, &state()).expect("parse");
        let Some(layer7::Record::Http(h)) = f.l7.and_then(|l| l.record) else {
            panic!("no http");
        };
        let got: Vec<(&str, &str)> = h
            .headers
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_str()))
            .collect();
        // Sorted by canonical name as Go's sort.Strings orders them; one name's values in
        // the order they came; redaction still applies to the canonical name.
        assert_eq!(
            got,
            [
                (":authority", "h"),
                ("Authorization", "HUBBLE_REDACTED"),
                ("X-B", "1"),
                ("X-B", "2"),
                ("X-B", "3"),
                ("X-Request-Id", "r1"),
                ("a b", "kept"),
            ]
        );
    }

    #[test]
    fn traceparent_validation() {
        assert_eq!(
            trace_id_from_traceparent("00-4bf92f3577b34da6A3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some(*b"4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_from_traceparent("garbage"), None);
    }

    #[test]
    fn legacy_top_level_http_fields() {
        #[allow(deprecated)]
        let e = LogEntry {
            entry_type: EntryType::Request as i32,
            source_address: "10.0.0.1:1".into(),
            destination_address: "10.0.0.2:80".into(),
            http_protocol: HttpProtocol::Http2 as i32,
            scheme: "https".into(),
            host: "h".into(),
            path: "/x".into(),
            method: "POST".into(),
            timestamp: T0,
            ..Default::default()
        };
        let mut p = L7Parser::new(RedactOptions::default());
        let f = p.parse(&e, &state()).expect("parse");
        assert_eq!(f.summary, "HTTP/2 POST https://h/x");
    }
}
