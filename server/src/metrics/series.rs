//! The series machinery every handler shares: label-set keys built without allocating, an
//! ingest-side cache of series handles, the per-metric series limit, and lock-free metric
//! types.
//!
//! A handler writes the label values of the series a flow counts into a [`Key`] (length
//! prefixed, in label order) and calls [`Series::with`]. A key seen before is one hash lookup
//! in the handler's own cache, which maps it to a clone of the series' atomic handle: no
//! allocation and no lock shared with the scraper. Only a label set seen for the first time
//! decodes the key into label values and takes the family's write lock to insert the series.
//! Beyond the series limit (or for an over-long label value) the flow is counted in the
//! metric's one overflow series instead, and the fold is counted in
//! `flowscope_metrics_series_overflow_total{metric}`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use prometheus_client::encoding::{
    EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{Atomic as _, Counter};
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// Label values longer than this fold the flow into the overflow series.
pub const MAX_VALUE_LEN: usize = 1024;

/// The value of every label of a metric's overflow series. Kubernetes names cannot contain
/// `_`, so it cannot collide with a namespace, pod or workload.
pub const OVERFLOW: &str = "__overflow__";

/// Default per-metric series limit (`--metrics-series-limit`).
pub const DEFAULT_SERIES_LIMIT: usize = 10_000;

/// Prometheus' default histogram buckets (`prometheus.DefBuckets`), which Hubble uses.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const LEN: usize = std::mem::size_of::<u32>();

/// The label values of one series, each length-prefixed, in label order. Reused per flow:
/// after warm-up, building a key does not allocate.
#[derive(Default, Debug)]
pub struct Key {
    buf: Vec<u8>,
    /// Offset of the length prefix of the value being written.
    start: usize,
    oversize: bool,
}

impl Key {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.oversize = false;
    }

    /// Appends one complete value.
    pub fn push(&mut self, v: &str) {
        self.begin();
        self.extend(v);
        self.end();
    }

    /// Appends one value, ASCII-lower-cased (Go's `strings.ToLower` on enum names).
    pub fn push_lower(&mut self, v: &str) {
        self.begin();
        if self.fits(v.len()) {
            self.buf.extend(v.bytes().map(|b| b.to_ascii_lowercase()));
        }
        self.end();
    }

    /// Appends one value: a decimal number.
    pub fn push_u64(&mut self, v: u64) {
        self.begin();
        self.extend_u64(v);
        self.end();
    }

    /// Starts a value written in pieces; [`Key::end`] finishes it.
    pub fn begin(&mut self) {
        self.start = self.buf.len();
        self.buf.extend_from_slice(&[0; LEN]);
    }

    /// Appends to the value being written.
    pub fn extend(&mut self, s: &str) {
        if self.fits(s.len()) {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// Appends a decimal number to the value being written.
    pub fn extend_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if self.fits(digits.len() - i) {
            self.buf.extend_from_slice(&digits[i..]);
        }
    }

    /// Length of the value being written so far.
    pub fn value_len(&self) -> usize {
        self.buf.len() - self.start - LEN
    }

    /// Discards what was written of the current value (it stays started).
    pub fn reset_value(&mut self) {
        self.buf.truncate(self.start + LEN);
    }

    /// Finishes the value being written.
    pub fn end(&mut self) {
        let len = self.value_len() as u32;
        self.buf[self.start..self.start + LEN].copy_from_slice(&len.to_le_bytes());
    }

    /// Appends every value of `other`.
    pub fn append(&mut self, other: &Key) {
        self.buf.extend_from_slice(&other.buf);
        self.oversize |= other.oversize;
    }

    /// True if some value was too long: the flow folds into the overflow series.
    pub fn is_oversize(&self) -> bool {
        self.oversize
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The values, in order.
    pub fn values(&self) -> Values<'_> {
        Values { rest: &self.buf }
    }

    fn fits(&mut self, extra: usize) -> bool {
        if self.value_len() + extra > MAX_VALUE_LEN {
            self.oversize = true;
            false
        } else {
            true
        }
    }
}

impl fmt::Write for Key {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.extend(s);
        Ok(())
    }
}

/// Iterator over the values of a [`Key`].
pub struct Values<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Values<'a> {
    type Item = std::borrow::Cow<'a, str>;

    fn next(&mut self) -> Option<Self::Item> {
        let (len, rest) = self.rest.split_first_chunk::<LEN>()?;
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        let (v, rest) = rest.split_at(len);
        self.rest = rest;
        // Values are written from `&str`s whole, so this never replaces anything.
        Some(String::from_utf8_lossy(v))
    }
}

/// The label set of one series: names shared by the metric, values owned.
#[derive(Clone, Debug)]
pub struct LabelSet {
    names: Arc<[&'static str]>,
    values: Box<[Box<str>]>,
}

impl LabelSet {
    fn from_key(names: &Arc<[&'static str]>, key: &Key) -> LabelSet {
        let mut values: Vec<Box<str>> = key.values().map(|v| v.into()).collect();
        values.resize(names.len(), "".into());
        LabelSet {
            names: names.clone(),
            values: values.into_boxed_slice(),
        }
    }

    fn overflow(names: &Arc<[&'static str]>) -> LabelSet {
        LabelSet {
            names: names.clone(),
            values: names.iter().map(|_| OVERFLOW.into()).collect(),
        }
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Eq for LabelSet {}

impl std::hash::Hash for LabelSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.values.hash(state);
    }
}

impl EncodeLabelSet for LabelSet {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        for (name, value) in self.names.iter().zip(self.values.iter()) {
            use prometheus_client::encoding::EncodeLabel;
            (*name, &**value).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A metric type a [`Series`] can hold.
pub trait SeriesMetric:
    EncodeMetric + TypedMetric + Clone + Send + Sync + fmt::Debug + 'static
{
    fn create() -> Self;
}

impl SeriesMetric for Counter {
    fn create() -> Self {
        Counter::default()
    }
}

/// A counter, with or without `traceID` exemplars.
pub trait CounterMetric: SeriesMetric {
    fn inc_traced(&self, trace: Option<&TraceId>);
}

impl CounterMetric for Counter {
    fn inc_traced(&self, _trace: Option<&TraceId>) {
        self.inc();
    }
}

/// A counter whose last increment with a trace id is kept as its exemplar.
pub type ExemplarCounter = CounterWithExemplar<TraceId>;

impl SeriesMetric for ExemplarCounter {
    fn create() -> Self {
        CounterWithExemplar::default()
    }
}

impl CounterMetric for ExemplarCounter {
    fn inc_traced(&self, trace: Option<&TraceId>) {
        match trace {
            Some(t) => {
                self.inc_by(1, Some(t.clone()), Some(SystemTime::now()));
            }
            // Keep the last exemplar, as client_golang does for a plain increment.
            None => {
                self.inner().inc_by(1);
            }
        }
    }
}

/// A histogram, with or without `traceID` exemplars.
pub trait HistogramMetric: SeriesMetric {
    fn observe_traced(&self, v: f64, trace: Option<&TraceId>);
}

/// A histogram observing a value per bucket with atomics: no lock on the ingest path.
/// `_count` is the sum of the buckets read at scrape time, so the two always agree.
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    bounds: &'static [f64],
    /// One per bound, then +Inf.
    buckets: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            inner: Arc::new(HistogramInner {
                bounds,
                buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum_bits: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    pub fn observe(&self, v: f64) {
        let h = &*self.inner;
        let i = h
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(h.bounds.len());
        h.buckets[i].fetch_add(1, Ordering::Relaxed);
        let _ = h
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let h = &*self.inner;
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(h.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = f64::from_bits(h.sum_bits.load(Ordering::Relaxed));
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl SeriesMetric for Histogram {
    fn create() -> Self {
        Histogram::new(DEFAULT_BUCKETS)
    }
}

impl HistogramMetric for Histogram {
    fn observe_traced(&self, v: f64, _trace: Option<&TraceId>) {
        self.observe(v);
    }
}

/// A histogram keeping, per bucket, the last observation with a trace id as its exemplar.
pub type ExemplarHistogram = HistogramWithExemplars<TraceId>;

impl SeriesMetric for ExemplarHistogram {
    fn create() -> Self {
        HistogramWithExemplars::new(DEFAULT_BUCKETS.iter().copied())
    }
}

impl HistogramMetric for ExemplarHistogram {
    fn observe_traced(&self, v: f64, trace: Option<&TraceId>) {
        match trace {
            Some(t) => self.observe(v, Some(t.clone()), Some(SystemTime::now())),
            None => self.observe(v, None, None),
        }
    }
}

/// The `{traceID="…"}` exemplar label set, stored inline (no allocation per flow).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceId {
    buf: [u8; TraceId::MAX],
    len: u8,
}

impl TraceId {
    /// W3C trace ids are 32 hex digits; longer ids get no exemplar.
    pub const MAX: usize = 64;

    pub fn new(id: &str) -> Option<TraceId> {
        if id.is_empty() || id.len() > Self::MAX {
            return None;
        }
        let mut buf = [0u8; Self::MAX];
        buf[..id.len()].copy_from_slice(id.as_bytes());
        Some(TraceId {
            buf,
            len: id.len() as u8,
        })
    }

    /// The flow's `trace_context.parent.trace_id`, if any.
    pub fn of(flow: &dyn flowscope_filter::FlowView) -> Option<TraceId> {
        TraceId::new(flow.trace_id())
    }

    pub fn as_str(&self) -> &str {
        // Copied whole from a `&str` in `new`.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceId").field(&self.as_str()).finish()
    }
}

impl EncodeLabelSet for TraceId {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("traceID", self.as_str()).encode(encoder.encode_label())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct GuardLabels {
    metric: String,
}

/// The cardinality guard's own series and its limit, shared by every metric.
#[derive(Clone, Debug)]
pub struct Guard {
    limit: usize,
    folded: Family<GuardLabels, Counter>,
    series: Family<GuardLabels, Gauge>,
}

impl Guard {
    /// `limit` series per metric; 0 means unlimited.
    pub fn new(limit: usize, registry: &mut Registry) -> Guard {
        let g = Guard {
            limit,
            folded: Family::default(),
            series: Family::default(),
        };
        let fs = registry.sub_registry_with_prefix("flowscope");
        fs.register(
            "metrics_series_overflow",
            "Flows counted in a metric's overflow series because it had reached --metrics-series-limit label sets (or a label value was too long)",
            g.folded.clone(),
        );
        fs.register(
            "metrics_series",
            "Label sets (series) per Hubble metric, the overflow series excluded",
            g.series.clone(),
        );
        g
    }
}

/// One metric: its family in the registry, the handler-side cache of its series and its
/// share of the guard.
pub struct Series<M: SeriesMetric> {
    names: Arc<[&'static str]>,
    family: Family<LabelSet, M, fn() -> M>,
    cache: HashMap<Box<[u8]>, M>,
    key: Key,
    limit: usize,
    overflow: Option<M>,
    folded: Counter,
    series: Gauge,
}

impl<M: SeriesMetric> Series<M> {
    /// Registers `hubble_<name>` with `labels`, in that order.
    pub fn register(
        registry: &mut Registry,
        guard: &Guard,
        name: &'static str,
        help: &str,
        labels: Vec<&'static str>,
    ) -> Series<M> {
        let family = Family::<LabelSet, M, fn() -> M>::new_with_constructor(M::create);
        registry
            .sub_registry_with_prefix("hubble")
            .register(name, help, family.clone());
        let metric = match M::TYPE {
            MetricType::Counter => format!("hubble_{name}_total"),
            _ => format!("hubble_{name}"),
        };
        let gl = GuardLabels { metric };
        Series {
            names: labels.into(),
            family,
            cache: HashMap::new(),
            key: Key::default(),
            limit: guard.limit,
            overflow: None,
            folded: guard.folded.get_or_create_owned(&gl),
            series: guard.series.get_or_create_owned(&gl),
        }
    }

    /// The key to write the next series' label values into, cleared.
    pub fn key(&mut self) -> &mut Key {
        self.key.clear();
        &mut self.key
    }

    /// Calls `f` with the series of the label values in [`Series::key`].
    pub fn with(&mut self, f: impl FnOnce(&M)) {
        if !self.key.is_oversize() {
            if let Some(m) = self.cache.get(self.key.bytes()) {
                f(m);
                return;
            }
            if self.limit == 0 || self.cache.len() < self.limit {
                let labels = LabelSet::from_key(&self.names, &self.key);
                let m = self.family.get_or_create_owned(&labels);
                self.cache.insert(self.key.bytes().into(), m.clone());
                self.series.inc();
                f(&m);
                return;
            }
        }
        self.folded.inc();
        let (family, names) = (&self.family, &self.names);
        let m = self
            .overflow
            .get_or_insert_with(|| family.get_or_create_owned(&LabelSet::overflow(names)));
        f(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_round_trip_and_are_unambiguous() {
        let mut a = Key::default();
        a.push("a\u{1f}b");
        a.push("");
        a.push_u64(8080);
        a.push_lower("INGRESS");
        let v: Vec<_> = a.values().collect();
        assert_eq!(v, ["a\u{1f}b", "", "8080", "ingress"]);
        let mut b = Key::default();
        b.push("a");
        b.push("\u{1f}b");
        b.push_u64(8080);
        b.push_lower("ingress");
        assert_ne!(a.bytes(), b.bytes());
    }

    #[test]
    fn over_long_values_mark_the_key() {
        let mut k = Key::default();
        k.push(&"x".repeat(MAX_VALUE_LEN));
        assert!(!k.is_oversize());
        k.push(&"x".repeat(MAX_VALUE_LEN + 1));
        assert!(k.is_oversize());
        k.clear();
        assert!(!k.is_oversize());
    }

    #[test]
    fn histogram_counts_per_bucket() {
        let h = Histogram::new(DEFAULT_BUCKETS);
        for v in [0.001, 0.005, 0.0051, 11.0] {
            h.observe(v);
        }
        let counts: Vec<u64> = h
            .inner
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
