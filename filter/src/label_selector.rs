//! Kubernetes label selectors over Cilium labels (`source_label`, `destination_label`,
//! `node_labels`).
//!
//! Selector syntax is that of `k8s.io/apimachinery/pkg/labels.Parse`: comma-separated,
//! ANDed requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! `k>n`, `k<n`. An empty selector matches everything.
//!
//! Cilium labels are strings `source:key=value` (`k8s:app=x`, `reserved:world`). A
//! selector key `source:key` only matches labels of that source; a key without a source
//! (or with source `any`) matches a label of any source. As in Cilium's `LabelArray`,
//! the value compared is that of the first label with a matching key.

use crate::FilterError;
use crate::view::{FlowView, Side};

/// The label source that matches every source.
const ANY_SOURCE: &str = "any";
/// The source of a label written without one (Cilium's `LabelSourceUnspec`).
const UNSPEC_SOURCE: &str = "unspec";
/// The source of a `$name` label.
const RESERVED_SOURCE: &str = "reserved";

/// Which label list of a flow a selector field looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelsField {
    Endpoint(Side),
    Node,
}

impl LabelsField {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LabelsField::Endpoint(Side::Source) => "source_label",
            LabelsField::Endpoint(Side::Destination) => "destination_label",
            LabelsField::Node => "node_labels",
        }
    }

    #[inline]
    pub(crate) fn get<V: FlowView + ?Sized>(self, flow: &V) -> &[String] {
        match self {
            LabelsField::Endpoint(side) => flow.endpoint(side).map_or(&[], |ep| ep.labels),
            LabelsField::Node => flow.node_labels(),
        }
    }
}

/// The values of one field: matches if any selector matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct SelectorSet {
    selectors: Vec<Selector>,
}

impl SelectorSet {
    pub(crate) fn new(field: LabelsField, values: &[String]) -> Result<Self, FilterError> {
        let selectors = values
            .iter()
            .map(|v| {
                Selector::parse(v).map_err(|reason| FilterError::InvalidLabelSelector {
                    field: field.name(),
                    value: v.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { selectors })
    }

    #[inline]
    pub(crate) fn matches(&self, labels: &[String]) -> bool {
        self.selectors.iter().any(|s| s.matches(labels))
    }
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    /// `None` for any source.
    source: Option<String>,
    key: String,
    op: Op,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    DoesNotExist,
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

impl Selector {
    /// Parses a selector; the error is a human-readable reason.
    pub fn parse(selector: &str) -> Result<Self, String> {
        Parser::new(selector).parse()
    }

    /// A Kubernetes `matchLabels` map: every `key=value` must hold. Keys may carry a
    /// source (`k8s:app`); without one they match any source, as in Cilium's selectors.
    pub fn from_match_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let requirements = pairs
            .into_iter()
            .map(|(key, value)| {
                let (source, key) = match key.split_once(':') {
                    Some((src, k)) if src != ANY_SOURCE => (Some(src.to_string()), k),
                    Some((_, k)) => (None, k),
                    None => (None, key),
                };
                Requirement {
                    source,
                    key: key.to_string(),
                    op: Op::In(vec![value.to_string()]),
                }
            })
            .collect();
        Selector { requirements }
    }

    /// True if `labels` (`source:key=value` strings) satisfy every requirement.
    #[inline]
    pub fn matches(&self, labels: &[String]) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    #[inline]
    fn matches(&self, labels: &[String]) -> bool {
        let value = lookup(labels, self.source.as_deref(), &self.key);
        match &self.op {
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::In(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
            Op::NotIn(values) => value.is_none_or(|v| values.iter().all(|x| x != v)),
            Op::GreaterThan(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Op::LessThan(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        }
    }
}

/// The value of the first label with `key` (and `source`, unless any), if there is one.
#[inline]
fn lookup<'a>(labels: &'a [String], source: Option<&str>, key: &str) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        let (src, k, v) = split_label(l);
        (k == key && source.is_none_or(|s| s == src)).then_some(v)
    })
}

/// Splits a Cilium label `source:key=value` into its parts without allocating.
/// A label without a source (no `:` before the first `=`) has source `unspec`;
/// `$name` is `reserved:name`; a label without `=` has an empty value.
#[inline]
pub(crate) fn split_label(label: &str) -> (&str, &str, &str) {
    let (source, rest) = if let Some(rest) = label.strip_prefix('$') {
        (RESERVED_SOURCE, rest)
    } else {
        let eq = label.find('=').unwrap_or(label.len());
        match label[..eq].find(':') {
            Some(i) => (&label[..i], &label[i + 1..]),
            None => (UNSPEC_SOURCE, label),
        }
    };
    match rest.split_once('=') {
        Some((k, v)) => (source, k, v),
        None => (source, rest, ""),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    Comma,
    OpenParen,
    CloseParen,
    End,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("'{s}'"),
            Token::Not => "'!'".into(),
            Token::Equals => "'='".into(),
            Token::DoubleEquals => "'=='".into(),
            Token::NotEquals => "'!='".into(),
            Token::GreaterThan => "'>'".into(),
            Token::LessThan => "'<'".into(),
            Token::Comma => "','".into(),
            Token::OpenParen => "'('".into(),
            Token::CloseParen => "')'".into(),
            Token::End => "end of string".into(),
        }
    }
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    peeked: Option<(Token<'a>, usize)>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            pos: 0,
            peeked: None,
        }
    }

    /// Lexes the token at `pos`, returning it and the position after it.
    fn lex_at(&self, mut pos: usize) -> (Token<'a>, usize) {
        let bytes = self.input.as_bytes();
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let Some(&c) = bytes.get(pos) else {
            return (Token::End, pos);
        };
        let next = bytes.get(pos + 1).copied();
        match (c, next) {
            (b'!', Some(b'=')) => (Token::NotEquals, pos + 2),
            (b'=', Some(b'=')) => (Token::DoubleEquals, pos + 2),
            (b'!', _) => (Token::Not, pos + 1),
            (b'=', _) => (Token::Equals, pos + 1),
            (b'>', _) => (Token::GreaterThan, pos + 1),
            (b'<', _) => (Token::LessThan, pos + 1),
            (b',', _) => (Token::Comma, pos + 1),
            (b'(', _) => (Token::OpenParen, pos + 1),
            (b')', _) => (Token::CloseParen, pos + 1),
            _ => {
                let start = pos;
                while pos < bytes.len() && !is_whitespace(bytes[pos]) && !is_special(bytes[pos]) {
                    pos += 1;
                }
                // Only ASCII bytes end an identifier, so both ends are char boundaries.
                (Token::Ident(&self.input[start..pos]), pos)
            }
        }
    }

    fn peek(&mut self) -> Token<'a> {
        match self.peeked {
            Some((t, _)) => t,
            None => {
                let (t, end) = self.lex_at(self.pos);
                self.peeked = Some((t, end));
                t
            }
        }
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        if let Some((_, end)) = self.peeked.take() {
            self.pos = end;
        }
        t
    }

    fn parse(mut self) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::End => break,
                Token::Ident(_) | Token::Not => {
                    requirements.push(self.parse_requirement()?);
                    match self.next() {
                        Token::End => break,
                        Token::Comma => match self.peek() {
                            Token::Ident(_) | Token::Not => {}
                            t => {
                                return Err(format!(
                                    "found {}, expected: identifier after ','",
                                    t.describe()
                                ));
                            }
                        },
                        t => {
                            return Err(format!(
                                "found {}, expected: ',' or 'end of string'",
                                t.describe()
                            ));
                        }
                    }
                }
                t => {
                    return Err(format!(
                        "found {}, expected: !, identifier, or 'end of string'",
                        t.describe()
                    ));
                }
            }
        }
        Ok(Selector { requirements })
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let negated = self.peek() == Token::Not;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Ident(k) => k,
            t => return Err(format!("found {}, expected: identifier", t.describe())),
        };
        let (source, key) = translate_key(key)?;
        let op = if negated {
            match self.peek() {
                Token::End | Token::Comma => Op::DoesNotExist,
                t => {
                    return Err(format!(
                        "found {}, expected: ',' or 'end of string' after '!{key}'",
                        t.describe()
                    ));
                }
            }
        } else if matches!(self.peek(), Token::End | Token::Comma) {
            Op::Exists
        } else {
            self.parse_operator_and_values()?
        };
        Ok(Requirement { source, key, op })
    }

    fn parse_operator_and_values(&mut self) -> Result<Op, String> {
        enum Kind {
            In,
            NotIn,
            Eq,
            NotEq,
            Gt,
            Lt,
        }
        let kind = match self.next() {
            Token::Ident("in") => Kind::In,
            Token::Ident("notin") => Kind::NotIn,
            Token::Equals | Token::DoubleEquals => Kind::Eq,
            Token::NotEquals => Kind::NotEq,
            Token::GreaterThan => Kind::Gt,
            Token::LessThan => Kind::Lt,
            t => {
                return Err(format!(
                    "found {}, expected: in, notin, =, ==, !=, gt, lt",
                    t.describe()
                ));
            }
        };
        Ok(match kind {
            Kind::In => Op::In(self.parse_value_set()?),
            Kind::NotIn => Op::NotIn(self.parse_value_set()?),
            Kind::Eq => Op::In(vec![self.parse_exact_value()?]),
            Kind::NotEq => Op::NotIn(vec![self.parse_exact_value()?]),
            Kind::Gt => Op::GreaterThan(self.parse_integer()?),
            Kind::Lt => Op::LessThan(self.parse_integer()?),
        })
    }

    fn parse_exact_value(&mut self) -> Result<String, String> {
        let value = match self.peek() {
            Token::End | Token::Comma => "",
            Token::Ident(v) => {
                self.next();
                v
            }
            t => return Err(format!("found {}, expected: identifier", t.describe())),
        };
        validate_value(value)?;
        Ok(value.to_string())
    }

    fn parse_integer(&mut self) -> Result<i64, String> {
        match self.next() {
            Token::Ident(v) => v.parse::<i64>().map_err(|_| {
                format!("for 'gt', 'lt' operators, the value must be an integer, got '{v}'")
            }),
            t => Err(format!("found {}, expected: integer", t.describe())),
        }
    }

    /// `( v1, v2, … )`; empty entries (`()`, `(a,)`) stand for the empty value.
    fn parse_value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Token::OpenParen => {}
            t => return Err(format!("found {}, expected: '('", t.describe())),
        }
        let mut values: Vec<String> = Vec::new();
        let mut insert = |v: &str| -> Result<(), String> {
            validate_value(v)?;
            if !values.iter().any(|x| x == v) {
                values.push(v.to_string());
            }
            Ok(())
        };
        // Whether the last thing read can be followed by a value (start or ',').
        let mut expecting_value = true;
        loop {
            match self.next() {
                Token::Ident(v) if expecting_value => {
                    insert(v)?;
                    expecting_value = false;
                }
                Token::Comma => {
                    if expecting_value {
                        insert("")?;
                    }
                    expecting_value = true;
                }
                Token::CloseParen => {
                    if expecting_value {
                        insert("")?;
                    }
                    break;
                }
                Token::Ident(v) => {
                    return Err(format!("found '{v}', expected: ',' or ')'"));
                }
                t => {
                    return Err(format!(
                        "found {}, expected: ',', ')' or identifier",
                        t.describe()
                    ));
                }
            }
        }
        Ok(values)
    }
}

/// Splits a selector key into (source, key) and validates it the way Hubble does:
/// the key is translated to `source.key` (`any.key` without a source) and must be a
/// Kubernetes qualified name.
fn translate_key(key: &str) -> Result<(Option<String>, String), String> {
    let (source, name) = match key.split_once(':') {
        Some((s, n)) => (s, n),
        None => (ANY_SOURCE, key),
    };
    validate_qualified_name(&format!("{source}.{name}"))
        .map_err(|e| format!("invalid label key '{key}': {e}"))?;
    let source = (source != ANY_SOURCE).then(|| source.to_string());
    Ok((source, name.to_string()))
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    b.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: lower-case alphanumeric labels with inner `-`, joined by `.`.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

fn validate_qualified_name(key: &str) -> Result<(), String> {
    let name = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if !is_dns1123_subdomain(prefix) {
                return Err(format!(
                    "prefix part '{prefix}' must be a lowercase DNS-1123 subdomain"
                ));
            }
            name
        }
        _ => return Err("a qualified name may contain at most one '/'".into()),
    };
    if is_name_part(name) {
        Ok(())
    } else {
        Err(
            "name part must be at most 63 characters: alphanumerics, '-', '_' or '.', \
             starting and ending with an alphanumeric character"
                .into(),
        )
    }
}

fn validate_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_name_part(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value '{v}': must be at most 63 characters: alphanumerics, '-', '_' \
             or '.', starting and ending with an alphanumeric character"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use flowscope_proto::flow::{Endpoint, Flow, FlowFilter};

    fn labels(ls: &[&str]) -> Vec<String> {
        strings(ls)
    }

    fn sel(s: &str) -> Selector {
        match Selector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn split_labels() {
        assert_eq!(split_label("k8s:app=foo"), ("k8s", "app", "foo"));
        assert_eq!(split_label("reserved:world"), ("reserved", "world", ""));
        assert_eq!(split_label("foo=bar"), ("unspec", "foo", "bar"));
        assert_eq!(split_label("foo=a:b"), ("unspec", "foo", "a:b"));
        assert_eq!(split_label("$host"), ("reserved", "host", ""));
        assert_eq!(
            split_label("k8s:io.kubernetes.pod.namespace=default"),
            ("k8s", "io.kubernetes.pod.namespace", "default")
        );
        assert_eq!(split_label("k8s:a=b=c"), ("k8s", "a", "b=c"));
    }

    #[test]
    fn source_prefixes() {
        let ls = labels(&["k8s:app=x", "container:role=db", "reserved:world"]);
        assert!(sel("app=x").matches(&ls));
        assert!(sel("any:app=x").matches(&ls));
        assert!(sel("k8s:app=x").matches(&ls));
        assert!(!sel("container:app=x").matches(&ls));
        assert!(sel("container:role").matches(&ls));
        assert!(!sel("k8s:role").matches(&ls));
        assert!(sel("reserved:world").matches(&ls));
        assert!(sel("world").matches(&ls));
        assert!(!sel("reserved:host").matches(&ls));
    }

    #[test]
    fn operators() {
        let ls = labels(&["k8s:app=web", "k8s:tier=2", "k8s:env="]);
        assert!(sel("app==web").matches(&ls));
        assert!(sel("app!=db").matches(&ls));
        assert!(!sel("app!=web").matches(&ls));
        assert!(sel("missing!=web").matches(&ls));
        assert!(sel("app in (db, web)").matches(&ls));
        assert!(!sel("app in (db,cache)").matches(&ls));
        assert!(sel("app notin (db,cache)").matches(&ls));
        assert!(!sel("app notin (web)").matches(&ls));
        assert!(sel("missing notin (web)").matches(&ls));
        assert!(sel("app").matches(&ls));
        assert!(!sel("!app").matches(&ls));
        assert!(sel("!missing").matches(&ls));
        assert!(sel("tier>1").matches(&ls));
        assert!(!sel("tier>2").matches(&ls));
        assert!(sel("tier<3").matches(&ls));
        assert!(!sel("app<3").matches(&ls));
        assert!(sel("env=").matches(&ls));
        assert!(sel("env in ()").matches(&ls));
        assert!(sel("env in (x,)").matches(&ls));
        assert!(!sel("app=").matches(&ls));
        // Requirements are ANDed.
        assert!(sel("app=web, tier in (1,2), !missing").matches(&ls));
        assert!(!sel("app=web,tier=3").matches(&ls));
        // The empty selector matches everything.
        assert!(sel("").matches(&ls));
        assert!(sel("  ").matches(&[]));
        // `in` is a value, not a keyword, where a value is expected.
        assert!(sel("mode=in").matches(&labels(&["k8s:mode=in"])));
    }

    #[test]
    fn first_matching_label_wins() {
        let ls = labels(&["container:app=a", "k8s:app=b"]);
        assert!(sel("app=a").matches(&ls));
        assert!(!sel("app=b").matches(&ls));
        assert!(sel("k8s:app=b").matches(&ls));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "app in",
            "app in (a",
            "app in a",
            "app=(",
            "app=a b",
            "app=a,",
            ",app",
            "!",
            "!app=x",
            "app>x",
            "a/b/c=x",
            "Bad_Prefix/app=x",
            "app=-bad-",
            "k8s:a:b=x",
            "app==a=b",
            "app!",
            "app in (a b)",
            "(app)",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(Selector::parse(&format!("app={}", "x".repeat(64))).is_err());
        assert!(Selector::parse(&format!("app={}", "x".repeat(63))).is_ok());
    }

    fn label_flow(src: &[&str], dst: &[&str], node: &[&str]) -> Flow {
        Flow {
            source: Some(Endpoint {
                labels: strings(src),
                ..Default::default()
            }),
            destination: Some(Endpoint {
                labels: strings(dst),
                ..Default::default()
            }),
            node_labels: strings(node),
            ..Default::default()
        }
    }

    #[test]
    fn source_label_field() {
        let f = FlowFilter {
            source_label: strings(&["app=client", "k8s:team in (a,b)"]),
            ..Default::default()
        };
        assert!(matches(&f, &label_flow(&["k8s:app=client"], &[], &[])));
        assert!(matches(&f, &label_flow(&["k8s:team=b"], &[], &[])));
        assert!(!matches(
            &f,
            &label_flow(&["k8s:app=server"], &["k8s:app=client"], &[])
        ));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn destination_label_field() {
        let f = FlowFilter {
            destination_label: strings(&["reserved:world"]),
            ..Default::default()
        };
        assert!(matches(&f, &label_flow(&[], &["reserved:world"], &[])));
        assert!(!matches(
            &f,
            &label_flow(&["reserved:world"], &["reserved:host"], &[])
        ));
    }

    #[test]
    fn node_labels_field() {
        let f = FlowFilter {
            node_labels: strings(&["kubernetes.io/hostname=kind-worker"]),
            ..Default::default()
        };
        assert!(matches(
            &f,
            &label_flow(&[], &[], &["kubernetes.io/hostname=kind-worker", "zone=a"])
        ));
        assert!(!matches(
            &f,
            &label_flow(&[], &[], &["kubernetes.io/hostname=kind-control-plane"])
        ));
    }

    #[test]
    fn label_field_errors() {
        let e = error(&FlowFilter {
            source_label: strings(&["app in (a"]),
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid filter: source_label: invalid label selector \"app in (a\":"),
            "{e}"
        );
        let e = error(&FlowFilter {
            destination_label: strings(&["=x"]),
            ..Default::default()
        });
        assert!(e.starts_with("invalid filter: destination_label:"), "{e}");
        let e = error(&FlowFilter {
            node_labels: strings(&["a b"]),
            ..Default::default()
        });
        assert!(e.starts_with("invalid filter: node_labels:"), "{e}");
    }
}
