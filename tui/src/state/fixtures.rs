//! Flows as flowd builds them from access-log records (the seed scenario of the integration
//! tests): a denied request with Envoy's 403, and one request crossing two proxy hops.

#![allow(deprecated)] // `Flow.summary` is what the printers show.

use std::sync::Arc;

use flowscope_proto::flow::{
    Endpoint, Flow, Http, HttpHeader, Ip, IpVersion, L7FlowType, Layer4, Layer7, Tcp, Verdict,
    layer4, layer7,
};
use flowscope_proto::types::{BoolValue, Timestamp};

use super::{Config, ConnStatus, FilterState, Row, State, StreamKind, Update};

/// 2023-08-23T15:43:24.080Z
pub const T0: i128 = 1_692_805_404_080_000_000;
pub const MS: i128 = 1_000_000;

/// One side of a flow: `ip:port`, identity, and pod (namespace, name) if any.
#[derive(Clone, Copy)]
pub struct Side {
    pub ip: &'static str,
    pub port: u32,
    pub identity: u32,
    pub pod: Option<(&'static str, &'static str)>,
}

pub const fn side(ip: &'static str, port: u32, identity: u32) -> Side {
    Side {
        ip,
        port,
        identity,
        pod: None,
    }
}

pub const INGRESS_CLIENT: Side = side("127.0.0.1", 32848, 8);
pub const DENIED_SERVER: Side = side("127.0.0.1", 12412, 2);
pub const WORLD_CLIENT: Side = side("192.0.2.10", 40000, 2);
pub const INGRESS_LISTENER: Side = side("10.0.0.1", 80, 8);
pub const INGRESS_UPSTREAM: Side = side("10.0.0.1", 50000, 8);
pub const DETAILS_POD: Side = Side {
    ip: "10.244.1.7",
    port: 9080,
    identity: 25001,
    pod: Some(("default", "details-v1-79f774bdb9-x2x4k")),
};

/// An HTTP flow. For a response, `client`/`server` are still the request's sides (the flow
/// runs server → client, as flowd swaps them).
#[allow(clippy::too_many_arguments)]
pub fn http(
    at_ms: i128,
    client: Side,
    server: Side,
    response: Option<(u32, i128)>,
    verdict: Verdict,
    url: &str,
    request_id: &str,
) -> Flow {
    let (src, dst) = if response.is_some() {
        (server, client)
    } else {
        (client, server)
    };
    let endpoint = |s: Side| Endpoint {
        identity: s.identity,
        namespace: s.pod.map(|p| p.0.to_string()).unwrap_or_default(),
        pod_name: s.pod.map(|p| p.1.to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let (code, latency_ms) = response.unwrap_or((0, 0));
    let summary = match response {
        Some((code, ms)) => format!("HTTP/1.1 {code} {ms}ms (GET {url})"),
        None => format!("HTTP/1.1 GET {url}"),
    };
    Flow {
        time: Some(Timestamp::from_unix_nanos(T0 + at_ms * MS)),
        uuid: format!("uuid-{at_ms}"),
        verdict: verdict as i32,
        ip: Some(Ip {
            source: src.ip.to_string(),
            destination: dst.ip.to_string(),
            ip_version: IpVersion::IPv4 as i32,
            ..Default::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(layer4::Protocol::Tcp(Tcp {
                source_port: src.port,
                destination_port: dst.port,
                flags: None,
            })),
        }),
        source: Some(endpoint(src)),
        destination: Some(endpoint(dst)),
        r#type: flowscope_proto::flow::FlowType::L7 as i32,
        node_name: "kind-worker".to_string(),
        l7: Some(Layer7 {
            r#type: if response.is_some() {
                L7FlowType::Response as i32
            } else {
                L7FlowType::Request as i32
            },
            latency_ns: u64::try_from(latency_ms * MS).unwrap_or(0),
            record: Some(layer7::Record::Http(Http {
                code,
                method: "GET".to_string(),
                url: url.to_string(),
                protocol: "HTTP/1.1".to_string(),
                headers: vec![HttpHeader {
                    key: "X-Request-Id".to_string(),
                    value: request_id.to_string(),
                }],
            })),
        }),
        is_reply: Some(BoolValue {
            value: response.is_some(),
        }),
        event_type: Some(flowscope_proto::flow::CiliumEventType {
            r#type: 129,
            sub_type: 0,
        }),
        summary,
        ..Default::default()
    }
}

const DENIED_URL: &str = "http://192.168.10.211/details/1";
const PAGE_URL: &str = "http://192.168.10.211/productpage";
const DETAILS_URL: &str = "http://details:9080/details/1";

/// The six flows of the seed scenario, in time order.
pub fn scenario() -> Vec<Flow> {
    use Verdict::{Dropped, Forwarded};
    vec![
        http(
            0,
            INGRESS_CLIENT,
            DENIED_SERVER,
            None,
            Dropped,
            DENIED_URL,
            "req-denied",
        ),
        http(
            1,
            INGRESS_CLIENT,
            DENIED_SERVER,
            Some((403, 1)),
            Forwarded,
            DENIED_URL,
            "req-denied",
        ),
        http(
            10,
            WORLD_CLIENT,
            INGRESS_LISTENER,
            None,
            Forwarded,
            PAGE_URL,
            "req-ok",
        ),
        http(
            11,
            INGRESS_UPSTREAM,
            DETAILS_POD,
            None,
            Forwarded,
            DETAILS_URL,
            "req-ok",
        ),
        http(
            15,
            INGRESS_UPSTREAM,
            DETAILS_POD,
            Some((200, 4)),
            Forwarded,
            DETAILS_URL,
            "req-ok",
        ),
        http(
            22,
            WORLD_CLIENT,
            INGRESS_LISTENER,
            Some((200, 12)),
            Forwarded,
            PAGE_URL,
            "req-ok",
        ),
    ]
}

pub fn rows(flows: Vec<Flow>) -> Vec<Arc<Row>> {
    flows.into_iter().map(|f| Arc::new(Row::new(f))).collect()
}

pub(crate) fn config(buffer_size: usize) -> Config {
    Config {
        server: "unix:///run/flowscope/hubble.sock".to_string(),
        buffer_size,
        history: 1000,
    }
}

/// A state that has sent its first query.
pub(crate) fn started(buffer_size: usize) -> State {
    let mut s = State::new(&config(buffer_size), FilterState::default());
    s.query().expect("query");
    s.update(Update::Conn(ConnStatus::Connected));
    s
}

pub(crate) fn feed(s: &mut State, flows: Vec<Flow>) {
    let generation = s.generation();
    s.update(Update::Rows {
        stream: StreamKind::Main,
        generation,
        rows: rows(flows),
        dropped: 0,
    });
}
