//! The connection to the Observer API: one task that owns the gRPC channel, runs the main
//! and trace `GetFlows` streams and polls `ServerStatus`, and reports [`Update`]s.
//!
//! It is a small state machine: `Connecting → Connected → (stream or channel fails) →
//! Disconnected(backoff) → Connecting …`. Every transition is reported as an
//! [`Update::Conn`], so the header always says what the connection is doing, and a server
//! that goes away is retried with exponential backoff instead of ending flowtop.
//!
//! The UI never waits for the network: flows are converted to rows here, sent in batches
//! with `try_send`, and a batch the UI has no room for is counted and dropped (reported
//! with the next batch), never queued without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use flowscope_cli::client;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_proto::observer::{GetFlowsResponse, ServerStatusRequest};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use flowscope_cli::printer::escape::terminal as esc;

use crate::state::{ConnStatus, NodeCounts, Query, Row, ServerStats, StreamKind, Update};

/// Rows per batch sent to the UI.
const BATCH: usize = 1024;
/// Updates the UI may have pending before batches are dropped.
const CHANNEL: usize = 256;
const STATUS_EVERY: Duration = Duration::from_secs(1);
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The handle the app holds: updates come out of [`Conn::next`], queries go in.
pub struct Conn {
    rx: mpsc::Receiver<Update>,
    main: watch::Sender<Query>,
    trace: watch::Sender<Option<Query>>,
    task: JoinHandle<()>,
}

impl Conn {
    /// Starts connecting to `server` as `dial` says and streaming `query`.
    pub fn spawn(server: String, dial: client::Dial, query: Query) -> Conn {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (main, main_rx) = watch::channel(query);
        let (trace, trace_rx) = watch::channel(None);
        let task = tokio::spawn(run(server, dial, main_rx, trace_rx, tx));
        Conn {
            rx,
            main,
            trace,
            task,
        }
    }

    /// The next update (None once the task has ended).
    pub async fn next(&mut self) -> Option<Update> {
        self.rx.recv().await
    }

    /// Replaces the main stream's query.
    pub fn requery(&self, q: Query) {
        self.main.send_replace(q);
    }

    /// Opens or closes the trace stream.
    pub fn trace(&self, q: Option<Query>) {
        self.trace.send_replace(q);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Exponential reconnect delay.
struct Backoff {
    next: Duration,
    attempt: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            next: BACKOFF_MIN,
            attempt: 1,
        }
    }

    fn fail(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        self.attempt += 1;
        d
    }

    fn reset(&mut self) {
        *self = Backoff::new();
    }
}

/// Why `serve` returned.
enum End {
    /// The connection failed: reconnect.
    Lost(String),
    /// The app is gone: stop.
    Gone,
}

async fn run(
    server: String,
    dial: client::Dial,
    mut main_rx: watch::Receiver<Query>,
    mut trace_rx: watch::Receiver<Option<Query>>,
    tx: mpsc::Sender<Update>,
) {
    let mut backoff = Backoff::new();
    loop {
        let connecting = ConnStatus::Connecting {
            attempt: backoff.attempt,
        };
        if tx.send(Update::Conn(connecting)).await.is_err() {
            return;
        }
        let error = match client::connect_with(&server, &dial).await {
            Ok(client) => {
                match serve(client, &mut main_rx, &mut trace_rx, &tx, &mut backoff).await {
                    End::Lost(e) => e,
                    End::Gone => return,
                }
            }
            Err(e) => e.to_string(),
        };
        let attempt = backoff.attempt;
        let retry_in = backoff.fail();
        let status = ConnStatus::Disconnected {
            error,
            retry_in,
            attempt,
        };
        if tx.send(Update::Conn(status)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = tx.closed() => return,
        }
    }
}

/// One open GetFlows stream.
struct Reader {
    kind: StreamKind,
    generation: u64,
    stream: Streaming<GetFlowsResponse>,
    /// Rows dropped since the last batch the UI accepted.
    dropped: u64,
}

impl Reader {
    async fn open(
        client: &mut ObserverClient<Channel>,
        kind: StreamKind,
        q: Query,
        tx: &mpsc::Sender<Update>,
    ) -> Result<Option<Reader>, End> {
        match client.get_flows(q.request).await {
            Ok(resp) => {
                send(
                    tx,
                    Update::Started {
                        stream: kind,
                        generation: q.generation,
                    },
                )
                .await?;
                Ok(Some(Reader {
                    kind,
                    generation: q.generation,
                    stream: resp.into_inner(),
                    dropped: 0,
                }))
            }
            Err(status) => {
                refused_or_lost(kind, q.generation, status, tx).await?;
                Ok(None)
            }
        }
    }

    /// Handles `first` and everything else the stream has ready, as one batch. Returns
    /// whether the stream is still open.
    async fn read(
        &mut self,
        first: Option<Result<GetFlowsResponse, Status>>,
        tx: &mpsc::Sender<Update>,
    ) -> Result<bool, End> {
        enum Stop {
            Drained,
            Ended,
            Failed(Status),
        }
        let mut batch = Vec::new();
        let mut item = first;
        let stop = loop {
            match item {
                None => break Stop::Ended,
                Some(Err(status)) => break Stop::Failed(status),
                Some(Ok(resp)) => match resp.response_types {
                    Some(ResponseTypes::Flow(f)) => batch.push(Arc::new(Row::new(f))),
                    Some(ResponseTypes::NodeStatus(n)) => {
                        // After the flows before it, so the header changes in order.
                        self.flush(std::mem::take(&mut batch), tx).await?;
                        let state = n.state_change();
                        let names = n.node_names.iter().map(|s| esc(s).into_owned()).collect();
                        send(tx, Update::NodeStatus { state, names }).await?;
                    }
                    Some(ResponseTypes::LostEvents(l)) => {
                        self.flush(std::mem::take(&mut batch), tx).await?;
                        let lost = Update::Lost {
                            stream: self.kind,
                            generation: self.generation,
                            count: l.num_events_lost,
                        };
                        send(tx, lost).await?;
                    }
                    _ => {}
                },
            }
            if batch.len() >= BATCH {
                break Stop::Drained;
            }
            match next_now(&mut self.stream) {
                Some(next) => item = next,
                None => break Stop::Drained,
            }
        };
        self.flush(batch, tx).await?;
        match stop {
            Stop::Drained => Ok(true),
            Stop::Ended => Err(End::Lost("the server ended the stream".into())),
            Stop::Failed(status) => {
                refused_or_lost(self.kind, self.generation, status, tx).await?;
                Ok(false)
            }
        }
    }

    async fn flush(&mut self, rows: Vec<Arc<Row>>, tx: &mpsc::Sender<Update>) -> Result<(), End> {
        if rows.is_empty() {
            return Ok(());
        }
        let n = rows.len() as u64;
        let update = Update::Rows {
            stream: self.kind,
            generation: self.generation,
            rows,
            dropped: self.dropped,
        };
        if self.kind == StreamKind::Trace {
            // A trace is small and must be complete.
            return send(tx, update).await;
        }
        match tx.try_send(update) {
            Ok(()) => self.dropped = 0,
            Err(mpsc::error::TrySendError::Full(_)) => self.dropped += n,
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(End::Gone),
        }
        Ok(())
    }
}

/// Streams on one connection until it fails or the app goes away.
async fn serve(
    mut client: ObserverClient<Channel>,
    main_rx: &mut watch::Receiver<Query>,
    trace_rx: &mut watch::Receiver<Option<Query>>,
    tx: &mpsc::Sender<Update>,
    backoff: &mut Backoff,
) -> End {
    match stream(&mut client, main_rx, trace_rx, tx, backoff).await {
        Ok(never) => match never {},
        Err(end) => end,
    }
}

async fn stream(
    client: &mut ObserverClient<Channel>,
    main_rx: &mut watch::Receiver<Query>,
    trace_rx: &mut watch::Receiver<Option<Query>>,
    tx: &mpsc::Sender<Update>,
    backoff: &mut Backoff,
) -> Result<std::convert::Infallible, End> {
    let _status = AbortOnDrop(tokio::spawn(poll_status(client.clone(), tx.clone())));
    let q = main_rx.borrow_and_update().clone();
    let mut main = Reader::open(client, StreamKind::Main, q, tx).await?;
    send(tx, Update::Conn(ConnStatus::Connected)).await?;
    backoff.reset();
    let trace_query = trace_rx.borrow_and_update().clone();
    let mut trace = match trace_query {
        Some(q) => Reader::open(client, StreamKind::Trace, q, tx).await?,
        None => None,
    };
    loop {
        tokio::select! {
            biased;
            changed = main_rx.changed() => {
                changed.map_err(|_| End::Gone)?;
                let q = main_rx.borrow_and_update().clone();
                // Drop the old stream first: the server stops sending it.
                drop(main.take());
                main = Reader::open(client, StreamKind::Main, q, tx).await?;
            }
            changed = trace_rx.changed() => {
                changed.map_err(|_| End::Gone)?;
                drop(trace.take());
                let q = trace_rx.borrow_and_update().clone();
                if let Some(q) = q {
                    trace = Reader::open(client, StreamKind::Trace, q, tx).await?;
                }
            }
            item = next_item(&mut main) => {
                if let Some(r) = main.as_mut()
                    && !r.read(item, tx).await?
                {
                    main = None;
                }
            }
            item = next_item(&mut trace) => {
                if let Some(r) = trace.as_mut()
                    && !r.read(item, tx).await?
                {
                    trace = None;
                }
            }
        }
    }
}

/// The next item of an open stream; never resolves for a closed one.
async fn next_item(r: &mut Option<Reader>) -> Option<Result<GetFlowsResponse, Status>> {
    match r {
        Some(r) => r.stream.next().await,
        None => std::future::pending().await,
    }
}

/// An item the stream already has, without waiting: `None` if it would have to wait.
fn next_now<S: Stream + Unpin>(s: &mut S) -> Option<Option<S::Item>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match Pin::new(s).poll_next(&mut cx) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

/// A request the server refuses (a bad filter) is reported and the connection kept;
/// anything else means the connection is gone.
async fn refused_or_lost(
    kind: StreamKind,
    generation: u64,
    status: Status,
    tx: &mpsc::Sender<Update>,
) -> Result<(), End> {
    let message = status_message(&status);
    match status.code() {
        Code::InvalidArgument
        | Code::Unimplemented
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::NotFound
        | Code::PermissionDenied
        | Code::Unauthenticated => {
            send(
                tx,
                Update::Refused {
                    stream: kind,
                    generation,
                    message,
                },
            )
            .await
        }
        _ => Err(End::Lost(message)),
    }
}

/// One line: gRPC messages (e.g. regex errors) may span several.
fn status_message(s: &Status) -> String {
    let message = s.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let code = client::code_name(s.code());
    // A transport failure says why (a TLS alert, a reset), as flowctl does.
    let cause = client::transport_cause(s);
    if message.is_empty() {
        format!("{code}{cause}")
    } else {
        format!("{code}: {message}{cause}")
    }
}

async fn send(tx: &mpsc::Sender<Update>, u: Update) -> Result<(), End> {
    tx.send(u).await.map_err(|_| End::Gone)
}

/// `ServerStatus` once a second, for the header.
async fn poll_status(mut client: ObserverClient<Channel>, tx: mpsc::Sender<Update>) {
    let mut tick = tokio::time::interval(STATUS_EVERY);
    loop {
        tick.tick().await;
        let call = client.server_status(ServerStatusRequest {});
        let Ok(Ok(resp)) = tokio::time::timeout(STATUS_TIMEOUT, call).await else {
            continue;
        };
        let s = resp.into_inner();
        let flows_rate = if s.flows_rate > 0.0 {
            s.flows_rate
        } else if s.uptime_ns > 0 {
            s.seen_flows as f64 / (s.uptime_ns as f64 / 1e9)
        } else {
            0.0
        };
        let stats = ServerStats {
            num_flows: s.num_flows,
            max_flows: s.max_flows,
            flows_rate,
            version: s.version,
            nodes: s.num_connected_nodes.map(|connected| NodeCounts {
                connected: connected.value,
                unavailable: s.num_unavailable_nodes.map_or(0, |u| u.value),
                unavailable_names: s
                    .unavailable_nodes
                    .iter()
                    .map(|n| esc(n).into_owned())
                    .collect(),
            }),
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Update::Server(stats)) {
            return;
        }
    }
}

/// Aborts a helper task when the connection it serves ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
