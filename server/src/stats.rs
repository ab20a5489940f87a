//! flowd's own health counters, registered in the Prometheus registry `/metrics` serves.
//!
//! Counters are atomics: sources and the observer bump them without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::store::Ring;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub source: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LostLabels {
    pub source: &'static str,
}

pub const ACCESS_LOG: &str = "access_log";
pub const DATAPATH: &str = "datapath";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: u8,
}

/// The datapath's own per-CPU counters, mirrored into the registry by polling.
#[derive(Default)]
pub struct DatapathCounters {
    pub packets: Family<VerdictLabels, Counter>,
    pub events: Family<ResultLabels, Counter>,
    pub drops: Family<ReasonLabels, Counter>,
}

/// Every health series of flowd.
pub struct Stats {
    pub received: Family<SourceLabels, Counter>,
    pub decoded: Family<SourceLabels, Counter>,
    pub dropped: Family<DropLabels, Counter>,
    pub lost: Family<LostLabels, Counter>,
    pub access_log_received: Counter,
    pub access_log_decoded: Counter,
    pub access_log_truncated: Counter,
    pub access_log_undecodable: Counter,
    pub access_log_invalid: Counter,
    /// Zero-length datagrams (not a record, and not the end of the connection either).
    pub access_log_empty: Counter,
    pub access_log_connections: Gauge,
    /// Producers closed at once because `--max-access-log-connections` were open.
    pub access_log_connections_refused: Counter,
    pub lost_observer_queue: Counter,
    pub lost_ring_buffer: Counter,
    /// Datapath perf-ring losses, counted when reported to the metrics processor.
    pub lost_perf_ring_buffer: Counter,
    pub ring_capacity: Gauge,
    pub ring_writes: Counter,
    pub grpc_streams_open: Gauge,
    pub datapath_received: Counter,
    pub datapath_decoded: Counter,
    datapath_truncated: Counter,
    datapath_undecodable: Counter,
    datapath_not_a_flow: Counter,
    pub datapath: DatapathCounters,
    pub warn_decode: RateLimit,
    pub warn_source: RateLimit,
    ring: Arc<OnceLock<RingProbe>>,
}

impl Stats {
    pub fn new(registry: &mut Registry) -> Self {
        let received = Family::<SourceLabels, Counter>::default();
        let decoded = Family::<SourceLabels, Counter>::default();
        let dropped = Family::<DropLabels, Counter>::default();
        let lost = Family::<LostLabels, Counter>::default();
        let src = |s| SourceLabels { source: s };
        let drop = |r| DropLabels {
            source: ACCESS_LOG,
            reason: r,
        };
        let dp_drop = |r| DropLabels {
            source: DATAPATH,
            reason: r,
        };
        let datapath_received = received.get_or_create(&src(DATAPATH)).clone();
        let datapath_decoded = decoded.get_or_create(&src(DATAPATH)).clone();
        let datapath_truncated = dropped.get_or_create(&dp_drop("truncated")).clone();
        let datapath_undecodable = dropped.get_or_create(&dp_drop("undecodable")).clone();
        let datapath_not_a_flow = dropped.get_or_create(&dp_drop("not_a_flow")).clone();
        let access_log_received = received.get_or_create(&src(ACCESS_LOG)).clone();
        let access_log_decoded = decoded.get_or_create(&src(ACCESS_LOG)).clone();
        let access_log_truncated = dropped.get_or_create(&drop("truncated")).clone();
        let access_log_undecodable = dropped.get_or_create(&drop("undecodable")).clone();
        let access_log_invalid = dropped.get_or_create(&drop("invalid")).clone();
        let access_log_empty = dropped.get_or_create(&drop("empty")).clone();
        let lost_observer_queue = lost
            .get_or_create(&LostLabels {
                source: "observer_events_queue",
            })
            .clone();
        let lost_ring_buffer = lost
            .get_or_create(&LostLabels {
                source: "hubble_ring_buffer",
            })
            .clone();
        let lost_perf_ring_buffer = lost
            .get_or_create(&LostLabels {
                source: "perf_event_ring_buffer",
            })
            .clone();
        let ring = Arc::new(OnceLock::new());
        let stats = Stats {
            access_log_received,
            access_log_decoded,
            access_log_truncated,
            access_log_undecodable,
            access_log_invalid,
            access_log_empty,
            access_log_connections: Gauge::default(),
            access_log_connections_refused: Counter::default(),
            lost_observer_queue,
            lost_ring_buffer,
            lost_perf_ring_buffer,
            received,
            decoded,
            dropped,
            lost,
            ring_capacity: Gauge::default(),
            ring_writes: Counter::default(),
            grpc_streams_open: Gauge::default(),
            datapath_received,
            datapath_decoded,
            datapath_truncated,
            datapath_undecodable,
            datapath_not_a_flow,
            datapath: DatapathCounters::default(),
            warn_decode: RateLimit::default(),
            warn_source: RateLimit::default(),
            ring: ring.clone(),
        };
        let fs = registry.sub_registry_with_prefix("flowscope");
        fs.register(
            "source_records_received",
            "Records received from each source",
            stats.received.clone(),
        );
        fs.register(
            "source_records_decoded",
            "Records decoded into flows, per source",
            stats.decoded.clone(),
        );
        fs.register(
            "source_records_dropped",
            "Records dropped, per source and reason (truncated, undecodable, invalid, empty)",
            stats.dropped.clone(),
        );
        fs.register(
            "access_log_connections",
            "Open access-log producer connections",
            stats.access_log_connections.clone(),
        );
        fs.register(
            "access_log_connections_refused",
            "Access-log producers closed at once because --max-access-log-connections were open",
            stats.access_log_connections_refused.clone(),
        );
        fs.register(
            "ring_capacity",
            "Flows the ring holds when full",
            stats.ring_capacity.clone(),
        );
        fs.register(
            "ring_writes",
            "Events written to the ring",
            stats.ring_writes.clone(),
        );
        fs.register(
            "grpc_streams_open",
            "GetFlows streams currently open",
            stats.grpc_streams_open.clone(),
        );
        fs.register_collector(Box::new(RingCollector(ring)));
        fs.register(
            "datapath_packets",
            "Packets the datapath forwarded or dropped",
            stats.datapath.packets.clone(),
        );
        fs.register(
            "datapath_events",
            "Monitor events the datapath wrote to the perf ring (emitted) or could not (failed)",
            stats.datapath.events.clone(),
        );
        fs.register(
            "datapath_drops",
            "Packets the datapath dropped, per drop reason code",
            stats.datapath.drops.clone(),
        );
        registry.sub_registry_with_prefix("hubble").register(
            "lost_events",
            "Lost events, per source",
            stats.lost.clone(),
        );
        stats
    }

    /// Lets `/metrics` report the ring's size and readers (`flowscope_ring_size`,
    /// `flowscope_ring_readers`) from now on. Call once, while no reader holds the ring.
    pub fn attach_ring(&self, ring: &Arc<Ring<crate::flow::Event>>) {
        let _ = self.ring.set(RingProbe {
            ring: Arc::downgrade(ring),
            holders: Arc::strong_count(ring),
        });
    }

    pub fn datapath_dropped(&self, reason: &str) -> &Counter {
        match reason {
            "truncated" => &self.datapath_truncated,
            "not_a_flow" => &self.datapath_not_a_flow,
            _ => &self.datapath_undecodable,
        }
    }

    pub fn access_log_dropped(&self, reason: &str) -> &Counter {
        match reason {
            "truncated" => &self.access_log_truncated,
            "undecodable" => &self.access_log_undecodable,
            "empty" => &self.access_log_empty,
            _ => &self.access_log_invalid,
        }
    }
}

/// What `/metrics` reads of the ring at scrape time.
#[derive(Debug)]
struct RingProbe {
    ring: Weak<Ring<crate::flow::Event>>,
    /// Owners of the ring that are not readers (observer handle, writer), counted when
    /// attached: every further owner is a reader (a GetFlows stream holds the ring while it
    /// reads).
    holders: usize,
}

#[derive(Debug)]
struct RingCollector(Arc<OnceLock<RingProbe>>);

impl Collector for RingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(probe) = self.0.get() else {
            return Ok(());
        };
        let Some(ring) = probe.ring.upgrade() else {
            return Ok(());
        };
        // The upgrade above is one owner too.
        let readers = Arc::strong_count(&ring).saturating_sub(probe.holders + 1);
        let size = ConstGauge::new(i64::try_from(ring.len()).unwrap_or(i64::MAX));
        size.encode(encoder.encode_descriptor(
            "ring_size",
            "Events the ring holds now.",
            None,
            size.metric_type(),
        )?)?;
        let readers = ConstGauge::new(i64::try_from(readers).unwrap_or(i64::MAX));
        readers.encode(encoder.encode_descriptor(
            "ring_readers",
            "Readers of the ring (GetFlows streams) now.",
            None,
            readers.metric_type(),
        )?)?;
        Ok(())
    }
}

/// At most one warning per interval; the rest are only counted.
#[derive(Default)]
pub struct RateLimit {
    last_secs: AtomicU64,
    suppressed: AtomicU64,
}

const WARN_INTERVAL_SECS: u64 = 10;

impl RateLimit {
    /// True if a warning may be logged now; returns how many were suppressed before it.
    pub fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.last_secs.load(Ordering::Relaxed);
        if (last == 0 || now >= last + WARN_INTERVAL_SECS)
            && self
                .last_secs
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Logs a warning unless one was logged recently.
pub fn warn_limited(limit: &RateLimit, msg: std::fmt::Arguments<'_>) {
    if let Some(suppressed) = limit.allow() {
        if suppressed > 0 {
            tracing::warn!(suppressed, "{msg}");
        } else {
            tracing::warn!("{msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_lets_one_through_per_interval() {
        let r = RateLimit::default();
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), None);
        assert_eq!(r.allow(), None);
    }

    #[test]
    fn series_are_registered() {
        let mut reg = Registry::default();
        let s = Stats::new(&mut reg);
        s.access_log_truncated.inc();
        s.lost_ring_buffer.inc();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        assert!(out.contains(
            "flowscope_source_records_dropped_total{source=\"access_log\",reason=\"truncated\"} 1"
        ), "{out}");
        assert!(
            out.contains("hubble_lost_events_total{source=\"hubble_ring_buffer\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("hubble_lost_events_total{source=\"perf_event_ring_buffer\"} 0"),
            "{out}"
        );
        // No ring attached yet: no ring series.
        assert!(!out.contains("flowscope_ring_size"), "{out}");
    }

    #[test]
    fn ring_size_and_readers() {
        let mut reg = Registry::default();
        let s = Stats::new(&mut reg);
        let (ring, mut writer) = Ring::<crate::flow::Event>::new(3).expect("ring");
        s.attach_ring(&ring);
        for _ in 0..5 {
            writer.write(Arc::new(crate::flow::Event::Lost(
                crate::flow::LostRecord {
                    time: crate::flow::Time::default(),
                    node: Arc::new("n".to_string()),
                    source: 0,
                    count: 1,
                    cpu: None,
                },
            )));
        }
        let reader_a = ring.clone();
        let reader_b = ring.clone();
        let encode = |reg: &Registry| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, reg).expect("encode");
            out
        };
        let out = encode(&reg);
        assert!(
            out.contains("# TYPE flowscope_ring_size gauge\nflowscope_ring_size 3\n"),
            "{out}"
        );
        assert!(out.contains("flowscope_ring_readers 2\n"), "{out}");
        drop((reader_a, reader_b));
        assert!(encode(&reg).contains("flowscope_ring_readers 0\n"));
    }
}
