//! Hubble compiles its regex filters with Go's RE2. Rust's `regex` reads the same syntax, but
//! its Perl classes are Unicode-aware where Go's are ASCII-only, and it lacks `\Q…\E`. This
//! rewrites a Go pattern into one with Go's meaning before it is compiled:
//!
//! - `\d` `\w` `\s` (and `\D` `\W` `\S`) become Go's ASCII sets (`\s` is `[\t\n\f\r ]`: no
//!   `\v`, unlike Rust's ASCII `\s`), inside or outside brackets;
//! - `\b` `\B` become ASCII word boundaries;
//! - `\Q…\E` becomes the escaped literal text, and `&` `~` in brackets are literals (Rust
//!   would read `&&` and `~~` there as set operations);
//!
//! everything else (including Unicode classes such as `\pN` and `\p{Greek}`) is passed on.

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

/// The Rust pattern with the meaning of Go pattern `p`.
pub(crate) fn translate(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars().peekable();
    // Inside a bracket expression (`[...]`), and whether its first character is next.
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    // A trailing backslash: let the compiler report it.
                    out.push('\\');
                    break;
                };
                let set = match e {
                    'd' | 'D' => Some(DIGIT),
                    'w' | 'W' => Some(WORD),
                    's' | 'S' => Some(SPACE),
                    _ => None,
                };
                match (set, in_class) {
                    (Some(set), false) => {
                        out.push('[');
                        if e.is_ascii_uppercase() {
                            out.push('^');
                        }
                        out.push_str(set);
                        out.push(']');
                    }
                    (Some(set), true) if e.is_ascii_lowercase() => out.push_str(set),
                    (Some(set), true) => {
                        // A negated class inside brackets: a nested class.
                        out.push_str("[^");
                        out.push_str(set);
                        out.push(']');
                    }
                    (None, false) if e == 'b' || e == 'B' => {
                        out.push_str("(?-u:\\");
                        out.push(e);
                        out.push(')');
                    }
                    (None, _) if e == 'Q' => {
                        // Literal text up to `\E` (or the end).
                        let mut lit = String::new();
                        while let Some(c) = chars.next() {
                            if c == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(c);
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class such as `[:alpha:]`: copied whole.
                out.push('[');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str(r"\["),
            // A `]` right after `[` or `[^` is a literal.
            ']' if in_class && at_class_start => out.push_str(r"\]"),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Rust reads `&&` and `~~` in brackets as set operations; Go as literals.
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::translate;
    use regex::Regex;

    fn re(p: &str) -> Regex {
        Regex::new(&translate(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert!(re(r"^\d+$").is_match("0123"));
        assert!(!re(r"\d").is_match("٣")); // Arabic-Indic digit three
        assert!(re(r"^\D$").is_match("٣"));
        assert!(re(r"^\w+$").is_match("abc_09"));
        assert!(!re(r"\w").is_match("é"));
        assert!(re(r"^\W$").is_match("é"));
        assert!(re(r"^\s$").is_match("\t"));
        assert!(!re(r"\s").is_match("\u{0b}")); // Go's \s has no \v
        assert!(!re(r"\s").is_match("\u{a0}"));
        assert!(re(r"^[\d\s]+$").is_match("1 2"));
        assert!(!re(r"[\d]").is_match("٣"));
        assert!(re(r"^[a\D]$").is_match("x"));
        assert!(!re(r"^[a\D]$").is_match("7"));
    }

    #[test]
    fn word_boundaries_are_ascii_as_in_go() {
        // Go: `é` is not a word character, so there is a boundary between `f` and `é`.
        assert!(re(r"caf\b").is_match("café"));
        assert!(!re(r"\bcafé\b").is_match("xcafé"));
        assert!(re(r"\Baf").is_match("café"));
        // Go: `é` is not a word character and `x` is, so there is a boundary between them.
        assert!(re(r"é\bx").is_match("éx"));
        assert!(!re(r"é\Bx").is_match("éx"));
    }

    #[test]
    fn unicode_classes_and_quoting() {
        assert!(re(r"^\pN$").is_match("٣"));
        assert!(re(r"^\p{Greek}+$").is_match("αβγ"));
        assert!(re(r"^\Qa.b*c\E$").is_match("a.b*c"));
        assert!(!re(r"^\Qa.b\E$").is_match("axb"));
        assert!(re(r"^\Q[x]").is_match("[x]"));
    }

    #[test]
    fn brackets_and_escapes_pass_through() {
        for (p, yes, no) in [
            (r"^[]a]+$", "]a]", "b"),
            (r"^[^]a]$", "b", "]"),
            (r"^[[:alpha:]]+$", "abc", "1"),
            (r"^a\.b$", "a.b", "axb"),
            (r"^\\d$", r"\d", "1"),
            (r"^[\[\]]$", "[", "a"),
            (r"(?i)^STRASSE$", "strasse", "x"),
            (r"^[a&&b]+$", "a&b", "c"),
            (r"^[~~x]$", "~", "y"),
        ] {
            let r = re(p);
            assert!(r.is_match(yes), "{p} {yes}");
            assert!(!r.is_match(no), "{p} {no}");
        }
        assert!(Regex::new(&translate(r"(")).is_err());
    }
}
