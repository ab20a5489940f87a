//! `AgentEvent` construction, as Hubble's `parser/agent` turns Cilium's agent notifications
//! into them: one function per notification kind, with the `AgentEventType` Cilium pairs
//! with it.

use flowscope_proto::flow::agent_event::Notification;
use flowscope_proto::flow::{
    AgentEvent, AgentEventType, AgentEventUnknown, EndpointRegenNotification,
    EndpointUpdateNotification, IpCacheNotification, PolicyUpdateNotification, TimeNotification,
};
use flowscope_proto::types::{Timestamp, UInt32Value};

use crate::identity::EndpointInfo;

/// Cilium's `AgentNotifyGeneric` ("Message"), the notification type of free text. Hubble has
/// no `AgentEventType` for it and reports it as `AGENT_EVENT_UNKNOWN` with this number.
pub const AGENT_NOTIFY_GENERIC: u32 = 1;

fn event(kind: AgentEventType, notification: Notification) -> AgentEvent {
    AgentEvent {
        r#type: kind as i32,
        notification: Some(notification),
    }
}

/// `AGENT_STARTED` with the start time (Cilium's `StartMessage`).
pub fn agent_started(time: Timestamp) -> AgentEvent {
    event(
        AgentEventType::AgentStarted,
        Notification::AgentStart(TimeNotification { time: Some(time) }),
    )
}

/// Whether a policy was imported (or changed) or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyChange {
    Updated,
    Deleted,
}

/// `POLICY_UPDATED` / `POLICY_DELETED`: the policy's labels, the repository revision after
/// the change and how many rules it had.
pub fn policy(
    change: PolicyChange,
    labels: Vec<String>,
    revision: u64,
    rule_count: usize,
) -> AgentEvent {
    let kind = match change {
        PolicyChange::Updated => AgentEventType::PolicyUpdated,
        PolicyChange::Deleted => AgentEventType::PolicyDeleted,
    };
    event(
        kind,
        Notification::PolicyUpdate(PolicyUpdateNotification {
            labels,
            revision,
            rule_count: i64::try_from(rule_count).unwrap_or(i64::MAX),
        }),
    )
}

/// `ENDPOINT_CREATED` / `ENDPOINT_DELETED` for a local endpoint (`None` for a remote one,
/// which Cilium does not manage and so announces only through the ipcache).
pub fn endpoint(created: bool, ep: &EndpointInfo) -> Option<AgentEvent> {
    let id = ep.endpoint_id?;
    let kind = if created {
        AgentEventType::EndpointCreated
    } else {
        AgentEventType::EndpointDeleted
    };
    Some(event(
        kind,
        Notification::EndpointUpdate(EndpointUpdateNotification {
            id: u64::from(id),
            labels: ep.labels.to_vec(),
            error: String::new(),
            pod_name: ep.pod_name.clone(),
            namespace: ep.namespace.clone(),
        }),
    ))
}

/// `ENDPOINT_REGENERATE_SUCCESS` for a local endpoint whose labels (and so its identity)
/// changed: Cilium regenerates such an endpoint.
pub fn endpoint_regenerated(ep: &EndpointInfo) -> Option<AgentEvent> {
    let id = ep.endpoint_id?;
    Some(event(
        AgentEventType::EndpointRegenerateSuccess,
        Notification::EndpointRegenerate(EndpointRegenNotification {
            id: u64::from(id),
            labels: ep.labels.to_vec(),
            error: String::new(),
        }),
    ))
}

/// One ipcache entry: a prefix (`10.0.0.1/32`) and who it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcacheEntry {
    pub identity: u32,
    pub namespace: String,
    pub pod_name: String,
}

/// `IPCACHE_UPSERTED` (with the identity it had before, if it had one) or
/// `IPCACHE_DELETED`. flowd knows no tunnel endpoints or encryption keys: `host_ip` stays
/// empty and `encrypt_key` 0.
pub fn ipcache(
    upserted: bool,
    cidr: &str,
    entry: &IpcacheEntry,
    old_identity: Option<u32>,
) -> AgentEvent {
    let kind = if upserted {
        AgentEventType::IpcacheUpserted
    } else {
        AgentEventType::IpcacheDeleted
    };
    event(
        kind,
        Notification::IpcacheUpdate(IpCacheNotification {
            cidr: cidr.to_string(),
            identity: entry.identity,
            old_identity: old_identity.map(|value| UInt32Value { value }),
            host_ip: String::new(),
            old_host_ip: String::new(),
            encrypt_key: 0,
            namespace: entry.namespace.clone(),
            pod_name: entry.pod_name.clone(),
        }),
    )
}

/// A free-text agent message (Cilium's `AgentNotifyGeneric`), as Hubble shows one:
/// `AGENT_EVENT_UNKNOWN` with the notification type number and the JSON-encoded text.
/// flowd uses it for a rejected state or policy file: Cilium sends no agent notification
/// for a failed policy import, and AgentEventType has no value for one.
pub fn message(text: &str) -> AgentEvent {
    event(
        AgentEventType::AgentEventUnknown,
        Notification::Unknown(AgentEventUnknown {
            r#type: AGENT_NOTIFY_GENERIC.to_string(),
            notification: flowscope_proto::json::to_string(text),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_an_unknown_event_with_go_json_text() {
        let e = message("policy file p.yaml: line 3: <bad> & \"worse\"");
        assert_eq!(e.r#type, AgentEventType::AgentEventUnknown as i32);
        let Some(Notification::Unknown(u)) = e.notification else {
            panic!("unknown notification");
        };
        assert_eq!(u.r#type, "1");
        assert_eq!(
            u.notification,
            r#""policy file p.yaml: line 3: \u003cbad\u003e \u0026 \"worse\"""#
        );
    }

    #[test]
    fn ipcache_upsert_carries_the_old_identity_only_when_given() {
        let entry = IpcacheEntry {
            identity: 25002,
            namespace: "default".into(),
            pod_name: "reviews".into(),
        };
        let fresh = ipcache(true, "10.244.1.50/32", &entry, None);
        let changed = ipcache(true, "10.244.1.50/32", &entry, Some(25001));
        let gone = ipcache(false, "10.244.1.50/32", &entry, None);
        let n = |e: &AgentEvent| match &e.notification {
            Some(Notification::IpcacheUpdate(n)) => n.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fresh.r#type, AgentEventType::IpcacheUpserted as i32);
        assert_eq!(n(&fresh).old_identity, None);
        assert_eq!(n(&changed).old_identity, Some(UInt32Value { value: 25001 }));
        assert_eq!(gone.r#type, AgentEventType::IpcacheDeleted as i32);
        assert_eq!(n(&gone).cidr, "10.244.1.50/32");
        assert_eq!(n(&gone).pod_name, "reviews");
    }
}
