//! The request-trace view: every flow that carries one X-Request-Id, grouped into hops.
//!
//! A hop is one proxy leg (world → ingress, ingress → pod): a request and the response that
//! travels back over the same client and server addresses. Responses pair with the earliest
//! open request of their hop, as flowd pairs them for `latency_ns`.

use std::sync::Arc;

use super::row::{Row, VerdictClass};

/// One flow of the trace, in time order.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    pub row: Arc<Row>,
    /// Index into [`Trace::hops`].
    pub hop: usize,
    /// Nanoseconds since the first flow of the trace.
    pub offset_ns: i128,
}

/// One request/response leg.
#[derive(Clone, Debug)]
pub struct Hop {
    pub client: String,
    pub client_identity: String,
    pub server: String,
    pub server_identity: String,
    /// Index into [`Trace::events`].
    pub request: Option<usize>,
    pub response: Option<usize>,
    /// The worst verdict of the hop's flows.
    pub verdict: String,
    pub verdict_class: VerdictClass,
    pub status: Option<u32>,
    /// The response's `latency_ns`, else response time − request time.
    pub latency_ns: Option<u64>,
    /// The request's summary (method and URL), else the response's.
    pub summary: String,
}

/// Flows of one request id, ordered and grouped.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub request_id: String,
    pub events: Vec<TraceEvent>,
    pub hops: Vec<Hop>,
}

impl Trace {
    /// Groups `rows` (in any order) into a trace.
    pub fn build(request_id: &str, rows: &[Arc<Row>]) -> Trace {
        let mut sorted: Vec<Arc<Row>> = rows.to_vec();
        // Stable: flows with the same time keep their arrival order.
        sorted.sort_by_key(|r| r.time_ns);
        let t0 = sorted.first().map_or(0, |r| r.time_ns);

        let mut events: Vec<TraceEvent> = Vec::with_capacity(sorted.len());
        let mut hops: Vec<Hop> = Vec::new();
        for row in sorted {
            let index = events.len();
            let response = row.is_response();
            // The client is the request's source and the response's destination.
            let (client, client_id, server, server_id) = if response {
                (
                    &row.destination,
                    &row.destination_identity,
                    &row.source,
                    &row.source_identity,
                )
            } else {
                (
                    &row.source,
                    &row.source_identity,
                    &row.destination,
                    &row.destination_identity,
                )
            };
            let open = response
                .then(|| {
                    hops.iter().position(|h| {
                        h.request.is_some()
                            && h.response.is_none()
                            && h.client == *client
                            && h.server == *server
                    })
                })
                .flatten();
            let hop = match open {
                Some(i) => i,
                None => {
                    hops.push(Hop {
                        client: client.clone(),
                        client_identity: client_id.clone(),
                        server: server.clone(),
                        server_identity: server_id.clone(),
                        request: None,
                        response: None,
                        verdict: String::new(),
                        verdict_class: VerdictClass::Other,
                        status: None,
                        latency_ns: None,
                        summary: String::new(),
                    });
                    hops.len() - 1
                }
            };
            let h = &mut hops[hop];
            if response {
                h.response = Some(index);
                h.status = row.http_code();
                let measured = h
                    .request
                    .map(|req| row.time_ns - events[req].row.time_ns)
                    .and_then(|d| u64::try_from(d).ok());
                h.latency_ns = row.latency_ns().or(measured);
            } else {
                h.request = Some(index);
                h.summary = row.summary.clone();
            }
            if h.summary.is_empty() {
                h.summary = row.summary.clone();
            }
            if h.verdict.is_empty() || row.verdict_class.severity() > h.verdict_class.severity() {
                h.verdict = row.verdict.clone();
                h.verdict_class = row.verdict_class;
            }
            events.push(TraceEvent {
                offset_ns: row.time_ns - t0,
                row,
                hop,
            });
        }
        Trace {
            request_id: request_id.to_string(),
            events,
            hops,
        }
    }

    /// Time from the first to the last flow, in nanoseconds.
    pub fn span_ns(&self) -> u64 {
        self.events
            .last()
            .map_or(0, |e| u64::try_from(e.offset_ns).unwrap_or(0))
    }
}
