//! The targets: each builds its decoder once per harness, calls it on the input and drops
//! the result (so they adapt when return types change), and has seeds from real records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowscope_server::flow::Time;
use flowscope_server::flow::encode::{Encoder, Plan};
use flowscope_server::identity::ClusterState;

use crate::{Harness, Target};

/// Every target, in the order the tests and `scripts/fuzz.sh` run them.
pub const ALL: &[Target] = &[
    Target {
        name: "l34",
        make: l34,
        seeds: l34_seeds,
        max_len: 1024,
    },
    Target {
        name: "l7",
        make: l7,
        seeds: l7_seeds,
        max_len: 2048,
    },
    Target {
        name: "state",
        make: state,
        seeds: state_seeds,
        max_len: 2048,
    },
    Target {
        name: "policy",
        make: policy,
        seeds: policy_seeds,
        max_len: 2048,
    },
    Target {
        name: "filter",
        make: filter,
        seeds: filter_seeds,
        max_len: 2048,
    },
    Target {
        name: "input",
        make: input,
        seeds: input_seeds,
        max_len: 8192,
    },
];

pub fn by_name(name: &str) -> Option<&'static Target> {
    ALL.iter().find(|t| t.name == name)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn corpus(file: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/data/monitor-v1.19").join(file)).unwrap_or_default()
}

/// The state the decoders enrich with: the corpus' cluster, so seeds hit known endpoints.
fn cluster() -> Arc<ClusterState> {
    let text = String::from_utf8(corpus("cluster.json")).unwrap_or_default();
    Arc::new(ClusterState::parse(&text).unwrap_or_else(|_| ClusterState::empty("fuzz")))
}

fn l34() -> Harness {
    let state = cluster();
    let mut parser = flowscope_server::parser::l34::L34Parser::new();
    let time = Time {
        seconds: 1_692_805_406,
        nanos: 0,
    };
    let mut enc = Encoder::default();
    let plan = Plan::all();
    let mut out = Vec::new();
    // Decoded records are encoded too: what a client would be sent.
    Box::new(move |data: &[u8]| {
        if let Ok(r) = parser.decode(data, time, &state) {
            out.clear();
            enc.response(&flowscope_server::flow::Event::Flow(r), &plan, &mut out);
        }
    })
}

fn l34_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = flowscope_tests::workload::read_corpus(&corpus("events.bin"))
        .into_iter()
        .map(|(_, record)| record)
        .collect();
    // Every record kind, not thousands of similar traces: a sample keeps seeding quick.
    seeds.dedup_by_key(|r| (r.first().copied(), r.len()));
    seeds.truncate(256);
    seeds
}

fn l7() -> Harness {
    let state = cluster();
    let mut parser = flowscope_server::parser::l7::L7Parser::new(Default::default());
    let mut enc = Encoder::default();
    let plan = Plan::all();
    let mut out = Vec::new();
    Box::new(move |data: &[u8]| {
        if let Ok(r) = parser.decode(data, &state) {
            out.clear();
            enc.response(&flowscope_server::flow::Event::Flow(r), &plan, &mut out);
        }
    })
}

fn l7_seeds() -> Vec<Vec<u8>> {
    use flowscope_tests::workload::{Mix, SEED, events};
    events(Mix::L7, 64, SEED)
        .into_iter()
        .map(|e| e.bytes)
        .collect()
}

fn state() -> Harness {
    Box::new(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = ClusterState::parse(text);
        }
    })
}

/// The fenced YAML blocks of the README (the documented state format).
fn readme_yaml() -> Vec<Vec<u8>> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap_or_default();
    readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(|b| b.as_bytes().to_vec())
        .collect()
}

fn state_seeds() -> Vec<Vec<u8>> {
    let mut seeds = readme_yaml();
    seeds.push(
        b"node_name: n\ncluster_name: c\nendpoints:\n  - {name: a, namespace: ns, labels: [\"k8s:app=a\", \"reserved:world\"], ip: 10.0.0.1, ep_id: 7, local: true}\n  - name: b\n    labels: {app: b}\n    ips: [\"fd00::1\"]\n    identity: 300\n    workload: {name: b, kind: StatefulSet}\n"
            .to_vec(),
    );
    // The corpus' cluster.json: its first endpoints, still valid JSON.
    let cluster = String::from_utf8(corpus("cluster.json")).unwrap_or_default();
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&cluster) {
        if let Some(eps) = v.get_mut("endpoints").and_then(|e| e.as_array_mut()) {
            eps.truncate(4);
        }
        seeds.push(v.to_string().into_bytes());
    }
    seeds
}

fn policy() -> Harness {
    Box::new(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = flowscope_server::policy::PolicySet::parse(text);
        }
    })
}

fn policy_seeds() -> Vec<Vec<u8>> {
    [
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: server-ingress, namespace: default}\nspec:\n  endpointSelector: {matchLabels: {app: server}}\n  ingress:\n    - fromEndpoints: [{matchLabels: {app: client}}]\n      toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]\n    - fromCIDR: [10.200.9.0/28]\n  ingressDeny:\n    - fromEndpoints: [{matchLabels: {app: client}}]\n      toPorts: [{ports: [{port: \"9090\", protocol: TCP}]}]\n",
        "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: client-egress, namespace: default}\nspec:\n  endpointSelector: {matchLabels: {app: client}}\n  egress:\n    - toEndpoints: [{matchLabels: {app: server}}]\n    - toPorts: [{ports: [{port: \"53\", protocol: UDP}]}]\n    - toEntities: [world, cluster, host]\n    - toCIDRSet: [{cidr: \"10.0.0.0/8\"}, {cidr: \"fd00::/64\"}]\n",
        "kind: CiliumClusterwideNetworkPolicy\nspecs:\n  - endpointSelector: {}\n    egressDeny: [{toEntities: [all]}]\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn filter() -> Harness {
    Box::new(|data: &[u8]| {
        use flowscope_proto::flow::FlowFilter;
        // JSON is how flowctl's --allowlist/--denylist and the API's JSON clients send
        // filters; anything else is taken as the protobuf the gRPC API receives.
        let filter: Option<FlowFilter> = if data.first() == Some(&b'{') {
            serde_json::from_slice(data).ok()
        } else {
            prost::Message::decode(data).ok()
        };
        if let Some(f) = filter {
            let _ = flowscope_filter::FlowFilters::new(&[f], &[]);
        }
    })
}

fn filter_seeds() -> Vec<Vec<u8>> {
    let json = [
        r#"{"source_pod":["default/","kube-system/coredns-"],"verdict":["DROPPED"]}"#,
        r#"{"source_ip":["10.0.0.0/8","fd00::1"],"destination_port":["80","443"],"protocol":["TCP","http"]}"#,
        r#"{"source_label":["k8s:app in (a, b)","!k8s:tier","env=prod,k8s:app!=x"],"source_identity":[1,25000]}"#,
        r#"{"http_status_code":["2+","404"],"http_method":["GET"],"http_path":["/api/v[0-9]+/.*"],"http_url":["https?://example\\.com/.*"]}"#,
        r#"{"http_header":[{"key":"X-Request-Id","value":"3f6c0b5e"}],"event_type":[{"type":1,"match_sub_type":true,"sub_type":3}]}"#,
        r#"{"source_fqdn":["*.cilium.io"],"node_name":["kind-*/worker"],"traffic_direction":["INGRESS"],"tcp_flags":[{"SYN":true}],"ip_version":["IPv4"]}"#,
        r#"{"source_service":["default/svc"],"destination_workload":[{"kind":"Deployment","name":"web"}],"drop_reason_desc":["POLICY_DENIED"],"trace_id":["abc"],"reply":[true]}"#,
    ];
    let mut seeds: Vec<Vec<u8>> = json.iter().map(|s| s.as_bytes().to_vec()).collect();
    for s in json {
        if let Ok(f) = serde_json::from_str::<flowscope_proto::flow::FlowFilter>(s) {
            seeds.push(prost::Message::encode_to_vec(&f));
        }
    }
    seeds
}

fn input() -> Harness {
    Box::new(|data: &[u8]| {
        use flowscope_cli::input::{Selection, read_responses};
        let sel = Selection {
            last: Some(2),
            ..Selection::default()
        };
        let filters = flowscope_filter::FlowFilters::allow_all();
        let _ = read_responses(data, &sel, &filters, |_| Ok(()), |_| {});
    })
}

fn input_seeds() -> Vec<Vec<u8>> {
    let expected = String::from_utf8(corpus("expected.jsonl")).unwrap_or_default();
    let lines: Vec<&str> = expected.lines().collect();
    let mut seeds: Vec<Vec<u8>> = lines
        .iter()
        .step_by(100)
        .take(24)
        .map(|l| format!("{l}\n").into_bytes())
        .collect();
    seeds.push(
        concat!(
            r#"{"lost_events":{"source":"OBSERVER_EVENTS_QUEUE","num_events_lost":"42"},"node_name":"n","time":"2023-08-23T15:43:26Z"}"#,
            "\nnot json\n\n",
            r#"{"flow":{"time":"2023-08-23T15:43:27Z","verdict":"FORWARDED","Summary":"c"},"node_name":"n","time":"2023-08-23T15:43:27.5Z"}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
    );
    seeds
}
