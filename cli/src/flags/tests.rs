use clap::{ArgMatches, CommandFactory, Parser};
use flowscope_proto::flow::FlowFilter;

use super::*;
use crate::request::SelectorFlags;

/// The flags as `observe` flattens them, so the real clap definitions are exercised.
#[derive(Parser, Debug)]
#[command(name = "flowctl", no_binary_name = true)]
pub(crate) struct TestCli {
    #[command(flatten)]
    pub filters: FilterFlags,
    #[command(flatten)]
    pub selector: SelectorFlags,
}

pub(crate) fn matches(args: &[&str]) -> ArgMatches {
    TestCli::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"))
}

fn filters(args: &[&str]) -> Result<Filters, FlagError> {
    filters_from_matches(&matches(args))
}

fn json(list: &[FlowFilter]) -> String {
    flowscope_proto::json::to_string(list)
}

/// `(whitelist JSON, blacklist JSON)`.
fn lists(args: &[&str]) -> (String, String) {
    let f = filters(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    (json(&f.whitelist), json(&f.blacklist))
}

fn whitelist(args: &[&str]) -> String {
    let (wl, bl) = lists(args);
    assert_eq!(bl, "[]", "{args:?} must not blacklist");
    wl
}

fn error(args: &[&str]) -> String {
    match filters(args) {
        Ok(f) => panic!("{args:?} should fail, got {f:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_flags_no_filters() {
    assert_eq!(lists(&[]), ("[]".to_string(), "[]".to_string()));
    assert!(filters(&["--last", "3"]).expect("filters").is_empty());
}

#[test]
fn each_directed_or_global_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--uuid", "abc"], r#"[{"uuid":["abc"]}]"#),
        (&["--from-ip", "1.1.1.1"], r#"[{"source_ip":["1.1.1.1"]}]"#),
        (
            &["--to-ip", "10.0.0.0/8"],
            r#"[{"destination_ip":["10.0.0.0/8"]}]"#,
        ),
        (
            &["--snat-ip", "2.2.2.2"],
            r#"[{"source_ip_xlated":["2.2.2.2"]}]"#,
        ),
        (&["--from-pod", "x"], r#"[{"source_pod":["x"]}]"#),
        (
            &["--to-pod", "kube-system/coredns"],
            r#"[{"destination_pod":["kube-system/coredns"]}]"#,
        ),
        (
            &["--from-fqdn", "*.cilium.io"],
            r#"[{"source_fqdn":["*.cilium.io"]}]"#,
        ),
        (&["--to-fqdn", "a.b"], r#"[{"destination_fqdn":["a.b"]}]"#),
        (
            &["--from-label", "app=a"],
            r#"[{"source_label":["app=a"]}]"#,
        ),
        (
            &["--to-label", "k8s:app=b"],
            r#"[{"destination_label":["k8s:app=b"]}]"#,
        ),
        (
            &["--from-service", "default/svc"],
            r#"[{"source_service":["default/svc"]}]"#,
        ),
        (
            &["--to-service", "svc"],
            r#"[{"destination_service":["svc"]}]"#,
        ),
        (&["--from-port", "53"], r#"[{"source_port":["53"]}]"#),
        (&["--to-port", "8080"], r#"[{"destination_port":["8080"]}]"#),
        (
            &["--from-identity", "kube-apiserver"],
            r#"[{"source_identity":[7]}]"#,
        ),
        (
            &["--to-identity", "12345"],
            r#"[{"destination_identity":[12345]}]"#,
        ),
        (
            &["--from-cluster", "c1"],
            r#"[{"source_cluster_name":["c1"]}]"#,
        ),
        (
            &["--to-cluster", "c2"],
            r#"[{"destination_cluster_name":["c2"]}]"#,
        ),
        (
            &["--from-workload", "Deployment/web"],
            r#"[{"source_workload":[{"name":"web","kind":"Deployment"}]}]"#,
        ),
        (
            &["--to-workload", "web"],
            r#"[{"destination_workload":[{"name":"web"}]}]"#,
        ),
        (
            &["--from-namespace", "kube-system"],
            r#"[{"source_pod":["kube-system/"]}]"#,
        ),
        (
            &["--to-namespace", "default"],
            r#"[{"destination_pod":["default/"]}]"#,
        ),
        (&["--from-all-namespaces"], r#"[{"source_pod":["/"]}]"#),
        (&["--to-all-namespaces"], r#"[{"destination_pod":["/"]}]"#),
        (&["--verdict", "DROPPED"], r#"[{"verdict":["DROPPED"]}]"#),
        (
            &["--verdict", "FORWARDED"],
            r#"[{"verdict":["FORWARDED"]}]"#,
        ),
        (
            &["--drop-reason-desc", "POLICY_DENIED"],
            r#"[{"drop_reason_desc":["POLICY_DENIED"]}]"#,
        ),
        (
            &["--drop-reason-desc", "AUTH_REQUIRED"],
            r#"[{"drop_reason_desc":["AUTH_REQUIRED"]}]"#,
        ),
        (
            &["--traffic-direction", "ingress"],
            r#"[{"traffic_direction":["INGRESS"]}]"#,
        ),
        (
            &["--traffic-direction", "EGRESS"],
            r#"[{"traffic_direction":["EGRESS"]}]"#,
        ),
        (&["--protocol", "tcp"], r#"[{"protocol":["tcp"]}]"#),
        (&["--http-status", "5+"], r#"[{"http_status_code":["5+"]}]"#),
        (&["--http-method", "get"], r#"[{"http_method":["get"]}]"#),
        (
            &["--http-path", "/api/.*"],
            r#"[{"http_path":["/api/.*"]}]"#,
        ),
        (
            &["--http-url", "http://a/"],
            r#"[{"http_url":["http://a/"]}]"#,
        ),
        (
            &["--http-header", "x-user:a:b"],
            r#"[{"http_header":[{"key":"x-user","value":"a:b"}]}]"#,
        ),
        (
            &["--tcp-flags", "syn,ack"],
            r#"[{"tcp_flags":[{"SYN":true,"ACK":true}]}]"#,
        ),
        (&["--node-name", "k8s*"], r#"[{"node_name":["k8s*"]}]"#),
        (
            &["--node-label", "zone=a"],
            r#"[{"node_labels":["zone=a"]}]"#,
        ),
        (&["--trace-id", "4bf92f"], r#"[{"trace_id":["4bf92f"]}]"#),
        (&["--ip-trace-id", "42"], r#"[{"ip_trace_id":["42"]}]"#),
        (&["--ip-version", "v4"], r#"[{"ip_version":["IPv4"]}]"#),
        (
            &["--ip-version", "none"],
            r#"[{"ip_version":["IP_NOT_USED"]}]"#,
        ),
        (&["--ipv6"], r#"[{"ip_version":["IPv6"]}]"#),
        (&["-4"], r#"[{"ip_version":["IPv4"]}]"#),
        (&["-6"], r#"[{"ip_version":["IPv6"]}]"#),
        (
            &["--interface", "eth0"],
            r#"[{"interface":[{"name":"eth0"}]}]"#,
        ),
        (&["--encrypted"], r#"[{"encrypted":[true]}]"#),
        (&["--unencrypted"], r#"[{"encrypted":[false]}]"#),
        (
            &["--cel-expression", "_flow.verdict == Verdict.DROPPED"],
            r#"[{"experimental":{"cel_expression":["_flow.verdict == Verdict.DROPPED"]}}]"#,
        ),
        (&["-t", "l7"], r#"[{"event_type":[{"type":129}]}]"#),
    ];
    for (args, expected) in cases {
        assert_eq!(whitelist(args), *expected, "{args:?}");
    }
}

#[test]
fn directionless_flags_make_two_filters() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--ip", "1.1.1.1"],
            r#"[{"source_ip":["1.1.1.1"]},{"destination_ip":["1.1.1.1"]}]"#,
        ),
        (
            &["--pod", "x"],
            r#"[{"source_pod":["x"]},{"destination_pod":["x"]}]"#,
        ),
        (
            &["--namespace", "kube-system"],
            r#"[{"source_pod":["kube-system/"]},{"destination_pod":["kube-system/"]}]"#,
        ),
        (
            &["-n", "ns"],
            r#"[{"source_pod":["ns/"]},{"destination_pod":["ns/"]}]"#,
        ),
        (
            &["-A"],
            r#"[{"source_pod":["/"]},{"destination_pod":["/"]}]"#,
        ),
        (
            &["--all-namespaces"],
            r#"[{"source_pod":["/"]},{"destination_pod":["/"]}]"#,
        ),
        (
            &["-l", "app=a"],
            r#"[{"source_label":["app=a"]},{"destination_label":["app=a"]}]"#,
        ),
        (
            &["--label", "x"],
            r#"[{"source_label":["x"]},{"destination_label":["x"]}]"#,
        ),
        (
            &["--fqdn", "a.io"],
            r#"[{"source_fqdn":["a.io"]},{"destination_fqdn":["a.io"]}]"#,
        ),
        (
            &["--port", "80"],
            r#"[{"source_port":["80"]},{"destination_port":["80"]}]"#,
        ),
        (
            &["--identity", "2"],
            r#"[{"source_identity":[2]},{"destination_identity":[2]}]"#,
        ),
        (
            &["--service", "s"],
            r#"[{"source_service":["s"]},{"destination_service":["s"]}]"#,
        ),
        (
            &["--workload", "StatefulSet/db"],
            r#"[{"source_workload":[{"name":"db","kind":"StatefulSet"}]},{"destination_workload":[{"name":"db","kind":"StatefulSet"}]}]"#,
        ),
        (
            &["--cluster", "c"],
            r#"[{"source_cluster_name":["c"]},{"destination_cluster_name":["c"]}]"#,
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(whitelist(args), *expected, "{args:?}");
    }
}

#[test]
fn directionless_flags_combine_pairwise_and_copy_other_fields() {
    // Hubble's left/right trackers: source sides together, destination sides together.
    assert_eq!(
        whitelist(&["--ip", "1.1.1.1", "--port", "80"]),
        r#"[{"source_ip":["1.1.1.1"],"source_port":["80"]},{"destination_ip":["1.1.1.1"],"destination_port":["80"]}]"#
    );
    // A directed or global flag lands in both, whatever its position.
    assert_eq!(
        whitelist(&["--verdict", "DROPPED", "--ip", "1.1.1.1", "--to-port", "53"]),
        r#"[{"source_ip":["1.1.1.1"],"verdict":["DROPPED"],"destination_port":["53"]},{"destination_ip":["1.1.1.1"],"verdict":["DROPPED"],"destination_port":["53"]}]"#
    );
    // Namespace with a bare pod: the pod is namespaced on each side.
    assert_eq!(
        whitelist(&["--pod", "web", "-n", "shop"]),
        r#"[{"source_pod":["shop/web"]},{"destination_pod":["shop/web"]}]"#
    );
    // Namespace with a service: the service is namespaced, no pod filter is added.
    assert_eq!(
        whitelist(&["--service", "api", "-n", "shop"]),
        r#"[{"source_service":["shop/api"]},{"destination_service":["shop/api"]}]"#
    );
    // Directed namespaces are the same on both sides, so they collapse into one filter.
    assert_eq!(
        whitelist(&["--from-namespace", "a", "--to-namespace", "b"]),
        r#"[{"source_pod":["a/"],"destination_pod":["b/"]}]"#
    );
    assert_eq!(
        whitelist(&[
            "--from-pod",
            "client",
            "--from-namespace",
            "a",
            "--from-namespace",
            "b"
        ]),
        r#"[{"source_pod":["a/client","b/client"]}]"#
    );
    assert_eq!(
        whitelist(&["-A", "--pod", "web"]),
        r#"[{"source_pod":["/web"]},{"destination_pod":["/web"]}]"#
    );
}

#[test]
fn repeated_flag_ors_values() {
    assert_eq!(
        whitelist(&[
            "--http-method",
            "put",
            "--http-method",
            "get",
            "--to-namespace",
            "foo"
        ]),
        r#"[{"destination_pod":["foo/"],"http_method":["put","get"]}]"#
    );
    assert_eq!(
        whitelist(&["--from-pod", "a,b", "--from-pod", "c"]),
        r#"[{"source_pod":["a,b","c"]}]"#
    );
    assert_eq!(
        whitelist(&["--ip", "1.1.1.1", "--ip", "2.2.2.2"]),
        r#"[{"source_ip":["1.1.1.1","2.2.2.2"]},{"destination_ip":["1.1.1.1","2.2.2.2"]}]"#
    );
    assert_eq!(
        whitelist(&["--tcp-flags", "syn", "--tcp-flags", "FIN,ack"]),
        r#"[{"tcp_flags":[{"SYN":true},{"FIN":true,"ACK":true}]}]"#
    );
    assert_eq!(
        whitelist(&["-t", "drop", "-t", "trace:to-stack"]),
        r#"[{"event_type":[{"type":1},{"type":4,"match_sub_type":true,"sub_type":3}]}]"#
    );
}

#[test]
fn not_negates_only_the_next_flag() {
    assert_eq!(
        lists(&["--not", "--verdict", "DROPPED", "--verdict", "FORWARDED"]),
        (
            r#"[{"verdict":["FORWARDED"]}]"#.to_string(),
            r#"[{"verdict":["DROPPED"]}]"#.to_string()
        )
    );
    assert_eq!(
        lists(&[
            "--from-pod",
            "a",
            "--not",
            "--to-port",
            "53",
            "--protocol",
            "udp"
        ]),
        (
            r#"[{"source_pod":["a"],"protocol":["udp"]}]"#.to_string(),
            r#"[{"destination_port":["53"]}]"#.to_string()
        )
    );
}

#[test]
fn several_nots_share_one_blacklist_filter() {
    assert_eq!(
        lists(&[
            "--not",
            "--http-method",
            "put",
            "--not",
            "--http-method",
            "get",
            "--not",
            "--to-namespace",
            "foo",
        ]),
        (
            "[]".to_string(),
            r#"[{"destination_pod":["foo/"],"http_method":["put","get"]}]"#.to_string()
        )
    );
}

#[test]
fn negated_directionless_flag_makes_two_blacklist_filters() {
    assert_eq!(
        lists(&["--not", "--ip", "10.0.0.1", "--not", "--verdict", "DROPPED"]),
        (
            "[]".to_string(),
            r#"[{"source_ip":["10.0.0.1"],"verdict":["DROPPED"]},{"destination_ip":["10.0.0.1"],"verdict":["DROPPED"]}]"#
                .to_string()
        )
    );
}

#[test]
fn not_errors() {
    assert_eq!(
        error(&["--not", "--not", "--ip", "1.1.1.1"]),
        "consecutive --not statements"
    );
    assert_eq!(
        error(&["--ip", "1.1.1.1", "--not"]),
        "trailing --not found in the arguments"
    );
}

#[test]
fn directionless_and_directed_forms_conflict() {
    assert_eq!(
        error(&["--ip", "1.1.1.1", "--from-ip", "2.2.2.2"]),
        "filters --ip and --from-ip cannot be combined"
    );
    assert_eq!(
        error(&["--to-ip", "2.2.2.2", "--ip", "1.1.1.1"]),
        "filters --ip and --to-ip cannot be combined"
    );
    for (a, b, va) in [
        ("pod", "from-pod", "x"),
        ("label", "to-label", "a=b"),
        ("fqdn", "from-fqdn", "a.io"),
        ("port", "to-port", "80"),
        ("identity", "from-identity", "2"),
        ("service", "to-service", "s"),
        ("workload", "from-workload", "w"),
        ("cluster", "to-cluster", "c"),
        ("namespace", "from-namespace", "ns"),
    ] {
        let (fa, fb) = (format!("--{a}"), format!("--{b}"));
        assert_eq!(
            error(&[&fa, va, &fb, va]),
            format!("filters --{a} and --{b} cannot be combined")
        );
    }
    // Hubble's other groups.
    assert_eq!(
        error(&["--from-ip", "1.1.1.1", "--from-pod", "x"]),
        "filters --from-ip and --from-pod cannot be combined"
    );
    assert_eq!(
        error(&["--encrypted", "--unencrypted"]),
        "filters --encrypted and --unencrypted cannot be combined"
    );
    // Conflicts are per list: a negated directed form is fine.
    assert_eq!(
        lists(&["--ip", "1.1.1.1", "--not", "--from-ip", "1.1.1.1"]),
        (
            r#"[{"source_ip":["1.1.1.1"]},{"destination_ip":["1.1.1.1"]}]"#.to_string(),
            r#"[{"source_ip":["1.1.1.1"]}]"#.to_string()
        )
    );
    // Directed forms of both directions combine.
    assert_eq!(
        whitelist(&["--from-ip", "1.1.1.1", "--to-ip", "2.2.2.2"]),
        r#"[{"source_ip":["1.1.1.1"],"destination_ip":["2.2.2.2"]}]"#
    );
}

#[test]
fn namespace_conflicts() {
    assert_eq!(
        error(&["--from-namespace", "a", "--from-pod", "b/x"]),
        r#"namespace conflict: "a" does not contain "b/x""#
    );
    assert_eq!(
        error(&["--from-pod", "a/x", "--from-service", "b/svc"]),
        r#"namespace of service "b/svc" conflict with pod "a""#
    );
    assert_eq!(
        whitelist(&["--from-namespace", "a", "--from-pod", "a/x"]),
        r#"[{"source_pod":["a/x"]}]"#
    );
}

#[test]
fn identities_are_numbers_or_reserved_names() {
    assert_eq!(
        whitelist(&["--identity", "ingress"]),
        r#"[{"source_identity":[8]},{"destination_identity":[8]}]"#
    );
    assert_eq!(
        whitelist(&[
            "--from-identity",
            "world",
            "--from-identity",
            "host",
            "--from-identity",
            "0x100"
        ]),
        r#"[{"source_identity":[2,1,256]}]"#
    );
    assert_eq!(
        whitelist(&["--to-identity", "remote-node"]),
        r#"[{"destination_identity":[6]}]"#
    );
    let err = error(&["--identity", "nobody"]);
    assert!(
        err.starts_with(r#"invalid --identity value "nobody": invalid security identity, expected one of [host world unmanaged"#),
        "{err}"
    );
    // As Hubble's parseIdentity: `unknown` is no reserved name there, numbers take Go's
    // base prefixes.
    assert!(error(&["--identity", "unknown"]).contains("invalid security identity"));
    assert_eq!(
        whitelist(&["--from-identity", "0x10", "--from-identity", "010"]),
        r#"[{"source_identity":[16,8]}]"#
    );
    assert!(error(&["--to-identity=-1"]).contains("--to-identity"));
}

#[test]
fn event_types() {
    let cases: &[(&str, &str)] = &[
        ("trace:to-endpoint", r#"{"type":4,"match_sub_type":true}"#),
        (
            "trace:from-endpoint",
            r#"{"type":4,"match_sub_type":true,"sub_type":5}"#,
        ),
        (
            "trace:to-crypto",
            r#"{"type":4,"match_sub_type":true,"sub_type":13}"#,
        ),
        ("trace", r#"{"type":4}"#),
        ("drop", r#"{"type":1}"#),
        (
            "drop:133",
            r#"{"type":1,"match_sub_type":true,"sub_type":133}"#,
        ),
        (
            "drop:181",
            r#"{"type":1,"match_sub_type":true,"sub_type":181}"#,
        ),
        ("debug", r#"{"type":2}"#),
        ("capture", r#"{"type":3}"#),
        ("policy-verdict", r#"{"type":5}"#),
        ("trace-sock", r#"{"type":7}"#),
        (
            "trace-sock:2",
            r#"{"type":7,"match_sub_type":true,"sub_type":2}"#,
        ),
        ("recorder", r#"{"type":6}"#),
        ("l7", r#"{"type":129}"#),
        (
            "agent:policy-updated",
            r#"{"type":130,"match_sub_type":true,"sub_type":5}"#,
        ),
        ("4:0", r#"{"type":4,"match_sub_type":true}"#),
        ("200", r#"{"type":200}"#),
    ];
    for (value, expected) in cases {
        assert_eq!(
            whitelist(&["-t", value]),
            format!(r#"[{{"event_type":[{expected}]}}]"#),
            "{value}"
        );
    }
    assert_eq!(
        whitelist(&["--type", "trace:to-endpoint"]),
        r#"[{"event_type":[{"type":4,"match_sub_type":true}]}]"#
    );
    assert!(error(&["-t", "nope"]).starts_with(r#"invalid --type value "nope": unknown type"#));
    assert!(
        error(&["-t", "trace:to-mars"])
            .starts_with(r#"invalid --type value "trace:to-mars": unknown sub-type "to-mars""#)
    );
}

#[test]
fn invalid_values_name_flag_and_value() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--verdict", "MAYBE"],
            r#"invalid --verdict value "MAYBE""#,
        ),
        (
            &["--drop-reason-desc", "NOPE"],
            r#"invalid --drop-reason-desc value "NOPE""#,
        ),
        (
            &["--drop-reason-desc", ""],
            r#"invalid --drop-reason-desc value """#,
        ),
        (
            &["--traffic-direction", "up"],
            r#"invalid --traffic-direction value "up""#,
        ),
        (
            &["--tcp-flags", "syn,foo"],
            r#"invalid --tcp-flags value "syn,foo""#,
        ),
        (
            &["--http-header", "nocolon"],
            r#"invalid --http-header value "nocolon""#,
        ),
        (
            &["--verdict", "dropped"],
            r#"invalid --verdict value "dropped""#,
        ),
        (
            &["--drop-reason-desc", "policy_denied"],
            r#"invalid --drop-reason-desc value "policy_denied""#,
        ),
        (&["-t", "DROP"], r#"invalid --type value "DROP""#),
        (
            &["-t", "drop:POLICY_DENIED"],
            r#"invalid --type value "drop:POLICY_DENIED""#,
        ),
        (
            &["-t", "trace:TO-ENDPOINT"],
            r#"invalid --type value "trace:TO-ENDPOINT""#,
        ),
        (&["-t", "+4"], r#"invalid --type value "+4""#),
        (
            &["--ip-trace-id", "0"],
            r#"invalid --ip-trace-id value "0": must be greater than 0"#,
        ),
        (
            &["--ip-trace-id", "x"],
            r#"invalid --ip-trace-id value "x""#,
        ),
    ];
    for (args, prefix) in cases {
        let err = error(args);
        assert!(err.starts_with(prefix), "{args:?}: {err}");
    }
    assert_eq!(
        error(&["--http-header", "nocolon"]),
        r#"invalid --http-header value "nocolon": expected key:value"#
    );
    // What Hubble accepts without checking: ports go to the filter engine as given, and any
    // --ip-version that is not 4 or 6 means "not IP".
    assert_eq!(
        whitelist(&["--to-port", "http"]),
        r#"[{"destination_port":["http"]}]"#
    );
    assert_eq!(
        whitelist(&["--ip-version", "v5"]),
        r#"[{"ip_version":["IP_NOT_USED"]}]"#
    );
    assert_eq!(
        whitelist(&["--ip-version", "IPv6"]),
        r#"[{"ip_version":["IPv6"]}]"#
    );
}

#[test]
fn raw_allowlist_and_denylist() {
    assert_eq!(
        lists(&[
            "--from-pod", "a",
            "--allowlist", r#"{"source_pod":["default/"]}"#,
            "--allowlist", r#"{"destinationPod":["x/"]} {"verdict":["DROPPED"]}"#,
            "--denylist", r#"{"source_identity":[2]}"#,
            "--not", "--to-port", "53",
        ]),
        (
            r#"[{"source_pod":["a"]},{"source_pod":["default/"]},{"destination_pod":["x/"]},{"verdict":["DROPPED"]}]"#
                .to_string(),
            r#"[{"destination_port":["53"]},{"source_identity":[2]}]"#.to_string()
        )
    );
    let err = error(&["--allowlist", "{nope"]);
    assert!(
        err.starts_with("invalid --allowlist flag: failed to decode '{nope': "),
        "{err}"
    );
    assert!(
        error(&["--denylist", r#"{"verdict":["MAYBE"]}"#]).starts_with("invalid --denylist flag")
    );
}

#[test]
fn print_raw_filters_example_of_section_2() {
    let m = matches(&[
        "--last",
        "3",
        "--from-pod",
        "default/client",
        "--not",
        "--verdict",
        "DROPPED",
        "--print-raw-filters",
    ]);
    let f = filters_from_matches(&m).expect("filters");
    assert_eq!(json(&f.whitelist), r#"[{"source_pod":["default/client"]}]"#);
    assert_eq!(json(&f.blacklist), r#"[{"verdict":["DROPPED"]}]"#);
    assert_eq!(
        raw_filters_yaml(&f),
        "allowlist:\n    - '{\"source_pod\":[\"default/client\"]}'\ndenylist:\n    - '{\"verdict\":[\"DROPPED\"]}'\n"
    );
    assert_eq!(raw_filters_yaml(&Filters::default()), "{}\n");
    let quoted = Filters {
        whitelist: vec![FlowFilter {
            http_path: vec!["it's".into()],
            ..Default::default()
        }],
        blacklist: vec![],
    };
    assert_eq!(
        raw_filters_yaml(&quoted),
        "allowlist:\n    - '{\"http_path\":[\"it''s\"]}'\n"
    );
}

#[test]
fn derived_struct_sees_the_flags() {
    let cli = TestCli::try_parse_from(["--not", "--ip", "1.1.1.1", "-f", "--print-raw-filters"])
        .expect("parse");
    assert_eq!(cli.filters.not, vec!["true"]);
    assert_eq!(cli.filters.ip, vec!["1.1.1.1"]);
    assert!(cli.filters.print_raw_filters);
    assert!(cli.selector.follow);
}

#[test]
fn every_filter_field_is_dispatched() {
    // Each filter flag must reach the tracker; an unknown name would error.
    let ids = filter_flag_ids();
    assert_eq!(ids.len(), 58, "{ids:?}");
    let value_for = |name: &str| match name {
        "type" => "drop",
        "verdict" => "DROPPED",
        "drop-reason-desc" => "POLICY_DENIED",
        "traffic-direction" => "ingress",
        "tcp-flags" => "syn",
        "http-header" => "a:b",
        "ip-version" => "v4",
        "ip-trace-id" | "port" | "from-port" | "to-port" => "1",
        "identity" | "from-identity" | "to-identity" => "world",
        _ => "v",
    };
    let cmd = TestCli::command();
    for (id, name) in ids.iter().filter(|(_, n)| n != "not") {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id().as_str() == id)
            .expect("arg");
        let flag = format!("--{name}");
        let args: Vec<&str> = if arg.get_num_args().is_none_or(|n| n.takes_values()) {
            vec![&flag, value_for(name)]
        } else {
            vec![&flag]
        };
        let f = filters(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(!f.whitelist.is_empty(), "{args:?}");
        assert!(
            f.whitelist.iter().all(|w| *w != FlowFilter::default()),
            "{args:?}"
        );
    }
}

#[test]
fn filter_line() {
    let f = parse_filter_line("--identity ingress --not --verdict DROPPED").expect("line");
    assert_eq!(
        json(&f.whitelist),
        r#"[{"source_identity":[8]},{"destination_identity":[8]}]"#
    );
    assert_eq!(json(&f.blacklist), r#"[{"verdict":["DROPPED"]}]"#);

    let f = parse_filter_line(r#"  --http-path '/a b/.*'   --cel-expression "x == \"y\"" -t=l7 "#)
        .expect("line");
    assert_eq!(
        json(&f.whitelist),
        r#"[{"event_type":[{"type":129}],"http_path":["/a b/.*"],"experimental":{"cel_expression":["x == \"y\""]}}]"#
    );

    let f = parse_filter_line(r#"--from-pod=default/client --allowlist '{"verdict":["DROPPED"]}'"#)
        .expect("line");
    assert_eq!(
        json(&f.whitelist),
        r#"[{"source_pod":["default/client"]},{"verdict":["DROPPED"]}]"#
    );

    assert!(parse_filter_line("").expect("empty").is_empty());
    assert!(parse_filter_line("   ").expect("blank").is_empty());

    let err = parse_filter_line("--bogus 1")
        .expect_err("unknown flag")
        .to_string();
    assert_eq!(err, "unexpected argument '--bogus' found");
    let err = parse_filter_line("--ip")
        .expect_err("missing value")
        .to_string();
    assert!(err.contains("--ip"), "{err}");
    let err = parse_filter_line("--http-path 'open")
        .expect_err("quote")
        .to_string();
    assert_eq!(err, "unterminated ' quote in filter");
    let err = parse_filter_line("--ip 1.1.1.1 --from-ip 2.2.2.2").expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "filters --ip and --from-ip cannot be combined"
    );
    let err = parse_filter_line("--verdict nope").expect_err("verdict");
    assert!(matches!(err, FlagError::InvalidValue { .. }));
}

#[test]
fn split_words_quoting() {
    assert_eq!(
        line::split_words(r#"a 'b c' "d \"e\" \\" f\ g --x='y z'"#).expect("split"),
        vec!["a", "b c", r#"d "e" \"#, "f g", "--x=y z"]
    );
    assert_eq!(line::split_words("''").expect("split"), vec![""]);
    assert!(line::split_words(r#""open"#).is_err());
}
