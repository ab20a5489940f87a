//! `flows-to-world`: `hubble_flows_to_world_total{protocol, verdict[, port], <context>}`:
//! flows whose destination carries `reserved:world`.
//!
//! Drops count only when policy denied them, unless `any-drop`; forwarded replies are
//! skipped (ephemeral ports); `syn-only` keeps only TCP SYNs that are not replies; `port`
//! adds the TCP/UDP/SCTP destination port (empty for other protocols).

use flowscope_filter::{FlowView, L4Ref, Side, tcp_flag};
use flowscope_proto::flow::{DropReason, Verdict};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Series};
use super::values;

const WORLD: &str = "reserved:world";

/// The handler's own options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub any_drop: bool,
    pub port: bool,
    pub syn_only: bool,
}

pub struct FlowsToWorld {
    flows: Series<Counter>,
    ctx: ContextOptions,
    opts: Options,
}

impl FlowsToWorld {
    pub fn new(
        registry: &mut Registry,
        guard: &Guard,
        ctx: ContextOptions,
        opts: Options,
    ) -> FlowsToWorld {
        let mut labels = vec!["protocol", "verdict"];
        if opts.port {
            labels.push("port");
        }
        labels.extend(ctx.label_names());
        FlowsToWorld {
            flows: Series::register(
                registry,
                guard,
                "flows_to_world",
                "Total number of flows to reserved:world",
                labels,
            ),
            ctx,
            opts,
        }
    }
}

impl Handler for FlowsToWorld {
    fn process(&mut self, flow: &dyn FlowView) {
        let Some(dst) = flow.endpoint(Side::Destination) else {
            return;
        };
        let l4 = flow.l4();
        if l4 == L4Ref::None {
            return;
        }
        if flow.event_type().is_none() || !dst.labels.iter().any(|l| l == WORLD) {
            return;
        }
        let dropped = values::is_verdict(flow, Verdict::Dropped);
        if dropped
            && !self.opts.any_drop
            && flow.drop_reason_desc() != DropReason::PolicyDenied as i32
        {
            return;
        }
        let reply = flow.is_reply().unwrap_or(false);
        if !dropped && reply {
            return;
        }
        if self.opts.syn_only {
            let syn = match l4 {
                L4Ref::Tcp { flags: Some(f), .. } => f & tcp_flag::SYN != 0,
                _ => false,
            };
            if !syn || reply {
                return;
            }
        }
        let k = self.flows.key();
        k.push(values::flow_protocol(flow));
        values::push_verdict(k, flow.verdict());
        if self.opts.port {
            k.begin();
            if let Some((_, port)) = l4.ports() {
                k.extend_u64(u64::from(port));
            }
            k.end();
        }
        self.ctx.write(flow, false, k);
        self.flows.with(|c| {
            c.inc();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{DropReason, Flow, IcmPv4, Layer4, TcpFlags, Verdict, layer4};

    fn to_world(event_type: i32, v: Verdict) -> Flow {
        let mut f = l34(event_type, 0, v);
        f.destination = Some(world());
        f
    }

    fn syn(f: Flow, syn: bool) -> Flow {
        with_flags(
            f,
            TcpFlags {
                syn,
                ..Default::default()
            },
        )
    }

    fn flows() -> Vec<Flow> {
        let mut policy_drop = to_world(1, Verdict::Dropped);
        policy_drop.drop_reason_desc = DropReason::PolicyDenied as i32;
        let mut other_drop = to_world(1, Verdict::Dropped);
        other_drop.drop_reason_desc = DropReason::CtMapInsertionFailed as i32;
        let mut icmp = to_world(4, Verdict::Forwarded);
        icmp.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::IcmPv4(IcmPv4 { r#type: 8, code: 0 })),
        });
        let mut no_event = to_world(4, Verdict::Forwarded);
        no_event.event_type = None;
        vec![
            syn(
                with_reply(to_world(4, Verdict::Forwarded), Some(false)),
                true,
            ),
            syn(with_reply(to_world(4, Verdict::Forwarded), None), false),
            with_reply(to_world(4, Verdict::Forwarded), Some(true)),
            policy_drop,
            other_drop,
            icmp,
            no_event,
            // Not to world.
            l34(4, 0, Verdict::Forwarded),
        ]
    }

    #[test]
    fn default_options() {
        assert_eq!(
            run("flows-to-world", &flows(), "hubble_flows_to_world"),
            sorted(&[
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="FORWARDED"} 2"#,
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="DROPPED"} 1"#,
                r#"hubble_flows_to_world_total{protocol="ICMPv4",verdict="FORWARDED"} 1"#,
            ])
        );
    }

    #[test]
    fn any_drop_and_port() {
        assert_eq!(
            run(
                "flows-to-world:any-drop;port;sourceContext=namespace",
                &flows(),
                "hubble_flows_to_world"
            ),
            sorted(&[
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="FORWARDED",port="9080",source="default"} 2"#,
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="DROPPED",port="9080",source="default"} 2"#,
                r#"hubble_flows_to_world_total{protocol="ICMPv4",verdict="FORWARDED",port="",source="default"} 1"#,
            ])
        );
    }

    #[test]
    fn syn_only() {
        let mut syn_drop = syn(to_world(1, Verdict::Dropped), true);
        syn_drop.drop_reason_desc = DropReason::PolicyDenied as i32;
        let mut syn_reply_drop = syn(with_reply(to_world(1, Verdict::Dropped), Some(true)), true);
        syn_reply_drop.drop_reason_desc = DropReason::PolicyDenied as i32;
        let mut all = flows();
        all.extend([syn_drop, syn_reply_drop]);
        assert_eq!(
            run("flows-to-world:syn-only", &all, "hubble_flows_to_world"),
            sorted(&[
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="FORWARDED"} 1"#,
                r#"hubble_flows_to_world_total{protocol="TCP",verdict="DROPPED"} 1"#,
            ])
        );
    }
}
