//! Hubble's JSON line encoding: what Go's `json.Encoder` does on top of protojson.
//!
//! The generated serde impls already give proto field names, declaration-order keys, enum
//! names, 64-bit integers as strings and omitted zero values. Go's encoder additionally
//! escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings and ends every object with `\n`.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

/// A compact formatter that escapes HTML-significant characters as Go's encoder does.
#[derive(Debug, Default, Clone, Copy)]
pub struct GoJsonFormatter;

impl Formatter for GoJsonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let escaped: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(escaped)?;
            start = i + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        CompactFormatter.write_char_escape(writer, char_escape)
    }
}

/// Writes `value` as one compact, HTML-escaped JSON object followed by `\n`.
pub fn write_line<W: io::Write, T: Serialize + ?Sized>(
    writer: &mut W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *writer, GoJsonFormatter);
    value.serialize(&mut ser)?;
    writer.write_all(b"\n").map_err(serde_json::Error::io)
}

/// [`write_line`] into a fresh `String` (without the trailing newline).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut buf = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoJsonFormatter);
    // Serializing generated messages into memory cannot fail: every map key is a string.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_like_go() {
        let s = to_string(&serde_json::json!({"u": "a&b<c>d\u{2028}\"\n"}));
        assert_eq!(s, r#"{"u":"a\u0026b\u003cc\u003ed\u2028\"\n"}"#);
    }

    #[test]
    fn line_ends_with_newline() {
        let mut out = Vec::new();
        write_line(&mut out, &serde_json::json!({"k": 1})).expect("write");
        assert_eq!(out, b"{\"k\":1}\n");
    }
}

#[cfg(test)]
mod enum_tests {
    use crate::flow::Flow;

    #[test]
    fn unknown_enum_values_are_written_as_numbers() {
        let f = Flow {
            verdict: 1,
            drop_reason_desc: 159,
            ..Default::default()
        };
        assert_eq!(
            super::to_string(&f),
            r#"{"verdict":"FORWARDED","drop_reason_desc":159}"#
        );
    }

    #[test]
    fn lb6_loopback_snat_debug_events_have_cilium_names() {
        use crate::flow::{DebugEvent, DebugEventType};
        assert_eq!(
            DebugEventType::try_from(67),
            Ok(DebugEventType::DbgLb6LoopbackSnat)
        );
        assert_eq!(
            DebugEventType::DbgLb6LoopbackSnatRev.as_str_name(),
            "DBG_LB6_LOOPBACK_SNAT_REV"
        );
        let ev = DebugEvent {
            r#type: 68,
            ..Default::default()
        };
        assert_eq!(
            super::to_string(&ev),
            r#"{"type":"DBG_LB6_LOOPBACK_SNAT_REV"}"#
        );
    }
}
