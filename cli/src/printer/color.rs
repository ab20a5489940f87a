//! Hubble's colours (`hubble/pkg/printer/color.go`, fatih/color): hosts cyan, identities
//! magenta, verdicts green / red / yellow, auth green (red for TEST_ALWAYS_FAIL). Only
//! compact and dict output are coloured; the table never is.

use flowscope_proto::flow::{AuthType, Flow, Verdict};

use super::fields::enum_name;

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const MAGENTA: &str = "35";
const CYAN: &str = "36";

/// `--color auto|always|never`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorMode {
    /// Colour when stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorMode {
    /// Whether to colour, deciding `auto` as fatih/color's `NoColor` does.
    pub fn enabled(self, stdout_is_terminal: bool) -> bool {
        match self {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
                stdout_is_terminal && !no_color && !dumb
            }
        }
    }
}

/// Wraps text in an SGR colour when enabled (`ESC[<code>m … ESC[0m`, as fatih/color).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Colorer {
    pub enabled: bool,
}

impl Colorer {
    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn host(self, text: &str) -> String {
        self.paint(CYAN, text)
    }

    pub fn identity(self, text: &str) -> String {
        self.paint(MAGENTA, text)
    }

    /// The VERDICT text of `f` (already rendered as `text`), coloured by verdict.
    pub fn verdict(self, f: &Flow, text: &str) -> String {
        match Verdict::try_from(f.verdict) {
            Ok(Verdict::Forwarded | Verdict::Redirected) => self.paint(GREEN, text),
            Ok(Verdict::Dropped | Verdict::Error) => self.paint(RED, text),
            Ok(Verdict::Audit | Verdict::Traced | Verdict::Translated) => self.paint(YELLOW, text),
            _ => text.to_string(),
        }
    }

    /// Hubble's `getSummary`: `IP Trace ID: n; ` + summary + `; Auth: TYPE`, the auth type
    /// coloured.
    pub fn summary(self, f: &Flow, escape: impl Fn(&str) -> String) -> String {
        let mut s = String::new();
        if let Some(id) = f.ip_trace_id.as_ref().filter(|id| id.trace_id > 0) {
            s.push_str(&format!("IP Trace ID: {}; ", id.trace_id));
        }
        #[allow(deprecated)] // `Summary` is deprecated upstream but is what the CLI prints.
        s.push_str(&escape(&f.summary));
        if f.auth_type != AuthType::Disabled as i32 {
            let name = enum_name!(AuthType, f.auth_type);
            let code = if f.auth_type == AuthType::TestAlwaysFail as i32 {
                RED
            } else {
                GREEN
            };
            s.push_str("; Auth: ");
            s.push_str(&self.paint(code, &escape(&name)));
        }
        s
    }
}
