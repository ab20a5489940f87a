//! `flowctl observe agent-events` against a real flowd: AGENT_STARTED at start, then the
//! events of a SIGHUP reload that adds and removes endpoints, moves an IP to another
//! identity and loads a policy, arriving on a following stream.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use flowscope_tests::{Flowd, FlowdOptions, flowctl_command, terminate};

const STATE: &str = "node_name: kind-worker\nendpoints:\n  - {name: web, namespace: default, labels: {app: web}, ips: [10.244.1.10], identity: 1001, endpoint_id: 11}\n  - {name: db, namespace: default, labels: {app: db}, ips: [10.244.1.20], identity: 1002, endpoint_id: 12}\n";

/// db goes, cache comes, and web's IP now belongs to identity 1005.
const NEW_STATE: &str = "node_name: kind-worker\nendpoints:\n  - {name: web, namespace: default, labels: {app: web}, ips: [10.244.1.10], identity: 1005, endpoint_id: 11}\n  - {name: cache, namespace: default, labels: {app: cache}, ips: [10.244.1.30], identity: 1003, endpoint_id: 13}\n";

const POLICY: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: allow-web, namespace: default}\nspec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEntities: [world]}]\n";

fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn agent_events_follow_start_and_reloads() {
    let dir = flowscope_tests::temp_dir("agent-events");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "{}\n").unwrap();
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        extra_args: vec![format!("--policy={}", policy.display())],
        ..Default::default()
    });

    // AGENT_STARTED is the newest event once flowd serves.
    let out = flowd.flowctl(&["observe", "agent-events", "--last", "1", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let started = json_lines(&out.stdout);
    assert_eq!(started.len(), 1, "{started:?}");
    let ev = &started[0];
    assert_eq!(ev["node_name"], "kind-worker");
    assert_eq!(ev["agent_event"]["type"], "AGENT_STARTED");
    let start_time = ev["agent_event"]["agent_start"]["time"].as_str().unwrap();
    assert_eq!(ev["time"].as_str().unwrap(), start_time);

    // The initial load came before it: the endpoints and their ipcache entries.
    let out = flowd.flowctl(&["observe", "agent-events", "--all", "-o", "json"]);
    let types: Vec<String> = json_lines(&out.stdout)
        .iter()
        .map(|e| e["agent_event"]["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "ENDPOINT_CREATED",
            "ENDPOINT_CREATED",
            "IPCACHE_UPSERTED",
            "IPCACHE_UPSERTED",
            "AGENT_STARTED"
        ]
    );

    // Follow (no history) while the files change and flowd reloads them.
    let mut follower = flowctl_command(&flowd.dir)
        .args(["observe", "agent-events", "-f", "--last", "1", "-o", "json"])
        .arg("--server")
        .arg(flowd.server_arg())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let next = |what: &str| -> serde_json::Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {what} event in time; flowd log:\n{}", flowd.log()));
        serde_json::from_str(&line).unwrap()
    };
    // The stream is open once the last event (AGENT_STARTED) arrived.
    assert_eq!(next("replayed")["agent_event"]["type"], "AGENT_STARTED");

    std::fs::write(&flowd.state_file, NEW_STATE).unwrap();
    std::fs::write(&policy, POLICY).unwrap();
    flowd.signal("HUP");
    let expected = [
        serde_json::json!({"type": "POLICY_UPDATED", "policy_update": {
            "labels": [
                "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy",
                "k8s:io.cilium.k8s.policy.name=allow-web",
                "k8s:io.cilium.k8s.policy.namespace=default"
            ],
            "revision": "2", "rule_count": "1"}}),
        serde_json::json!({"type": "ENDPOINT_CREATED", "endpoint_update": {
            "id": "13",
            "labels": ["k8s:app=cache", "k8s:io.kubernetes.pod.namespace=default"],
            "pod_name": "cache", "namespace": "default"}}),
        serde_json::json!({"type": "IPCACHE_UPSERTED", "ipcache_update": {
            "cidr": "10.244.1.10/32", "identity": 1005, "old_identity": 1001,
            "namespace": "default", "pod_name": "web"}}),
        serde_json::json!({"type": "IPCACHE_UPSERTED", "ipcache_update": {
            "cidr": "10.244.1.30/32", "identity": 1003,
            "namespace": "default", "pod_name": "cache"}}),
        serde_json::json!({"type": "IPCACHE_DELETED", "ipcache_update": {
            "cidr": "10.244.1.20/32", "identity": 1002,
            "namespace": "default", "pod_name": "db"}}),
        serde_json::json!({"type": "ENDPOINT_DELETED", "endpoint_update": {
            "id": "12",
            "labels": ["k8s:app=db", "k8s:io.kubernetes.pod.namespace=default"],
            "pod_name": "db", "namespace": "default"}}),
    ];
    for want in &expected {
        let got = next(want["type"].as_str().unwrap());
        assert_eq!(&got["agent_event"], want);
        assert_eq!(got["node_name"], "kind-worker");
    }

    // A bad policy file is rejected; the follower is told, and nothing else changes.
    std::fs::write(&policy, "spec: {endpointSelector: {bogus: 1}}\n").unwrap();
    flowd.signal("HUP");
    let rejected = next("rejection");
    assert_eq!(rejected["agent_event"]["type"], serde_json::Value::Null);
    let unknown = &rejected["agent_event"]["unknown"];
    assert_eq!(unknown["type"], "1");
    let text: String = serde_json::from_str(unknown["notification"].as_str().unwrap()).unwrap();
    assert!(
        text.starts_with("reload rejected, previous state stays in force: policy file"),
        "{text}"
    );
    terminate(&mut follower, Duration::from_secs(2));

    // Compact lines, as hubble prints them.
    let out = flowd.flowctl(&["observe", "agent-events", "--last", "3"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let strip_time = |l: &str| l.split_once(": ").map(|(_, rest)| rest.to_string());
    assert_eq!(
        strip_time(lines[0]).unwrap(),
        "IPCACHE_DELETED (cidr: 10.244.1.20/32, identity: 1002, encrypt key: 0)"
    );
    assert_eq!(
        strip_time(lines[1]).unwrap(),
        "ENDPOINT_DELETED (id: 12, namespace: default, pod name: db)"
    );
    assert!(
        strip_time(lines[2])
            .unwrap()
            .starts_with("AGENT_EVENT_UNKNOWN (type: 1, notification: \"reload rejected"),
        "{text}"
    );
    // StampMilli: "Jan _2 15:04:05.000".
    let stamp = lines[0].split_once(": ").unwrap().0;
    assert_eq!(stamp.len(), 19, "{stamp}");
    let _ = std::fs::remove_dir_all(&dir);
}
