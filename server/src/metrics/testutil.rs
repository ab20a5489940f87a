//! Unit-test support: a registry with one handler, flows built by hand, the exposition.

use flowscope_proto::flow::{
    CiliumEventType, Dns, Endpoint, Flow, Http, Ip, Kafka, Layer4, Layer7, Tcp, TcpFlags,
    TraceContext, TraceParent, Udp, Verdict, Workload, layer4, layer7,
};
use flowscope_proto::types::BoolValue;
use prometheus_client::registry::Registry;

use super::{Handler, MetricsSpec, series};

/// A registry with the handlers of `spec`, limited to `limit` series per metric.
pub fn setup(spec: &str, limit: usize) -> (Registry, Vec<Box<dyn Handler>>) {
    let spec = MetricsSpec::parse(spec).expect("valid spec");
    let mut registry = Registry::default();
    let guard = series::Guard::new(limit, &mut registry);
    let handlers = spec
        .handlers
        .iter()
        .map(|h| super::handler(h, &mut registry, &guard))
        .collect();
    (registry, handlers)
}

/// The sample lines of the OpenMetrics exposition starting with `prefix`, sorted.
pub fn samples(registry: &Registry, prefix: &str) -> Vec<String> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("encode");
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Runs `flows` through the handlers of `spec` and returns the samples of `prefix`.
pub fn run(spec: &str, flows: &[Flow], prefix: &str) -> Vec<String> {
    let (registry, mut handlers) = setup(spec, 0);
    for f in flows {
        for h in &mut handlers {
            h.process(f);
        }
    }
    samples(&registry, prefix)
}

pub fn sorted(lines: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

pub fn endpoint(ns: &str, pod: &str, labels: &[&str], workload: &str, identity: u32) -> Endpoint {
    Endpoint {
        identity,
        namespace: ns.into(),
        pod_name: pod.into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        workloads: if workload.is_empty() {
            vec![]
        } else {
            vec![Workload {
                name: workload.into(),
                kind: "Deployment".into(),
            }]
        },
        ..Default::default()
    }
}

pub fn client() -> Endpoint {
    endpoint(
        "default",
        "productpage-v1-6b746f74dc-9stvq",
        &["k8s:app=productpage"],
        "productpage-v1",
        25000,
    )
}

pub fn server() -> Endpoint {
    endpoint(
        "default",
        "details-v1-79f774bdb9-x2x4k",
        &["k8s:app=details"],
        "details-v1",
        25001,
    )
}

pub fn world() -> Endpoint {
    endpoint("", "", &["reserved:world"], "", 2)
}

/// A datapath flow of `event_type` with a TCP layer.
pub fn l34(event_type: i32, sub_type: i32, verdict: Verdict) -> Flow {
    Flow {
        verdict: verdict as i32,
        ip: Some(Ip {
            source: "10.244.1.9".into(),
            destination: "10.244.1.7".into(),
            ip_version: 1,
            ..Default::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(layer4::Protocol::Tcp(Tcp {
                source_port: 41000,
                destination_port: 9080,
                flags: None,
            })),
        }),
        source: Some(client()),
        destination: Some(server()),
        r#type: 1,
        event_type: Some(CiliumEventType {
            r#type: event_type,
            sub_type,
        }),
        traffic_direction: 2,
        ..Default::default()
    }
}

pub fn with_flags(mut f: Flow, flags: TcpFlags) -> Flow {
    if let Some(Layer4 {
        protocol: Some(layer4::Protocol::Tcp(t)),
    }) = &mut f.l4
    {
        t.flags = Some(flags);
    }
    f
}

pub fn with_reply(mut f: Flow, reply: Option<bool>) -> Flow {
    f.is_reply = reply.map(|value| BoolValue { value });
    f
}

/// An L7 flow of `record` between client and server (a response runs server → client).
fn l7(response: bool, l4: layer4::Protocol, latency_ns: u64, record: layer7::Record) -> Flow {
    let (src, dst) = if response {
        (server(), client())
    } else {
        (client(), server())
    };
    let (sip, dip) = if response {
        ("10.244.1.7", "10.244.1.9")
    } else {
        ("10.244.1.9", "10.244.1.7")
    };
    Flow {
        verdict: Verdict::Forwarded as i32,
        ip: Some(Ip {
            source: sip.into(),
            destination: dip.into(),
            ip_version: 1,
            ..Default::default()
        }),
        l4: Some(Layer4 { protocol: Some(l4) }),
        source: Some(src),
        destination: Some(dst),
        r#type: 2,
        l7: Some(Layer7 {
            r#type: if response { 2 } else { 1 },
            latency_ns,
            record: Some(record),
        }),
        event_type: Some(CiliumEventType {
            r#type: 129,
            sub_type: 0,
        }),
        traffic_direction: 1,
        is_reply: Some(BoolValue { value: response }),
        ..Default::default()
    }
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// An L7 DNS flow as the DNS proxy reports it.
pub fn dns(
    response: bool,
    query: &str,
    qtypes: &[&str],
    rcode: u32,
    ips: &[&str],
    rrtypes: &[&str],
) -> Flow {
    let record = layer7::Record::Dns(Dns {
        query: query.into(),
        ips: owned(ips),
        rcode,
        qtypes: owned(qtypes),
        rrtypes: owned(rrtypes),
        observation_source: "proxy".into(),
        ..Default::default()
    });
    l7(response, layer4::Protocol::Udp(Udp::default()), 0, record)
}

/// An L7 Kafka flow.
#[allow(deprecated)]
pub fn kafka(response: bool, api_key: &str, topic: &str, error_code: i32, latency_ms: u64) -> Flow {
    let record = layer7::Record::Kafka(Kafka {
        error_code,
        api_version: 12,
        api_key: api_key.into(),
        correlation_id: 7,
        topic: topic.into(),
    });
    let l4 = layer4::Protocol::Tcp(Tcp::default());
    l7(response, l4, latency_ms * 1_000_000, record)
}

/// An L7 HTTP flow as the access-log parser makes it. Responses are reversed
/// (server → client).
pub fn http(response: bool, method: &str, code: u32, latency_ms: u64, trace: Option<&str>) -> Flow {
    let record = layer7::Record::Http(Http {
        code,
        method: method.into(),
        url: "http://details:9080/details/1".into(),
        protocol: "HTTP/1.1".into(),
        headers: vec![],
    });
    let l4 = layer4::Protocol::Tcp(Tcp::default());
    let mut f = l7(response, l4, latency_ms * 1_000_000, record);
    f.trace_context = trace.map(|t| TraceContext {
        parent: Some(TraceParent { trace_id: t.into() }),
    });
    f
}
