//! `policy`: `hubble_policy_verdicts_total{direction, match, action, <context>}`.
//!
//! Policy-verdict events (skipped when the source is the host, identity 1, which may reach
//! every local endpoint): `match` is the lower-cased match type (`l3-l4`, `all`, `none`, …).
//! L7 flows (every request and response): `match` is `l7/http`, `l7/dns` or `l7/kafka`.
//! `direction` and `action` are the lower-cased traffic direction and verdict names
//! (`ingress`, `traffic_direction_unknown`; `forwarded`, `dropped`, `audit`, `redirected`).

use flowscope_filter::{FlowView, Side};
use flowscope_proto::{names, reserved};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Series};
use super::values;

pub struct PolicyVerdicts {
    verdicts: Series<Counter>,
    ctx: ContextOptions,
}

impl PolicyVerdicts {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> PolicyVerdicts {
        let mut labels = vec!["direction", "match", "action"];
        labels.extend(ctx.label_names());
        PolicyVerdicts {
            verdicts: Series::register(
                registry,
                guard,
                "policy_verdicts",
                "Total number of Cilium network policy verdicts",
                labels,
            ),
            ctx,
        }
    }
}

impl Handler for PolicyVerdicts {
    fn process(&mut self, flow: &dyn FlowView) {
        let event_type = values::event_type(flow);
        let k = self.verdicts.key();
        match event_type {
            names::MESSAGE_TYPE_POLICY_VERDICT => {
                if flow.endpoint(Side::Source).map_or(0, |s| s.identity) == reserved::HOST {
                    return;
                }
                values::push_direction_lower(k, flow.traffic_direction());
                k.push_lower(names::policy_match_type(flow.policy_match_type()));
            }
            names::MESSAGE_TYPE_ACCESS_LOG => {
                values::push_direction_lower(k, flow.traffic_direction());
                k.begin();
                k.extend("l7/");
                k.extend(match values::l7_record(flow) {
                    "DNS" => "dns",
                    "HTTP" => "http",
                    "Kafka" => "kafka",
                    _ => "",
                });
                k.end();
            }
            _ => return,
        }
        values::push_verdict_lower(k, flow.verdict());
        self.ctx.write(flow, false, k);
        self.verdicts.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{Verdict, layer7};

    fn verdict(match_type: u32, dir: i32, v: Verdict) -> flowscope_proto::flow::Flow {
        let mut f = l34(5, 0, v);
        f.policy_match_type = match_type;
        f.traffic_direction = dir;
        f
    }

    #[test]
    fn policy_verdict_events() {
        let mut from_host = verdict(2, 1, Verdict::Forwarded);
        if let Some(s) = &mut from_host.source {
            s.identity = 1;
        }
        let flows = [
            verdict(2, 2, Verdict::Forwarded),
            verdict(2, 2, Verdict::Forwarded),
            verdict(1, 1, Verdict::Dropped),
            verdict(4, 1, Verdict::Audit),
            verdict(0, 0, Verdict::Redirected),
            verdict(5, 2, Verdict::Forwarded),
            verdict(6, 2, Verdict::Forwarded),
            verdict(3, 2, Verdict::Forwarded),
            verdict(9, 2, Verdict::Forwarded),
            from_host,
            // Not a policy verdict.
            l34(4, 0, Verdict::Forwarded),
        ];
        assert_eq!(
            run("policy", &flows, "hubble_policy_verdicts"),
            sorted(&[
                r#"hubble_policy_verdicts_total{direction="egress",match="l3-l4",action="forwarded"} 2"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="l3-only",action="dropped"} 1"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="all",action="audit"} 1"#,
                r#"hubble_policy_verdicts_total{direction="traffic_direction_unknown",match="none",action="redirected"} 1"#,
                r#"hubble_policy_verdicts_total{direction="egress",match="l3-proto",action="forwarded"} 1"#,
                r#"hubble_policy_verdicts_total{direction="egress",match="proto-only",action="forwarded"} 1"#,
                r#"hubble_policy_verdicts_total{direction="egress",match="l4-only",action="forwarded"} 1"#,
                r#"hubble_policy_verdicts_total{direction="egress",match="unknown",action="forwarded"} 1"#,
            ])
        );
    }

    #[test]
    fn l7_flows_count_as_l7_matches() {
        let mut denied = http(false, "GET", 0, 0, None);
        denied.verdict = Verdict::Dropped as i32;
        let mut dns = http(false, "GET", 0, 0, None);
        if let Some(l7) = &mut dns.l7 {
            l7.record = Some(layer7::Record::Dns(Default::default()));
        }
        let mut none = http(false, "GET", 0, 0, None);
        if let Some(l7) = &mut none.l7 {
            l7.record = None;
        }
        let flows = [
            http(false, "GET", 0, 0, None),
            http(true, "GET", 200, 1, None),
            denied,
            dns,
            none,
        ];
        assert_eq!(
            run(
                "policy:sourceContext=workload-name;labelsContext=source_namespace",
                &flows,
                "hubble_policy_verdicts"
            ),
            sorted(&[
                r#"hubble_policy_verdicts_total{direction="ingress",match="l7/http",action="forwarded",source_namespace="default",source="productpage-v1"} 1"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="l7/http",action="forwarded",source_namespace="default",source="details-v1"} 1"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="l7/http",action="dropped",source_namespace="default",source="productpage-v1"} 1"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="l7/dns",action="forwarded",source_namespace="default",source="productpage-v1"} 1"#,
                r#"hubble_policy_verdicts_total{direction="ingress",match="l7/",action="forwarded",source_namespace="default",source="productpage-v1"} 1"#,
            ])
        );
    }
}
