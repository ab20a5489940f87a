#![doc = include_str!("../README.md")]

mod build;
mod cel_filter;
mod error;
mod http;
mod ip;
mod k8s;
mod l4;
mod label_selector;
mod pattern;
mod predicate;
mod re2;
mod url;
mod view;

#[cfg(test)]
mod test_util;

use flowscope_proto::flow::{Flow, FlowFilter};
use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;

pub use error::FilterError;
pub use label_selector::Selector as LabelSelector;
pub use view::{
    DnsRef, DnsTypes, EndpointRef, FlowView, HttpRef, IpField, IpRef, KafkaRef, L4Ref, L7Kind,
    Pairs, Side, tcp_flag,
};

use predicate::Predicate;

/// One compiled `FlowFilter`: all of its set fields must match (AND).
///
/// A `FlowFilter` with no field set matches every event.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    predicates: Vec<Predicate>,
}

impl Filter {
    /// Compiles `filter`, rejecting invalid values and unsupported fields.
    pub fn new(filter: &FlowFilter) -> Result<Self, FilterError> {
        Ok(Self {
            predicates: build::compile(filter)?,
        })
    }

    /// Whether no field was set (the filter matches everything).
    pub fn is_empty(&self) -> bool {
        self.predicates.is_empty()
    }

    /// Whether every set field matches `flow`.
    #[inline]
    pub fn matches_flow<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        self.predicates.iter().all(|p| p.matches_flow(flow))
    }

    /// Whether this filter matches a LostEvent: only if every set field is `event_type`
    /// (event-type filters always match lost events; flow fields never do).
    #[inline]
    pub fn matches_lost_event(&self) -> bool {
        self.predicates.iter().all(Predicate::matches_lost_event)
    }

    /// Whether this filter matches an event that is neither a flow nor a lost event
    /// (a relay `NodeStatusEvent`, or an empty response): only if no field is set.
    #[inline]
    pub fn matches_other_event(&self) -> bool {
        self.is_empty()
    }

    fn matches_event(&self, event: Event<'_>) -> bool {
        match event {
            Event::Flow(flow) => self.matches_flow(flow),
            Event::Lost => self.matches_lost_event(),
            Event::Other => self.matches_other_event(),
        }
    }
}

#[derive(Clone, Copy)]
enum Event<'a> {
    Flow(&'a Flow),
    Lost,
    Other,
}

/// A compiled whitelist and blacklist, as in `GetFlowsRequest`.
///
/// An event passes if the whitelist is empty or any whitelist filter matches it, and
/// no blacklist filter matches it.
#[derive(Debug, Clone, Default)]
pub struct FlowFilters {
    whitelist: Vec<Filter>,
    blacklist: Vec<Filter>,
}

impl FlowFilters {
    /// Compiles both lists. The first invalid filter value is reported.
    pub fn new(whitelist: &[FlowFilter], blacklist: &[FlowFilter]) -> Result<Self, FilterError> {
        Ok(Self {
            whitelist: whitelist
                .iter()
                .map(Filter::new)
                .collect::<Result<_, _>>()?,
            blacklist: blacklist
                .iter()
                .map(Filter::new)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Filters that let everything through.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Whether both lists are empty, so that every event passes.
    pub fn is_allow_all(&self) -> bool {
        self.whitelist.is_empty() && self.blacklist.is_empty()
    }

    /// The compiled whitelist filters.
    pub fn whitelist(&self) -> &[Filter] {
        &self.whitelist
    }

    /// The compiled blacklist filters.
    pub fn blacklist(&self) -> &[Filter] {
        &self.blacklist
    }

    #[inline]
    fn passes(&self, event: Event<'_>) -> bool {
        (self.whitelist.is_empty() || self.whitelist.iter().any(|f| f.matches_event(event)))
            && !self.blacklist.iter().any(|f| f.matches_event(event))
    }

    /// Hubble semantics: `(whitelist empty || any whitelist filter matches) &&
    /// !(any blacklist filter matches)`.
    #[inline]
    pub fn matches_flow<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        // Spelled out rather than via `passes` so that the hot path stays flat.
        (self.whitelist.is_empty() || self.whitelist.iter().any(|f| f.matches_flow(flow)))
            && !self.blacklist.iter().any(|f| f.matches_flow(flow))
    }

    /// The same test for a LostEvent (whose content plays no part): `event_type`
    /// filters match it, every other field does not.
    ///
    /// Note that the Hubble server itself never filters lost events (they bypass the
    /// filters entirely); this is the offline (`--input-file`) behaviour.
    #[inline]
    pub fn matches_lost_event(&self) -> bool {
        self.passes(Event::Lost)
    }

    /// Applies the filters to a `GetFlowsResponse` read offline: flows as
    /// [`matches_flow`](Self::matches_flow), lost events as
    /// [`matches_lost_event`](Self::matches_lost_event). Node-status events and empty
    /// responses match no set field, so they pass only filters with no field set.
    pub fn matches_response(&self, resp: &GetFlowsResponse) -> bool {
        let event = match &resp.response_types {
            Some(ResponseTypes::Flow(flow)) => Event::Flow(flow),
            Some(ResponseTypes::LostEvents(_)) => Event::Lost,
            Some(ResponseTypes::NodeStatus(_)) | None => Event::Other,
        };
        self.passes(event)
    }
}

#[cfg(test)]
mod tests;
