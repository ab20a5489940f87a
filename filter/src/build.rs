//! Compiles one `FlowFilter` into its predicates, in Hubble's `DefaultFilters` order
//! (cheap checks first).

use flowscope_proto::flow::FlowFilter;

use crate::FilterError;
use crate::cel_filter::CelExpressions;
use crate::http::{
    HeaderMatcher, MethodMatcher, PathMatcher, StatusCodeMatcher, UrlMatcher,
    check_event_type_guard, compile_regexes,
};
use crate::ip::{IpField, IpMatcher};
use crate::k8s::{ClusterNameMatcher, NamespacedNameMatcher, WorkloadMatcher};
use crate::l4::{PortMatcher, ProtocolSet, TcpFlagsMatcher};
use crate::label_selector::{LabelsField, SelectorSet};
use crate::pattern::{FqdnMatcher, NodeNameMatcher};
use crate::predicate::{BoolSet, EnumSet, EventTypeMatch, Predicate, Side};

/// One predicate per set (non-empty) field of `ff`; every field is either compiled or
/// rejected.
pub(crate) fn compile(ff: &FlowFilter) -> Result<Vec<Predicate>, FilterError> {
    use Side::{Destination, Source};

    let mut p = Vec::new();
    let mut push = |pred: Predicate| p.push(pred);

    if !ff.uuid.is_empty() {
        push(Predicate::Uuid(ff.uuid.clone()));
    }
    if !ff.event_type.is_empty() {
        push(Predicate::EventType(
            ff.event_type.iter().map(EventTypeMatch::from).collect(),
        ));
    }
    if !ff.verdict.is_empty() {
        push(Predicate::Verdict(EnumSet::new(&ff.verdict)));
    }
    if !ff.drop_reason_desc.is_empty() {
        push(Predicate::DropReasonDesc(EnumSet::new(
            &ff.drop_reason_desc,
        )));
    }
    if !ff.reply.is_empty() {
        push(Predicate::Reply(BoolSet::new(&ff.reply)));
    }
    if !ff.encrypted.is_empty() {
        push(Predicate::Encrypted(BoolSet::new(&ff.encrypted)));
    }
    if !ff.source_identity.is_empty() {
        push(Predicate::Identity(Source, ff.source_identity.clone()));
    }
    if !ff.destination_identity.is_empty() {
        push(Predicate::Identity(
            Destination,
            ff.destination_identity.clone(),
        ));
    }
    if !ff.protocol.is_empty() {
        push(Predicate::Protocol(ProtocolSet::new(&ff.protocol)?));
    }
    for (field, values) in [
        (IpField::Source, &ff.source_ip),
        (IpField::Destination, &ff.destination_ip),
        (IpField::SourceXlated, &ff.source_ip_xlated),
    ] {
        if !values.is_empty() {
            push(Predicate::Ip(field, IpMatcher::new(field, values)?));
        }
    }
    for (side, field, values) in [
        (Source, "source_pod", &ff.source_pod),
        (Destination, "destination_pod", &ff.destination_pod),
    ] {
        if !values.is_empty() {
            push(Predicate::Pod(
                side,
                NamespacedNameMatcher::new(field, values)?,
            ));
        }
    }
    for (side, values) in [
        (Source, &ff.source_workload),
        (Destination, &ff.destination_workload),
    ] {
        if !values.is_empty() {
            push(Predicate::Workload(side, WorkloadMatcher::new(values)));
        }
    }
    for (side, field, values) in [
        (Source, "source_service", &ff.source_service),
        (Destination, "destination_service", &ff.destination_service),
    ] {
        if !values.is_empty() {
            push(Predicate::Service(
                side,
                NamespacedNameMatcher::new(field, values)?,
            ));
        }
    }
    for (side, field, values) in [
        (Source, "source_fqdn", &ff.source_fqdn),
        (Destination, "destination_fqdn", &ff.destination_fqdn),
    ] {
        if !values.is_empty() {
            push(Predicate::Fqdn(side, FqdnMatcher::new(field, values)?));
        }
    }
    if !ff.dns_query.is_empty() {
        push(Predicate::DnsQuery(compile_regexes(
            "dns_query",
            &ff.dns_query,
        )?));
    }
    for (field, values) in [
        (LabelsField::Endpoint(Source), &ff.source_label),
        (LabelsField::Endpoint(Destination), &ff.destination_label),
        (LabelsField::Node, &ff.node_labels),
    ] {
        if !values.is_empty() {
            push(Predicate::Labels(field, SelectorSet::new(field, values)?));
        }
    }
    for (side, field, values) in [
        (Source, "source_port", &ff.source_port),
        (Destination, "destination_port", &ff.destination_port),
    ] {
        if !values.is_empty() {
            push(Predicate::Port(side, PortMatcher::new(field, values)?));
        }
    }
    check_event_type_guard(ff)?;
    if !ff.http_status_code.is_empty() {
        push(Predicate::HttpStatusCode(StatusCodeMatcher::new(
            &ff.http_status_code,
        )?));
    }
    if !ff.http_method.is_empty() {
        push(Predicate::HttpMethod(MethodMatcher::new(&ff.http_method)));
    }
    if !ff.http_path.is_empty() {
        push(Predicate::HttpPath(PathMatcher::new(&ff.http_path)?));
    }
    if !ff.http_url.is_empty() {
        push(Predicate::HttpUrl(UrlMatcher::new(&ff.http_url)?));
    }
    if !ff.http_header.is_empty() {
        push(Predicate::HttpHeader(HeaderMatcher::new(&ff.http_header)));
    }
    if !ff.tcp_flags.is_empty() {
        push(Predicate::TcpFlags(TcpFlagsMatcher::new(&ff.tcp_flags)));
    }
    if !ff.node_name.is_empty() {
        push(Predicate::NodeName(NodeNameMatcher::new(&ff.node_name)?));
    }
    for (side, field, values) in [
        (Source, "source_cluster_name", &ff.source_cluster_name),
        (
            Destination,
            "destination_cluster_name",
            &ff.destination_cluster_name,
        ),
    ] {
        if !values.is_empty() {
            push(Predicate::ClusterName(
                side,
                ClusterNameMatcher::new(field, values)?,
            ));
        }
    }
    if !ff.ip_version.is_empty() {
        push(Predicate::IpVersion(EnumSet::new(&ff.ip_version)));
    }
    if !ff.trace_id.is_empty() {
        push(Predicate::TraceId(ff.trace_id.clone()));
    }
    if !ff.traffic_direction.is_empty() {
        push(Predicate::TrafficDirection(EnumSet::new(
            &ff.traffic_direction,
        )));
    }
    if !ff.interface.is_empty() {
        push(Predicate::Interface(
            ff.interface
                .iter()
                .map(|i| (i.index, i.name.clone()))
                .collect(),
        ));
    }
    if !ff.ip_trace_id.is_empty() {
        push(Predicate::IpTraceId(ff.ip_trace_id.clone()));
    }
    // Last: the costliest test runs only on flows every other field let through.
    if let Some(exprs) = ff.experimental.as_ref().map(|e| &e.cel_expression)
        && !exprs.is_empty()
    {
        push(Predicate::Cel(CelExpressions::new(exprs)?));
    }
    Ok(p)
}
