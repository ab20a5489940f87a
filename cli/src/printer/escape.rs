//! Neutralising untrusted strings before they reach a terminal.
//!
//! Pod names, URLs, summaries and the like come from the server (and ultimately from
//! workloads), so a flow could carry terminal control sequences. Hubble replaces ESC with
//! `^[` and CR with `\r` on everything it prints in the text formats; we do the same for
//! those two (so output stays byte-identical) and additionally make every other control
//! character visible: the rest of C0 and DEL as `\xNN` (`\n`, `\t` as such, which also keeps
//! dict lines and table cells intact) and C1 as `\u00NN`.

use std::borrow::Cow;
use std::fmt::Write as _;

fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (general category Cc)
}

/// Makes every control character of `s` visible; borrows when there is none.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("^["),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether Go's `unicode.IsPrint` would (approximately) call `c` printable: no controls,
/// no separators other than ASCII space, no invisible format characters.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        u32::from(c),
        0x00AD
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF
            | 0xF0000..=0x10FFFF
    )
}

/// Go's `strconv.Quote` (used by Hubble for node-status error messages).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if u32::from(c) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_borrowed() {
        assert!(matches!(
            terminal("default/pod-1:8080 ünïcode"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(terminal("a\x1b[31mred\x1b[0m"), "a^[[31mred^[[0m");
        assert_eq!(terminal("x\ry"), "x\\ry");
        assert_eq!(terminal("x\ny\tz"), "x\\ny\\tz");
        assert_eq!(terminal("\x00\x07\x7f"), "\\x00\\x07\\x7f");
        assert_eq!(terminal("\u{9b}31m\u{85}"), "\\u009b31m\\u0085");
        // Non-control Unicode passes through.
        assert_eq!(terminal("naïve ☃"), "naïve ☃");
    }

    #[test]
    fn go_quote_matches_strconv() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("invalid IP \"foo\""), "\"invalid IP \\\"foo\\\"\"");
        assert_eq!(go_quote("a\\b\n\t\r\x07"), "\"a\\\\b\\n\\t\\r\\a\"");
        assert_eq!(go_quote("\x1b[1m"), "\"\\x1b[1m\"");
        assert_eq!(
            go_quote("\u{85}\u{a0}\u{202e}"),
            "\"\\u0085\\u00a0\\u202e\""
        );
        assert_eq!(go_quote("\u{10ffff}"), "\"\\U0010ffff\"");
        assert_eq!(go_quote("héllo ☃"), "\"héllo ☃\"");
    }
}
