//! `tcp`: `hubble_tcp_flags_total{flag, family, <context>}`: FIN, SYN, SYN-ACK and RST
//! occurrences in FORWARDED/REDIRECTED TCP flows (one flow may count several flags).

use flowscope_filter::{FlowView, L4Ref, tcp_flag};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Key, Series};
use super::values;

pub struct TcpFlags {
    flags: Series<Counter>,
    ctx: ContextOptions,
    /// The family and context values, written once per flow and copied per flag.
    rest: Key,
}

impl TcpFlags {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> TcpFlags {
        let mut labels = vec!["flag", "family"];
        labels.extend(ctx.label_names());
        TcpFlags {
            flags: Series::register(registry, guard, "tcp_flags", "TCP flag occurrences", labels),
            ctx,
            rest: Key::default(),
        }
    }

    fn count(&mut self, flag: &str) {
        let k = self.flags.key();
        k.push(flag);
        k.append(&self.rest);
        self.flags.with(|c| {
            c.inc();
        });
    }
}

impl Handler for TcpFlags {
    fn process(&mut self, flow: &dyn FlowView) {
        if !values::is_forwarded_or_redirected(flow) || !flow.has_ip() {
            return;
        }
        let L4Ref::Tcp {
            flags: Some(flags), ..
        } = flow.l4()
        else {
            return;
        };
        self.rest.clear();
        values::push_ip_version(&mut self.rest, flow.ip_version());
        self.ctx.write(flow, false, &mut self.rest);
        if flags & tcp_flag::FIN != 0 {
            self.count("FIN");
        }
        if flags & tcp_flag::SYN != 0 {
            self.count(if flags & tcp_flag::ACK != 0 {
                "SYN-ACK"
            } else {
                "SYN"
            });
        }
        if flags & tcp_flag::RST != 0 {
            self.count("RST");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::{TcpFlags, Verdict};

    fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
        TcpFlags {
            syn,
            ack,
            fin,
            rst,
            ..Default::default()
        }
    }

    #[test]
    fn counts_flags_of_forwarded_tcp_flows() {
        let mut v6 = with_flags(
            l34(4, 0, Verdict::Redirected),
            flags(true, false, false, false),
        );
        if let Some(ip) = &mut v6.ip {
            ip.ip_version = 2;
        }
        let mut no_ip = with_flags(
            l34(4, 0, Verdict::Forwarded),
            flags(true, false, false, false),
        );
        no_ip.ip = None;
        let flows = [
            with_flags(
                l34(4, 0, Verdict::Forwarded),
                flags(true, false, false, false),
            ),
            with_flags(
                l34(4, 0, Verdict::Forwarded),
                flags(true, true, false, false),
            ),
            // FIN and RST in one flow count once each.
            with_flags(
                l34(4, 0, Verdict::Forwarded),
                flags(false, true, true, true),
            ),
            v6,
            // Not counted: dropped, no flags, no IP.
            with_flags(
                l34(1, 133, Verdict::Dropped),
                flags(true, false, false, false),
            ),
            l34(4, 0, Verdict::Forwarded),
            no_ip,
        ];
        assert_eq!(
            run("tcp", &flows, "hubble_tcp_flags"),
            sorted(&[
                r#"hubble_tcp_flags_total{flag="SYN",family="IPv4"} 1"#,
                r#"hubble_tcp_flags_total{flag="SYN-ACK",family="IPv4"} 1"#,
                r#"hubble_tcp_flags_total{flag="FIN",family="IPv4"} 1"#,
                r#"hubble_tcp_flags_total{flag="RST",family="IPv4"} 1"#,
                r#"hubble_tcp_flags_total{flag="SYN",family="IPv6"} 1"#,
            ])
        );
    }

    #[test]
    fn context_labels_follow() {
        let f = with_flags(
            l34(4, 0, Verdict::Forwarded),
            flags(true, false, true, false),
        );
        assert_eq!(
            run(
                "tcp:sourceContext=app;labelsContext=destination_pod",
                &[f],
                "hubble_tcp_flags"
            ),
            sorted(&[
                r#"hubble_tcp_flags_total{flag="FIN",family="IPv4",destination_pod="details-v1-79f774bdb9-x2x4k",source="productpage"} 1"#,
                r#"hubble_tcp_flags_total{flag="SYN",family="IPv4",destination_pod="details-v1-79f774bdb9-x2x4k",source="productpage"} 1"#,
            ])
        );
    }
}
