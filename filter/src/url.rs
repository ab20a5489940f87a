//! The path of an HTTP request URL, as Go's `url.ParseRequestURI(u).Path` yields it
//! (percent-decoded), which is what Hubble's `http_path` filter matches against.

use std::borrow::Cow;

/// The decoded path of `raw`, or `None` if Go would reject `raw` as a request URI.
///
/// `raw` is an absolute URI (`scheme://host[:port]/path?query`) or an absolute path
/// (`/path?query`). The path ends at the first `?` or `#`. An absolute URI without a
/// path, or an opaque one (`scheme:rest`), has the empty path.
pub(crate) fn request_uri_path(raw: &str) -> Option<Cow<'_, [u8]>> {
    if raw.is_empty() || raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    if raw == "*" {
        return Some(Cow::Borrowed(b"*"));
    }
    let (has_scheme, rest) = split_scheme(raw)?;
    let rest = rest.find(['?', '#']).map_or(rest, |i| &rest[..i]);
    if !rest.starts_with('/') {
        // `scheme:opaque` has no path; a relative reference is not a request URI.
        return has_scheme.then_some(Cow::Borrowed(b""));
    }
    let path = match rest.strip_prefix("//") {
        Some(after) if has_scheme => {
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if !valid_authority(authority) {
                return None;
            }
            path
        }
        _ => rest,
    };
    unescape(path)
}

/// Go's `getScheme`: `(true, rest)` after `scheme:`, `(false, raw)` if `raw` does not
/// start with a scheme, `None` for a leading `:`.
fn split_scheme(raw: &str) -> Option<(bool, &str)> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((true, &raw[i + 1..])),
            _ => return Some((false, raw)),
        }
    }
    Some((false, raw))
}

/// `[userinfo@]host[:port]` as Go's `parseAuthority` accepts it.
fn valid_authority(authority: &str) -> bool {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(u) = userinfo {
        let ok_chars = u
            .bytes()
            .all(|c| c >= 0x80 || c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
        if !ok_chars || unescape(u).is_none() {
            return false;
        }
    }
    valid_host(host)
}

fn valid_host(host: &str) -> bool {
    let (name, colon_port) = if let Some(inner) = host.strip_prefix('[') {
        match inner.rfind(']') {
            Some(i) => (&inner[..i], &inner[i + 1..]),
            None => return false,
        }
    } else {
        match host.rfind(':') {
            Some(i) => (&host[..i], &host[i..]),
            None => (host, ""),
        }
    };
    let port_ok = colon_port.is_empty()
        || colon_port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit()));
    let name_ok = name
        .bytes()
        .all(|c| c >= 0x80 || c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]<>\"%".contains(&c));
    port_ok && name_ok && unescape(name).is_some()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; `None` on a malformed escape. Borrows when there is nothing
/// to decode.
fn unescape(s: &str) -> Option<Cow<'_, [u8]>> {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return Some(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::request_uri_path;

    fn path(raw: &str) -> Option<String> {
        request_uri_path(raw).map(|p| String::from_utf8_lossy(&p).into_owned())
    }

    #[test]
    fn absolute_urls() {
        assert_eq!(
            path("http://192.168.10.211/details/1?a=1&b=<2>").as_deref(),
            Some("/details/1")
        );
        assert_eq!(path("http://server:8080/api").as_deref(), Some("/api"));
        assert_eq!(
            path("https://user:pw@host/x/y#frag").as_deref(),
            Some("/x/y")
        );
        assert_eq!(path("http://[fd00::1]:80/v6").as_deref(), Some("/v6"));
        assert_eq!(path("http://host").as_deref(), Some(""));
        assert_eq!(path("http://host?q=/x").as_deref(), Some(""));
        assert_eq!(path("mailto:someone").as_deref(), Some(""));
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(path("/api/v1?x").as_deref(), Some("/api/v1"));
        assert_eq!(path("//not-a-host/p").as_deref(), Some("//not-a-host/p"));
        assert_eq!(path("*").as_deref(), Some("*"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(path("http://h/a%20b%2Fc").as_deref(), Some("/a b/c"));
        assert_eq!(path("/a+b").as_deref(), Some("/a+b"));
        assert_eq!(path("http://h/a%zz"), None);
        assert_eq!(path("http://h/a%2"), None);
    }

    #[test]
    fn rejected() {
        assert_eq!(path(""), None);
        assert_eq!(path("relative/path"), None);
        assert_eq!(path(":nope"), None);
        assert_eq!(path("http://host:port/x"), None);
        assert_eq!(path("http://[fd00::1/x"), None);
        assert_eq!(path("http://ho st/x"), None);
        assert_eq!(path("http://h/x\ny"), None);
        assert_eq!(path("http://u{ser@h/x"), None);
    }
}
