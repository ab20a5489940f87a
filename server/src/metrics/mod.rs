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
pub mod drops;
pub mod flows_processed;
pub mod flows_to_world;
pub mod http;
pub mod icmp;
pub mod policy_verdicts;
pub mod port_distribution;
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
pub(crate) mod testutil {
    //! Unit-test support: a registry with one handler, flows built by hand, the exposition.

    use flowscope_proto::flow::{
        CiliumEventType, Endpoint, Flow, Http, Ip, Layer4, Layer7, Tcp, TcpFlags, TraceContext,
        TraceParent, Verdict, Workload, layer4, layer7,
    };
    use flowscope_proto::types::BoolValue;
    use prometheus_client::registry::Registry;

    use super::{Handler, MetricsSpec, series};

    /// A registry with the handlers of `spec`, limited to `limit` series per metric.
    pub fn setup(spec: &str, limit: usize) -> (Registry, Vec<Box<dyn Handler>>) {
        let spec = MetricsSpec::parse(spec).expect("valid spec");
        let mut registry = Registry::default();
        let guard = series::Guard::new(limit, &mut registry);
        let handlers = spec
            .handlers
            .iter()
            .map(|h| super::handler(h, &mut registry, &guard))
            .collect();
        (registry, handlers)
    }

    /// The sample lines of the OpenMetrics exposition starting with `prefix`, sorted.
    pub fn samples(registry: &Registry, prefix: &str) -> Vec<String> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).expect("encode");
        let mut lines: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    /// Runs `flows` through the handlers of `spec` and returns the samples of `prefix`.
    pub fn run(spec: &str, flows: &[Flow], prefix: &str) -> Vec<String> {
        let (registry, mut handlers) = setup(spec, 0);
        for f in flows {
            for h in &mut handlers {
                h.process(f);
            }
        }
        samples(&registry, prefix)
    }

    pub fn sorted(lines: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    pub fn endpoint(
        ns: &str,
        pod: &str,
        labels: &[&str],
        workload: &str,
        identity: u32,
    ) -> Endpoint {
        Endpoint {
            identity,
            namespace: ns.into(),
            pod_name: pod.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            workloads: if workload.is_empty() {
                vec![]
            } else {
                vec![Workload {
                    name: workload.into(),
                    kind: "Deployment".into(),
                }]
            },
            ..Default::default()
        }
    }

    pub fn client() -> Endpoint {
        endpoint(
            "default",
            "productpage-v1-6b746f74dc-9stvq",
            &["k8s:app=productpage"],
            "productpage-v1",
            25000,
        )
    }

    pub fn server() -> Endpoint {
        endpoint(
            "default",
            "details-v1-79f774bdb9-x2x4k",
            &["k8s:app=details"],
            "details-v1",
            25001,
        )
    }

    pub fn world() -> Endpoint {
        endpoint("", "", &["reserved:world"], "", 2)
    }

    /// A datapath flow of `event_type` with a TCP layer.
    pub fn l34(event_type: i32, sub_type: i32, verdict: Verdict) -> Flow {
        Flow {
            verdict: verdict as i32,
            ip: Some(Ip {
                source: "10.244.1.9".into(),
                destination: "10.244.1.7".into(),
                ip_version: 1,
                ..Default::default()
            }),
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp {
                    source_port: 41000,
                    destination_port: 9080,
                    flags: None,
                })),
            }),
            source: Some(client()),
            destination: Some(server()),
            r#type: 1,
            event_type: Some(CiliumEventType {
                r#type: event_type,
                sub_type,
            }),
            traffic_direction: 2,
            ..Default::default()
        }
    }

    pub fn with_flags(mut f: Flow, flags: TcpFlags) -> Flow {
        if let Some(Layer4 {
            protocol: Some(layer4::Protocol::Tcp(t)),
        }) = &mut f.l4
        {
            t.flags = Some(flags);
        }
        f
    }

    pub fn with_reply(mut f: Flow, reply: Option<bool>) -> Flow {
        f.is_reply = reply.map(|value| BoolValue { value });
        f
    }

    /// An L7 HTTP flow as the access-log parser makes it. Responses are reversed
    /// (server → client).
    pub fn http(
        response: bool,
        method: &str,
        code: u32,
        latency_ms: u64,
        trace: Option<&str>,
    ) -> Flow {
        let (src, dst) = if response {
            (server(), client())
        } else {
            (client(), server())
        };
        let (sip, dip) = if response {
            ("10.244.1.7", "10.244.1.9")
        } else {
            ("10.244.1.9", "10.244.1.7")
        };
        Flow {
            verdict: Verdict::Forwarded as i32,
            ip: Some(Ip {
                source: sip.into(),
                destination: dip.into(),
                ip_version: 1,
                ..Default::default()
            }),
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp::default())),
            }),
            source: Some(src),
            destination: Some(dst),
            r#type: 2,
            l7: Some(Layer7 {
                r#type: if response { 2 } else { 1 },
                latency_ns: latency_ms * 1_000_000,
                record: Some(layer7::Record::Http(Http {
                    code,
                    method: method.into(),
                    url: "http://details:9080/details/1".into(),
                    protocol: "HTTP/1.1".into(),
                    headers: vec![],
                })),
            }),
            event_type: Some(CiliumEventType {
                r#type: 129,
                sub_type: 0,
            }),
            traffic_direction: 1,
            is_reply: Some(BoolValue { value: response }),
            trace_context: trace.map(|t| TraceContext {
                parent: Some(TraceParent { trace_id: t.into() }),
            }),
            ..Default::default()
        }
    }
}

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
