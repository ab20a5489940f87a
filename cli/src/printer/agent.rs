//! Agent events (`observe agent-events`), as Hubble's `WriteProtoAgentEvent` prints them:
//! `TIME[ [node]]: TYPE (details)` in compact form, `TIMESTAMP`/`NODE`/`TYPE`/`DETAILS` in
//! dict and table form, the whole response in the JSON forms. Agent events are never
//! coloured.

use std::io::{self, Write};

use flowscope_proto::flow::agent_event::Notification;
use flowscope_proto::flow::{AgentEvent, AgentEventType, ServiceUpsertNotificationAddr};
use flowscope_proto::observer::GetAgentEventsResponse;

use super::escape::terminal as esc;
use super::fields::{enum_name, join_host_port};
use super::{DICT_SEPARATOR, OutputFormat, Printer, TimeFormat, TimeZone, format_timestamp};

impl<W: Write, E: Write> Printer<W, E> {
    /// Prints one agent event. A response without one is an error, as in Hubble.
    pub fn write_agent_event(&mut self, resp: &GetAgentEventsResponse) -> io::Result<()> {
        let Some(e) = resp.agent_event.as_ref() else {
            return Err(io::Error::other("not an agent event"));
        };
        let opts = self.opts;
        let time = self.time(resp.time.as_ref());
        let kind = enum_name!(AgentEventType, e.r#type);
        let details = details(e, opts.time_format, opts.time_zone);
        match opts.format {
            OutputFormat::Json | OutputFormat::Jsonpb => {
                return flowscope_proto::json::write_line(&mut self.out, resp)
                    .map_err(io::Error::other);
            }
            OutputFormat::Dict => {
                let w = &mut self.out;
                // Hubble writes the separator without a line break before the next block.
                if self.line != 0 {
                    write!(w, "{DICT_SEPARATOR}")?;
                }
                writeln!(w, "  TIMESTAMP: {time}")?;
                if opts.print_node_name {
                    writeln!(w, "       NODE: {}", esc(&resp.node_name))?;
                }
                writeln!(w, "       TYPE: {kind}")?;
                writeln!(w, "    DETAILS: {}", esc(&details))?;
            }
            OutputFormat::Table => {
                if self.line == 0 {
                    let mut header = vec!["TIMESTAMP".to_string()];
                    if opts.print_node_name {
                        header.push("NODE".to_string());
                    }
                    header.extend(["TYPE".to_string(), "DETAILS".to_string()]);
                    self.table.push_line(header);
                }
                let mut row = vec![time];
                if opts.print_node_name {
                    row.push(esc(&resp.node_name).into_owned());
                }
                row.extend([kind, esc(&details).into_owned()]);
                self.table.push_line(row);
            }
            OutputFormat::Compact => {
                let node = if opts.print_node_name {
                    format!(" [{}]", esc(&resp.node_name))
                } else {
                    String::new()
                };
                writeln!(self.out, "{time}{node}: {kind} ({})", esc(&details))?;
            }
        }
        self.line += 1;
        Ok(())
    }
}

fn service_addr(a: &ServiceUpsertNotificationAddr) -> String {
    join_host_port(&a.ip, &a.port.to_string())
}

/// Hubble's `getAgentEventDetails`: the notification that goes with the event's type, or
/// `UNKNOWN` when the type and notification do not match.
pub fn details(e: &AgentEvent, format: TimeFormat, zone: TimeZone) -> String {
    use AgentEventType as T;
    let kind = AgentEventType::try_from(e.r#type).ok();
    let n = e.notification.as_ref();
    #[allow(deprecated)]
    let text = match (kind, n) {
        (Some(T::AgentEventUnknown), Some(Notification::Unknown(u))) => {
            format!("type: {}, notification: {}", u.r#type, u.notification)
        }
        (Some(T::AgentStarted), Some(Notification::AgentStart(a))) => {
            format!(
                "start time: {}",
                format_timestamp(a.time.as_ref(), format, zone)
            )
        }
        (Some(T::PolicyUpdated | T::PolicyDeleted), Some(Notification::PolicyUpdate(p))) => {
            format!(
                "labels: [{}], revision: {}, count: {}",
                p.labels.join(","),
                p.revision,
                p.rule_count
            )
        }
        (
            Some(T::EndpointRegenerateSuccess | T::EndpointRegenerateFailure),
            Some(Notification::EndpointRegenerate(r)),
        ) => {
            let mut s = format!("id: {}, labels: [{}]", r.id, r.labels.join(","));
            if !r.error.is_empty() {
                s.push_str(&format!(", error: {}", r.error));
            }
            s
        }
        (Some(T::EndpointCreated | T::EndpointDeleted), Some(Notification::EndpointUpdate(ep))) => {
            let mut s = format!("id: {}", ep.id);
            if !ep.namespace.is_empty() {
                s.push_str(&format!(", namespace: {}", ep.namespace));
            }
            if !ep.pod_name.is_empty() {
                s.push_str(&format!(", pod name: {}", ep.pod_name));
            }
            s
        }
        (Some(T::IpcacheUpserted | T::IpcacheDeleted), Some(Notification::IpcacheUpdate(i))) => {
            let mut s = format!("cidr: {}, identity: {}", i.cidr, i.identity);
            if let Some(old) = &i.old_identity {
                s.push_str(&format!(", old identity: {}", old.value));
            }
            if !i.host_ip.is_empty() {
                s.push_str(&format!(", host ip: {}", i.host_ip));
            }
            if !i.old_host_ip.is_empty() {
                s.push_str(&format!(", old host ip: {}", i.old_host_ip));
            }
            s.push_str(&format!(", encrypt key: {}", i.encrypt_key));
            s
        }
        (Some(T::ServiceUpserted), Some(Notification::ServiceUpsert(svc))) => {
            let mut s = format!("id: {}", svc.id);
            if let Some(fe) = &svc.frontend_address {
                s.push_str(&format!(", frontend: {}", service_addr(fe)));
            }
            if !svc.backend_addresses.is_empty() {
                let backends: Vec<String> =
                    svc.backend_addresses.iter().map(service_addr).collect();
                s.push_str(&format!(", backends: [{}]", backends.join(",")));
            }
            for (key, value) in [
                ("type", &svc.r#type),
                ("traffic policy", &svc.traffic_policy),
                ("namespace", &svc.namespace),
                ("name", &svc.name),
            ] {
                if !value.is_empty() {
                    s.push_str(&format!(", {key}: {value}"));
                }
            }
            s
        }
        (Some(T::ServiceDeleted), Some(Notification::ServiceDelete(d))) => {
            format!("id: {}", d.id)
        }
        _ => "UNKNOWN".to_string(),
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::PrinterOptions;
    use flowscope_proto::flow::{
        AgentEventUnknown, EndpointUpdateNotification, IpCacheNotification,
        PolicyUpdateNotification, ServiceUpsertNotification, TimeNotification,
    };
    use flowscope_proto::types::{Timestamp, UInt32Value};

    /// 2021-04-26T00:00:00.123Z
    const T: Timestamp = Timestamp {
        seconds: 1_619_395_200,
        nanos: 123_000_000,
    };

    fn resp(kind: AgentEventType, n: Notification) -> GetAgentEventsResponse {
        GetAgentEventsResponse {
            agent_event: Some(AgentEvent {
                r#type: kind as i32,
                notification: Some(n),
            }),
            node_name: "kind-worker".into(),
            time: Some(T),
        }
    }

    fn events() -> Vec<GetAgentEventsResponse> {
        vec![
            resp(
                AgentEventType::AgentStarted,
                Notification::AgentStart(TimeNotification { time: Some(T) }),
            ),
            resp(
                AgentEventType::PolicyUpdated,
                Notification::PolicyUpdate(PolicyUpdateNotification {
                    labels: vec!["k8s:a=b".into(), "k8s:c=d".into()],
                    revision: 2,
                    rule_count: 1,
                }),
            ),
            resp(
                AgentEventType::EndpointCreated,
                Notification::EndpointUpdate(EndpointUpdateNotification {
                    id: 42,
                    namespace: "default".into(),
                    pod_name: "web".into(),
                    ..Default::default()
                }),
            ),
            resp(
                AgentEventType::IpcacheUpserted,
                Notification::IpcacheUpdate(IpCacheNotification {
                    cidr: "10.0.0.1/32".into(),
                    identity: 1005,
                    old_identity: Some(UInt32Value { value: 1001 }),
                    ..Default::default()
                }),
            ),
            resp(
                AgentEventType::AgentEventUnknown,
                Notification::Unknown(AgentEventUnknown {
                    r#type: "1".into(),
                    notification: "\"bad\u{1b}[31m\"".into(),
                }),
            ),
        ]
    }

    fn print(format: OutputFormat, node: bool, list: &[GetAgentEventsResponse]) -> String {
        let opts = PrinterOptions {
            format,
            print_node_name: node,
            ..PrinterOptions::default()
        };
        let mut p = Printer::new(opts, Vec::new());
        for r in list {
            p.write_agent_event(r).expect("write");
        }
        p.finish().expect("finish");
        String::from_utf8(p.into_inner()).expect("utf8")
    }

    #[test]
    fn compact_lines_match_hubble() {
        assert_eq!(
            print(OutputFormat::Compact, false, &events()),
            "Apr 26 00:00:00.123: AGENT_STARTED (start time: Apr 26 00:00:00.123)\n\
             Apr 26 00:00:00.123: POLICY_UPDATED (labels: [k8s:a=b,k8s:c=d], revision: 2, count: 1)\n\
             Apr 26 00:00:00.123: ENDPOINT_CREATED (id: 42, namespace: default, pod name: web)\n\
             Apr 26 00:00:00.123: IPCACHE_UPSERTED (cidr: 10.0.0.1/32, identity: 1005, old identity: 1001, encrypt key: 0)\n\
             Apr 26 00:00:00.123: AGENT_EVENT_UNKNOWN (type: 1, notification: \"bad^[[31m\")\n"
        );
        assert_eq!(
            print(OutputFormat::Compact, true, &events()[..1]),
            "Apr 26 00:00:00.123 [kind-worker]: AGENT_STARTED (start time: Apr 26 00:00:00.123)\n"
        );
    }

    #[test]
    fn dict_keeps_hubbles_unbroken_separator_and_table_aligns() {
        assert_eq!(
            print(OutputFormat::Dict, true, &events()[..2]),
            "  TIMESTAMP: Apr 26 00:00:00.123\n       NODE: kind-worker\n       TYPE: AGENT_STARTED\n    DETAILS: start time: Apr 26 00:00:00.123\n\
             ------------  TIMESTAMP: Apr 26 00:00:00.123\n       NODE: kind-worker\n       TYPE: POLICY_UPDATED\n    DETAILS: labels: [k8s:a=b,k8s:c=d], revision: 2, count: 1\n"
        );
        assert_eq!(
            print(OutputFormat::Table, false, &events()[..3]),
            "TIMESTAMP             TYPE               DETAILS\n\
             Apr 26 00:00:00.123   AGENT_STARTED      start time: Apr 26 00:00:00.123\n\
             Apr 26 00:00:00.123   POLICY_UPDATED     labels: [k8s:a=b,k8s:c=d], revision: 2, count: 1\n\
             Apr 26 00:00:00.123   ENDPOINT_CREATED   id: 42, namespace: default, pod name: web\n"
        );
    }

    #[test]
    fn json_is_the_whole_response() {
        assert_eq!(
            print(OutputFormat::Json, false, &events()[3..4]),
            "{\"agent_event\":{\"type\":\"IPCACHE_UPSERTED\",\"ipcache_update\":{\"cidr\":\"10.0.0.1/32\",\"identity\":1005,\"old_identity\":1001}},\"node_name\":\"kind-worker\",\"time\":\"2021-04-26T00:00:00.123Z\"}\n"
        );
    }

    #[test]
    #[allow(deprecated)]
    fn mismatched_or_service_notifications() {
        let mismatched = resp(
            AgentEventType::PolicyDeleted,
            Notification::AgentStart(TimeNotification { time: None }),
        );
        let e = mismatched.agent_event.expect("event");
        assert_eq!(
            details(&e, TimeFormat::StampMilli, TimeZone::Utc),
            "UNKNOWN"
        );
        let svc = AgentEvent {
            r#type: AgentEventType::ServiceUpserted as i32,
            notification: Some(Notification::ServiceUpsert(ServiceUpsertNotification {
                id: 7,
                frontend_address: Some(ServiceUpsertNotificationAddr {
                    ip: "fd00::1".into(),
                    port: 80,
                }),
                backend_addresses: vec![
                    ServiceUpsertNotificationAddr {
                        ip: "10.0.0.1".into(),
                        port: 8080,
                    },
                    ServiceUpsertNotificationAddr {
                        ip: "10.0.0.2".into(),
                        port: 8080,
                    },
                ],
                r#type: "ClusterIP".into(),
                name: "web".into(),
                namespace: "default".into(),
                ..Default::default()
            })),
        };
        assert_eq!(
            details(&svc, TimeFormat::StampMilli, TimeZone::Utc),
            "id: 7, frontend: [fd00::1]:80, backends: [10.0.0.1:8080,10.0.0.2:8080], type: ClusterIP, namespace: default, name: web"
        );
    }
}
