//! `flow`: `hubble_flows_processed_total{protocol, type, subtype, verdict, <context>}`, every
//! flow counted once.

use flowscope_filter::FlowView;
use flowscope_proto::names;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Key, Series};
use super::values;

pub struct FlowsProcessed {
    flows: Series<Counter>,
    ctx: ContextOptions,
}

impl FlowsProcessed {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> FlowsProcessed {
        let mut labels = vec!["protocol", "type", "subtype", "verdict"];
        labels.extend(ctx.label_names());
        FlowsProcessed {
            flows: Series::register(
                registry,
                guard,
                "flows_processed",
                "Total number of flows processed",
                labels,
            ),
            ctx,
        }
    }
}

/// The `type` and `subtype` labels: `L7`/`DNS|HTTP|Kafka`, `Drop`, `Capture`,
/// `Trace`/<obs point>, `PolicyVerdict`, else `Unknown`/<event type number>.
fn push_type_and_subtype(key: &mut Key, flow: &dyn FlowView) {
    let event_type = values::event_type(flow);
    let (type_name, subtype) = match event_type {
        names::MESSAGE_TYPE_ACCESS_LOG => ("L7", values::l7_record(flow)),
        names::MESSAGE_TYPE_DROP => ("Drop", ""),
        names::MESSAGE_TYPE_CAPTURE => ("Capture", ""),
        names::MESSAGE_TYPE_TRACE => {
            // Go: TraceObservationPoints[uint8(SubType)], "" when unknown.
            let sub = flow.event_type().map_or(0, |e| e.1) as u8;
            ("Trace", names::datapath_obs_point_name(sub).unwrap_or(""))
        }
        names::MESSAGE_TYPE_POLICY_VERDICT => ("PolicyVerdict", ""),
        other => {
            key.push("Unknown");
            key.begin();
            if other < 0 {
                key.extend("-");
            }
            key.extend_u64(u64::from(other.unsigned_abs()));
            key.end();
            return;
        }
    };
    key.push(type_name);
    key.push(subtype);
}

impl Handler for FlowsProcessed {
    fn process(&mut self, flow: &dyn FlowView) {
        let k = self.flows.key();
        k.push(values::flow_protocol(flow));
        push_type_and_subtype(k, flow);
        values::push_verdict(k, flow.verdict());
        self.ctx.write(flow, false, k);
        self.flows.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{CiliumEventType, Verdict};

    #[test]
    fn labels_for_every_event_type() {
        let mut unknown = l34(7, 2, Verdict::Translated);
        unknown.r#type = 3;
        let mut bad_obs = l34(4, 42, Verdict::Forwarded);
        bad_obs.verdict = 42;
        let mut no_event = l34(4, 0, Verdict::Unknown);
        no_event.event_type = None;
        let flows = [
            l34(4, 0, Verdict::Forwarded),
            l34(4, 0, Verdict::Forwarded),
            l34(4, 3, Verdict::Forwarded),
            l34(1, 133, Verdict::Dropped),
            l34(3, 4, Verdict::Forwarded),
            l34(5, 0, Verdict::Redirected),
            http(false, "GET", 0, 0, None),
            http(true, "GET", 200, 3, None),
            unknown,
            bad_obs,
            no_event,
        ];
        assert_eq!(
            run("flow", &flows, "hubble_flows_processed"),
            sorted(&[
                r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="to-endpoint",verdict="FORWARDED"} 2"#,
                r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="to-stack",verdict="FORWARDED"} 1"#,
                r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="",verdict="42"} 1"#,
                r#"hubble_flows_processed_total{protocol="TCP",type="Drop",subtype="",verdict="DROPPED"} 1"#,
                r#"hubble_flows_processed_total{protocol="TCP",type="Capture",subtype="",verdict="FORWARDED"} 1"#,
                r#"hubble_flows_processed_total{protocol="TCP",type="PolicyVerdict",subtype="",verdict="REDIRECTED"} 1"#,
                r#"hubble_flows_processed_total{protocol="HTTP",type="L7",subtype="HTTP",verdict="FORWARDED"} 2"#,
                r#"hubble_flows_processed_total{protocol="Unknown flow",type="Unknown",subtype="7",verdict="TRANSLATED"} 1"#,
                r#"hubble_flows_processed_total{protocol="Unknown flow",type="Unknown",subtype="0",verdict="VERDICT_UNKNOWN"} 1"#,
            ])
        );
    }

    #[test]
    fn context_labels_follow_the_handler_labels() {
        let mut f = l34(4, 0, Verdict::Forwarded);
        f.event_type = Some(CiliumEventType {
            r#type: 4,
            sub_type: 5,
        });
        assert_eq!(
            run(
                "flow:sourceContext=namespace;destinationContext=pod-short;labelsContext=traffic_direction,source_app",
                &[f],
                "hubble_flows_processed"
            ),
            [
                r#"hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="from-endpoint",verdict="FORWARDED",source_app="productpage",traffic_direction="egress",source="default",destination="default/details-v1"} 1"#
            ]
        );
    }
}
