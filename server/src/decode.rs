//! The decode stage: source records → flow records, run on the sources' own tasks so that
//! decoding and enrichment use every core; the observer only sequences what they send.
//!
//! Every record is counted as received, decoded, or dropped with a reason.

use std::sync::{Arc, Mutex};

use crate::flow::{FlowRecord, InterfaceNames, Time};
use crate::fqdn::FqdnCache;
use crate::identity::StateHandle;
use crate::parser::l7::{L7Parser, RedactOptions};
use crate::parser::l34::L34Parser;
use crate::stats::{Stats, warn_limited};

/// What decoding needs, shared by every source task.
#[derive(Clone)]
pub struct Decoders {
    state: Arc<StateHandle>,
    stats: Arc<Stats>,
    /// One parser for all access-log connections: a response pairs with its request
    /// whichever connection each came on.
    l7: Arc<Mutex<L7Parser>>,
    /// Names learnt from DNS answers, shared by every datapath reader.
    fqdn: Arc<FqdnCache>,
}

impl Decoders {
    pub fn new(state: Arc<StateHandle>, stats: Arc<Stats>, redact: RedactOptions) -> Self {
        Decoders {
            state,
            stats,
            l7: Arc::new(Mutex::new(L7Parser::new(redact))),
            fqdn: Arc::new(FqdnCache::default()),
        }
    }

    /// A parser for one datapath reader task: its records are this node's, so interfaces
    /// are named as the kernel names them.
    pub fn datapath_parser(&self) -> L34Parser {
        L34Parser::new()
            .with_interface_names(InterfaceNames::system())
            .with_fqdn_cache(self.fqdn.clone())
    }

    /// Decodes one access-log datagram (already counted as received) and hands each of its
    /// flows to `emit` (a Kafka entry gives one per topic).
    pub fn access_log(&self, bytes: &[u8], emit: impl FnMut(FlowRecord)) {
        let state = self.state.snapshot();
        let result = match self.l7.lock() {
            Ok(mut p) => p.decode_each(bytes, &state, emit),
            Err(poisoned) => poisoned.into_inner().decode_each(bytes, &state, emit),
        };
        let stats = &self.stats;
        match result {
            Ok(_) => {
                stats.access_log_decoded.inc();
            }
            Err(e) => {
                stats.access_log_dropped(e.reason()).inc();
                warn_limited(
                    &stats.warn_decode,
                    format_args!(
                        "dropped access-log record: {e} (counted in flowscope_source_records_dropped_total)"
                    ),
                );
            }
        }
    }

    /// Decodes one datapath monitor record, arrived now.
    pub fn datapath(&self, parser: &mut L34Parser, data: &[u8]) -> Option<FlowRecord> {
        let stats = &self.stats;
        stats.datapath_received.inc();
        let state = self.state.snapshot();
        match parser.decode(data, Time::now(), &state) {
            Ok(flow) => {
                stats.datapath_decoded.inc();
                Some(flow)
            }
            Err(e) => {
                stats.datapath_dropped(e.reason()).inc();
                if !e.is_ignorable() {
                    warn_limited(
                        &stats.warn_decode,
                        format_args!(
                            "dropped datapath record: {e} (counted in flowscope_source_records_dropped_total)"
                        ),
                    );
                }
                None
            }
        }
    }
}
