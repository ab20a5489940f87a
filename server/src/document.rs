//! Limits on the YAML documents flowd loads (cluster state, policy), checked before the YAML
//! parser sees them.
//!
//! The parser's time grows badly with nesting: 200 KB of `[` kept it busy for half a minute.
//! Real state and policy files nest a handful of levels, so a cheap scan that bounds the size
//! and the nesting depth rejects such input in linear time with a clear message. An empty
//! document is rejected too: it is what a reader sees in the middle of a truncate-then-write,
//! and taking it as "no endpoints" or "no rules" would wipe the state in force.

use std::io::Read;
use std::path::Path;

/// Largest document accepted (a 100,000-endpoint state file is about 12 MB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest nesting accepted: flow collections, indentation levels and `- ` sequence markers.
pub const MAX_DEPTH: usize = 64;

/// Why a document was rejected before parsing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("document is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("line {line}: nesting deeper than {MAX_DEPTH} levels")]
    TooDeep { line: usize },
    #[error(
        "document is empty (a file being rewritten in place? replace it atomically: write a \
         new file, then rename it over the old one)"
    )]
    Empty,
}

/// Reads a document of at most [`MAX_BYTES`].
pub fn read(path: &Path) -> std::io::Result<Result<String, DocumentError>> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Ok(Err(DocumentError::TooLarge));
    }
    Ok(Ok(text))
}

/// Checks size, emptiness and nesting depth.
pub fn check(text: &str) -> Result<(), DocumentError> {
    if text.len() as u64 > MAX_BYTES {
        return Err(DocumentError::TooLarge);
    }
    let mut content = false;
    // Indentation levels of the enclosing block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        let blank = body.trim().is_empty() || body.starts_with('#');
        let marker = matches!(body.trim_end(), "---" | "...");
        if quote.is_none() && flow == 0 && !blank && !marker {
            content = true;
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut seq = 0;
        let mut rest = body;
        while quote.is_none() && flow == 0 && (rest.starts_with("- ") || rest == "-") {
            seq += 1;
            rest = rest.get(1..).unwrap_or("").trim_start_matches(' ');
        }
        let mut prev = ' ';
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') if c == '\'' => {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('"') if c == '"' => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '\'' | '"' if matches!(prev, ' ' | '\t' | '[' | '{' | ',' | ':' | '-') => {
                        quote = Some(c)
                    }
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            if flow + indents.len() + seq > MAX_DEPTH {
                return Err(DocumentError::TooDeep { line: i + 1 });
            }
            prev = c;
        }
        if indents.len() + seq > MAX_DEPTH {
            return Err(DocumentError::TooDeep { line: i + 1 });
        }
    }
    if !content {
        return Err(DocumentError::Empty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_documents_pass() {
        let state = "node_name: n\nendpoints:\n  - name: a\n    labels: {app: a, 'x[': \"]{\"}\n    ips: [10.0.0.1, \"fd00::1\"]  # [[[\n";
        assert_eq!(check(state), Ok(()));
        let corpus = include_str!("../../tests/data/monitor-v1.19/cluster.json");
        assert_eq!(check(corpus), Ok(()));
    }

    #[test]
    fn deep_nesting_is_rejected_quickly() {
        let flow = "[".repeat(200_000);
        let t = std::time::Instant::now();
        assert_eq!(check(&flow), Err(DocumentError::TooDeep { line: 1 }));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(matches!(check(&block), Err(DocumentError::TooDeep { .. })));
        let seq = format!("{}x\n", "- ".repeat(100));
        assert!(matches!(check(&seq), Err(DocumentError::TooDeep { .. })));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn empty_documents_are_rejected() {
        for text in ["", "\n\n", "  \n# only a comment\n", "---\n...\n"] {
            assert_eq!(check(text), Err(DocumentError::Empty), "{text:?}");
        }
        assert_eq!(check("{}"), Ok(()));
    }
}
