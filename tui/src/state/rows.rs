//! The bounded client buffer: the newest `capacity` rows, addressed by a sequence number
//! that survives evictions (a selection stays on its row while older rows fall off).

use std::collections::VecDeque;
use std::sync::Arc;

use flowscope_proto::flow::Verdict;

use super::row::Row;

/// Verdicts in the order the header lists their counts.
pub const VERDICT_ORDER: [Verdict; 8] = [
    Verdict::Forwarded,
    Verdict::Dropped,
    Verdict::Audit,
    Verdict::Error,
    Verdict::Redirected,
    Verdict::Traced,
    Verdict::Translated,
    Verdict::Unknown,
];

/// Per-verdict counts of the rows a buffer holds, indexed by the verdict number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts([u64; 8]);

impl VerdictCounts {
    fn slot(verdict: i32) -> usize {
        usize::try_from(verdict)
            .ok()
            .filter(|v| *v < 8)
            .unwrap_or(0)
    }

    fn add(&mut self, verdict: i32) {
        self.0[Self::slot(verdict)] += 1;
    }

    fn remove(&mut self, verdict: i32) {
        let slot = &mut self.0[Self::slot(verdict)];
        *slot = slot.saturating_sub(1);
    }

    pub fn get(&self, verdict: Verdict) -> u64 {
        self.0[Self::slot(verdict as i32)]
    }

    /// `(verdict, count)` for every verdict with a non-zero count, in [`VERDICT_ORDER`].
    pub fn nonzero(&self) -> Vec<(Verdict, u64)> {
        VERDICT_ORDER
            .iter()
            .map(|v| (*v, self.get(*v)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// A ring of rows with absolute sequence numbers.
#[derive(Clone, Debug)]
pub struct Rows {
    rows: VecDeque<Arc<Row>>,
    /// Sequence number of `rows[0]`.
    first_seq: u64,
    capacity: usize,
    counts: VerdictCounts,
    /// Rows pushed out by newer ones since the buffer was created.
    evicted: u64,
}

impl Rows {
    pub fn new(capacity: usize) -> Rows {
        Rows {
            rows: VecDeque::with_capacity(capacity.min(4096)),
            first_seq: 0,
            capacity: capacity.max(1),
            counts: VerdictCounts::default(),
            evicted: 0,
        }
    }

    /// Appends a row, evicting the oldest one when full.
    pub fn push(&mut self, row: Arc<Row>) {
        if self.rows.len() == self.capacity
            && let Some(old) = self.rows.pop_front()
        {
            self.counts.remove(old.flow.verdict);
            self.first_seq += 1;
            self.evicted += 1;
        }
        self.counts.add(row.flow.verdict);
        self.rows.push_back(row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn counts(&self) -> &VerdictCounts {
        &self.counts
    }

    /// Sequence number of the oldest row held.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number the next row will get (= rows ever pushed).
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.rows.len() as u64
    }

    /// Sequence number of the newest row.
    pub fn last_seq(&self) -> Option<u64> {
        self.end_seq().checked_sub(1).filter(|_| !self.is_empty())
    }

    pub fn get(&self, seq: u64) -> Option<&Arc<Row>> {
        let i = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.rows.get(i)
    }

    /// `seq` clamped into the held range (None when empty).
    pub fn clamp(&self, seq: u64) -> Option<u64> {
        let last = self.last_seq()?;
        Some(seq.clamp(self.first_seq, last))
    }

    /// Rows from `from` (inclusive), at most `n`.
    pub fn range(&self, from: u64, n: usize) -> impl Iterator<Item = (u64, &Arc<Row>)> {
        let len = self.rows.len();
        let start = usize::try_from(from.saturating_sub(self.first_seq))
            .unwrap_or(len)
            .min(len);
        let end = start.saturating_add(n).min(len);
        let first = self.first_seq + start as u64;
        self.rows
            .range(start..end)
            .enumerate()
            .map(move |(i, r)| (first + i as u64, r))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Row>> {
        self.rows.iter()
    }
}
