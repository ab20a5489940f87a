//! `http` and `httpV2`: HTTP request counts and latency histograms of L7 flows.
//!
//! - `http` (v1): REQUEST flows → `hubble_http_requests_total{<ctx>, method, protocol,
//!   reporter}`; RESPONSE flows → `hubble_http_responses_total{<ctx>, method, protocol,
//!   status, reporter}` and `hubble_http_request_duration_seconds{<ctx>, method, reporter}`.
//! - `httpV2`: only RESPONSE flows count, in `hubble_http_requests_total{<ctx>, method,
//!   protocol, status, reporter}` and the duration histogram; the context labels are read
//!   with source and destination inverted, since a response flow runs server → client.
//!
//! `reporter` is `client` for EGRESS, `server` for INGRESS, else `unknown`. With
//! `exemplars=true` every series keeps a `{traceID="…"}` exemplar from the flow's trace
//! context (visible in OpenMetrics only).

use flowscope_filter::FlowView;
use flowscope_proto::flow::L7FlowType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::context::ContextOptions;
use super::series::{
    CounterMetric, ExemplarCounter, ExemplarHistogram, Guard, Histogram, HistogramMetric, Key,
    Series, TraceId,
};
use super::{Handler, values};

/// The http (`v2 = false`) or httpV2 handler.
pub fn new(
    registry: &mut Registry,
    guard: &Guard,
    ctx: ContextOptions,
    v2: bool,
    exemplars: bool,
) -> Box<dyn Handler> {
    if exemplars {
        Box::new(Http::<ExemplarCounter, ExemplarHistogram>::new(
            registry, guard, ctx, v2, true,
        ))
    } else {
        Box::new(Http::<Counter, Histogram>::new(
            registry, guard, ctx, v2, false,
        ))
    }
}

pub struct Http<C: CounterMetric, H: HistogramMetric> {
    v2: bool,
    exemplars: bool,
    requests: Series<C>,
    /// v1 only.
    responses: Option<Series<C>>,
    duration: Series<H>,
    ctx: ContextOptions,
    /// The context values of the current flow, copied into each series' key.
    ctx_values: Key,
}

impl<C: CounterMetric, H: HistogramMetric> Http<C, H> {
    fn new(
        registry: &mut Registry,
        guard: &Guard,
        ctx: ContextOptions,
        v2: bool,
        exemplars: bool,
    ) -> Self {
        let labels = |own: &[&'static str]| {
            let mut l = ctx.label_names();
            l.extend_from_slice(own);
            l
        };
        let requests_labels: &[&str] = if v2 {
            &["method", "protocol", "status", "reporter"]
        } else {
            &["method", "protocol", "reporter"]
        };
        let requests = Series::register(
            registry,
            guard,
            "http_requests",
            "Count of HTTP requests",
            labels(requests_labels),
        );
        let responses = (!v2).then(|| {
            Series::register(
                registry,
                guard,
                "http_responses",
                "Count of HTTP responses",
                labels(&["method", "protocol", "status", "reporter"]),
            )
        });
        let duration = Series::register(
            registry,
            guard,
            "http_request_duration_seconds",
            "Quantiles of HTTP request duration in seconds",
            labels(&["method", "reporter"]),
        );
        Http {
            v2,
            exemplars,
            requests,
            responses,
            duration,
            ctx,
            ctx_values: Key::default(),
        }
    }
}

impl<C: CounterMetric, H: HistogramMetric> Handler for Http<C, H> {
    fn process(&mut self, flow: &dyn FlowView) {
        let Some(http) = flow.http() else {
            return;
        };
        let l7_type = flow.l7_type();
        let response = l7_type == L7FlowType::Response as i32;
        let request = l7_type == L7FlowType::Request as i32;
        // v1 counts requests and responses, v2 only responses.
        if !(response || (request && !self.v2)) {
            return;
        }
        let reporter = values::reporter(flow);
        let trace = if self.exemplars {
            TraceId::of(flow)
        } else {
            None
        };
        let trace = trace.as_ref();
        self.ctx_values.clear();
        self.ctx.write(flow, self.v2, &mut self.ctx_values);

        // Requests (v1 requests, v2 responses) or v1 responses: the same labels but status.
        let counter = if request || self.v2 {
            Some(&mut self.requests)
        } else {
            self.responses.as_mut()
        };
        if let Some(counter) = counter {
            let k = counter.key();
            k.append(&self.ctx_values);
            k.push(http.method);
            k.push(http.protocol);
            if response {
                k.push_u64(u64::from(http.code));
            }
            k.push(reporter);
            counter.with(|c| c.inc_traced(trace));
        }
        if response {
            let k = self.duration.key();
            k.append(&self.ctx_values);
            k.push(http.method);
            k.push(reporter);
            let seconds = flow.l7_latency_ns() as f64 / 1e9;
            self.duration.with(|h| h.observe_traced(seconds, trace));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_proto::flow::TrafficDirection;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn v2_counts_responses_with_status() {
        let mut egress = http(true, "POST", 500, 30, None);
        egress.traffic_direction = TrafficDirection::Egress as i32;
        let mut unknown = http(true, "GET", 200, 0, None);
        unknown.traffic_direction = 0;
        let flows = [
            http(false, "GET", 0, 0, None),
            http(true, "GET", 200, 3, None),
            http(true, "GET", 200, 7, None),
            http(true, "GET", 403, 1, None),
            egress,
            unknown,
        ];
        let lines = run("httpV2", &flows, "hubble_http");
        assert_eq!(
            lines,
            sorted(&[
                r#"hubble_http_requests_total{method="GET",protocol="HTTP/1.1",status="200",reporter="server"} 2"#,
                r#"hubble_http_requests_total{method="GET",protocol="HTTP/1.1",status="403",reporter="server"} 1"#,
                r#"hubble_http_requests_total{method="POST",protocol="HTTP/1.1",status="500",reporter="client"} 1"#,
                r#"hubble_http_requests_total{method="GET",protocol="HTTP/1.1",status="200",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_sum{method="GET",reporter="server"} 0.011"#,
                r#"hubble_http_request_duration_seconds_count{method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.005",method="GET",reporter="server"} 2"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.01",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.025",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.05",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.1",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.25",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.5",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="1.0",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="2.5",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="5.0",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="10.0",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_bucket{le="+Inf",method="GET",reporter="server"} 3"#,
                r#"hubble_http_request_duration_seconds_sum{method="POST",reporter="client"} 0.03"#,
                r#"hubble_http_request_duration_seconds_count{method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.005",method="POST",reporter="client"} 0"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.01",method="POST",reporter="client"} 0"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.025",method="POST",reporter="client"} 0"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.05",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.1",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.25",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.5",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="1.0",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="2.5",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="5.0",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="10.0",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="+Inf",method="POST",reporter="client"} 1"#,
                r#"hubble_http_request_duration_seconds_sum{method="GET",reporter="unknown"} 0.0"#,
                r#"hubble_http_request_duration_seconds_count{method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.005",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.01",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.025",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.05",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.1",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.25",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="0.5",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="1.0",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="2.5",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="5.0",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="10.0",method="GET",reporter="unknown"} 1"#,
                r#"hubble_http_request_duration_seconds_bucket{le="+Inf",method="GET",reporter="unknown"} 1"#,
            ])
        );
    }

    #[test]
    fn v1_counts_requests_responses_and_duration() {
        let flows = [
            http(false, "GET", 0, 0, None),
            http(false, "GET", 0, 0, None),
            http(true, "GET", 404, 2, None),
        ];
        let lines = run("http", &flows, "hubble_http");
        let counters: Vec<&String> = lines.iter().filter(|l| l.contains("_total")).collect();
        assert_eq!(
            counters,
            [
                r#"hubble_http_requests_total{method="GET",protocol="HTTP/1.1",reporter="server"} 2"#,
                r#"hubble_http_responses_total{method="GET",protocol="HTTP/1.1",status="404",reporter="server"} 1"#,
            ]
        );
        assert!(
            lines.contains(
                &r#"hubble_http_request_duration_seconds_count{method="GET",reporter="server"} 1"#
                    .to_string()
            )
        );
        assert!(lines.contains(
            &r#"hubble_http_request_duration_seconds_bucket{le="0.005",method="GET",reporter="server"} 1"#
                .to_string()
        ));
    }

    #[test]
    fn v2_context_is_inverted_v1_is_not() {
        // The response runs details → productpage; httpV2 reports productpage as source.
        let spec = "sourceContext=workload-name;destinationContext=workload-name;labelsContext=source_namespace,source_workload,destination_workload,traffic_direction";
        let flows = [http(true, "GET", 200, 1, None)];
        let v2 = run(
            &format!("httpV2:{spec}"),
            &flows,
            "hubble_http_requests_total",
        );
        assert_eq!(
            v2,
            [
                r#"hubble_http_requests_total{source_namespace="default",source_workload="productpage-v1",destination_workload="details-v1",traffic_direction="ingress",source="productpage-v1",destination="details-v1",method="GET",protocol="HTTP/1.1",status="200",reporter="server"} 1"#
            ]
        );
        let v1 = run(
            &format!("http:{spec}"),
            &flows,
            "hubble_http_responses_total",
        );
        assert_eq!(
            v1,
            [
                r#"hubble_http_responses_total{source_namespace="default",source_workload="details-v1",destination_workload="productpage-v1",traffic_direction="ingress",source="details-v1",destination="productpage-v1",method="GET",protocol="HTTP/1.1",status="200",reporter="server"} 1"#
            ]
        );
    }

    #[test]
    fn exemplars_carry_the_trace_id() {
        let flows = [
            http(true, "GET", 200, 3, Some(TRACE)),
            // A later flow without a trace keeps the exemplar.
            http(true, "GET", 200, 4, None),
        ];
        let lines = run("httpV2:exemplars=true", &flows, "hubble_http");
        let requests = lines
            .iter()
            .find(|l| l.starts_with("hubble_http_requests_total"))
            .expect("requests");
        let prefix = format!(
            r#"hubble_http_requests_total{{method="GET",protocol="HTTP/1.1",status="200",reporter="server"}} 2 # {{traceID="{TRACE}"}} 1.0 "#
        );
        assert!(requests.starts_with(&prefix), "{requests}");
        let bucket = lines
            .iter()
            .find(|l| l.contains(r#"le="0.005""#))
            .expect("bucket");
        let prefix = format!(
            r#"hubble_http_request_duration_seconds_bucket{{le="0.005",method="GET",reporter="server"}} 2 # {{traceID="{TRACE}"}} 0.003 "#
        );
        assert!(bucket.starts_with(&prefix), "{bucket}");
        // Without the option, no exemplar.
        let lines = run("httpV2", &flows, "hubble_http");
        assert!(lines.iter().all(|l| !l.contains('#')), "{lines:?}");
    }

    #[test]
    fn non_http_flows_are_ignored() {
        let flows = [l34(4, 0, flowscope_proto::flow::Verdict::Forwarded)];
        assert!(run("httpV2", &flows, "hubble_http").is_empty());
        assert!(run("http", &flows, "hubble_http").is_empty());
    }
}
