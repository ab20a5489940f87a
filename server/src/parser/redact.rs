//! Which HTTP header values are redacted (replaced by `HUBBLE_REDACTED`, as Hubble does).
//!
//! Credentials are redacted by default: a flow log is read by many more people than the
//! services' own logs, and a bearer token or session cookie in it is a working credential.
//! The default deny-list covers the standard credential headers and the common token headers;
//! `--redact-http-headers-deny` replaces it (an empty value redacts nothing) and
//! `--redact-http-headers-allow` turns it into an allow-list (everything else is redacted).

/// Header names (lower case) whose values are redacted unless configured otherwise.
pub const DEFAULT_DENIED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
];

/// The default deny-list as owned names, for `RedactOptions`.
pub fn default_denied_headers() -> Vec<String> {
    DEFAULT_DENIED_HEADERS
        .iter()
        .map(|h| h.to_string())
        .collect()
}

/// Whether the value of header `key` is redacted: with an allow-list, every header not on
/// it; otherwise every header on the deny-list. Names compare case-insensitively.
pub fn header_redacted(key: &str, allow: &[String], deny: &[String]) -> bool {
    let matches = |list: &[String]| list.iter().any(|h| h.eq_ignore_ascii_case(key));
    if !allow.is_empty() {
        !matches(allow)
    } else {
        matches(deny)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::l7::RedactOptions;

    #[test]
    fn credentials_are_redacted_by_default() {
        let o = RedactOptions::default();
        let redacted = |k: &str| header_redacted(k, &o.headers_allow, &o.headers_deny);
        for k in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "Set-Cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "X-CSRF-Token",
            "X-Xsrf-Token",
        ] {
            assert!(redacted(k), "{k}");
        }
        for k in ["X-Request-Id", "User-Agent", "Content-Type", "traceparent"] {
            assert!(!redacted(k), "{k}");
        }
    }

    #[test]
    fn lists_override_the_default() {
        let deny = vec!["x-secret".to_string()];
        assert!(header_redacted("X-Secret", &[], &deny));
        assert!(!header_redacted("Authorization", &[], &deny));
        assert!(!header_redacted("Authorization", &[], &[]));
        let allow = vec!["x-request-id".to_string()];
        assert!(!header_redacted("X-Request-Id", &allow, &deny));
        assert!(header_redacted("User-Agent", &allow, &deny));
    }
}
