//! The observer: the single task that turns source events into flows and writes the ring.
//!
//! Sources hand it events over a bounded channel and never wait: when the channel is full
//! they count the event as lost, and the observer reports the count as a
//! `LostEvent{OBSERVER_EVENTS_QUEUE}` in the ring (Hubble's `monitor/consumer.go`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowscope_proto::flow::LostEventSource;
use tokio::sync::mpsc;

use crate::decode::Decoders;
use crate::flow::{Event, LostRecord, Time};
use crate::identity::StateHandle;
use crate::parser::l7::RedactOptions;
use crate::parser::l34::L34Parser;
use crate::stats::Stats;
use crate::store::{Ring, RingWriter};

/// What sources send to the observer.
#[derive(Debug)]
pub enum SourceEvent {
    /// A flow, decoded and enriched on the source's task, in the allocation the ring keeps.
    Flow(Arc<Event>),
    /// The kernel dropped `count` datapath events: on `cpu`'s perf ring, or (no CPU) in the
    /// BPF ring buffer.
    PerfLost { cpu: Option<u32>, count: u64 },
}

/// The sending side sources get: non-blocking, counting what does not fit.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::Sender<SourceEvent>,
    lost: Arc<AtomicU64>,
    stats: Arc<Stats>,
    decoders: Decoders,
}

impl EventSender {
    /// Decodes an access-log datagram on the caller's task and queues its flows.
    pub fn access_log(&self, bytes: &[u8]) {
        self.decoders.access_log(bytes, |flow| {
            self.send(SourceEvent::Flow(Arc::new(Event::Flow(flow))))
        });
    }

    /// Decodes a datapath record with the caller's parser and queues its flow.
    pub fn datapath(&self, parser: &mut L34Parser, record: &[u8]) {
        if let Some(flow) = self.decoders.datapath(parser, record) {
            self.send(SourceEvent::Flow(Arc::new(Event::Flow(flow))));
        }
    }

    /// A parser for one datapath reader task.
    pub fn datapath_parser(&self) -> L34Parser {
        self.decoders.datapath_parser()
    }

    /// Queues an event; when the queue is full the event is counted as lost. Never blocks.
    pub fn send(&self, ev: SourceEvent) {
        if self.tx.try_send(ev).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
            self.stats.lost_observer_queue.inc();
        }
    }
}

/// Read-only views the API serves from.
pub struct ObserverHandle {
    pub ring: Arc<Ring<Event>>,
    pub state: Arc<StateHandle>,
    pub stats: Arc<Stats>,
    /// flowd's own events (start, state and policy loads), for GetAgentEvents.
    pub agent_events: Arc<crate::agent::AgentEventLog>,
    seen_flows: AtomicU64,
    started: Instant,
    rate_samples: Mutex<VecDeque<(Instant, u64)>>,
    /// Last time each namespace was seen: cluster → namespace → time.
    namespaces: Mutex<HashMap<String, HashMap<String, Instant>>>,
    /// Set when flowd is stopping: open streams end instead of waiting for flows.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl ObserverHandle {
    /// Tells every open stream to end: the gRPC server waits for them before it stops, and
    /// a following client would otherwise hold flowd up for as long as it stays connected.
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once [`Self::stop_streams`] was called (at once if it already was).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn seen_flows(&self) -> u64 {
        self.seen_flows.load(Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Flows per second over the last minute (or since start, if shorter).
    pub fn flows_rate(&self) -> f64 {
        let now = Instant::now();
        let seen = self.seen_flows();
        let samples = lock(&self.rate_samples);
        let (t0, s0) = samples
            .iter()
            .find(|(t, _)| now.duration_since(*t) <= Duration::from_secs(60))
            .copied()
            .unwrap_or((self.started, 0));
        let secs = now.duration_since(t0).as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            seen.saturating_sub(s0) as f64 / secs
        }
    }

    /// `(cluster, namespace)` pairs seen in the last hour, sorted.
    pub fn namespaces(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut out: Vec<_> = lock(&self.namespaces)
            .iter()
            .flat_map(|(cluster, nss)| {
                nss.iter()
                    .filter(|(_, t)| now.duration_since(**t) <= Duration::from_secs(3600))
                    .map(move |(ns, _)| (cluster.clone(), ns.clone()))
            })
            .collect();
        out.sort();
        out
    }

    fn sample_rate(&self) {
        let mut samples = lock(&self.rate_samples);
        samples.push_back((Instant::now(), self.seen_flows()));
        while samples.len() > 62 {
            samples.pop_front();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Something that sees every flow and lost event before it is stored (metrics handlers).
/// Runs on the observer task: it must not block, and should not allocate per flow.
pub trait FlowProcessor: Send {
    fn process(&mut self, flow: &dyn flowscope_filter::FlowView);
    fn lost(&mut self, _source: LostEventSource, _count: u64) {}
}

/// Observer settings.
pub struct ObserverConfig {
    pub ring_capacity: u64,
    pub queue_size: usize,
    pub redact: RedactOptions,
    pub processors: Vec<Box<dyn FlowProcessor>>,
}

/// The observer task's own state.
pub struct Observer {
    rx: mpsc::Receiver<SourceEvent>,
    writer: RingWriter<Event>,
    handle: Arc<ObserverHandle>,
    lost: Arc<AtomicU64>,
    processors: Vec<Box<dyn FlowProcessor>>,
}

impl Observer {
    pub fn new(
        cfg: ObserverConfig,
        state: Arc<StateHandle>,
        stats: Arc<Stats>,
    ) -> Result<(Observer, EventSender, Arc<ObserverHandle>), crate::store::RingError> {
        let (ring, writer) = Ring::new(cfg.ring_capacity)?;
        let (tx, rx) = mpsc::channel(cfg.queue_size.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        let handle = Arc::new(ObserverHandle {
            ring,
            state,
            stats: stats.clone(),
            agent_events: Arc::new(crate::agent::AgentEventLog::new(
                crate::agent::AGENT_EVENT_CAPACITY,
            )?),
            seen_flows: AtomicU64::new(0),
            started: Instant::now(),
            rate_samples: Mutex::new(VecDeque::new()),
            namespaces: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
        });
        stats.ring_capacity.set(cfg.ring_capacity as i64);
        let sender = EventSender {
            tx,
            lost: lost.clone(),
            stats: stats.clone(),
            decoders: Decoders::new(handle.state.clone(), stats, cfg.redact),
        };
        Ok((
            Observer {
                rx,
                writer,
                handle: handle.clone(),
                lost,
                processors: cfg.processors,
            },
            sender,
            handle,
        ))
    }

    /// Runs until every sender is gone.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(ev) => {
                        self.report_lost();
                        self.handle_event(ev);
                        // Drain what is already queued without going back to the scheduler.
                        for _ in 0..256 {
                            match self.rx.try_recv() {
                                Ok(ev) => self.handle_event(ev),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    self.report_lost();
                    self.handle.sample_rate();
                }
            }
        }
        self.report_lost();
    }

    fn handle_event(&mut self, ev: SourceEvent) {
        match ev {
            SourceEvent::Flow(flow) => self.write_flow(flow),
            SourceEvent::PerfLost { cpu, count } => {
                for p in &mut self.processors {
                    p.lost(LostEventSource::PerfEventRingBuffer, count);
                }
                let node = self.handle.state.snapshot().node_name_shared().clone();
                self.writer.write(Arc::new(Event::Lost(LostRecord {
                    time: Time::now(),
                    node,
                    source: LostEventSource::PerfEventRingBuffer as i32,
                    count,
                    cpu,
                })));
            }
        }
    }

    fn write_flow(&mut self, ev: Arc<Event>) {
        let Event::Flow(flow) = &*ev else {
            return;
        };
        for p in &mut self.processors {
            p.process(flow);
        }
        {
            let mut ns = lock(&self.handle.namespaces);
            for peer in [&flow.source, &flow.destination] {
                let crate::flow::PeerInfo::Pod(ep) = &peer.info else {
                    continue;
                };
                if ep.namespace.is_empty() {
                    continue;
                }
                let now = Instant::now();
                match ns
                    .get_mut(ep.cluster_name.as_str())
                    .and_then(|c| c.get_mut(ep.namespace.as_str()))
                {
                    Some(t) => *t = now,
                    None => {
                        ns.entry(ep.cluster_name.clone())
                            .or_default()
                            .insert(ep.namespace.clone(), now);
                    }
                }
            }
        }
        self.writer.write(ev);
        self.handle.seen_flows.fetch_add(1, Ordering::Relaxed);
        self.handle.stats.ring_writes.inc();
    }

    fn report_lost(&mut self) {
        let n = self.lost.swap(0, Ordering::Relaxed);
        if n == 0 {
            return;
        }
        for p in &mut self.processors {
            p.lost(LostEventSource::ObserverEventsQueue, n);
        }
        let node = self.handle.state.snapshot().node_name_shared().clone();
        self.writer.write(Arc::new(Event::Lost(LostRecord {
            time: Time::now(),
            node,
            source: LostEventSource::ObserverEventsQueue as i32,
            count: n,
            cpu: None,
        })));
    }
}
