//! `dns`: DNS queries and responses of L7 DNS flows.
//!
//! - `hubble_dns_queries_total{<ctx>, rcode, qtypes, ips_returned[, query]}`: requests
//!   (`rcode=""`) and DROPPED flows (`rcode="Policy denied"`);
//! - `hubble_dns_responses_total{…same labels…}`: replies, with the rcode's name;
//! - `hubble_dns_response_types_total{<ctx>, type, qtypes[, query]}`: one count per answer
//!   record type of a reply.
//!
//! `qtypes` are the question types joined with `,`. Options: `query` adds the query name
//! label, `ignoreAAAA` skips flows whose only question type is `AAAA`. Only sources that
//! carry DNS records (proto flows read with `--input-file`, for instance) feed it: flowd's
//! own records hold no DNS yet.

use flowscope_filter::{DnsRef, FlowView};
use flowscope_proto::flow::Verdict;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::Handler;
use super::context::ContextOptions;
use super::series::{Guard, Key, Series};
use super::values;

/// Hubble's `rcodeNames`: the IANA names of DNS return codes it knows; others are `""`.
pub fn rcode_name(rcode: u32) -> &'static str {
    match rcode {
        0 => "No Error",
        1 => "Format Error",
        2 => "Server Failure",
        3 => "Non-Existent Domain",
        4 => "Not Implemented",
        5 => "Query Refused",
        6 => "Name Exists when it should not",
        7 => "RR Set Exists when it should not",
        8 => "RR Set that should exist does not",
        9 => "Not Authorized",
        10 => "Name not contained in zone",
        11 => "DSO-TYPE Not Implemented",
        16 => "Bad OPT Version",
        17 => "Key not recognized",
        18 => "Signature out of time window",
        19 => "Bad TKEY Mode",
        20 => "Duplicate key name",
        21 => "Algorithm not supported",
        22 => "Bad Truncation",
        23 => "Bad/missing Server Cookie",
        _ => "",
    }
}

/// The `dns` handler's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `query`: label series with the query name.
    pub query: bool,
    /// `ignoreAAAA`: skip flows asking only for AAAA records.
    pub ignore_aaaa: bool,
}

pub struct Dns {
    queries: Series<Counter>,
    responses: Series<Counter>,
    response_types: Series<Counter>,
    ctx: ContextOptions,
    opts: Options,
    /// The context values of the current flow, copied into each series' key.
    ctx_values: Key,
}

impl Dns {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions, opts: Options) -> Dns {
        let labels = |own: &[&'static str]| {
            let mut l = ctx.label_names();
            l.extend_from_slice(own);
            if opts.query {
                l.push("query");
            }
            l
        };
        let common = labels(&["rcode", "qtypes", "ips_returned"]);
        // Hubble registers the three with one help text.
        const HELP: &str = "Number of DNS queries observed";
        Dns {
            queries: Series::register(registry, guard, "dns_queries", HELP, common.clone()),
            responses: Series::register(registry, guard, "dns_responses", HELP, common),
            response_types: Series::register(
                registry,
                guard,
                "dns_response_types",
                HELP,
                labels(&["type", "qtypes"]),
            ),
            ctx,
            opts,
            ctx_values: Key::default(),
        }
    }
}

fn push_qtypes(k: &mut Key, dns: &DnsRef<'_>) {
    k.begin();
    for (i, q) in dns.qtypes.iter().enumerate() {
        if i > 0 {
            k.extend(",");
        }
        k.extend(q);
    }
    k.end();
}

impl Handler for Dns {
    fn process(&mut self, flow: &dyn FlowView) {
        let Some(dns) = flow.dns() else {
            return;
        };
        if self.opts.ignore_aaaa && dns.qtypes.len() == 1 && dns.qtypes.iter().eq(["AAAA"]) {
            return;
        }
        self.ctx_values.clear();
        self.ctx.write(flow, false, &mut self.ctx_values);
        let query = self.opts.query.then_some(dns.query);
        let dropped = values::is_verdict(flow, Verdict::Dropped);
        let reply = flow.is_reply() == Some(true);
        let (series, rcode) = if dropped {
            (&mut self.queries, "Policy denied")
        } else if !reply {
            (&mut self.queries, "")
        } else {
            (&mut self.responses, rcode_name(dns.rcode))
        };
        let k = series.key();
        k.append(&self.ctx_values);
        k.push(rcode);
        push_qtypes(k, &dns);
        k.push_u64(dns.ips_returned as u64);
        if let Some(q) = query {
            k.push(q);
        }
        series.with(|c| {
            c.inc();
        });
        if dropped || !reply {
            return;
        }
        for rrtype in dns.rrtypes.iter() {
            let k = self.response_types.key();
            k.append(&self.ctx_values);
            k.push(rrtype);
            push_qtypes(k, &dns);
            if let Some(q) = query {
                k.push(q);
            }
            self.response_types.with(|c| {
                c.inc();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use flowscope_proto::flow::Flow;

    #[test]
    fn rcode_names_as_hubble() {
        assert_eq!(rcode_name(0), "No Error");
        assert_eq!(rcode_name(3), "Non-Existent Domain");
        assert_eq!(rcode_name(23), "Bad/missing Server Cookie");
        assert_eq!(rcode_name(12), "");
        assert_eq!(rcode_name(4096), "");
    }

    fn requests_and_responses() -> Vec<Flow> {
        let a = dns(false, "example.com.", &["A"], 0, &[], &[]);
        let a_reply = dns(
            true,
            "example.com.",
            &["A"],
            0,
            &["93.184.216.34", "93.184.216.35"],
            &["A", "A"],
        );
        let aaaa = dns(false, "example.com.", &["AAAA"], 0, &[], &[]);
        let nx = dns(true, "nope.example.", &["A", "AAAA"], 3, &[], &["SOA"]);
        let mut denied = dns(false, "evil.example.", &["A"], 0, &[], &[]);
        denied.verdict = Verdict::Dropped as i32;
        // A dropped reply still counts as a query, as in Hubble.
        let mut denied_reply = dns(true, "evil.example.", &["A"], 5, &[], &["A"]);
        denied_reply.verdict = Verdict::Dropped as i32;
        // Not DNS: ignored.
        let other = http(false, "GET", 0, 0, None);
        vec![a, a_reply, aaaa, nx, denied, denied_reply, other]
    }

    #[test]
    fn queries_responses_and_response_types() {
        let lines = run("dns", &requests_and_responses(), "hubble_dns");
        assert_eq!(
            lines,
            sorted(&[
                r#"hubble_dns_queries_total{rcode="",qtypes="A",ips_returned="0"} 1"#,
                r#"hubble_dns_queries_total{rcode="",qtypes="AAAA",ips_returned="0"} 1"#,
                r#"hubble_dns_queries_total{rcode="Policy denied",qtypes="A",ips_returned="0"} 2"#,
                r#"hubble_dns_responses_total{rcode="No Error",qtypes="A",ips_returned="2"} 1"#,
                r#"hubble_dns_responses_total{rcode="Non-Existent Domain",qtypes="A,AAAA",ips_returned="0"} 1"#,
                r#"hubble_dns_response_types_total{type="A",qtypes="A"} 2"#,
                r#"hubble_dns_response_types_total{type="SOA",qtypes="A,AAAA"} 1"#,
            ])
        );
    }

    #[test]
    fn query_and_ignore_aaaa_options_with_context() {
        let lines = run(
            "dns:query;ignoreAAAA;labelsContext=source_namespace",
            &requests_and_responses(),
            "hubble_dns",
        );
        assert_eq!(
            lines,
            sorted(&[
                r#"hubble_dns_queries_total{source_namespace="default",rcode="",qtypes="A",ips_returned="0",query="example.com."} 1"#,
                r#"hubble_dns_queries_total{source_namespace="default",rcode="Policy denied",qtypes="A",ips_returned="0",query="evil.example."} 2"#,
                r#"hubble_dns_responses_total{source_namespace="default",rcode="No Error",qtypes="A",ips_returned="2",query="example.com."} 1"#,
                r#"hubble_dns_responses_total{source_namespace="default",rcode="Non-Existent Domain",qtypes="A,AAAA",ips_returned="0",query="nope.example."} 1"#,
                r#"hubble_dns_response_types_total{source_namespace="default",type="A",qtypes="A",query="example.com."} 2"#,
                r#"hubble_dns_response_types_total{source_namespace="default",type="SOA",qtypes="A,AAAA",query="nope.example."} 1"#,
            ])
        );
    }

    #[test]
    fn proto_view_reads_the_dns_record() {
        let f = dns(true, "a.example.", &["A"], 2, &["10.0.0.1"], &["A"]);
        let d = f.dns().expect("dns");
        assert_eq!(
            (d.query, d.rcode, d.ips_returned, d.observation_source),
            ("a.example.", 2, 1, "proxy")
        );
        assert!(d.qtypes.iter().eq(["A"]));
        assert!(d.rrtypes.iter().eq(["A"]));
        assert!(http(false, "GET", 0, 0, None).dns().is_none());
    }
}
