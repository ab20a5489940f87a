//! The columns Hubble's printer derives from a flow: host names, identities, TYPE, VERDICT
//! and SUMMARY. Everything here returns the raw (unescaped) text.

use flowscope_proto::flow::{
    AuthType, DebugCapturePoint, Flow, L7FlowType, SocketTranslationPoint, TrafficDirection,
    Verdict, layer4, layer7,
};
use flowscope_proto::names;

/// The name protobuf-go's `String()` gives an enum value: its proto name, or the number
/// when the value is not in the enum.
macro_rules! enum_name {
    ($ty:ty, $value:expr) => {{
        let v: i32 = $value;
        match <$ty>::try_from(v) {
            Ok(e) => e.as_str_name().to_string(),
            Err(_) => v.to_string(),
        }
    }};
}
pub(crate) use enum_name;

/// `GetPorts`: source and destination port of TCP, UDP and SCTP flows, else empty.
pub fn ports(f: &Flow) -> (String, String) {
    match f.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
        Some(layer4::Protocol::Tcp(p)) => {
            (p.source_port.to_string(), p.destination_port.to_string())
        }
        Some(layer4::Protocol::Udp(p)) => {
            (p.source_port.to_string(), p.destination_port.to_string())
        }
        Some(layer4::Protocol::Sctp(p)) => {
            (p.source_port.to_string(), p.destination_port.to_string())
        }
        _ => (String::new(), String::new()),
    }
}

/// `GetHostNames`: the SOURCE and DESTINATION columns. Without an IP layer the MAC
/// addresses are shown (or nothing at all). `translate` is Hubble's
/// `--ip-translation` (off with `--numeric`).
pub fn host_names(f: &Flow, translate: bool) -> (String, String) {
    let Some(ip) = f.ip.as_ref() else {
        return match f.ethernet.as_ref() {
            Some(eth) => (eth.source.clone(), eth.destination.clone()),
            None => (String::new(), String::new()),
        };
    };
    let (mut src_ns, mut src_pod, mut src_svc) = ("", "", "");
    let (mut dst_ns, mut dst_pod, mut dst_svc) = ("", "", "");
    if let Some(ep) = f.source.as_ref() {
        src_ns = &ep.namespace;
        src_pod = &ep.pod_name;
    }
    if let Some(ep) = f.destination.as_ref() {
        dst_ns = &ep.namespace;
        dst_pod = &ep.pod_name;
    }
    // A service overrides the namespace, even of a pod name (as Hubble does).
    if let Some(svc) = f.source_service.as_ref() {
        src_ns = &svc.namespace;
        src_svc = &svc.name;
    }
    if let Some(svc) = f.destination_service.as_ref() {
        dst_ns = &svc.namespace;
        dst_svc = &svc.name;
    }
    let (src_port, dst_port) = ports(f);
    let src = hostname(
        &ip.source,
        &src_port,
        src_ns,
        src_pod,
        src_svc,
        &f.source_names,
        translate,
    );
    let dst = hostname(
        &ip.destination,
        &dst_port,
        dst_ns,
        dst_pod,
        dst_svc,
        &f.destination_names,
        translate,
    );
    (src, dst)
}

/// `Hostname`: `ns/pod`, else `ns/svc`, else the DNS names, else the IP; then `:port`
/// unless the port is empty or `0` (bracketing hosts that contain a colon).
pub fn hostname(
    ip: &str,
    port: &str,
    ns: &str,
    pod: &str,
    svc: &str,
    names: &[String],
    translate: bool,
) -> String {
    let host = if !translate {
        ip.to_string()
    } else if !pod.is_empty() {
        go_path_join(ns, pod)
    } else if !svc.is_empty() {
        go_path_join(ns, svc)
    } else if !names.is_empty() {
        names.join(",")
    } else {
        ip.to_string()
    };
    if port.is_empty() || port == "0" {
        host
    } else {
        join_host_port(&host, port)
    }
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `path.Join(a, b)`: the non-empty elements joined by `/`, then `path.Clean`ed;
/// empty when both are empty.
pub fn go_path_join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => go_path_clean(b),
        (false, true) => go_path_clean(a),
        (false, false) => go_path_clean(&format!("{a}/{b}")),
    }
}

/// Go's `path.Clean`.
pub fn go_path_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// `fmtIdentity`: `(name)` for the reserved identities 0..=10, else `(ID:n)`.
pub fn identity(id: u32) -> String {
    match flowscope_proto::reserved::display_name(id) {
        Some(name) => format!("({name})"),
        None => format!("(ID:{id})"),
    }
}

/// `GetSecurityIdentities`.
pub fn identities(f: &Flow) -> (String, String) {
    (
        identity(f.source.as_ref().map_or(0, |e| e.identity)),
        identity(f.destination.as_ref().map_or(0, |e| e.identity)),
    )
}

/// `GetFlowType`: the TYPE column.
pub fn flow_type(f: &Flow) -> String {
    if let Some(l7) = f.l7.as_ref() {
        let mut l7_type = enum_name!(L7FlowType, l7.r#type).to_lowercase();
        #[allow(deprecated)] // Kafka records are deprecated but still printed.
        let protocol = match l7.record.as_ref() {
            Some(layer7::Record::Http(_)) => "http",
            Some(layer7::Record::Dns(dns)) => {
                l7_type.push(' ');
                l7_type.push_str(&dns.observation_source);
                "dns"
            }
            Some(layer7::Record::Kafka(_)) => "kafka",
            None => "l7",
        };
        return format!("{protocol}-{l7_type}");
    }
    let (event_type, sub_type) = f
        .event_type
        .as_ref()
        .map_or((0, 0), |e| (e.r#type, e.sub_type));
    // Go converts the subtype with uint8(), i.e. truncates.
    let sub_type = sub_type as u8;
    match event_type {
        names::MESSAGE_TYPE_TRACE => names::datapath_obs_point(sub_type).into_owned(),
        names::MESSAGE_TYPE_DROP => names::drop_reason(sub_type).into_owned(),
        names::MESSAGE_TYPE_POLICY_VERDICT => format!(
            "policy-verdict:{} {}",
            names::policy_match_type(f.policy_match_type),
            enum_name!(TrafficDirection, f.traffic_direction)
        ),
        names::MESSAGE_TYPE_CAPTURE => enum_name!(DebugCapturePoint, f.debug_capture_point),
        names::MESSAGE_TYPE_TRACE_SOCK => match names::sock_xlate_point(f.sock_xlate_point) {
            Some(name) => name.to_string(),
            None => enum_name!(SocketTranslationPoint, f.sock_xlate_point),
        },
        _ => "UNKNOWN".to_string(),
    }
}

/// `getVerdict`: the verdict name, except that policy-verdict events say
/// `ALLOWED` / `DENIED` / `AUDITED`.
pub fn verdict(f: &Flow) -> String {
    let policy_verdict = f
        .event_type
        .as_ref()
        .is_some_and(|e| e.r#type == names::MESSAGE_TYPE_POLICY_VERDICT);
    match Verdict::try_from(f.verdict) {
        Ok(Verdict::Forwarded | Verdict::Redirected) if policy_verdict => "ALLOWED".to_string(),
        Ok(Verdict::Dropped | Verdict::Error) if policy_verdict => "DENIED".to_string(),
        Ok(Verdict::Audit) if policy_verdict => "AUDITED".to_string(),
        _ => enum_name!(Verdict, f.verdict),
    }
}

/// `getSummary`: `IP Trace ID: <n>; ` prefix, the flow summary, `; Auth: <type>` suffix.
pub fn summary(f: &Flow) -> String {
    let mut s = String::new();
    if let Some(id) = f.ip_trace_id.as_ref().filter(|id| id.trace_id > 0) {
        s.push_str(&format!("IP Trace ID: {}; ", id.trace_id));
    }
    #[allow(deprecated)] // `Summary` is deprecated upstream but is what the CLI prints.
    s.push_str(&f.summary);
    if f.auth_type != AuthType::Disabled as i32 {
        s.push_str("; Auth: ");
        s.push_str(&enum_name!(AuthType, f.auth_type));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_clean_like_go() {
        assert_eq!(go_path_join("default", "pod"), "default/pod");
        assert_eq!(go_path_join("", "pod"), "pod");
        assert_eq!(go_path_join("ns", ""), "ns");
        assert_eq!(go_path_join("", ""), "");
        assert_eq!(go_path_join("ns", "../etc"), "etc");
        assert_eq!(go_path_join("ns", "a//b/./c/"), "ns/a/b/c");
        assert_eq!(go_path_join("ns", "../../x"), "../x");
        assert_eq!(go_path_clean("/../a"), "/a");
        assert_eq!(go_path_clean("a/.."), ".");
    }

    #[test]
    fn hostnames() {
        let names = vec!["a.example.".to_string(), "b.example.".to_string()];
        assert_eq!(
            hostname("10.0.0.1", "80", "ns", "pod", "svc", &names, true),
            "ns/pod:80"
        );
        assert_eq!(
            hostname("10.0.0.1", "80", "ns", "", "svc", &names, true),
            "ns/svc:80"
        );
        assert_eq!(
            hostname("10.0.0.1", "80", "", "", "", &names, true),
            "a.example.,b.example.:80"
        );
        assert_eq!(
            hostname("10.0.0.1", "80", "ns", "pod", "", &[], false),
            "10.0.0.1:80"
        );
        assert_eq!(
            hostname("fd00::1", "443", "", "", "", &[], true),
            "[fd00::1]:443"
        );
        assert_eq!(hostname("fd00::1", "0", "", "", "", &[], true), "fd00::1");
        assert_eq!(hostname("10.0.0.1", "", "", "", "", &[], true), "10.0.0.1");
    }

    #[test]
    fn identities_render_reserved_names() {
        assert_eq!(identity(0), "(unknown)");
        assert_eq!(identity(2), "(world)");
        assert_eq!(identity(10), "(world-ipv6)");
        assert_eq!(identity(11), "(ID:11)");
        assert_eq!(identity(25000), "(ID:25000)");
    }
}
