//! FQDN and node-name glob patterns (Hubble `pkg/hubble/filters/patterns.go`).
//!
//! An FQDN pattern is trimmed, loses one trailing dot and is lower-cased. It may hold
//! `a-z`, `0-9`, `-`, `_`, `.` and `*`; `*` matches `[-.0-9a-z]*`. Matching is anchored.
//!
//! A node-name pattern is `[cluster/]node` where each part is an FQDN pattern and an
//! empty (or missing) part matches any name. A flow node name without `/` is
//! `default/<name>`.

use regex::Regex;

use crate::FilterError;

/// Any dotted name (what an empty cluster or node part of a node-name pattern matches).
const ANY_NAME: &str = r"(?:[-0-9_a-z]+(?:\.[-0-9_a-z]+)*)";

/// The cluster a node name without a `/` belongs to (`ciliumDefaults.ClusterName`).
const DEFAULT_CLUSTER: &str = "default";

fn pattern_error(field: &'static str, value: &str, reason: impl Into<String>) -> FilterError {
    FilterError::InvalidPattern {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Appends the regex equivalent of one FQDN pattern, or says what is wrong with it.
fn append_fqdn_regex(out: &mut String, pattern: &str) -> Result<(), String> {
    let trimmed = pattern.trim();
    let canonical = trimmed.strip_suffix('.').unwrap_or(trimmed).to_lowercase();
    if canonical.is_empty() {
        return Err("empty pattern".into());
    }
    if canonical.ends_with('.') {
        return Err("multiple trailing dots in pattern".into());
    }
    for c in canonical.chars() {
        match c {
            '.' => out.push_str(r"\."),
            '*' => out.push_str("[-.0-9a-z]*"),
            '-' | '_' | '0'..='9' | 'a'..='z' => out.push(c),
            _ => return Err(format!("{c:?}: invalid character in pattern")),
        }
    }
    Ok(())
}

fn anchored(alternatives: &[String]) -> String {
    format!(r"\A(?:{})\z", alternatives.join("|"))
}

fn compile(field: &'static str, values: &[String], re: &str) -> Result<Regex, FilterError> {
    // The generated regex only uses constructs we emit ourselves; a failure here would
    // be a size limit, reported against the whole field.
    Regex::new(re).map_err(|source| FilterError::InvalidRegex {
        field,
        value: values.join(","),
        source,
    })
}

/// `source_fqdn`, `destination_fqdn`: glob patterns against `source_names` /
/// `destination_names`.
#[derive(Debug, Clone)]
pub(crate) struct FqdnMatcher {
    re: Regex,
}

impl FqdnMatcher {
    pub(crate) fn new(field: &'static str, patterns: &[String]) -> Result<Self, FilterError> {
        let mut alternatives = Vec::with_capacity(patterns.len());
        for p in patterns {
            let mut re = String::new();
            append_fqdn_regex(&mut re, p).map_err(|reason| pattern_error(field, p, reason))?;
            alternatives.push(re);
        }
        Ok(Self {
            re: compile(field, patterns, &anchored(&alternatives))?,
        })
    }

    #[inline]
    pub(crate) fn matches_any(&self, names: &[String]) -> bool {
        names.iter().any(|n| self.re.is_match(n))
    }
}

/// `node_name`: `[cluster/]node` glob patterns against `Flow.node_name`.
#[derive(Debug, Clone)]
pub(crate) struct NodeNameMatcher {
    /// For node names holding a `/`: `\A(?:cluster/node|…)\z`.
    qualified: Regex,
    /// For bare node names (cluster `default`): the node parts of the patterns whose
    /// cluster part matches `default`. `None` if there are none.
    bare: Option<Regex>,
}

impl NodeNameMatcher {
    pub(crate) fn new(patterns: &[String]) -> Result<Self, FilterError> {
        const FIELD: &str = "node_name";
        let mut qualified = Vec::with_capacity(patterns.len());
        let mut bare = Vec::new();
        for p in patterns {
            let err = |reason: String| pattern_error(FIELD, p, reason);
            if p.is_empty() {
                return Err(err("empty pattern".into()));
            }
            let (cluster, node) = match p.split('/').collect::<Vec<_>>()[..] {
                [node] => ("", node),
                [cluster, node] => (cluster, node),
                _ => return Err(err("too many slashes in pattern".into())),
            };
            let part = |s: &str| -> Result<String, FilterError> {
                if s.is_empty() {
                    return Ok(ANY_NAME.to_string());
                }
                let mut re = String::new();
                append_fqdn_regex(&mut re, s).map_err(err)?;
                Ok(re)
            };
            let cluster_re = part(cluster)?;
            let node_re = part(node)?;
            let cluster_matches_default = compile(
                FIELD,
                patterns,
                &anchored(std::slice::from_ref(&cluster_re)),
            )?
            .is_match(DEFAULT_CLUSTER);
            if cluster_matches_default {
                bare.push(node_re.clone());
            }
            qualified.push(format!("{cluster_re}/{node_re}"));
        }
        Ok(Self {
            qualified: compile(FIELD, patterns, &anchored(&qualified))?,
            bare: if bare.is_empty() {
                None
            } else {
                Some(compile(FIELD, patterns, &anchored(&bare))?)
            },
        })
    }

    #[inline]
    pub(crate) fn matches(&self, node_name: &str) -> bool {
        if node_name.is_empty() {
            false
        } else if node_name.contains('/') {
            self.qualified.is_match(node_name)
        } else {
            self.bare.as_ref().is_some_and(|re| re.is_match(node_name))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;
    use flowscope_proto::flow::{Flow, FlowFilter};

    fn names_flow(src: &[&str], dst: &[&str]) -> Flow {
        Flow {
            source_names: strings(src),
            destination_names: strings(dst),
            ..Default::default()
        }
    }

    #[test]
    fn source_fqdn_glob() {
        let f = FlowFilter {
            source_fqdn: strings(&["*.cilium.io", "Example.COM."]),
            ..Default::default()
        };
        assert!(matches(&f, &names_flow(&["docs.cilium.io"], &[])));
        assert!(matches(&f, &names_flow(&["a.b.cilium.io"], &[])));
        assert!(matches(&f, &names_flow(&["x", "example.com"], &[])));
        // Anchored: no suffix or prefix matches.
        assert!(!matches(&f, &names_flow(&["example.com.evil"], &[])));
        assert!(!matches(&f, &names_flow(&["cilium.io"], &[])));
        // `*` does not match underscores or upper case.
        assert!(!matches(&f, &names_flow(&["a_b.cilium.io"], &[])));
        assert!(!matches(&f, &names_flow(&[], &["docs.cilium.io"])));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn destination_fqdn_exact() {
        let f = FlowFilter {
            destination_fqdn: strings(&["isovalent.com"]),
            ..Default::default()
        };
        assert!(matches(&f, &names_flow(&[], &["isovalent.com"])));
        assert!(!matches(&f, &names_flow(&[], &["isovalentXcom"])));
        assert!(!matches(&f, &names_flow(&["isovalent.com"], &[])));
    }

    #[test]
    fn invalid_fqdn_patterns() {
        for (p, why) in [
            ("", "empty pattern"),
            (" . ", "empty pattern"),
            ("a..", "multiple trailing dots"),
            ("a b", "invalid character"),
            ("a/b", "invalid character"),
            ("ex?mple.com", "invalid character"),
        ] {
            let e = error(&FlowFilter {
                destination_fqdn: strings(&[p]),
                ..Default::default()
            });
            assert!(
                e.starts_with("invalid filter: destination_fqdn: invalid pattern"),
                "{e}"
            );
            assert!(e.contains(why), "{p:?}: {e}");
        }
    }

    fn node(name: &str) -> Flow {
        Flow {
            node_name: name.into(),
            ..Default::default()
        }
    }

    fn node_filter(patterns: &[&str]) -> FlowFilter {
        FlowFilter {
            node_name: strings(patterns),
            ..Default::default()
        }
    }

    #[test]
    fn node_name_without_cluster_matches_any_cluster() {
        let f = node_filter(&["kind-*"]);
        assert!(matches(&f, &node("kind-worker")));
        assert!(matches(&f, &node("kind-control-plane")));
        assert!(matches(&f, &node("prod/kind-worker")));
        assert!(!matches(&f, &node("worker")));
        assert!(!matches(&f, &node("")));
    }

    #[test]
    fn node_name_with_cluster() {
        let f = node_filter(&["prod/*.example.com"]);
        assert!(matches(&f, &node("prod/node1.example.com")));
        assert!(!matches(&f, &node("test/node1.example.com")));
        // A bare node name belongs to cluster "default".
        assert!(!matches(&f, &node("node1.example.com")));

        let f = node_filter(&["default/k8s1"]);
        assert!(matches(&f, &node("k8s1")));
        assert!(matches(&f, &node("default/k8s1")));
        assert!(!matches(&f, &node("k8s12")));

        let f = node_filter(&["def*/"]);
        assert!(matches(&f, &node("anything")));
        assert!(matches(&f, &node("default/x.y")));
        assert!(!matches(&f, &node("other/x")));
    }

    #[test]
    fn invalid_node_name_patterns() {
        for p in ["", "a/b/c", "a b", "UPPER/x/"] {
            let e = error(&node_filter(&[p]));
            assert!(
                e.starts_with("invalid filter: node_name: invalid pattern"),
                "{p:?}: {e}"
            );
        }
        // Upper case is folded, not rejected.
        assert!(matches(&node_filter(&["KIND-*"]), &node("kind-worker")));
    }
}
