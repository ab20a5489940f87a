//! Hubble-compatible flow metrics (`pkg/hubble/metrics`): the handlers `--metrics` enables,
//! updated on the observer task for every flow, served by `/metrics`.
//!
//! Names, label names, label order and values follow Hubble exactly, so Grafana dashboards
//! built on Hubble's series work unchanged. Each handler lives in its own file; they share
//! the context options ([`context`]), label value helpers ([`values`]) and the series
//! machinery ([`series`]: allocation-free keys, the ingest-side cache, the cardinality
//! guard and lock-free metric types).
//!
//! `hubble_lost_events_total{source}` is always on: observer-queue and ring-buffer losses
//! are counted where they happen ([`crate::stats`]); other sources reported to
//! [`FlowProcessor::lost`] (the datapath's perf ring) are counted here.

pub mod context;
pub mod dns;
pub mod drops;
pub mod flows_processed;
pub mod flows_to_world;
pub mod http;
pub mod icmp;
pub mod kafka;
pub mod policy_verdicts;
pub mod port_distribution;
pub mod sctp;
pub mod series;
pub mod spec;
pub mod tcp_flags;
pub mod values;

use std::sync::Arc;

use flowscope_filter::FlowView;
use flowscope_proto::flow::LostEventSource;
use prometheus_client::registry::Registry;

use crate::observer::FlowProcessor;
use crate::stats::Stats;

pub use series::DEFAULT_SERIES_LIMIT;
pub use spec::{HandlerKind, HandlerSpec, MetricsSpec, SpecError};

/// One metrics handler: sees every flow, on the observer task.
pub trait Handler: Send {
    fn process(&mut self, flow: &dyn FlowView);
}

/// Creates the handler a spec describes, registering its metrics.
pub fn handler(
    spec: &HandlerSpec,
    registry: &mut Registry,
    guard: &series::Guard,
) -> Box<dyn Handler> {
    let ctx = spec.context.clone();
    match spec.kind {
        HandlerKind::Flow => Box::new(flows_processed::FlowsProcessed::new(registry, guard, ctx)),
        HandlerKind::Drop => Box::new(drops::Drops::new(registry, guard, ctx)),
        HandlerKind::Tcp => Box::new(tcp_flags::TcpFlags::new(registry, guard, ctx)),
        HandlerKind::PortDistribution => Box::new(port_distribution::PortDistribution::new(
            registry, guard, ctx,
        )),
        HandlerKind::Icmp => Box::new(icmp::Icmp::new(registry, guard, ctx)),
        HandlerKind::Policy => Box::new(policy_verdicts::PolicyVerdicts::new(registry, guard, ctx)),
        HandlerKind::Http | HandlerKind::HttpV2 => http::new(
            registry,
            guard,
            ctx,
            spec.kind == HandlerKind::HttpV2,
            spec.exemplars,
        ),
        HandlerKind::FlowsToWorld => Box::new(flows_to_world::FlowsToWorld::new(
            registry,
            guard,
            ctx,
            flows_to_world::Options {
                any_drop: spec.any_drop,
                port: spec.port,
                syn_only: spec.syn_only,
            },
        )),
        HandlerKind::Dns => Box::new(dns::Dns::new(registry, guard, ctx, spec.dns)),
        HandlerKind::Kafka => Box::new(kafka::Kafka::new(registry, guard, ctx)),
        HandlerKind::Sctp => Box::new(sctp::Sctp::new(registry, guard, ctx)),
    }
}

/// Every enabled handler, as the observer's [`FlowProcessor`].
pub struct Metrics {
    handlers: Vec<Box<dyn Handler>>,
    stats: Arc<Stats>,
}

impl Metrics {
    /// Registers the handlers of `spec` in `registry`, each metric limited to `series_limit`
    /// label sets (0: unlimited).
    pub fn new(
        spec: &MetricsSpec,
        series_limit: usize,
        registry: &mut Registry,
        stats: Arc<Stats>,
    ) -> Metrics {
        let guard = series::Guard::new(series_limit, registry);
        let handlers = spec
            .handlers
            .iter()
            .map(|h| handler(h, registry, &guard))
            .collect();
        Metrics { handlers, stats }
    }
}

impl FlowProcessor for Metrics {
    fn process(&mut self, flow: &dyn FlowView) {
        for h in &mut self.handlers {
            h.process(flow);
        }
    }

    fn lost(&mut self, source: LostEventSource, count: u64) {
        match source {
            // Counted by the sender and the gRPC streams themselves.
            LostEventSource::ObserverEventsQueue | LostEventSource::HubbleRingBuffer => {}
            LostEventSource::PerfEventRingBuffer => {
                self.stats.lost_perf_ring_buffer.inc_by(count);
            }
            LostEventSource::UnknownLostEventSource => {
                self.stats
                    .lost
                    .get_or_create(&crate::stats::LostLabels {
                        source: "unknown_lost_event_source",
                    })
                    .inc_by(count);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use flowscope_proto::flow::{Flow, Verdict};

    #[test]
    fn lost_events_count_sources_not_counted_elsewhere() {
        let mut registry = Registry::default();
        let stats = Arc::new(Stats::new(&mut registry));
        let mut m = Metrics::new(&MetricsSpec::default(), 0, &mut registry, stats.clone());
        m.lost(LostEventSource::PerfEventRingBuffer, 7);
        m.lost(LostEventSource::ObserverEventsQueue, 5);
        m.lost(LostEventSource::HubbleRingBuffer, 3);
        m.lost(LostEventSource::UnknownLostEventSource, 1);
        let lines = samples(&registry, "hubble_lost_events_total");
        assert_eq!(
            lines,
            sorted(&[
                "hubble_lost_events_total{source=\"hubble_ring_buffer\"} 0",
                "hubble_lost_events_total{source=\"observer_events_queue\"} 0",
                "hubble_lost_events_total{source=\"perf_event_ring_buffer\"} 7",
                "hubble_lost_events_total{source=\"unknown_lost_event_source\"} 1",
            ])
        );
    }

    #[test]
    fn no_handlers_no_hubble_flow_series() {
        let mut registry = Registry::default();
        let stats = Arc::new(Stats::new(&mut registry));
        let mut m = Metrics::new(&MetricsSpec::default(), 0, &mut registry, stats);
        m.process(&l34(4, 0, Verdict::Forwarded));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        assert!(!out.contains("hubble_flows_processed"), "{out}");
        assert!(!out.contains("flowscope_metrics_series"), "{out}");
    }

    #[test]
    fn every_handler_together_on_one_registry() {
        let spec = "flow drop tcp port-distribution icmp policy httpV2:exemplars=true;labelsContext=source_namespace flows-to-world:port";
        let (registry, mut handlers) = setup(spec, 100);
        for f in [
            l34(4, 0, Verdict::Forwarded),
            http(
                true,
                "GET",
                200,
                3,
                Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            ),
        ] {
            for h in &mut handlers {
                h.process(&f);
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        for name in [
            "# TYPE hubble_flows_processed counter",
            "# TYPE hubble_http_requests counter",
            "# TYPE hubble_http_request_duration_seconds histogram",
            "# TYPE hubble_policy_verdicts counter",
        ] {
            assert!(out.contains(name), "{name}\n{out}");
        }
    }

    /// Every handler's families as `/metrics` serves them (text format), each with a series.
    #[test]
    fn help_texts_are_hubbles() {
        use flowscope_proto::flow::{IcmPv6, Layer4, TcpFlags, layer4};
        let spec = "flow drop tcp port-distribution icmp policy http flows-to-world dns kafka";
        let (registry, mut handlers) = setup(spec, 0);
        let mut icmp = l34(4, 0, Verdict::Forwarded);
        icmp.l4 = Some(Layer4 {
            protocol: Some(layer4::Protocol::IcmPv6(IcmPv6 {
                r#type: 128,
                code: 0,
            })),
        });
        let mut to_world = l34(4, 0, Verdict::Forwarded);
        to_world.destination = Some(world());
        let mut verdict = l34(5, 0, Verdict::Forwarded);
        verdict.policy_match_type = 2;
        let syn = TcpFlags {
            syn: true,
            ..Default::default()
        };
        let flows = [
            with_reply(with_flags(l34(4, 0, Verdict::Forwarded), syn), Some(false)),
            l34(1, 133, Verdict::Dropped),
            icmp,
            to_world,
            verdict,
            http(false, "GET", 0, 0, None),
            http(true, "GET", 200, 3, None),
            dns(false, "a.example.", &["A"], 0, &[], &[]),
            dns(true, "a.example.", &["A"], 0, &["10.0.0.1"], &["A"]),
            kafka(false, "produce", "t", 0, 1),
        ];
        for f in &flows {
            for h in &mut handlers {
                h.process(f);
            }
        }
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &registry).expect("encode");
        let text = crate::api::metrics::openmetrics_to_text(&om);
        let helps: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# HELP hubble_"))
            .collect();
        let want = [
            "# HELP hubble_flows_processed_total Total number of flows processed",
            "# HELP hubble_drop_total Number of drops",
            "# HELP hubble_tcp_flags_total TCP flag occurrences",
            "# HELP hubble_port_distribution_total Numbers of packets distributed by destination port",
            "# HELP hubble_icmp_total Number of ICMP messages",
            "# HELP hubble_policy_verdicts_total Total number of Cilium network policy verdicts",
            "# HELP hubble_http_requests_total Count of HTTP requests",
            "# HELP hubble_http_responses_total Count of HTTP responses",
            "# HELP hubble_http_request_duration_seconds Quantiles of HTTP request duration in seconds",
            "# HELP hubble_flows_to_world_total Total number of flows to reserved:world",
            "# HELP hubble_dns_queries_total Number of DNS queries observed",
            "# HELP hubble_dns_responses_total Number of DNS queries observed",
            "# HELP hubble_dns_response_types_total Number of DNS queries observed",
            "# HELP hubble_kafka_requests_total Count of Kafka requests",
            "# HELP hubble_kafka_request_duration_seconds Quantiles of HTTP request duration in seconds",
        ];
        assert_eq!(helps, want, "{text}");
        assert!(
            text.contains(r#"hubble_icmp_total{family="IPv6",type="EchoRequest"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hubble_kafka_request_duration_seconds_bucket{topic="t",api_key="produce",reporter="server",le="1"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn series_limit_folds_new_label_sets_and_counts_the_folds() {
        let (registry, mut handlers) = setup("flow:sourceContext=ip drop", 3);
        let mut flows = Vec::new();
        for i in 0..10 {
            let mut f = l34(4, 0, Verdict::Forwarded);
            if let Some(ip) = &mut f.ip {
                ip.source = format!("10.0.0.{i}");
            }
            flows.push(f.clone());
            // Seen again: counted in its own series (if kept) or folded again.
            flows.push(f);
        }
        // A hostile label value: too long to become a series at all.
        let mut hostile = l34(4, 0, Verdict::Forwarded);
        if let Some(ip) = &mut hostile.ip {
            ip.source = "x".repeat(series::MAX_VALUE_LEN + 1);
        }
        flows.push(hostile);
        for f in &flows {
            for h in &mut handlers {
                h.process(f);
            }
        }
        let series = |src: &str, n: u32| {
            format!(
                r#"hubble_flows_processed_total{{protocol="TCP",type="Trace",subtype="to-endpoint",verdict="FORWARDED",source="{src}"}} {n}"#
            )
        };
        let mut want = vec![
            series("10.0.0.0", 2),
            series("10.0.0.1", 2),
            series("10.0.0.2", 2),
            r#"hubble_flows_processed_total{protocol="__overflow__",type="__overflow__",subtype="__overflow__",verdict="__overflow__",source="__overflow__"} 15"#.to_string(),
        ];
        want.sort();
        assert_eq!(samples(&registry, "hubble_flows_processed"), want);
        assert_eq!(
            samples(&registry, "flowscope_metrics_series"),
            sorted(&[
                r#"flowscope_metrics_series_overflow_total{metric="hubble_drop_total"} 0"#,
                r#"flowscope_metrics_series_overflow_total{metric="hubble_flows_processed_total"} 15"#,
                r#"flowscope_metrics_series{metric="hubble_drop_total"} 0"#,
                r#"flowscope_metrics_series{metric="hubble_flows_processed_total"} 3"#,
            ])
        );
    }

    #[test]
    fn exemplar_histograms_fold_too() {
        let (registry, mut handlers) = setup(
            "httpV2:exemplars=true;sourceContext=pod-name;destinationContext=pod-name",
            1,
        );
        for pod in ["a", "b", "c"] {
            let mut f = http(
                true,
                "GET",
                200,
                3,
                Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            );
            if let Some(c) = &mut f.destination {
                c.pod_name = pod.into();
            }
            for h in &mut handlers {
                h.process(&f);
            }
        }
        let lines = samples(&registry, "hubble_http_request_duration_seconds_count");
        assert_eq!(
            lines,
            sorted(&[
                r#"hubble_http_request_duration_seconds_count{source="a",destination="details-v1-79f774bdb9-x2x4k",method="GET",reporter="server"} 1"#,
                r#"hubble_http_request_duration_seconds_count{source="__overflow__",destination="__overflow__",method="__overflow__",reporter="__overflow__"} 2"#,
            ])
        );
    }

    mod alloc_count {
        //! Counts heap allocations of the current thread.
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        pub struct Counting;

        thread_local! {
            static COUNT: Cell<u64> = const { Cell::new(0) };
        }

        // SAFETY: defers to the system allocator; only counts.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                // SAFETY: same contract as ours.
                unsafe { System.alloc(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: same contract as ours.
                unsafe { System.dealloc(ptr, layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                // SAFETY: same contract as ours.
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;

        pub fn count() -> u64 {
            COUNT.with(|c| c.get())
        }
    }

    /// The issue's handler set with context labels, and flows of every kind.
    fn busy() -> (Registry, Vec<Box<dyn Handler>>, Vec<Flow>) {
        use flowscope_proto::flow::{DropReason, TcpFlags};
        let spec = "flow:sourceContext=pod|ip;destinationContext=identity drop tcp port-distribution icmp policy flows-to-world:port httpV2:exemplars=true;labelsContext=source_namespace,source_workload,destination_namespace,destination_workload,traffic_direction";
        let (registry, handlers) = setup(spec, DEFAULT_SERIES_LIMIT);
        let mut drop = l34(1, 133, Verdict::Dropped);
        drop.drop_reason_desc = DropReason::PolicyDenied as i32;
        let mut verdict = l34(5, 0, Verdict::Forwarded);
        verdict.policy_match_type = 2;
        let syn = with_reply(
            with_flags(
                l34(4, 0, Verdict::Forwarded),
                TcpFlags {
                    syn: true,
                    ..Default::default()
                },
            ),
            Some(false),
        );
        let mut to_world = syn.clone();
        to_world.destination = Some(world());
        let flows = vec![
            syn,
            to_world,
            drop,
            verdict,
            http(false, "GET", 0, 0, None),
            http(
                true,
                "GET",
                200,
                3,
                Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            ),
            http(true, "GET", 200, 12, None),
        ];
        (registry, handlers, flows)
    }

    #[test]
    fn seen_label_sets_do_not_allocate() {
        let (_registry, mut handlers, flows) = busy();
        let run = |handlers: &mut Vec<Box<dyn Handler>>| {
            for f in &flows {
                for h in handlers.iter_mut() {
                    h.process(f);
                }
            }
        };
        run(&mut handlers); // warm-up: every label set is new once
        let before = alloc_count::count();
        for _ in 0..100 {
            run(&mut handlers);
        }
        assert_eq!(
            alloc_count::count() - before,
            0,
            "allocations on the hot path"
        );
    }

    /// `cargo test --release -p flowscope-server --lib per_flow_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark"]
    fn per_flow_cost() {
        let (_registry, mut handlers, flows) = busy();
        let rounds = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for f in &flows {
                for h in handlers.iter_mut() {
                    h.process(std::hint::black_box(f));
                }
            }
        }
        let per_flow = start.elapsed().as_nanos() as f64 / (rounds * flows.len()) as f64;
        println!(
            "{} handlers, {} flow kinds, label sets seen: {per_flow:.0} ns per flow",
            handlers.len(),
            flows.len()
        );

        // Hostile: every flow a new source, far beyond the series limit.
        let (_registry, mut handlers) = setup("flow:sourceContext=ip", 100);
        let hostile: Vec<Flow> = (0..100_000u32)
            .map(|i| {
                let mut f = l34(4, 0, Verdict::Forwarded);
                if let Some(ip) = &mut f.ip {
                    ip.source = std::net::Ipv4Addr::from(i).to_string();
                }
                f
            })
            .collect();
        let start = std::time::Instant::now();
        for f in &hostile {
            for h in handlers.iter_mut() {
                h.process(std::hint::black_box(f));
            }
        }
        let per_flow = start.elapsed().as_nanos() as f64 / hostile.len() as f64;
        println!("flow handler, a new label set per flow (folded): {per_flow:.0} ns per flow");
    }
}
