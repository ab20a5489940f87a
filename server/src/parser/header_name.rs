//! HTTP header names in the canonical form Hubble shows.
//!
//! cilium-envoy logs header names as the proxy saw them (lower case for HTTP/2 and for
//! Envoy's own headers). Cilium's access-log server collects them into a Go `http.Header`,
//! whose `Add` canonicalises every name with `textproto.CanonicalMIMEHeaderKey`, so Hubble
//! shows and filters `X-Request-Id`, never `x-request-id`. The same rules are applied here,
//! including their exception: a name with a space or any byte that is not an RFC 7230
//! token character is kept unchanged.

use crate::flow::l7::{Text, TextBuilder, intern};

/// Whether `b` may appear in a header field name (RFC 7230 `tchar`), as Go's
/// `validHeaderFieldByte`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `key` is already canonical (or is one Go leaves unchanged).
fn needs_change(key: &str) -> bool {
    let mut upper = true;
    for b in key.bytes() {
        if !is_token_byte(b) {
            return false;
        }
        if (upper && b.is_ascii_lowercase()) || (!upper && b.is_ascii_uppercase()) {
            return key.bytes().all(is_token_byte);
        }
        upper = b == b'-';
    }
    false
}

/// Appends the canonical form of `key` to `out`: the first letter and every letter after a
/// hyphen upper-cased, the others lower-cased; `key` unchanged if it is not a token.
pub fn push_canonical(key: &str, out: &mut String) {
    if !needs_change(key) {
        out.push_str(key);
        return;
    }
    let mut upper = true;
    for b in key.bytes() {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        out.push(char::from(c));
        upper = c == b'-';
    }
}

/// The canonical name of header `key`: interned when it is a common one, otherwise written
/// to the record's text buffer.
pub fn canonical_key(key: &str, text: &mut TextBuilder) -> Text {
    if key.is_empty() {
        return Text::EMPTY;
    }
    if !needs_change(key) {
        return intern(key).map_or_else(|| text.push(key), Text::Static);
    }
    let start = text.buf().len();
    push_canonical(key, text.buf());
    if let Some(name) = text.buf().get(start..).and_then(intern) {
        text.buf().truncate(start);
        return Text::Static(name);
    }
    text.span_from(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(key: &str) -> String {
        let mut s = String::new();
        push_canonical(key, &mut s);
        s
    }

    #[test]
    fn go_canonical_mime_header_key_cases() {
        for (input, want) in [
            ("x-request-id", "X-Request-Id"),
            ("content-type", "Content-Type"),
            ("X-FOO", "X-Foo"),
            ("a-b-c", "A-B-C"),
            ("user-agent", "User-Agent"),
            ("USER-AGENT", "User-Agent"),
            ("uSER-aGENT", "User-Agent"),
            ("x-b3-traceid", "X-B3-Traceid"),
            ("foo-", "Foo-"),
            ("-foo", "-Foo"),
            ("--", "--"),
            ("foo_bar", "Foo_bar"),
            ("Foo", "Foo"),
            ("", ""),
            // Not tokens: returned unchanged.
            ("a b", "a b"),
            ("foo bar", "foo bar"),
            ("ÿ", "ÿ"),
            ("x-ÿ-id", "x-ÿ-id"),
            (":authority", ":authority"),
            ("x-foo:bar", "x-foo:bar"),
            ("C Ontent-Transfer-Encoding", "C Ontent-Transfer-Encoding"),
        ] {
            assert_eq!(canon(input), want, "{input:?}");
        }
    }

    #[test]
    fn common_names_are_interned_others_spanned() {
        let mut t = TextBuilder::default();
        assert_eq!(
            canonical_key("x-request-id", &mut t),
            Text::Static("X-Request-Id")
        );
        assert_eq!(
            canonical_key("content-type", &mut t),
            Text::Static("Content-Type")
        );
        assert_eq!(canonical_key("", &mut t), Text::EMPTY);
        assert!(t.buf().is_empty(), "interned names leave no text behind");
        let span = canonical_key("x-custom-thing", &mut t);
        assert_eq!(span, Text::Span { start: 0, len: 14 });
        assert_eq!(t.buf().as_str(), "X-Custom-Thing");
        assert_eq!(
            canonical_key("a b", &mut t),
            Text::Span { start: 14, len: 3 }
        );
        assert_eq!(t.buf().as_str(), "X-Custom-Thinga b");
    }
}
