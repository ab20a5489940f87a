//! The detail pane's text: a flow's Hubble JSON, indented two spaces per level.
//!
//! The compact JSON comes from `flowscope_proto::json` (proto field order, Go escaping);
//! re-indenting the text keeps that order, which a round trip through `serde_json::Value`
//! would lose.

use flowscope_proto::flow::Flow;

/// The flow as indented JSON lines.
pub fn flow_lines(flow: &Flow) -> Vec<String> {
    indent(&flowscope_proto::json::to_string(flow))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Re-indents compact JSON (`{"a":[1,2],"b":{}}`) like `jq .`.
pub fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Empty containers stay on one line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}
