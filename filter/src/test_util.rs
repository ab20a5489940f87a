//! Builders and shorthands shared by the unit tests.

use flowscope_proto::flow::{Endpoint, Flow, FlowFilter, Http, Layer4, Layer7, layer4, layer7};

use crate::{Filter, FlowFilters};

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// Whether `filter` alone matches `flow`. Also checks that the same filter used as a
/// blacklist excludes exactly what it matches, and that `Filter` agrees.
pub(crate) fn matches(filter: &FlowFilter, flow: &Flow) -> bool {
    let white = FlowFilters::new(std::slice::from_ref(filter), &[]).expect("filter compiles");
    let black = FlowFilters::new(&[], std::slice::from_ref(filter)).expect("filter compiles");
    let single = Filter::new(filter).expect("filter compiles");
    let result = white.matches_flow(flow);
    assert_eq!(black.matches_flow(flow), !result, "blacklist disagrees");
    assert_eq!(single.matches_flow(flow), result, "Filter disagrees");
    result
}

/// The error text of a filter that must not compile.
pub(crate) fn error(filter: &FlowFilter) -> String {
    match FlowFilters::new(std::slice::from_ref(filter), &[]) {
        Ok(_) => panic!("expected {filter:?} to be rejected"),
        Err(e) => {
            // Rejected the same way as a blacklist entry.
            let black = FlowFilters::new(&[], std::slice::from_ref(filter));
            assert_eq!(black.err().map(|b| b.to_string()), Some(e.to_string()));
            e.to_string()
        }
    }
}

pub(crate) fn compiles(filter: &FlowFilter) -> bool {
    FlowFilters::new(std::slice::from_ref(filter), &[]).is_ok()
}

pub(crate) fn endpoint(namespace: &str, pod: &str) -> Endpoint {
    Endpoint {
        namespace: namespace.into(),
        pod_name: pod.into(),
        ..Default::default()
    }
}

pub(crate) fn l4_flow(protocol: layer4::Protocol) -> Flow {
    Flow {
        l4: Some(Layer4 {
            protocol: Some(protocol),
        }),
        ..Default::default()
    }
}

pub(crate) fn l7_flow(record: layer7::Record) -> Flow {
    Flow {
        l7: Some(Layer7 {
            record: Some(record),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An L7 HTTP flow whose record `edit` fills in.
pub(crate) fn http_flow(edit: impl FnOnce(&mut Http)) -> Flow {
    let mut http = Http::default();
    edit(&mut http);
    l7_flow(layer7::Record::Http(http))
}
