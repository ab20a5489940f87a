//! Whitelist/blacklist combination, non-flow events and unsupported fields.

use flowscope_proto::flow::{
    CiliumEventType, Endpoint, EventTypeFilter, Flow, FlowFilter, LostEvent, Verdict, flow_filter,
};
use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::relay::NodeStatusEvent;

use crate::test_util::*;
use crate::{Filter, FlowFilters};

fn flow(ns: &str, pod: &str, identity: u32, verdict: Verdict) -> Flow {
    Flow {
        verdict: verdict as i32,
        source: Some(Endpoint {
            identity,
            ..endpoint(ns, pod)
        }),
        event_type: Some(CiliumEventType {
            r#type: 4,
            sub_type: 3,
        }),
        ..Default::default()
    }
}

fn filters(white: &[FlowFilter], black: &[FlowFilter]) -> FlowFilters {
    FlowFilters::new(white, black).expect("filters compile")
}

fn pod(p: &str) -> FlowFilter {
    FlowFilter {
        source_pod: strings(&[p]),
        ..Default::default()
    }
}

fn verdict(v: Verdict) -> FlowFilter {
    FlowFilter {
        verdict: vec![v as i32],
        ..Default::default()
    }
}

fn event_type(t: i32) -> FlowFilter {
    FlowFilter {
        event_type: vec![EventTypeFilter {
            r#type: t,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn lost() -> GetFlowsResponse {
    GetFlowsResponse {
        response_types: Some(ResponseTypes::LostEvents(LostEvent {
            source: 2,
            num_events_lost: 42,
            ..Default::default()
        })),
        node_name: "kind-worker".into(),
        ..Default::default()
    }
}

fn node_status() -> GetFlowsResponse {
    GetFlowsResponse {
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent::default())),
        ..Default::default()
    }
}

fn response(f: Flow) -> GetFlowsResponse {
    GetFlowsResponse {
        response_types: Some(ResponseTypes::Flow(f)),
        ..Default::default()
    }
}

#[test]
fn empty_lists_allow_everything() {
    let all = FlowFilters::allow_all();
    assert!(all.is_allow_all());
    assert!(all.matches_flow(&Flow::default()));
    assert!(all.matches_response(&lost()));
    assert!(all.matches_response(&node_status()));
    assert!(all.matches_response(&GetFlowsResponse::default()));
    let compiled = filters(&[], &[]);
    assert!(compiled.is_allow_all());
    assert!(compiled.matches_flow(&flow("default", "x", 1, Verdict::Dropped)));
}

#[test]
fn empty_filter_matches_everything() {
    let f = FlowFilter::default();
    assert!(Filter::new(&f).expect("compiles").is_empty());
    assert!(filters(std::slice::from_ref(&f), &[]).matches_flow(&Flow::default()));
    // In the blacklist it therefore excludes everything, lost events included.
    let black = filters(&[], &[f]);
    assert!(!black.matches_flow(&Flow::default()));
    assert!(!black.matches_response(&lost()));
    assert!(!black.matches_response(&node_status()));
}

#[test]
fn whitelist_is_ored() {
    let f = filters(&[pod("client"), pod("kube-system/")], &[]);
    assert!(f.matches_flow(&flow("default", "client-1", 1, Verdict::Forwarded)));
    assert!(f.matches_flow(&flow("kube-system", "coredns", 1, Verdict::Forwarded)));
    assert!(!f.matches_flow(&flow("default", "server", 1, Verdict::Forwarded)));
}

#[test]
fn fields_within_a_filter_are_anded() {
    let f = FlowFilter {
        source_pod: strings(&["client"]),
        verdict: vec![Verdict::Dropped as i32],
        source_identity: vec![25000],
        ..Default::default()
    };
    assert!(matches(
        &f,
        &flow("default", "client", 25000, Verdict::Dropped)
    ));
    assert!(!matches(
        &f,
        &flow("default", "client", 25000, Verdict::Forwarded)
    ));
    assert!(!matches(
        &f,
        &flow("default", "client", 25001, Verdict::Dropped)
    ));
    assert!(!matches(
        &f,
        &flow("default", "server", 25000, Verdict::Dropped)
    ));
}

#[test]
fn values_within_a_field_are_ored() {
    let f = FlowFilter {
        verdict: vec![Verdict::Dropped as i32, Verdict::Audit as i32],
        source_identity: vec![1, 2],
        ..Default::default()
    };
    assert!(matches(&f, &flow("", "", 1, Verdict::Audit)));
    assert!(matches(&f, &flow("", "", 2, Verdict::Dropped)));
    assert!(!matches(&f, &flow("", "", 3, Verdict::Dropped)));
}

#[test]
fn blacklist_subtracts_from_whitelist() {
    // `--from-pod default/client --not --verdict DROPPED`
    let f = filters(&[pod("default/client")], &[verdict(Verdict::Dropped)]);
    assert!(f.matches_flow(&flow("default", "client", 1, Verdict::Forwarded)));
    assert!(!f.matches_flow(&flow("default", "client", 1, Verdict::Dropped)));
    assert!(!f.matches_flow(&flow("default", "server", 1, Verdict::Forwarded)));

    // Blacklist alone: everything except what it matches.
    let f = filters(&[], &[verdict(Verdict::Dropped), pod("kube-system/")]);
    assert!(f.matches_flow(&flow("default", "client", 1, Verdict::Forwarded)));
    assert!(!f.matches_flow(&flow("default", "client", 1, Verdict::Dropped)));
    assert!(!f.matches_flow(&flow("kube-system", "x", 1, Verdict::Forwarded)));
}

#[test]
fn lost_events_and_event_type() {
    // Event-type filters always match lost events.
    let f = filters(&[event_type(4)], &[]);
    assert!(f.matches_response(&lost()));
    assert!(f.matches_lost_event());
    assert!(f.matches_response(&response(flow("", "", 0, Verdict::Forwarded))));
    let f = filters(&[event_type(129)], &[]);
    assert!(f.matches_response(&lost()));
    assert!(!f.matches_response(&response(flow("", "", 0, Verdict::Forwarded))));

    // Verdict and other flow fields never match lost events.
    let f = filters(&[verdict(Verdict::Dropped)], &[]);
    assert!(!f.matches_response(&lost()));
    // ... also when combined with an event type in the same filter.
    let mut both = event_type(4);
    both.verdict = vec![Verdict::Dropped as i32];
    assert!(!filters(&[both], &[]).matches_response(&lost()));
    // ... but a lost event passes another whitelist entry.
    assert!(filters(&[pod("x"), event_type(1)], &[]).matches_response(&lost()));

    // Negated flow fields do not exclude lost events ...
    let f = filters(&[], &[verdict(Verdict::Dropped)]);
    assert!(f.matches_response(&lost()));
    // ... a negated event type does, because event-type filters match lost events.
    let f = filters(&[], &[event_type(4)]);
    assert!(!f.matches_response(&lost()));
}

#[test]
fn node_status_events() {
    assert!(!filters(&[event_type(4)], &[]).matches_response(&node_status()));
    assert!(!filters(&[verdict(Verdict::Dropped)], &[]).matches_response(&node_status()));
    assert!(filters(&[], &[verdict(Verdict::Dropped)]).matches_response(&node_status()));
    assert!(filters(&[], &[event_type(4)]).matches_response(&node_status()));
    assert!(
        !filters(&[verdict(Verdict::Dropped)], &[]).matches_response(&GetFlowsResponse::default())
    );
}

#[test]
fn responses_with_flows_use_flow_semantics() {
    let f = filters(&[pod("client")], &[verdict(Verdict::Dropped)]);
    assert!(f.matches_response(&response(flow("default", "client", 1, Verdict::Forwarded))));
    assert!(!f.matches_response(&response(flow("default", "client", 1, Verdict::Dropped))));
    assert!(!f.matches_response(&response(flow("other", "client", 1, Verdict::Forwarded))));
}

#[test]
fn an_empty_experimental_block_sets_nothing() {
    let empty = FlowFilter {
        experimental: Some(flow_filter::Experimental::default()),
        ..Default::default()
    };
    assert!(Filter::new(&empty).expect("compiles").is_empty());
}

#[test]
fn first_bad_filter_is_reported_from_either_list() {
    let good = pod("x");
    let bad = FlowFilter {
        protocol: strings(&["foo"]),
        ..Default::default()
    };
    let err = FlowFilters::new(std::slice::from_ref(&good), &[good.clone(), bad])
        .expect_err("bad protocol");
    assert_eq!(err.field(), "protocol");
    assert_eq!(
        err.to_string(),
        "invalid filter: protocol: unknown protocol \"foo\""
    );
}

#[test]
fn every_error_names_its_field() {
    let cases: Vec<(FlowFilter, &str)> = vec![
        (
            FlowFilter {
                source_ip: strings(&["x"]),
                ..Default::default()
            },
            "source_ip",
        ),
        (
            FlowFilter {
                destination_pod: strings(&[""]),
                ..Default::default()
            },
            "destination_pod",
        ),
        (
            FlowFilter {
                http_path: strings(&["("]),
                ..Default::default()
            },
            "http_path",
        ),
        (
            FlowFilter {
                http_status_code: strings(&["abc"]),
                ..Default::default()
            },
            "http_status_code",
        ),
        (
            FlowFilter {
                destination_port: strings(&["99999"]),
                ..Default::default()
            },
            "destination_port",
        ),
        (
            FlowFilter {
                node_name: strings(&["a/b/c"]),
                ..Default::default()
            },
            "node_name",
        ),
        (
            FlowFilter {
                source_label: strings(&["a in"]),
                ..Default::default()
            },
            "source_label",
        ),
    ];
    for (f, field) in cases {
        let err = Filter::new(&f).expect_err("invalid");
        assert_eq!(err.field(), field);
        assert!(
            err.to_string()
                .starts_with(&format!("invalid filter: {field}: ")),
            "{err}"
        );
    }
}

#[test]
fn filters_are_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<FlowFilters>();
    assert_traits::<Filter>();
}
