//! The `--metrics` string, in Hubble's syntax (`--hubble-metrics`): handlers separated by
//! spaces, each `name` or `name:option;option…`, options `key=value` (or a bare `key`).
//!
//! Handlers may also be separated by commas, as in the Helm value `hubble.metrics.enabled`
//! that Cilium's documentation shows (`dns,drop,…,httpV2:labelsContext=a,b`), wrapped in
//! Helm's list braces `{…}` or not, with commas inside option values escaped (`\,`) or not:
//! a comma-separated piece that is not a handler name continues the option value before it.
//!
//! Stricter than Hubble where Hubble silently ignores a mistake: an unknown handler, an
//! unknown option, a bad value, a handler given twice or `http` with `httpV2` is an error
//! that names the offending token.

use super::context::{self, ContextOptions};

/// A handler Flowscope implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    Flow,
    Drop,
    Tcp,
    PortDistribution,
    Icmp,
    Policy,
    Http,
    HttpV2,
    FlowsToWorld,
    Dns,
    Kafka,
    Sctp,
}

/// Handler names as `--metrics` spells them.
pub const HANDLERS: &[(&str, HandlerKind)] = &[
    ("flow", HandlerKind::Flow),
    ("drop", HandlerKind::Drop),
    ("tcp", HandlerKind::Tcp),
    ("port-distribution", HandlerKind::PortDistribution),
    ("icmp", HandlerKind::Icmp),
    ("policy", HandlerKind::Policy),
    ("http", HandlerKind::Http),
    ("httpV2", HandlerKind::HttpV2),
    ("flows-to-world", HandlerKind::FlowsToWorld),
    ("dns", HandlerKind::Dns),
    ("kafka", HandlerKind::Kafka),
    ("sctp", HandlerKind::Sctp),
];

/// One enabled handler and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerSpec {
    pub kind: HandlerKind,
    pub context: ContextOptions,
    /// http/httpV2 `exemplars=true`.
    pub exemplars: bool,
    /// flows-to-world `any-drop`.
    pub any_drop: bool,
    /// flows-to-world `port`.
    pub port: bool,
    /// flows-to-world `syn-only`.
    pub syn_only: bool,
    /// dns `query` and `ignoreAAAA`.
    pub dns: super::dns::Options,
}

/// The parsed `--metrics` value: the handlers in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSpec {
    pub handlers: Vec<HandlerSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

impl MetricsSpec {
    /// Parses a `--metrics` value; an empty string enables no handler.
    pub fn parse(s: &str) -> Result<MetricsSpec, SpecError> {
        let mut handlers: Vec<(String, HandlerSpec)> = Vec::new();
        for token in &tokens(s) {
            let token = token.as_str();
            let (name, options) = token.split_once(':').unwrap_or((token, ""));
            let err = |msg: String| SpecError(format!("{msg} in {token:?}"));
            if name.is_empty() {
                return Err(err("missing metric name".into()));
            }
            let Some(kind) = HANDLERS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k) else {
                let known: Vec<&str> = HANDLERS.iter().map(|(n, _)| *n).collect();
                return Err(err(format!(
                    "unknown metric {name:?} (known: {})",
                    known.join(", ")
                )));
            };
            if handlers.iter().any(|(n, _)| *n == name) {
                return Err(err(format!("metric {name:?} given twice")));
            }
            let conflict = match kind {
                HandlerKind::Http => Some("httpV2"),
                HandlerKind::HttpV2 => Some("http"),
                _ => None,
            };
            if let Some(other) = conflict.filter(|o| handlers.iter().any(|(n, _)| n == o)) {
                return Err(err(format!(
                    "metric {name:?} conflicts with metric {other:?} (both define hubble_http_requests_total)"
                )));
            }
            let mut spec = HandlerSpec {
                kind,
                context: ContextOptions::default(),
                exemplars: false,
                any_drop: false,
                port: false,
                syn_only: false,
                dns: Default::default(),
            };
            let mut seen: Vec<String> = Vec::new();
            for option in options.split(';').filter(|o| !o.is_empty()) {
                let (key, value) = option.split_once('=').unwrap_or((option, ""));
                let lower = key.to_ascii_lowercase();
                if seen.contains(&lower) {
                    return Err(err(format!("metric {name:?}: option {key:?} given twice")));
                }
                seen.push(lower.clone());
                let handled = spec
                    .context
                    .apply(key, value)
                    .map_err(|e| err(format!("metric {name:?}: {e}")))?;
                if handled {
                    continue;
                }
                match (kind, lower.as_str()) {
                    (HandlerKind::Http | HandlerKind::HttpV2, "exemplars") => {
                        spec.exemplars = match value {
                            "true" => true,
                            "false" => false,
                            _ => {
                                return Err(err(format!(
                                    "metric {name:?}: exemplars must be true or false, not {value:?}"
                                )));
                            }
                        }
                    }
                    (HandlerKind::FlowsToWorld, "any-drop") => spec.any_drop = true,
                    (HandlerKind::FlowsToWorld, "port") => spec.port = true,
                    (HandlerKind::FlowsToWorld, "syn-only") => spec.syn_only = true,
                    (HandlerKind::Dns, "query") => spec.dns.query = true,
                    (HandlerKind::Dns, "ignoreaaaa") => spec.dns.ignore_aaaa = true,
                    _ => {
                        let mut known: Vec<&str> = context::OPTION_KEYS.to_vec();
                        match kind {
                            HandlerKind::Http | HandlerKind::HttpV2 => known.push("exemplars"),
                            HandlerKind::FlowsToWorld => {
                                known.extend(["any-drop", "port", "syn-only"])
                            }
                            HandlerKind::Dns => known.extend(["query", "ignoreAAAA"]),
                            _ => {}
                        }
                        return Err(err(format!(
                            "metric {name:?}: unknown option {key:?} (known: {})",
                            known.join(", ")
                        )));
                    }
                }
            }
            handlers.push((name.to_string(), spec));
        }
        Ok(MetricsSpec {
            handlers: handlers.into_iter().map(|(_, h)| h).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

fn is_handler_name(piece: &str) -> bool {
    let name = piece.split_once(':').map_or(piece, |(n, _)| n);
    HANDLERS.iter().any(|(n, _)| *n == name)
}

/// The handler tokens of a `--metrics` value: split at whitespace, then at commas, a
/// comma-separated piece that names no handler continuing the option value before it.
fn tokens(s: &str) -> Vec<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let mut out: Vec<String> = Vec::new();
    for word in s.split_ascii_whitespace() {
        let mut first = true;
        for piece in split_unescaped_commas(word) {
            if piece.is_empty() {
                continue;
            }
            let continues = !first && !is_handler_name(&piece) && {
                // Only an option value (`key=value`) is continued by a comma.
                out.last()
                    .and_then(|t| t.split_once(':'))
                    .is_some_and(|(_, opts)| {
                        opts.rsplit(';').next().is_some_and(|o| o.contains('='))
                    })
            };
            match out.last_mut() {
                Some(last) if continues => {
                    last.push(',');
                    last.push_str(&piece);
                }
                _ => out.push(piece),
            }
            first = false;
        }
    }
    out
}

/// `word` split at commas not escaped with a backslash; `\,` becomes a comma in its piece.
fn split_unescaped_commas(word: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(p) = pieces.last_mut() {
                    p.push(',');
                }
            }
            ',' => pieces.push(String::new()),
            c => {
                if let Some(p) = pieces.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    pieces
}

impl std::str::FromStr for MetricsSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricsSpec::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let s = MetricsSpec::parse(
            "flow drop tcp port-distribution icmp policy httpV2:exemplars=true;labelsContext=source_namespace,source_workload,destination_namespace,destination_workload,traffic_direction",
        )
        .expect("valid");
        let kinds: Vec<HandlerKind> = s.handlers.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HandlerKind::Flow,
                HandlerKind::Drop,
                HandlerKind::Tcp,
                HandlerKind::PortDistribution,
                HandlerKind::Icmp,
                HandlerKind::Policy,
                HandlerKind::HttpV2
            ]
        );
        let http = &s.handlers[6];
        assert!(http.exemplars);
        assert_eq!(
            http.context.label_names(),
            [
                "source_namespace",
                "source_workload",
                "destination_namespace",
                "destination_workload",
                "traffic_direction"
            ]
        );
        assert!(s.handlers[0].context.is_empty());
    }

    /// The `hubble.metrics.enabled` example of Cilium's documentation
    /// (Documentation/observability/metrics.rst), as rendered and as the Helm value.
    pub const CILIUM_DOCS_LIST: &str = "dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction";

    fn assert_docs_list(s: &MetricsSpec) {
        let kinds: Vec<HandlerKind> = s.handlers.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HandlerKind::Dns,
                HandlerKind::Drop,
                HandlerKind::Tcp,
                HandlerKind::Flow,
                HandlerKind::PortDistribution,
                HandlerKind::Icmp,
                HandlerKind::HttpV2
            ]
        );
        let http = &s.handlers[6];
        assert!(http.exemplars);
        assert_eq!(
            http.context.label_names(),
            [
                "source_ip",
                "source_namespace",
                "source_workload",
                "destination_ip",
                "destination_namespace",
                "destination_workload",
                "traffic_direction"
            ]
        );
        assert!(s.handlers[..6].iter().all(|h| h.context.is_empty()));
    }

    #[test]
    fn parses_cilium_documented_list_in_every_spelling() {
        assert_docs_list(&MetricsSpec::parse(CILIUM_DOCS_LIST).expect("docs list"));
        // Helm's list syntax with escaped commas, as in the documentation's source.
        let helm = format!(
            "{{{}}}",
            CILIUM_DOCS_LIST.replace("source_ip,", "source_ip\\,")
        )
        .replace("_namespace,", "_namespace\\,")
        .replace("_workload,", "_workload\\,")
        .replace("destination_ip,", "destination_ip\\,");
        assert!(helm.starts_with("{dns,drop,") && helm.contains("source_ip\\,source_namespace"));
        assert_docs_list(&MetricsSpec::parse(&helm).expect("helm list"));
        // The agent's space-separated `hubble-metrics` form.
        let spaced = CILIUM_DOCS_LIST.replacen(',', " ", 6);
        assert!(spaced.starts_with("dns drop tcp flow port-distribution icmp httpV2:"));
        assert_docs_list(&MetricsSpec::parse(&spaced).expect("spaced list"));
    }

    #[test]
    fn dns_options() {
        let s = MetricsSpec::parse("dns:query;ignoreAAAA kafka:sourceContext=pod").expect("valid");
        assert_eq!(
            s.handlers[0].dns,
            crate::metrics::dns::Options {
                query: true,
                ignore_aaaa: true
            }
        );
        assert_eq!(s.handlers[1].kind, HandlerKind::Kafka);
        assert_eq!(s.handlers[1].context.label_names(), ["source"]);
        let plain = MetricsSpec::parse("dns").expect("valid");
        assert_eq!(plain.handlers[0].dns, Default::default());
    }

    #[test]
    fn flows_to_world_options_and_whitespace() {
        let s = MetricsSpec::parse(
            "  flows-to-world:any-drop;port;syn-only;sourceContext=pod\n\tflow ",
        )
        .expect("valid");
        let h = &s.handlers[0];
        assert!(h.any_drop && h.port && h.syn_only);
        assert_eq!(h.context.label_names(), ["source"]);
        assert_eq!(s.handlers[1].kind, HandlerKind::Flow);
        assert!(MetricsSpec::parse("").expect("empty").is_empty());
        // Empty options are skipped, as in Hubble.
        assert!(MetricsSpec::parse("flow:;;").is_ok());
    }

    #[test]
    fn errors_name_the_bad_token() {
        let cases = [
            (
                "flow bogus",
                "unknown metric \"bogus\" (known: flow, drop, tcp, port-distribution, icmp, policy, http, httpV2, flows-to-world, dns, kafka, sctp) in \"bogus\"",
            ),
            ("dns,bogus", "unknown metric \"bogus\" (known:"),
            ("{dns,drop,bogus}", "unknown metric \"bogus\" (known:"),
            ("sctp:port", "metric \"sctp\": unknown option \"port\""),
            (
                "dns:query;ignoreaaaa;bogus",
                "metric \"dns\": unknown option \"bogus\" (known: sourcecontext",
            ),
            ("kafka:query", "metric \"kafka\": unknown option \"query\""),
            (
                "httpV2:labelsContext=source_ip,nope",
                "invalid labelsContext value \"nope\"",
            ),
            (
                "flow:labelContext=source_pod",
                "metric \"flow\": unknown option \"labelContext\"",
            ),
            (
                "httpV2:labelsContext=source_pod,nope",
                "invalid labelsContext value \"nope\"",
            ),
            ("drop:sourceContext=pod|podd", "unknown context \"podd\""),
            (
                "httpV2:exemplars=yes",
                "exemplars must be true or false, not \"yes\"",
            ),
            (
                "flow:exemplars=true",
                "metric \"flow\": unknown option \"exemplars\"",
            ),
            ("tcp:port", "metric \"tcp\": unknown option \"port\""),
            ("flow drop flow", "metric \"flow\" given twice in \"flow\""),
            (
                "http httpV2",
                "metric \"httpV2\" conflicts with metric \"http\"",
            ),
            (
                "httpV2 http",
                "metric \"http\" conflicts with metric \"httpV2\"",
            ),
            (
                ":sourceContext=pod",
                "missing metric name in \":sourceContext=pod\"",
            ),
            (
                "flow:sourceContext=pod;SourceContext=ip",
                "option \"SourceContext\" given twice",
            ),
        ];
        for (input, want) in cases {
            let e = MetricsSpec::parse(input).expect_err(input).to_string();
            assert!(e.contains(want), "{input}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
