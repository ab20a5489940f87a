//! CEL expressions as Hubble's `CELExpressionFilter` evaluates them.

use flowscope_proto::flow::{
    Endpoint, Flow, FlowFilter, Ip, Tcp, Udp, Verdict, Workload, flow_filter, layer4,
};
use flowscope_proto::types::{BoolValue, Timestamp};

use crate::test_util::*;

fn cel(exprs: &[&str]) -> FlowFilter {
    FlowFilter {
        experimental: Some(flow_filter::Experimental {
            cel_expression: strings(exprs),
        }),
        ..Default::default()
    }
}

fn verdict_flow(v: Verdict) -> Flow {
    Flow {
        verdict: v as i32,
        ..Default::default()
    }
}

fn ip_flow(src: &str, dst: &str) -> Flow {
    Flow {
        ip: Some(Ip {
            source: src.into(),
            destination: dst.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tcp(src: u32, dst: u32) -> Flow {
    l4_flow(layer4::Protocol::Tcp(Tcp {
        source_port: src,
        destination_port: dst,
        ..Default::default()
    }))
}

fn udp(src: u32, dst: u32) -> Flow {
    l4_flow(layer4::Protocol::Udp(Udp {
        source_port: src,
        destination_port: dst,
    }))
}

/// Which of `flows` the filter matches.
fn matching(filter: &FlowFilter, flows: &[Flow]) -> Vec<bool> {
    flows.iter().map(|f| matches(filter, f)).collect()
}

/// Checks, for each single expression, which of `flows` it matches.
fn assert_each(flows: &[Flow], cases: &[(&str, &[bool])]) {
    for (expr, want) in cases {
        assert_eq!(matching(&cel(&[expr]), flows), *want, "{expr}");
    }
}

#[test]
fn verdict_by_enum_constant() {
    let flows = [
        verdict_flow(Verdict::Forwarded),
        verdict_flow(Verdict::Dropped),
        verdict_flow(Verdict::Translated),
    ];
    assert_each(
        &flows,
        &[
            (
                "_flow.verdict == Verdict.FORWARDED || _flow.verdict == Verdict.TRANSLATED",
                &[true, false, true],
            ),
            // The qualified name resolves too, and enum values are ints.
            (
                "_flow.verdict == flow.Verdict.DROPPED && _flow.verdict == 2",
                &[false, true, false],
            ),
        ],
    );
}

#[test]
fn ip_addresses() {
    let flows = [
        ip_flow("1.1.1.1", "10.0.0.2"),
        ip_flow("10.0.0.2", "1.1.1.1"),
        ip_flow("10.0.0.2", "8.8.8.8"),
    ];
    assert_each(
        &flows,
        &[
            (
                "_flow.IP.source == '1.1.1.1' || _flow.IP.destination == '8.8.8.8'",
                &[true, false, true],
            ),
            (
                "_flow.IP.destination.startsWith('8.8.')",
                &[false, false, true],
            ),
        ],
    );
}

#[test]
fn l4_oneof_presence_and_ports() {
    let flows = [tcp(20222, 80), udp(30222, 53), tcp(20222, 443)];
    assert_each(
        &flows,
        &[
            ("has(_flow.l4.TCP)", &[true, false, true]),
            (
                "has(_flow.l4.TCP) && (_flow.l4.TCP.destination_port == uint(80) || _flow.l4.TCP.destination_port == uint(443))",
                &[true, false, true],
            ),
            (
                "_flow.l4.UDP.destination_port == 53u",
                &[false, true, false],
            ),
        ],
    );
}

#[test]
fn unset_messages_read_as_defaults_but_are_not_present() {
    assert_each(
        &[udp(1, 53), tcp(1, 80)],
        &[
            // As in cel-go: selecting through an unset message yields the field's default...
            ("_flow.l4.TCP.destination_port != 80u", &[true, false]),
            (
                "_flow.l4.TCP.destination_port == 0u && _flow.source.namespace == ''",
                &[true, false],
            ),
            // ...while has() reports it unset.
            ("!has(_flow.source) && !has(_flow.l4.TCP)", &[true, false]),
        ],
    );
    // Proto3 scalars are present when not their default; lists when not empty.
    assert_each(
        &[verdict_flow(Verdict::Dropped), Flow::default()],
        &[(
            "has(_flow.verdict) || has(_flow.source_names)",
            &[true, false],
        )],
    );
}

#[test]
fn endpoint_labels_and_workloads() {
    let frontend = Flow {
        source: Some(Endpoint {
            labels: strings(&["k8s:app=frontend", "k8s:tier=web"]),
            workloads: vec![Workload {
                name: "frontend".into(),
                kind: "Deployment".into(),
            }],
            ..endpoint("shop", "frontend-1")
        }),
        ..Default::default()
    };
    let backend = Flow {
        source: Some(endpoint("shop", "backend-1")),
        ..Default::default()
    };
    assert_each(
        &[frontend, backend],
        &[
            ("'k8s:app=frontend' in _flow.source.labels", &[true, false]),
            (
                "_flow.source.workloads.exists(w, w.kind == 'Deployment' && has(w.name))",
                &[true, false],
            ),
            (
                "_flow.source.namespace == 'shop' && _flow.source.pod_name.matches('^backend-')",
                &[false, true],
            ),
            ("size(_flow.source.labels) == 0", &[false, true]),
        ],
    );
}

#[test]
fn wrappers_and_timestamps() {
    let reply = Flow {
        is_reply: Some(BoolValue { value: true }),
        time: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let request = Flow {
        is_reply: Some(BoolValue { value: false }),
        ..Default::default()
    };
    assert_each(
        &[reply, request, Flow::default()],
        &[
            // A BoolValue is its bool when set, null when not.
            ("_flow.is_reply", &[true, false, false]),
            ("_flow.is_reply == null", &[false, false, true]),
            (
                "_flow.time > timestamp('2023-01-01T00:00:00Z')",
                &[true, false, false],
            ),
            // An unset Timestamp reads as the epoch.
            ("_flow.time == timestamp(0)", &[false, true, true]),
        ],
    );
}

#[test]
fn anded_with_the_other_fields_of_the_filter() {
    let flows = [
        Flow {
            source: Some(endpoint("a", "x")),
            ..tcp(1, 80)
        },
        Flow {
            source: Some(endpoint("b", "x")),
            ..tcp(1, 80)
        },
        Flow {
            source: Some(endpoint("a", "x")),
            ..tcp(1, 443)
        },
    ];
    let f = FlowFilter {
        source_pod: strings(&["a/"]),
        ..cel(&["_flow.l4.TCP.destination_port == 80u"])
    };
    assert_eq!(matching(&f, &flows), [true, false, false]);
}

#[test]
fn several_expressions_are_ored() {
    let flows = [
        verdict_flow(Verdict::Forwarded),
        verdict_flow(Verdict::Dropped),
        verdict_flow(Verdict::Error),
    ];
    let f = cel(&[
        "_flow.verdict == Verdict.DROPPED",
        "_flow.verdict == Verdict.ERROR",
    ]);
    assert_eq!(matching(&f, &flows), [false, true, true]);
}

#[test]
fn evaluation_errors_and_non_bool_results_do_not_match() {
    let flows = [verdict_flow(Verdict::Dropped)];
    // Dividing by zero fails at run time; the other expression still decides.
    let f = cel(&[
        "1 / (_flow.verdict - 2) == 1",
        "_flow.verdict == Verdict.DROPPED",
    ]);
    assert_eq!(matching(&f, &flows), [true]);
    let f = cel(&["1 / (_flow.verdict - 2) == 1"]);
    assert_eq!(matching(&f, &flows), [false]);
    // The checker cannot type an index into a list literal: a string result is no match.
    let f = cel(&["['x', true][_flow.verdict - 2]"]);
    assert_eq!(matching(&f, &flows), [false]);
}

#[test]
fn bad_expressions_are_rejected_with_the_reason() {
    for (expr, reason) in [
        ("something-invalid", "undeclared reference to 'something'"),
        ("_flow", "got \"flow.Flow\", wanted \"bool\" result type"),
        ("_flow.verdict", "got \"int\", wanted \"bool\" result type"),
        ("_flow.verdict + 1", "wanted \"bool\" result type"),
        (
            "_flow.IP.nope == ''",
            "undefined field 'nope' in message 'flow.IP'",
        ),
        (
            "has(_flow.nope)",
            "undefined field 'nope' in message 'flow.Flow'",
        ),
        (
            "_flow.verdict == Verdict.NOPE",
            "undeclared reference to 'Verdict.NOPE'",
        ),
        ("_flow.verdict ==", "Syntax error"),
        ("", "Syntax error"),
        (
            "[1].all(a, [2].all(b, [3].all(c, true)))",
            "nest deeper than 2",
        ),
    ] {
        let err = error(&cel(&["true", expr]));
        assert!(
            err.starts_with(&format!(
                "invalid filter: experimental.cel_expression: error compiling CEL expression {expr:?}: "
            )),
            "{expr}: {err}"
        );
        assert!(err.contains(reason), "{expr}: {err}");
    }
    let long = format!("_flow.node_name == '{}'", "a".repeat(4096));
    assert!(error(&cel(&[&long])).contains("exceeds limit"));
    assert!(compiles(&cel(&[
        "[1].all(a, [2].all(b, a < b)) && type(_flow.verdict) == int"
    ])));
}
