//! `kafka`: Kafka request counts and latency of L7 Kafka REQUEST flows.
//!
//! - `hubble_kafka_requests_total{<ctx>, topic, api_key, error_code, reporter}`;
//! - `hubble_kafka_request_duration_seconds{<ctx>, topic, api_key, reporter}` (latency_ns in
//!   seconds, Prometheus' default buckets).
//!
//! `reporter` is `client` for EGRESS, `server` for INGRESS, else `unknown`, as in `http`.

use flowscope_filter::FlowView;
use flowscope_proto::flow::L7FlowType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::context::ContextOptions;
use super::series::{Guard, Histogram, Key, Series};
use super::{Handler, values};

pub struct Kafka {
    requests: Series<Counter>,
    duration: Series<Histogram>,
    ctx: ContextOptions,
    ctx_values: Key,
}

impl Kafka {
    pub fn new(registry: &mut Registry, guard: &Guard, ctx: ContextOptions) -> Kafka {
        let labels = |own: &[&'static str]| {
            let mut l = ctx.label_names();
            l.extend_from_slice(own);
            l
        };
        Kafka {
            requests: Series::register(
                registry,
                guard,
                "kafka_requests",
                "Count of Kafka requests",
                labels(&["topic", "api_key", "error_code", "reporter"]),
            ),
            // Hubble's help text says HTTP here; kept for identical expositions.
            duration: Series::register(
                registry,
                guard,
                "kafka_request_duration_seconds",
                "Quantiles of HTTP request duration in seconds",
                labels(&["topic", "api_key", "reporter"]),
            ),
            ctx,
            ctx_values: Key::default(),
        }
    }
}

impl Handler for Kafka {
    fn process(&mut self, flow: &dyn FlowView) {
        let Some(kafka) = flow.kafka() else {
            return;
        };
        if flow.l7_type() != L7FlowType::Request as i32 {
            return;
        }
        let reporter = values::reporter(flow);
        self.ctx_values.clear();
        self.ctx.write(flow, false, &mut self.ctx_values);

        let k = self.requests.key();
        k.append(&self.ctx_values);
        k.push(kafka.topic);
        k.push(kafka.api_key);
        k.begin();
        if kafka.error_code < 0 {
            k.extend("-");
        }
        k.extend_u64(u64::from(kafka.error_code.unsigned_abs()));
        k.end();
        k.push(reporter);
        self.requests.with(|c| {
            c.inc();
        });

        let k = self.duration.key();
        k.append(&self.ctx_values);
        k.push(kafka.topic);
        k.push(kafka.api_key);
        k.push(reporter);
        let seconds = flow.l7_latency_ns() as f64 / 1e9;
        self.duration.with(|h| h.observe(seconds));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use flowscope_filter::FlowView;
    use flowscope_proto::flow::TrafficDirection;

    #[test]
    fn counts_requests_with_topic_key_error_and_reporter() {
        let mut egress = kafka(false, "fetch", "empire-announce", -1, 2);
        egress.traffic_direction = TrafficDirection::Egress as i32;
        let flows = [
            kafka(false, "produce", "deathstar-plans", 0, 3),
            kafka(false, "produce", "deathstar-plans", 0, 20),
            egress,
            // Responses and other L7 flows are not counted.
            kafka(true, "produce", "deathstar-plans", 0, 3),
            http(false, "GET", 0, 0, None),
        ];
        let lines = run(
            "kafka:labelsContext=destination_namespace",
            &flows,
            "hubble_kafka_requests",
        );
        assert_eq!(
            lines,
            sorted(&[
                r#"hubble_kafka_requests_total{destination_namespace="default",topic="deathstar-plans",api_key="produce",error_code="0",reporter="server"} 2"#,
                r#"hubble_kafka_requests_total{destination_namespace="default",topic="empire-announce",api_key="fetch",error_code="-1",reporter="client"} 1"#,
            ])
        );
        let duration = run("kafka", &flows, "hubble_kafka_request_duration_seconds");
        for want in [
            r#"hubble_kafka_request_duration_seconds_count{topic="deathstar-plans",api_key="produce",reporter="server"} 2"#,
            r#"hubble_kafka_request_duration_seconds_sum{topic="deathstar-plans",api_key="produce",reporter="server"} 0.023"#,
            r#"hubble_kafka_request_duration_seconds_bucket{le="0.005",topic="deathstar-plans",api_key="produce",reporter="server"} 1"#,
            r#"hubble_kafka_request_duration_seconds_bucket{le="0.025",topic="deathstar-plans",api_key="produce",reporter="server"} 2"#,
            r#"hubble_kafka_request_duration_seconds_count{topic="empire-announce",api_key="fetch",reporter="client"} 1"#,
        ] {
            assert!(
                duration.contains(&want.to_string()),
                "{want}\n{duration:#?}"
            );
        }
    }

    #[test]
    fn proto_view_reads_the_kafka_record() {
        let f = kafka(false, "fetch", "t", 3, 1);
        let k = f.kafka().expect("kafka");
        assert_eq!(
            (
                k.api_key,
                k.topic,
                k.error_code,
                k.api_version,
                k.correlation_id
            ),
            ("fetch", "t", 3, 12, 7)
        );
        assert!(http(false, "GET", 0, 0, None).kafka().is_none());
    }
}
