//! Agent events: what flowd itself does (start, cluster-state and policy (re)loads), kept
//! for `GetAgentEvents` as Hubble keeps Cilium's agent notifications.
//!
//! Producers (start-up and the reload task) hand finished `AgentEvent`s to the
//! [`AgentEventLog`]; the API reads its ring like GetFlows reads the flow ring. Hubble keeps
//! agent events in its one event ring (`hubble-event-buffer-capacity`, 4095 by default);
//! flowd gives them a ring of their own of that size, so a busy flow stream never pushes
//! them out and `--last N` counts agent events only.

pub mod diff;
pub mod notify;

use std::sync::{Arc, Mutex};

use flowscope_proto::flow::AgentEvent;
use flowscope_proto::types::Timestamp;

use crate::store::{Ring, RingError, RingWriter};

/// How many agent events are kept (Hubble's default event buffer capacity).
pub const AGENT_EVENT_CAPACITY: u64 = 4095;

/// One stored agent event and when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub time: Timestamp,
    pub event: AgentEvent,
}

/// The bounded ring of agent events. Writers are serialised by a lock (there are few, and
/// they write rarely); readers never take it.
pub struct AgentEventLog {
    ring: Arc<Ring<AgentRecord>>,
    writer: Mutex<RingWriter<AgentRecord>>,
}

impl AgentEventLog {
    pub fn new(capacity: u64) -> Result<Self, RingError> {
        let (ring, writer) = Ring::new(capacity)?;
        Ok(AgentEventLog {
            ring,
            writer: Mutex::new(writer),
        })
    }

    /// The readable side.
    pub fn ring(&self) -> &Arc<Ring<AgentRecord>> {
        &self.ring
    }

    /// Stores `events`, all stamped with the current time, in order.
    pub fn emit(&self, events: impl IntoIterator<Item = AgentEvent>) {
        self.emit_at(Timestamp::now(), events);
    }

    /// Stores `events`, all stamped with `time`, in order.
    pub fn emit_at(&self, time: Timestamp, events: impl IntoIterator<Item = AgentEvent>) {
        let mut w = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for event in events {
            w.write(Arc::new(AgentRecord { time, event }));
        }
    }
}

/// The producer side for flowd's loads: remembers what the last accepted load held and
/// turns each new one into the events of what changed.
pub struct Announcer {
    log: Arc<AgentEventLog>,
    previous: diff::Snapshot,
    revision: diff::Revision,
}

impl Announcer {
    /// An announcer whose first load is compared with an empty state and policy.
    pub fn new(log: Arc<AgentEventLog>) -> Self {
        Announcer {
            log,
            previous: diff::Snapshot::default(),
            revision: diff::Revision::default(),
        }
    }

    /// The policy revision once `next` is loaded (the one [`Announcer::loaded`] announces).
    pub fn revision_after(&self, next: &diff::Snapshot) -> u64 {
        diff::revision_after(&self.previous, next, self.revision)
    }

    /// The policy revision of the first load, `next`.
    pub fn first_revision(next: &diff::Snapshot) -> u64 {
        diff::revision_after(&diff::Snapshot::default(), next, diff::Revision::default())
    }

    /// A load was accepted: emits its differences from the previous one.
    pub fn loaded(&mut self, next: diff::Snapshot) {
        self.log
            .emit(diff::events(&self.previous, &next, &mut self.revision));
        self.previous = next;
    }

    /// A load was rejected and the previous one stays in force.
    pub fn rejected(&self, reason: &str) {
        self.log.emit([notify::message(reason)]);
    }

    /// flowd is up and serving.
    pub fn started(&self) {
        // The response time is the start time, as for Cilium's start message.
        let now = Timestamp::now();
        self.log.emit_at(now, [notify::agent_started(now)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Read;

    #[test]
    fn emitted_events_are_read_back_in_order_and_bounded() {
        let log = AgentEventLog::new(3).expect("log");
        log.emit((0..5i64).map(|i| {
            notify::agent_started(Timestamp {
                seconds: i,
                nanos: 0,
            })
        }));
        let ring = log.ring();
        assert_eq!(ring.len(), 3);
        assert!(matches!(ring.read(1), Read::Overtaken { oldest: 2 }));
        let Read::Event(rec) = ring.read(4) else {
            panic!("newest event");
        };
        assert_eq!(
            rec.event,
            notify::agent_started(Timestamp {
                seconds: 4,
                nanos: 0
            })
        );
    }
}
