//! Time order across nodes.
//!
//! History (no `follow`) is gathered whole, sorted, and cut to the `number` the client
//! asked for across the cluster. A followed stream goes through a bounded sort buffer, as
//! Hubble Relay's: responses wait until the buffer holds more than its length, or until they
//! are older than the drain timeout, and leave oldest first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::raw::RawResponse;

/// Sorts gathered history by time and keeps `number` of it (0: all): the last, or with
/// `first` the first.
pub fn history(mut all: Vec<RawResponse>, number: u64, first: bool) -> Vec<RawResponse> {
    all.sort_by_key(|r| r.time_ns);
    let n = usize::try_from(number).unwrap_or(usize::MAX);
    if number == 0 || all.len() <= n {
        return all;
    }
    if first {
        all.truncate(n);
        all
    } else {
        all.split_off(all.len() - n)
    }
}

struct Item {
    time: i128,
    seq: u64,
    resp: RawResponse,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(o.time, o.seq))
    }
}

/// The sort buffer of a followed stream.
pub struct SortBuffer {
    heap: BinaryHeap<Reverse<Item>>,
    max: usize,
    seq: u64,
}

impl SortBuffer {
    pub fn new(max: usize) -> Self {
        SortBuffer {
            heap: BinaryHeap::new(),
            max: max.max(1),
            seq: 0,
        }
    }

    /// Adds a response; returns the oldest when the buffer is over its length (it never
    /// holds more than that, so at most one leaves).
    pub fn push(&mut self, resp: RawResponse) -> Option<RawResponse> {
        self.seq += 1;
        self.heap.push(Reverse(Item {
            time: resp.time_ns,
            seq: self.seq,
            resp,
        }));
        if self.heap.len() > self.max {
            return self.heap.pop().map(|Reverse(i)| i.resp);
        }
        None
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// What is older than `limit_ns`, oldest first.
    pub fn pop_older_than(&mut self, limit_ns: i128) -> Vec<RawResponse> {
        let mut out = Vec::new();
        while self.heap.peek().is_some_and(|Reverse(i)| i.time < limit_ns) {
            if let Some(Reverse(i)) = self.heap.pop() {
                out.push(i.resp);
            }
        }
        out
    }

    /// Everything, oldest first.
    pub fn drain(&mut self) -> Vec<RawResponse> {
        let mut out = Vec::with_capacity(self.heap.len());
        while let Some(Reverse(i)) = self.heap.pop() {
            out.push(i.resp);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::observer::GetFlowsResponse;
    use flowscope_proto::types::Timestamp;

    fn at(s: i64, node: &str) -> RawResponse {
        RawResponse::encode(&GetFlowsResponse {
            node_name: node.to_string(),
            time: Some(Timestamp {
                seconds: s,
                nanos: 0,
            }),
            response_types: None,
        })
    }

    fn secs(v: &[RawResponse]) -> Vec<i64> {
        v.iter()
            .map(|r| (r.time_ns / 1_000_000_000) as i64)
            .collect()
    }

    #[test]
    fn history_is_the_last_or_first_n_of_the_cluster() {
        let all = vec![at(5, "a"), at(1, "b"), at(3, "a"), at(2, "c"), at(4, "b")];
        assert_eq!(secs(&history(all.clone(), 3, false)), [3, 4, 5]);
        assert_eq!(secs(&history(all.clone(), 2, true)), [1, 2]);
        assert_eq!(secs(&history(all, 0, false)), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_sort_buffer_releases_oldest_first_when_full_or_drained() {
        let mut b = SortBuffer::new(2);
        assert!(b.push(at(3, "a")).is_none());
        assert!(b.push(at(1, "b")).is_none());
        assert_eq!(secs(&Vec::from_iter(b.push(at(2, "c")))), [1]);
        assert_eq!(secs(&b.drain()), [2, 3]);
        assert!(b.drain().is_empty());
        let mut b = SortBuffer::new(3);
        for t in [5, 1, 4] {
            assert!(b.push(at(t, "a")).is_none());
        }
        assert_eq!(secs(&b.pop_older_than(4_000_000_000)), [1]);
        assert_eq!(secs(&b.pop_older_than(4_000_000_001)), [4]);
        assert_eq!(secs(&b.drain()), [5]);
    }
}
