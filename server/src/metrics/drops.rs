//! `drop`: `hubble_drop_total{<context>, reason, protocol}` for DROPPED flows. The context
//! labels come first here, and `reason` is the `DropReason` enum name of
//! `drop_reason_desc` (`POLICY_DENIED`; L7 denials carry `DROP_REASON_UNKNOWN`, as in Hubble).

use flowscope_filter::FlowView;
use flowscope_proto::flow::Verdict;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Series};
use super::values;

pub struct Drops {
    drops: Series<Counter>,
    ctx: ContextOptions,
}

impl Drops {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> Drops {
        let mut labels = ctx.label_names();
        labels.extend(["reason", "protocol"]);
        Drops {
            drops: Series::register(registry, guard, "drop", "Number of drops", labels),
            ctx,
        }
    }
}

impl Handler for Drops {
    fn process(&mut self, flow: &dyn FlowView) {
        if !values::is_verdict(flow, Verdict::Dropped) {
            return;
        }
        let k = self.drops.key();
        self.ctx.write(flow, false, k);
        values::push_drop_reason(k, flow.drop_reason_desc());
        k.push(values::flow_protocol(flow));
        self.drops.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{DropReason, Verdict};

    #[test]
    fn counts_dropped_flows_by_reason_and_protocol() {
        let mut policy = l34(1, 133, Verdict::Dropped);
        policy.drop_reason_desc = DropReason::PolicyDenied as i32;
        let mut ct = l34(1, 137, Verdict::Dropped);
        ct.drop_reason_desc = DropReason::CtUnknownL4Protocol as i32;
        ct.l4 = None;
        let mut denied = http(false, "GET", 0, 0, None);
        denied.verdict = Verdict::Dropped as i32;
        let flows = [
            policy.clone(),
            policy,
            ct,
            denied,
            l34(4, 0, Verdict::Forwarded),
        ];
        assert_eq!(
            run("drop", &flows, "hubble_drop"),
            sorted(&[
                r#"hubble_drop_total{reason="POLICY_DENIED",protocol="TCP"} 2"#,
                r#"hubble_drop_total{reason="CT_UNKNOWN_L4_PROTOCOL",protocol="Unknown L4"} 1"#,
                r#"hubble_drop_total{reason="DROP_REASON_UNKNOWN",protocol="HTTP"} 1"#,
            ])
        );
    }

    #[test]
    fn context_labels_come_first() {
        let mut f = l34(1, 133, Verdict::Dropped);
        f.drop_reason_desc = 133;
        assert_eq!(
            run(
                "drop:sourceContext=pod;destinationContext=workload-name;labelsContext=source_namespace,destination_ip",
                &[f],
                "hubble_drop"
            ),
            [
                r#"hubble_drop_total{source_namespace="default",destination_ip="10.244.1.7",source="default/productpage-v1-6b746f74dc-9stvq",destination="details-v1",reason="POLICY_DENIED",protocol="TCP"} 1"#
            ]
        );
    }
}
