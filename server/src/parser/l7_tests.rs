//! Tests of the access-log parser (kept apart: the parser module is long enough).

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

fn kafka_entry(topics: &[&str]) -> LogEntry {
    LogEntry {
        timestamp: T0,
        entry_type: EntryType::Request as i32,
        source_address: "10.0.0.1:40000".into(),
        destination_address: "10.244.1.7:9092".into(),
        l7: Some(log_entry::L7::Kafka(cilium::KafkaLogEntry {
            correlation_id: 7,
            api_version: 2,
            api_key: 0,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Every flow of an entry, read in place and through prost: they must agree.
fn all_flows(p: &mut L7Parser, e: &LogEntry) -> Vec<Flow> {
    let s = state();
    let mut in_place = Vec::new();
    let n = p
        .decode_each(&prost::Message::encode_to_vec(e), &s, |r| {
            in_place.push(r.to_proto())
        })
        .expect("decode");
    assert_eq!(n, in_place.len());
    let mut decoded = Vec::new();
    p.decode_entry_each(e, &s, |r| decoded.push(r.to_proto()))
        .expect("decode");
    let strip = |v: &[Flow]| -> Vec<Flow> {
        v.iter()
            .cloned()
            .map(|mut f| {
                f.uuid.clear();
                f
            })
            .collect()
    };
    assert_eq!(strip(&in_place), strip(&decoded));
    in_place
}

#[test]
fn kafka_entry_gives_one_flow_per_topic() {
    let mut p = L7Parser::new(RedactOptions::default());
    let flows = all_flows(&mut p, &kafka_entry(&["a", "b", "c"]));
    let summaries: Vec<&str> = flows.iter().map(|f| f.summary.as_str()).collect();
    assert_eq!(
        summaries,
        [
            "Kafka request produce correlation id 7 topic 'a'",
            "Kafka request produce correlation id 7 topic 'b'",
            "Kafka request produce correlation id 7 topic 'c'",
        ]
    );
    let topics: Vec<String> = flows
        .iter()
        .map(|f| match f.l7.as_ref().and_then(|l| l.record.as_ref()) {
            Some(layer7::Record::Kafka(k)) => k.topic.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, ["a", "b", "c"]);
    let mut uuids: Vec<&str> = flows.iter().map(|f| f.uuid.as_str()).collect();
    uuids.dedup();
    assert_eq!(uuids.len(), 3, "each flow has its own uuid");
    for f in &flows {
        assert_eq!(f.destination.as_ref().map(|d| d.identity), Some(25001));
    }

    // One topic: one flow; none: one flow without a topic, as Cilium logs it.
    assert_eq!(all_flows(&mut p, &kafka_entry(&["only"])).len(), 1);
    let none = all_flows(&mut p, &kafka_entry(&[]));
    assert_eq!(none.len(), 1);
    assert_eq!(
        none[0].summary,
        "Kafka request produce correlation id 7 topic ''"
    );
    // `decode` keeps the first flow.
    let first = p
        .decode(
            &prost::Message::encode_to_vec(&kafka_entry(&["x", "y"])),
            &state(),
        )
        .expect("decode");
    assert_eq!(
        first.to_proto().summary,
        "Kafka request produce correlation id 7 topic 'x'"
    );
}

#[test]
fn entry_without_l7_part_is_an_empty_http_flow() {
    // Cilium's access-log server falls back to the deprecated top-level HTTP fields,
    // so Hubble shows an HTTP flow with an empty record rather than dropping it.
    let mut p = L7Parser::new(RedactOptions::default());
    let mut e = seed_denied();
    e.l7 = None;
    let flows = all_flows(&mut p, &e);
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f.verdict, Verdict::Dropped as i32);
    assert_eq!(f.summary, "HTTP/1  ");
    let l7 = f.l7.as_ref().expect("l7");
    assert_eq!(l7.r#type, L7FlowType::Request as i32);
    match l7.record.as_ref() {
        Some(layer7::Record::Http(h)) => {
            assert_eq!(
                (
                    h.code,
                    h.method.as_str(),
                    h.url.as_str(),
                    h.protocol.as_str()
                ),
                (0, "", "", "HTTP/1")
            );
            assert!(h.headers.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn record_view_reads_kafka_as_its_proto_does() {
    use flowscope_filter::FlowView;
    let owned = |v: &dyn FlowView| {
        v.kafka().map(|k| {
            (
                k.error_code,
                k.api_version,
                k.api_key.to_string(),
                k.correlation_id,
                k.topic.to_string(),
            )
        })
    };
    let mut p = L7Parser::new(RedactOptions::default());
    let mut seen = Vec::new();
    p.decode_each(
        &prost::Message::encode_to_vec(&kafka_entry(&["deathstar-plans", "empire"])),
        &state(),
        |r| {
            assert_eq!(owned(&r), owned(&r.to_proto()));
            // flowd's records carry no DNS record.
            assert!(r.dns().is_none());
            seen.push(owned(&r));
        },
    )
    .expect("decode");
    assert_eq!(
        seen,
        [
            Some((
                0,
                2,
                "produce".to_string(),
                7,
                "deathstar-plans".to_string()
            )),
            Some((0, 2, "produce".to_string(), 7, "empire".to_string())),
        ]
    );
    // An HTTP record is no Kafka record.
    p.decode_each(
        &prost::Message::encode_to_vec(&seed_denied()),
        &state(),
        |r| assert!(r.kafka().is_none()),
    )
    .expect("decode");
}
