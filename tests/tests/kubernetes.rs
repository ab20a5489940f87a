//! deploy/kubernetes: rendered with the real `kubectl kustomize`, every object validated
//! against the Kubernetes schemas, and checked for what a deployment needs to work: flowd's
//! host network and capabilities, the Secrets mounted where the flags point, ports,
//! Prometheus annotations, probes, and flags the real binaries accept.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use flowscope_server::identity::ClusterState;
use flowscope_tests::kube::{deploy_dir, flag_names, help_flags, kustomize, object, validate};
use flowscope_tests::{Flowd, FlowdOptions, bin, flowctl_command, http_get, temp_dir};
use serde_json::Value;

/// cert-manager's custom resources have no schema in Kubernetes': skipped by name.
const CERT_MANAGER: &str = "cert-manager.io";

fn base() -> Vec<Value> {
    validate(&kustomize(&deploy_dir()), &[])
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of `--name=value` in a container's arguments.
fn flag(c: &Value, name: &str) -> String {
    let prefix = format!("--{name}=");
    let found: Vec<String> = strings(&c["args"])
        .into_iter()
        .filter_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .collect();
    assert_eq!(found.len(), 1, "--{name}: {found:?}");
    found[0].clone()
}

fn port_of(address: &str) -> u64 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address:?}"))
}

fn container_port(c: &Value, name: &str) -> u64 {
    c["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port {name}"))
}

/// The directory `path`'s file is in must be the mount of a volume; returns that volume.
fn volume_for<'a>(workload: &'a Value, c: &Value, path: &str) -> &'a Value {
    let dir = Path::new(path).parent().unwrap().to_str().unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["mountPath"] == dir))
        .unwrap_or_else(|| panic!("nothing mounted at {dir} (for {path})"));
    assert!(
        mount.get("subPath").is_none(),
        "{dir}: subPath mounts are never updated"
    );
    workload["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]))
        .unwrap_or_else(|| panic!("no volume {}", mount["name"]))
}

/// The Secrets the files of these flags are mounted from.
fn secrets_for(workload: &Value, c: &Value, flags: &[&str]) -> BTreeSet<String> {
    flags
        .iter()
        .map(|f| {
            let path = flag(c, f);
            let v = volume_for(workload, c, &path);
            v["secret"]["secretName"]
                .as_str()
                .unwrap_or_else(|| panic!("--{f}={path} is not from a Secret: {v}"))
                .to_string()
        })
        .collect()
}

fn one(name: &str) -> BTreeSet<String> {
    BTreeSet::from([name.to_string()])
}

/// Prometheus' scrape annotations on the pod point at the metrics port.
fn assert_scraped(workload: &Value, port: u64) {
    let a = &workload["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(a["prometheus.io/scrape"], "true");
    assert_eq!(a["prometheus.io/port"], port.to_string());
    assert_eq!(a["prometheus.io/path"], "/metrics");
}

#[test]
fn flowd_daemonset_runs_on_the_host_with_only_its_capabilities() {
    let objects = base();
    let ds = object(&objects, "DaemonSet", "flowd");
    let pod = &ds["spec"]["template"]["spec"];
    let c = container(ds, "flowd");
    assert_eq!(c["image"], "flowscope/flowd:0.1.0");
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(pod["automountServiceAccountToken"], false);
    let sa = object(
        &objects,
        "ServiceAccount",
        pod["serviceAccountName"].as_str().unwrap(),
    );
    assert_eq!(sa["automountServiceAccountToken"], false);

    let sc = &c["securityContext"];
    assert_ne!(sc["privileged"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    let added: BTreeSet<String> = strings(&sc["capabilities"]["add"]).into_iter().collect();
    let wanted: BTreeSet<String> = ["BPF", "NET_ADMIN", "PERFMON", "SYS_RESOURCE"]
        .map(str::to_string)
        .into();
    assert_eq!(added, wanted);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);

    // The node's bpffs and the access-log socket's directory are the host's.
    let bpf = c["volumeMounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["mountPath"] == "/sys/fs/bpf"))
        .expect("bpffs mounted");
    let bpf_volume = pod["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == bpf["name"]))
        .unwrap();
    assert_eq!(bpf_volume["hostPath"]["path"], "/sys/fs/bpf");
    let access_log = flag(c, "access-log-socket");
    let run = volume_for(ds, c, &access_log);
    assert_eq!(
        run["hostPath"]["path"].as_str(),
        Path::new(&access_log).parent().unwrap().to_str()
    );

    // The node name from the downward API.
    assert_eq!(flag(c, "node-name"), "$(NODE_NAME)");
    let env = c["env"].as_array().unwrap();
    let node = env.iter().find(|e| e["name"] == "NODE_NAME").unwrap();
    assert_eq!(node["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");

    let limits = &c["resources"]["limits"];
    let requests = &c["resources"]["requests"];
    assert!(limits["memory"].is_string() && requests["memory"].is_string());
    assert!(limits["cpu"].is_string() && requests["cpu"].is_string());
}

#[test]
fn flowd_serves_mtls_from_a_secret_and_announces_its_peers() {
    let objects = base();
    let ds = object(&objects, "DaemonSet", "flowd");
    let c = container(ds, "flowd");
    let namespace = ds["metadata"]["namespace"].as_str().unwrap();

    let listen = flag(c, "listen-address");
    assert_eq!(port_of(&listen), 4244);
    assert_eq!(container_port(c, "grpc"), 4244);
    let tls = ["tls-cert-file", "tls-key-file", "tls-client-ca-files"];
    assert_eq!(secrets_for(ds, c, &tls), one("hubble-server-certs"));

    // The headless Service the peers are found through selects flowd's pods on 4244.
    let peer_dns = flag(c, "peer-dns");
    let (host, port) = peer_dns.rsplit_once(':').unwrap();
    assert_eq!(port, "4244");
    let (service, ns) = host.split_once('.').unwrap();
    assert_eq!(ns, format!("{namespace}.svc"));
    let svc = object(&objects, "Service", service);
    assert_eq!(svc["spec"]["clusterIP"], "None");
    let selector = svc["spec"]["selector"].as_object().unwrap();
    for (k, v) in selector {
        assert_eq!(&ds["spec"]["template"]["metadata"]["labels"][k], v);
    }
    assert_eq!(svc["spec"]["ports"][0]["port"], 4244);

    // Metrics: the address, the container port, the annotations and the liveness probe.
    let metrics = port_of(&flag(c, "metrics-address"));
    assert_eq!(container_port(c, "metrics"), metrics);
    assert_scraped(ds, metrics);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/metrics");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");

    // Readiness asks ServerStatus over flowd's own unix socket.
    let probe = strings(&c["readinessProbe"]["exec"]["command"]);
    let socket = format!("unix://{}", flag(c, "unix-socket"));
    assert_eq!(probe, ["flowctl", "status", "--server", socket.as_str()]);
}

#[test]
fn flowd_accepts_the_deployed_state_and_metrics_and_its_probes_pass() {
    let objects = base();
    let ds = object(&objects, "DaemonSet", "flowd");
    let c = container(ds, "flowd");
    let state_path = flag(c, "state");
    let volume = volume_for(ds, c, &state_path);
    let map_name = volume["configMap"]["name"].as_str().unwrap();
    let map = object(&objects, "ConfigMap", map_name);
    let key = Path::new(&state_path)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let state = map["data"][key]
        .as_str()
        .expect("the state file in the ConfigMap");
    let parsed = ClusterState::parse(state).expect("the example state is flowd's format");
    assert!(parsed.endpoints().len() >= 2);

    // The real flowd with the deployed --metrics and state; then the probes' requests.
    let metrics = flag(c, "metrics");
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: state,
        extra_args: vec![format!("--metrics={metrics}")],
        ..Default::default()
    });
    let body = http_get(flowd.metrics_port, "/metrics").expect("GET /metrics");
    assert!(body.contains("hubble_flows_processed_total"), "{body}");
    assert!(body.contains("hubble_http_requests_total"), "{body}");
    let home = temp_dir("kube-probe");
    let probe = strings(&c["readinessProbe"]["exec"]["command"]);
    let out = flowctl_command(&home)
        .args(&probe[1..probe.len() - 1])
        .arg(flowd.server_arg())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn flowrelay_deployment_serves_4245_with_tls_health_and_metrics() {
    let objects = base();
    let deploy = object(&objects, "Deployment", "flowrelay");
    let pod = &deploy["spec"]["template"]["spec"];
    let c = container(deploy, "flowrelay");
    assert_eq!(c["image"], "flowscope/flowrelay:0.1.0");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        strings(&c["securityContext"]["capabilities"]["drop"]),
        ["ALL"]
    );
    let namespace = deploy["metadata"]["namespace"].as_str().unwrap();

    // It finds the nodes through the headless Service of flowd's Peer service.
    assert_eq!(
        flag(c, "peer-service"),
        format!("flowd-peer.{namespace}.svc:4244")
    );
    assert_eq!(flag(c, "listen-address"), ":4245");
    assert_eq!(container_port(c, "grpc"), 4245);
    let svc = object(&objects, "Service", "hubble-relay");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "grpc");
    assert_eq!(
        svc["spec"]["selector"]["app.kubernetes.io/name"],
        deploy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    );

    // TLS: its own listener from one Secret, its client side from another.
    let server = ["tls-relay-server-cert-file", "tls-relay-server-key-file"];
    assert_eq!(
        secrets_for(deploy, c, &server),
        one("hubble-relay-server-certs")
    );
    let client = [
        "tls-hubble-client-cert-file",
        "tls-hubble-client-key-file",
        "tls-hubble-server-ca-files",
    ];
    assert_eq!(
        secrets_for(deploy, c, &client),
        one("hubble-relay-client-certs")
    );

    let health = port_of(&flag(c, "health-listen-address"));
    assert_eq!(health, 4222);
    assert_eq!(c["readinessProbe"]["grpc"]["port"], health);
    let metrics = port_of(&flag(c, "metrics-listen-address"));
    assert_eq!(container_port(c, "metrics"), metrics);
    assert_scraped(deploy, metrics);
}

#[test]
fn cert_manager_component_issues_the_mounted_secrets() {
    let objects = validate(
        &kustomize(&deploy_dir().join("with-cert-manager")),
        &[CERT_MANAGER],
    );
    let cert = |name: &str| {
        let c = object(&objects, "Certificate", name);
        assert_eq!(c["metadata"]["namespace"], "flowscope");
        assert_eq!(c["spec"]["secretName"], name);
        assert_eq!(c["spec"]["issuerRef"]["name"], "flowscope-ca");
        c.clone()
    };
    let node = cert("hubble-server-certs");
    assert!(strings(&node["spec"]["dnsNames"]).contains(&"*.default.hubble-grpc.cilium.io".into()));
    assert!(strings(&node["spec"]["usages"]).contains(&"server auth".into()));
    let client = cert("hubble-relay-client-certs");
    let usages = strings(&client["spec"]["usages"]);
    assert!(usages.contains(&"client auth".into()) && !usages.contains(&"server auth".into()));
    cert("hubble-relay-server-certs");
    let ca = object(&objects, "Certificate", "flowscope-ca");
    assert_eq!(ca["spec"]["isCA"], true);
    assert_eq!(
        object(&objects, "Issuer", "flowscope-ca")["spec"]["ca"]["secretName"],
        "flowscope-ca"
    );

    // Every Secret the workloads mount is one of these.
    let issued: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "Certificate")
        .filter_map(|o| o["spec"]["secretName"].as_str().map(str::to_string))
        .collect();
    for o in objects
        .iter()
        .filter(|o| o["kind"] == "DaemonSet" || o["kind"] == "Deployment")
    {
        for v in o["spec"]["template"]["spec"]["volumes"].as_array().unwrap() {
            if let Some(s) = v["secret"]["secretName"].as_str() {
                assert!(issued.contains(s), "{s} is mounted but not issued");
            }
        }
    }
}

/// Every `--flag` of the workloads and their probes exists in the real binary.
#[test]
fn manifest_flags_exist_in_the_binaries() {
    let objects = base();
    let mut missing = Vec::new();
    for (kind, name) in [("DaemonSet", "flowd"), ("Deployment", "flowrelay")] {
        let w = object(&objects, kind, name);
        let c = container(w, name);
        let command = strings(&c["command"]);
        assert_eq!(command, [name]);
        let known = help_flags(&bin(name), &[]);
        for f in flag_names(&strings(&c["args"])) {
            if !known.contains(&f) {
                missing.push(format!("{name} --{f}"));
            }
        }
        if let Some(probe) = c["readinessProbe"]["exec"]["command"].as_array() {
            let probe: Vec<String> = probe
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            let sub: Vec<&str> = probe[1..]
                .iter()
                .take_while(|a| !a.starts_with("--"))
                .map(String::as_str)
                .collect();
            let known = help_flags(&bin(&probe[0]), &sub);
            for f in flag_names(&probe) {
                if !known.contains(&f) {
                    missing.push(format!("{} --{f}", probe[0]));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "flags the binaries do not have: {missing:?}"
    );
}
