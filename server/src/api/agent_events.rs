//! `observer.Observer/GetAgentEvents`, served from the agent-event ring with Hubble's local
//! observer semantics (`GetAgentEvents` in `local_observer.go`): `number` last events, or
//! the oldest `number` with `first`; `since` (which wins over both) and `until` bound the
//! events' times; `follow` keeps the stream open for new events. Unlike flows, an
//! overtaken reader simply continues at the oldest event: the response has no lost-event
//! member, and Hubble drops its lost events from this stream too.

use std::sync::Arc;

use flowscope_proto::observer::{GetAgentEventsRequest, GetAgentEventsResponse};
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::agent::AgentRecord;
use crate::observer::ObserverHandle;
use crate::store::{Read, Ring};

/// Buffered responses per stream before its reader waits for the client.
pub const STREAM_BUFFER: usize = 64;

/// A validated GetAgentEvents request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentQuery {
    number: u64,
    first: bool,
    follow: bool,
    since: Option<i128>,
    until: Option<i128>,
}

impl AgentQuery {
    pub fn new(req: &GetAgentEventsRequest) -> Result<Self, Status> {
        if req.first && req.follow {
            return Err(Status::invalid_argument(
                "first cannot be specified with follow",
            ));
        }
        Ok(AgentQuery {
            number: req.number,
            first: req.first,
            follow: req.follow,
            since: req.since.map(|t| t.as_unix_nanos()),
            until: req.until.map(|t| t.as_unix_nanos()),
        })
    }

    /// Where the forward read starts: the oldest event with `first`, the head when only
    /// following, else walking back over `number` events or to the first one before
    /// `since`.
    pub fn start(&self, ring: &Ring<AgentRecord>) -> u64 {
        let written = ring.written();
        if self.first && self.since.is_none() {
            return ring.oldest();
        }
        if self.follow && self.number == 0 && self.since.is_none() {
            return written;
        }
        let mut start = written;
        let mut counted = 0u64;
        while start > 0 {
            let Read::Event(rec) = ring.read(start - 1) else {
                break;
            };
            if self
                .since
                .is_some_and(|since| rec.time.as_unix_nanos() < since)
            {
                break;
            }
            start -= 1;
            counted += 1;
            // As Hubble's reader: a count of 0 never matches, so it reads back to the oldest.
            if self.since.is_none() && counted == self.number {
                break;
            }
        }
        start
    }
}

/// Streams the query's events to `tx` until they are all sent, the client leaves or flowd
/// stops (a stream still open then ends with UNAVAILABLE).
pub async fn stream(
    handle: Arc<ObserverHandle>,
    q: AgentQuery,
    tx: mpsc::Sender<Result<GetAgentEventsResponse, Status>>,
) {
    let mut stop = handle.stopping();
    read(&handle, &q, &tx, &mut stop).await;
    if *stop.borrow() {
        let _ = tx.try_send(Err(Status::unavailable("flowd is shutting down")));
    }
}

async fn read(
    handle: &ObserverHandle,
    q: &AgentQuery,
    tx: &mpsc::Sender<Result<GetAgentEventsResponse, Status>>,
    stop: &mut watch::Receiver<bool>,
) {
    let ring = handle.agent_events.ring().clone();
    let mut seq = q.start(&ring);
    let end = if q.follow { u64::MAX } else { ring.written() };
    let mut sent = 0u64;
    while seq < end {
        if !q.follow && q.number > 0 && sent >= q.number {
            return;
        }
        let rec = match ring.read(seq) {
            Read::Event(rec) => rec,
            Read::NotYet if q.follow => {
                tokio::select! {
                    _ = ring.wait_for(seq) => continue,
                    _ = tx.closed() => return,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            Read::NotYet => return,
            Read::Overtaken { oldest } => {
                seq = oldest;
                continue;
            }
        };
        seq += 1;
        let t = rec.time.as_unix_nanos();
        if q.until.is_some_and(|until| t > until) {
            return;
        }
        if q.since.is_some_and(|since| t < since) {
            continue;
        }
        let resp = GetAgentEventsResponse {
            agent_event: Some(rec.event.clone()),
            node_name: handle.state.snapshot().node_name().to_string(),
            time: Some(rec.time),
        };
        let delivered = tokio::select! {
            sent = tx.send(Ok(resp)) => sent.is_ok(),
            _ = stop.wait_for(|s| *s) => false,
        };
        if !delivered {
            return;
        }
        sent += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::notify;
    use flowscope_proto::types::Timestamp;

    /// A ring of `n` events, event `i` at second `i`.
    fn ring(n: i64) -> Arc<Ring<AgentRecord>> {
        let (r, mut w) = Ring::new(7).expect("ring");
        for i in 0..n {
            let time = Timestamp {
                seconds: i,
                nanos: 0,
            };
            w.write(Arc::new(AgentRecord {
                time,
                event: notify::agent_started(time),
            }));
        }
        r
    }

    fn query(number: u64, first: bool, follow: bool, since: Option<i64>) -> AgentQuery {
        AgentQuery::new(&GetAgentEventsRequest {
            number,
            first,
            follow,
            since: since.map(|seconds| Timestamp { seconds, nanos: 0 }),
            until: None,
        })
        .expect("query")
    }

    #[test]
    fn start_follows_hubbles_ring_reader() {
        let r = ring(10); // holds events 3..=9
        assert_eq!(query(2, false, false, None).start(&r), 8, "last 2");
        assert_eq!(query(0, false, false, None).start(&r), 3, "all");
        assert_eq!(
            query(100, false, false, None).start(&r),
            3,
            "more than held"
        );
        assert_eq!(query(2, true, false, None).start(&r), 3, "first");
        assert_eq!(query(0, false, true, None).start(&r), 10, "follow only");
        assert_eq!(
            query(3, false, true, None).start(&r),
            7,
            "last 3 and follow"
        );
        assert_eq!(query(1, false, false, Some(5)).start(&r), 5, "since wins");
        assert_eq!(query(0, false, false, Some(0)).start(&r), 3);
    }

    #[test]
    fn first_with_follow_is_rejected() {
        let err = AgentQuery::new(&GetAgentEventsRequest {
            first: true,
            follow: true,
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
