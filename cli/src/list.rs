//! `flowctl list namespaces|nodes`: Hubble's `cmd/list` output (`-o table|wide|json`).

use std::time::Duration;

use flowscope_proto::observer::{Namespace, Node};
use flowscope_proto::relay::NodeState;

use crate::goflags::format_duration;
use crate::printer::tabwriter::TabWriter;

/// `-o` of the list commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Tab-aligned columns.
    #[default]
    Table,
    /// Tab-aligned columns with additional information.
    Wide,
    /// JSON encoding.
    Json,
}

fn layout(lines: Vec<Vec<String>>) -> String {
    // Hubble: tabwriter.NewWriter(w, 2, 0, 3, ' ', 0).
    let mut tw = TabWriter::new(2, 3);
    for line in lines {
        tw.push_line(line);
    }
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = tw.flush(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `json.MarshalIndent(v, "", "  ")` plus a newline; a nil slice is `null`.
fn json_list(items: Vec<serde_json::Value>) -> String {
    if items.is_empty() {
        return "null\n".to_string();
    }
    let text = serde_json::to_string_pretty(&items).unwrap_or_default();
    format!("{text}\n")
}

/// `list namespaces`.
pub fn namespaces(list: &[Namespace], format: ListFormat) -> String {
    match format {
        ListFormat::Json => json_list(
            list.iter()
                .map(|ns| {
                    // encoding/json with `omitempty` tags: empty strings are left out.
                    let mut m = serde_json::Map::new();
                    if !ns.cluster.is_empty() {
                        m.insert("cluster".into(), ns.cluster.clone().into());
                    }
                    if !ns.namespace.is_empty() {
                        m.insert("namespace".into(), ns.namespace.clone().into());
                    }
                    serde_json::Value::Object(m)
                })
                .collect(),
        ),
        ListFormat::Table | ListFormat::Wide => {
            let wide = format == ListFormat::Wide;
            let mut lines = vec![if wide {
                vec!["NAMESPACE".to_string(), "CLUSTER".to_string()]
            } else {
                vec!["NAMESPACE".to_string()]
            }];
            for ns in list {
                let mut line = vec![ns.namespace.clone()];
                if wide && !ns.cluster.is_empty() {
                    line.push(ns.cluster.clone());
                }
                lines.push(line);
            }
            layout(lines)
        }
    }
}

/// `list nodes`, sorted by name.
pub fn nodes(list: &[Node], format: ListFormat) -> String {
    let mut nodes: Vec<&Node> = list.iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    if format == ListFormat::Json {
        return json_list(
            nodes
                .iter()
                .map(|n| serde_json::to_value(n).unwrap_or_default())
                .collect(),
        );
    }
    let wide = format == ListFormat::Wide;
    let mut header: Vec<String> = ["NAME", "STATUS", "AGE", "FLOWS/S", "CURRENT/MAX-FLOWS"]
        .map(String::from)
        .to_vec();
    if wide {
        header.extend(["VERSION", "ADDRESS", "TLS"].map(String::from));
    }
    let mut lines = vec![header];
    for n in nodes {
        // time.Duration(uptime_ns).Round(time.Second), halves away from zero.
        let secs = (n.uptime_ns + 500_000_000) / 1_000_000_000;
        let (age, rate) = if secs > 0 {
            (
                format_duration(Duration::from_secs(secs)),
                format!("{:.2}", n.seen_flows as f64 / secs as f64),
            )
        } else {
            ("N/A".to_string(), "N/A".to_string())
        };
        let ratio = if n.max_flows > 0 {
            format!(
                "{}/{} ({:6.2}%)",
                n.num_flows,
                n.max_flows,
                n.num_flows as f64 / n.max_flows as f64 * 100.0
            )
        } else {
            "N/A".to_string()
        };
        let state = match NodeState::try_from(n.state).unwrap_or(NodeState::UnknownNodeState) {
            NodeState::NodeConnected => "Connected",
            NodeState::NodeUnavailable => "Unavailable",
            NodeState::NodeGone => "Gone",
            NodeState::NodeError => "Error",
            NodeState::UnknownNodeState => "Unknown",
        };
        let mut line = vec![n.name.clone(), state.to_string(), age, rate, ratio];
        if wide {
            let version = if n.version.is_empty() {
                "N/A".to_string()
            } else {
                n.version.clone()
            };
            let tls = match &n.tls {
                None => "N/A",
                Some(t) if t.enabled => "Enabled",
                Some(_) => "Disabled",
            };
            line.extend([version, n.address.clone(), tls.to_string()]);
        }
        lines.push(line);
    }
    layout(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(cluster: &str, namespace: &str) -> Namespace {
        Namespace {
            cluster: cluster.into(),
            namespace: namespace.into(),
        }
    }

    #[test]
    fn namespaces_as_hubble() {
        let list = [ns("default", "default"), ns("", "kube-system")];
        assert_eq!(
            namespaces(&list, ListFormat::Table),
            "NAMESPACE\ndefault\nkube-system\n"
        );
        assert_eq!(
            namespaces(&list, ListFormat::Wide),
            "NAMESPACE   CLUSTER\ndefault     default\nkube-system\n"
        );
        assert_eq!(
            namespaces(&list, ListFormat::Json),
            "[\n  {\n    \"cluster\": \"default\",\n    \"namespace\": \"default\"\n  },\n  {\n    \"namespace\": \"kube-system\"\n  }\n]\n"
        );
        assert_eq!(namespaces(&[], ListFormat::Json), "null\n");
    }

    #[test]
    fn nodes_table() {
        let node = Node {
            name: "kind-worker".into(),
            state: NodeState::NodeConnected as i32,
            uptime_ns: 3_723_400_000_000,
            seen_flows: 7446,
            num_flows: 4095,
            max_flows: 4095,
            ..Default::default()
        };
        assert_eq!(
            nodes(&[node], ListFormat::Table),
            "NAME          STATUS      AGE      FLOWS/S   CURRENT/MAX-FLOWS\n\
             kind-worker   Connected   1h2m3s   2.00      4095/4095 (100.00%)\n"
        );
    }
}
