//! L7 filters: `http_status_code`, `http_method`, `http_path`, `http_url`,
//! `http_header` and (with the DNS record) `dns_query`.

use flowscope_proto::flow::{EventTypeFilter, FlowFilter};
use regex::Regex;

use crate::FilterError;
use crate::view::{FlowView, HttpRef};

/// `CiliumEventType` of L7 access-log flows.
pub(crate) const EVENT_TYPE_L7: i32 = 129;

#[inline]
fn l7_http<V: FlowView + ?Sized>(flow: &V) -> Option<HttpRef<'_>> {
    flow.http()
}

/// The L7 event-type guard: HTTP fields need an `event_type` list that is empty or
/// includes L7 (129). Returns the first HTTP field set when the guard fails.
pub(crate) fn check_event_type_guard(ff: &FlowFilter) -> Result<(), FilterError> {
    let http_fields: [(&'static str, bool); 5] = [
        ("http_status_code", !ff.http_status_code.is_empty()),
        ("http_method", !ff.http_method.is_empty()),
        ("http_path", !ff.http_path.is_empty()),
        ("http_url", !ff.http_url.is_empty()),
        ("http_header", !ff.http_header.is_empty()),
    ];
    let Some((field, _)) = http_fields.iter().find(|(_, set)| *set) else {
        return Ok(());
    };
    if ff.event_type.is_empty() || ff.event_type.iter().any(is_l7) {
        Ok(())
    } else {
        Err(FilterError::IncompatibleEventType { field })
    }
}

fn is_l7(t: &EventTypeFilter) -> bool {
    t.r#type == EVENT_TYPE_L7
}

/// Compiles RE2-style patterns (unanchored).
pub(crate) fn compile_regexes(
    field: &'static str,
    patterns: &[String],
) -> Result<Vec<Regex>, FilterError> {
    patterns
        .iter()
        .map(|p| {
            Regex::new(&crate::re2::translate(p)).map_err(|source| FilterError::InvalidRegex {
                field,
                value: p.clone(),
                source,
            })
        })
        .collect()
}

/// `http_status_code`: exact codes (`404`) and prefixes (`5+`, `40+`) against
/// `l7.http.code` formatted `%03d`. A code of 0 (a request) never matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusCodeMatcher {
    /// Exact codes, 3 ASCII digits each.
    exact: Vec<[u8; 3]>,
    /// Prefixes of 1 or 2 ASCII digits.
    prefixes: Vec<Vec<u8>>,
}

impl StatusCodeMatcher {
    pub(crate) fn new(values: &[String]) -> Result<Self, FilterError> {
        let mut m = Self::default();
        for v in values {
            let b = v.as_bytes();
            let first_ok = |c: u8| (b'1'..=b'5').contains(&c);
            match b {
                [a, c, d] if first_ok(*a) && c.is_ascii_digit() && d.is_ascii_digit() => {
                    m.exact.push([*a, *c, *d]);
                }
                [a, b'+'] if first_ok(*a) => m.prefixes.push(vec![*a]),
                [a, c, b'+'] if first_ok(*a) && c.is_ascii_digit() => {
                    m.prefixes.push(vec![*a, *c]);
                }
                _ => {
                    return Err(FilterError::InvalidStatusCode { value: v.clone() });
                }
            }
        }
        Ok(m)
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        let Some(http) = l7_http(flow) else {
            return false;
        };
        if http.code == 0 {
            return false;
        }
        let mut buf = [0u8; 10];
        let code = format_code(http.code, &mut buf);
        self.exact.iter().any(|e| code == e) || self.prefixes.iter().any(|p| code.starts_with(p))
    }
}

/// `format!("{:03}", code)` into a stack buffer.
fn format_code(mut code: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (code % 10) as u8;
        code /= 10;
        if code == 0 {
            break;
        }
    }
    while buf.len() - start < 3 {
        start -= 1;
        buf[start] = b'0';
    }
    &buf[start..]
}

/// `http_method`: case-insensitive equality; a flow without a method never matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct MethodMatcher {
    methods: Vec<String>,
}

impl MethodMatcher {
    pub(crate) fn new(methods: &[String]) -> Self {
        Self {
            methods: methods.to_vec(),
        }
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        match l7_http(flow) {
            Some(http) if !http.method.is_empty() => {
                self.methods.iter().any(|m| eq_fold(m, http.method))
            }
            _ => false,
        }
    }
}

/// Case-insensitive equality like Go's `strings.EqualFold` (ASCII fast path).
fn eq_fold(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// `http_path`: regexes against the decoded path of `l7.http.url`. A URL that is not
/// a valid request URI never matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathMatcher {
    regexes: Vec<regex::bytes::Regex>,
}

impl PathMatcher {
    pub(crate) fn new(patterns: &[String]) -> Result<Self, FilterError> {
        let regexes = patterns
            .iter()
            .map(|p| {
                regex::bytes::Regex::new(&crate::re2::translate(p)).map_err(|source| {
                    FilterError::InvalidRegex {
                        field: "http_path",
                        value: p.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { regexes })
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        let Some(http) = l7_http(flow) else {
            return false;
        };
        if http.url.is_empty() {
            return false;
        }
        let Some(path) = crate::url::request_uri_path(http.url) else {
            return false;
        };
        self.regexes.iter().any(|re| re.is_match(&path))
    }
}

/// `http_url`: regexes against the full `l7.http.url`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UrlMatcher {
    regexes: Vec<Regex>,
}

impl UrlMatcher {
    pub(crate) fn new(patterns: &[String]) -> Result<Self, FilterError> {
        Ok(Self {
            regexes: compile_regexes("http_url", patterns)?,
        })
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        match l7_http(flow) {
            Some(http) if !http.url.is_empty() => {
                self.regexes.iter().any(|re| re.is_match(http.url))
            }
            _ => false,
        }
    }
}

/// `http_header`: some header of the flow has exactly the key and value of some entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderMatcher {
    headers: Vec<(String, String)>,
}

impl HeaderMatcher {
    pub(crate) fn new(headers: &[flowscope_proto::flow::HttpHeader]) -> Self {
        Self {
            headers: headers
                .iter()
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn matches<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        let Some(http) = l7_http(flow) else {
            return false;
        };
        http.headers
            .iter()
            .any(|(key, value)| self.headers.iter().any(|(k, v)| k == key && v == value))
    }
}

#[cfg(test)]
mod tests {
    use super::format_code;
    use crate::test_util::*;
    use flowscope_proto::flow::{Dns, EventTypeFilter, Flow, FlowFilter, Http, HttpHeader};

    fn code_str(code: u32) -> String {
        let mut buf = [0u8; 10];
        String::from_utf8_lossy(format_code(code, &mut buf)).into_owned()
    }

    #[test]
    fn formats_like_go_percent_03d() {
        for code in [0, 7, 42, 200, 404, 999, 1000, 65535, u32::MAX] {
            assert_eq!(code_str(code), format!("{code:03}"));
        }
    }

    fn status(codes: &[&str]) -> FlowFilter {
        FlowFilter {
            http_status_code: strings(codes),
            ..Default::default()
        }
    }

    #[test]
    fn status_code_exact_and_prefix() {
        let f = status(&["404", "5+"]);
        assert!(matches(&f, &http_flow(|h| h.code = 404)));
        assert!(matches(&f, &http_flow(|h| h.code = 503)));
        assert!(matches(&f, &http_flow(|h| h.code = 500)));
        assert!(!matches(&f, &http_flow(|h| h.code = 200)));
        assert!(!matches(&f, &http_flow(|h| h.code = 403)));
        assert!(!matches(&f, &http_flow(|h| h.code = 0)));
        assert!(!matches(&f, &Flow::default()));

        let f = status(&["40+"]);
        assert!(matches(&f, &http_flow(|h| h.code = 401)));
        assert!(!matches(&f, &http_flow(|h| h.code = 410)));
        // Codes of four digits only ever match a prefix.
        assert!(matches(&status(&["1+"]), &http_flow(|h| h.code = 1000)));
        assert!(!matches(&status(&["100"]), &http_flow(|h| h.code = 1000)));
    }

    #[test]
    fn status_code_never_matches_non_http() {
        let dns = l7_flow(flowscope_proto::flow::layer7::Record::Dns(Dns::default()));
        assert!(!matches(&status(&["2+"]), &dns));
    }

    #[test]
    fn bad_status_codes() {
        for bad in [
            "", "4", "600", "099", "20", "2xx", "5++", "+", "404 ", "6+", "500+",
        ] {
            let e = error(&status(&[bad]));
            assert!(
                e.starts_with(&format!(
                    "invalid filter: http_status_code: invalid status code {bad:?}"
                )),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn method_is_case_insensitive() {
        let f = FlowFilter {
            http_method: strings(&["get", "Delete"]),
            ..Default::default()
        };
        assert!(matches(&f, &http_flow(|h| h.method = "GET".into())));
        assert!(matches(&f, &http_flow(|h| h.method = "DELETE".into())));
        assert!(!matches(&f, &http_flow(|h| h.method = "POST".into())));
        assert!(!matches(&f, &http_flow(|_| {})));
        let empty = FlowFilter {
            http_method: strings(&[""]),
            ..Default::default()
        };
        assert!(!matches(&empty, &http_flow(|_| {})));
    }

    fn path(patterns: &[&str]) -> FlowFilter {
        FlowFilter {
            http_path: strings(patterns),
            ..Default::default()
        }
    }

    #[test]
    fn path_regex_against_url_path() {
        let f = path(&["^/api/v[0-9]+/"]);
        assert!(matches(
            &f,
            &http_flow(|h| h.url = "http://server:8080/api/v1/users?x=/api/v1/".into())
        ));
        assert!(matches(&f, &http_flow(|h| h.url = "/api/v2/x".into())));
        // The query is not part of the path.
        assert!(!matches(
            &f,
            &http_flow(|h| h.url = "http://s/x?p=/api/v1/".into())
        ));
        // Unanchored.
        assert!(matches(
            &path(&["users"]),
            &http_flow(|h| h.url = "http://s/api/users/1".into())
        ));
        // RE2 flags such as case folding work.
        assert!(matches(
            &path(&["(?i)^/API/"]),
            &http_flow(|h| h.url = "/api/v1".into())
        ));
        assert!(!matches(
            &path(&["^/API/"]),
            &http_flow(|h| h.url = "/api/v1".into())
        ));
        // The path is percent-decoded.
        assert!(matches(
            &path(&["^/a b$"]),
            &http_flow(|h| h.url = "http://s/a%20b".into())
        ));
        // Unparsable URLs never match, not even `.*`.
        assert!(!matches(
            &path(&[".*"]),
            &http_flow(|h| h.url = "not a url".into())
        ));
        assert!(!matches(
            &path(&[".*"]),
            &http_flow(|h| h.url = "http://s:x/".into())
        ));
        assert!(!matches(
            &path(&[".*"]),
            &http_flow(|h| h.url = String::new())
        ));
        assert!(!matches(&path(&[".*"]), &Flow::default()));
    }

    #[test]
    fn bad_path_regex() {
        let e = error(&path(&["/api/("]));
        assert!(
            e.starts_with("invalid filter: http_path: regex parse error"),
            "{e}"
        );
    }

    #[test]
    fn url_regex_against_full_url() {
        let f = FlowFilter {
            http_url: strings(&["^https?://[^/]*isovalent\\.com/", "\\?debug=1"]),
            ..Default::default()
        };
        assert!(matches(
            &f,
            &http_flow(|h| h.url = "https://www.isovalent.com/x".into())
        ));
        assert!(matches(
            &f,
            &http_flow(|h| h.url = "http://s/x?debug=1".into())
        ));
        assert!(!matches(
            &f,
            &http_flow(|h| h.url = "http://cilium.io/".into())
        ));
        assert!(!matches(&f, &Flow::default()));
        let e = error(&FlowFilter {
            http_url: strings(&["[a-"]),
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid filter: http_url: regex parse error"),
            "{e}"
        );
    }

    fn header(k: &str, v: &str) -> HttpHeader {
        HttpHeader {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn header_key_and_value_exact() {
        let f = FlowFilter {
            http_header: vec![header("X-Request-Id", "abc"), header("Host", "a")],
            ..Default::default()
        };
        let with = |hs: Vec<HttpHeader>| http_flow(move |h: &mut Http| h.headers = hs);
        assert!(matches(
            &f,
            &with(vec![header("Accept", "*/*"), header("X-Request-Id", "abc")])
        ));
        assert!(matches(&f, &with(vec![header("Host", "a")])));
        assert!(!matches(&f, &with(vec![header("X-Request-Id", "abcd")])));
        assert!(!matches(&f, &with(vec![header("x-request-id", "abc")])));
        assert!(!matches(&f, &with(vec![header("Host", "abc")])));
        assert!(!matches(&f, &with(vec![])));
    }

    #[test]
    fn dns_query_regex() {
        let f = FlowFilter {
            dns_query: strings(&["isovalent\\.com\\.$"]),
            ..Default::default()
        };
        let dns = |q: &str| {
            l7_flow(flowscope_proto::flow::layer7::Record::Dns(Dns {
                query: q.into(),
                ..Default::default()
            }))
        };
        assert!(matches(&f, &dns("isovalent.com.")));
        assert!(matches(&f, &dns("www.isovalent.com.")));
        assert!(!matches(&f, &dns("isovalent.com.evil.")));
        assert!(!matches(
            &f,
            &http_flow(|h| h.url = "http://isovalent.com./".into())
        ));
        let e = error(&FlowFilter {
            dns_query: strings(&["*"]),
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid filter: dns_query: regex parse error"),
            "{e}"
        );
    }

    fn l7_types(types: &[i32]) -> Vec<EventTypeFilter> {
        types
            .iter()
            .map(|t| EventTypeFilter {
                r#type: *t,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn event_type_guard() {
        for (field, mut f) in [
            ("http_status_code", status(&["200"])),
            (
                "http_method",
                FlowFilter {
                    http_method: strings(&["GET"]),
                    ..Default::default()
                },
            ),
            ("http_path", path(&["/"])),
            (
                "http_url",
                FlowFilter {
                    http_url: strings(&["x"]),
                    ..Default::default()
                },
            ),
            (
                "http_header",
                FlowFilter {
                    http_header: vec![header("a", "b")],
                    ..Default::default()
                },
            ),
        ] {
            f.event_type = l7_types(&[4, 1]);
            let e = error(&f);
            assert!(e.starts_with(&format!("invalid filter: {field}: ")), "{e}");
            assert!(e.contains("129"), "{e}");
            f.event_type = l7_types(&[4, 129]);
            assert!(compiles(&f), "{field}");
            f.event_type = vec![];
            assert!(compiles(&f), "{field}");
        }
        // No guard without HTTP fields.
        assert!(compiles(&FlowFilter {
            event_type: l7_types(&[4]),
            dns_query: strings(&["x"]),
            ..Default::default()
        }));
    }
}
