//! The command line: `flowtop [--server ADDR] [--tls…] [--buffer-size N] [filter flags]`.
//!
//! The filter flags are flowctl's own [`FilterFlags`]; their values become the initial
//! free-form filter line, so they stay visible and editable in the UI and go through the
//! same parser as everything typed later.

use clap::{ArgMatches, Args as _, Command, Parser};
use flowscope_cli::flags::{self, FilterFlags, FlagError};

use crate::state::{Config, FilterState, quote};

/// flowtop: live flows from flowd, Hubble or Hubble Relay, with interactive filters and a
/// request-trace view.
#[derive(Parser, Debug)]
#[command(name = "flowtop", version)]
pub struct Args {
    /// Observer API address: host:port, tls://host:port or unix:///path.
    #[arg(long, env = "FLOWTOP_SERVER", default_value = "localhost:4244")]
    pub server: String,

    #[command(flatten)]
    pub tls: TlsFlags,

    /// Rows kept in the client buffer; older rows are dropped (and counted as dropped).
    #[arg(long, value_name = "ROWS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub buffer_size: u64,

    /// Flows of history loaded on start and after every filter change (at most
    /// --buffer-size).
    #[arg(long, value_name = "FLOWS", default_value_t = 1_000)]
    pub history: u64,

    /// Most frames drawn per second (the render budget); keys are always handled at once.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=240))]
    pub fps: u64,

    #[command(flatten)]
    pub filters: FilterFlags,
}

/// Hubble's TLS flags, as flowctl takes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsFlags {
    /// Use TLS to connect to the server (also selected by a tls:// address).
    #[arg(long)]
    pub tls: bool,
    /// Accept any server certificate (the connection is still encrypted).
    #[arg(long)]
    pub tls_allow_insecure: bool,
    /// CA certificates (PEM; repeatable or comma-separated) to trust instead of the system's.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub tls_ca_cert_files: Vec<String>,
    /// Client certificate (PEM) for mutual TLS, with --tls-client-key-file.
    #[arg(long, value_name = "FILE", default_value = "")]
    pub tls_client_cert_file: String,
    /// Private key (PEM) of --tls-client-cert-file.
    #[arg(long, value_name = "FILE", default_value = "")]
    pub tls_client_key_file: String,
    /// The name the server's certificate is checked against (default: the address's host).
    #[arg(long, default_value = "")]
    pub tls_server_name: String,
}

impl Args {
    /// How to reach the server: Hubble's CLI timeout and the TLS flags.
    pub fn dial(&self) -> flowscope_cli::client::Dial {
        let t = &self.tls;
        flowscope_cli::client::Dial {
            timeout: flowscope_cli::client::DIAL_TIMEOUT,
            tls: flowscope_cli::tls::TlsOptions {
                enabled: t.tls,
                allow_insecure: t.tls_allow_insecure,
                ca_cert_files: t.tls_ca_cert_files.clone(),
                client_cert_file: t.tls_client_cert_file.clone(),
                client_key_file: t.tls_client_key_file.clone(),
                server_name: t.tls_server_name.clone(),
            },
        }
    }

    pub fn config(&self) -> Config {
        Config {
            server: self.server.clone(),
            buffer_size: usize::try_from(self.buffer_size).unwrap_or(usize::MAX),
            history: self.history,
        }
    }
}

/// The filter flags of `m`, validated, as the initial [`FilterState`] (its line).
pub fn initial_filters(m: &ArgMatches) -> Result<FilterState, FlagError> {
    // Validate exactly as flowctl does (conflicts, bad values, trailing --not).
    flags::filters_from_matches(m)?;
    Ok(FilterState {
        line: filter_line(m),
        ..Default::default()
    })
}

/// The filter flags of `m` in argv order, quoted for the filter line.
pub fn filter_line(m: &ArgMatches) -> String {
    let cmd = FilterFlags::augment_args(Command::new("flowtop"));
    let mut words: Vec<(usize, String)> = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        if id == "print_raw_filters" {
            continue;
        }
        let takes_value = arg.get_num_args().is_none_or(|r| r.takes_values());
        let (Ok(Some(values)), Some(indices)) = (m.try_get_many::<String>(id), m.indices_of(id))
        else {
            continue;
        };
        for (index, value) in indices.zip(values) {
            let word = if takes_value {
                format!("--{long} {}", quote(value))
            } else {
                format!("--{long}")
            };
            words.push((index, word));
        }
    }
    words.sort_by_key(|(i, _)| *i);
    words
        .into_iter()
        .map(|(_, w)| w)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::{CommandFactory, FromArgMatches};
    use flowscope_cli::flags::parse_filter_line;

    use super::*;

    fn matches(argv: &[&str]) -> ArgMatches {
        Args::command()
            .try_get_matches_from(std::iter::once("flowtop").chain(argv.iter().copied()))
            .unwrap()
    }

    #[test]
    fn command_line_filters_become_the_filter_line() {
        let argv = [
            "--server",
            "unix:///tmp/h.sock",
            "--identity",
            "ingress",
            "--not",
            "--verdict",
            "DROPPED",
            "--http-path",
            "/api/v1 .*",
            "-4",
            "--http-header",
            "X-Request-Id:it's",
            "--buffer-size",
            "50",
        ];
        let m = matches(&argv);
        let line = filter_line(&m);
        assert_eq!(
            line,
            r"--identity ingress --not --verdict DROPPED --http-path '/api/v1 .*' --ipv4 --http-header 'X-Request-Id:it'\''s'"
        );
        // The line means exactly what the flags mean to flowctl.
        assert_eq!(
            parse_filter_line(&line).unwrap(),
            flags::filters_from_matches(&m).unwrap()
        );
        let state = initial_filters(&m).unwrap();
        assert_eq!(state.line, line);
        let args = Args::from_arg_matches(&m).unwrap();
        assert_eq!(args.config().buffer_size, 50);
        assert_eq!(args.config().server, "unix:///tmp/h.sock");
    }

    #[test]
    fn invalid_filters_are_rejected_like_flowctl() {
        let m = matches(&["--ip", "1.1.1.1", "--from-ip", "2.2.2.2"]);
        assert_eq!(
            initial_filters(&m).unwrap_err().to_string(),
            "filters --ip and --from-ip cannot be combined"
        );
        let m = matches(&["--verdict", "DROPPED", "--not"]);
        assert!(initial_filters(&m).is_err());
        assert!(
            Args::command()
                .try_get_matches_from(["flowtop", "--buffer-size", "0"])
                .is_err()
        );
    }

    #[test]
    fn no_filters_no_line() {
        let m = matches(&[]);
        assert_eq!(initial_filters(&m).unwrap(), FilterState::default());
    }
}
