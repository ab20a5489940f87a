//! flowctl: observe flows from a Hubble-compatible Observer API, with `hubble`'s
//! commands, flags, environment variables and config file.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use flowscope_cli::flags::{self, FilterFlags};
use flowscope_cli::list::{self, ListFormat};
use flowscope_cli::printer::color::ColorMode;
use flowscope_cli::printer::{OutputFormat, Printer, PrinterOptions, TimeFormat, TimeZone};
use flowscope_cli::request::{self, DEFAULT_FIELD_MASK, SelectorFlags};
use flowscope_cli::settings::{self, GlobalFlags, Settings};
use flowscope_cli::{client, config_command, goflags, input};
use flowscope_proto::observer::{GetNamespacesRequest, GetNodesRequest, ServerStatusRequest};
use tokio_stream::StreamExt;

mod observe_events;

/// Observe flows from flowd, Hubble or Hubble Relay.
#[derive(Parser, Debug)]
#[command(name = "flowctl", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Observe flows (history and/or live); `observe flows` is the same command.
    Observe(Box<ObserveCmd>),
    /// Health check and server status.
    Status,
    /// List namespaces or nodes.
    #[command(subcommand)]
    List(ListCmd),
    /// Modify or view the config file (hubble's config.yaml).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Display detailed version information.
    Version,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct ObserveCmd {
    #[command(subcommand)]
    sub: Option<ObserveSub>,
    #[command(flatten)]
    args: ObserveArgs,
}

#[derive(Subcommand, Debug)]
enum ObserveSub {
    /// Observe flows (the same as `observe`).
    Flows(Box<ObserveArgs>),
    /// Observe agent events (flowd's start, state and policy loads).
    AgentEvents(Box<observe_events::AgentEventsArgs>),
}

#[derive(Subcommand, Debug)]
enum ListCmd {
    /// List namespaces with recent flows.
    Namespaces {
        /// Output format: table, wide or json
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// List Hubble nodes (served by a relay only).
    #[command(alias = "node")]
    Nodes {
        /// Output format: table, wide or json
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: ListFormat,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Display merged configuration settings.
    View,
    /// Get an individual value (all of them without KEY).
    Get { key: Option<String> },
    /// Set an individual value in the config file (the default without VALUE).
    Set { key: String, value: Option<String> },
    /// Reset one or all values in the config file to their default.
    Reset { key: Option<String> },
}

#[derive(Args, Debug)]
struct ObserveArgs {
    #[command(flatten)]
    selector: SelectorFlags,
    #[command(flatten)]
    filters: FilterFlags,
    /// Output format: compact, dict, json, jsonpb or table.
    #[arg(short = 'o', long = "output", value_enum, default_value = "compact")]
    output: OutputFormat,
    /// Print the node name of each flow.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    print_node_name: bool,
    /// Print the names of the policies behind policy verdicts.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    print_policy_names: bool,
    /// Time format for compact, dict and table output: StampMilli, YearMonthDay,
    /// YearMonthDayHour, YearMonthDayHourMinute, RFC3339, RFC3339Milli, RFC3339Micro,
    /// RFC3339Nano or RFC1123Z (anything else is StampMilli, as in Hubble).
    #[arg(long, default_value = "StampMilli")]
    time_format: String,
    /// Display all information in numeric form (IP addresses instead of names).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    numeric: bool,
    /// Translate IP addresses to logical names such as pod name, FQDN, ...
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    ip_translation: bool,
    /// Colorize compact and dict output: auto, always or never.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorMode,
    /// Silently ignore errors and warnings (node status events, unreadable lines).
    #[arg(short = 's', long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    silent_errors: bool,
    /// Comma-separated flow fields to request (json/jsonpb output only).
    #[arg(long, value_delimiter = ',')]
    field_mask: Vec<String>,
    /// Read flows from a file of jsonpb lines (`-` for stdin) instead of a server; the
    /// same filters and selectors apply (no selector: every line).
    #[arg(long, value_name = "FILE")]
    input_file: Option<String>,
    /// Request only the fields that compact, dict and table output show (Hubble's default
    /// mask plus traffic_direction and policy_match_type); =false requests whole flows
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    use_default_field_masks: bool,
}

/// An environment variable, ignoring empty ones as viper does.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = run(cli, &matches).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not an error worth reporting.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("flowctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.global, env)?;
    match cli.command {
        Command::Observe(cmd) => {
            let observe_matches = matches
                .subcommand_matches("observe")
                .cloned()
                .unwrap_or_default();
            match cmd.sub {
                Some(ObserveSub::Flows(args)) => {
                    let sub = observe_matches
                        .subcommand_matches("flows")
                        .cloned()
                        .unwrap_or_default();
                    observe(*args, &sub, &settings).await
                }
                Some(ObserveSub::AgentEvents(args)) => observe_events::run(*args, &settings).await,
                None => observe(cmd.args, &observe_matches, &settings).await,
            }
        }
        Command::Status => status(&settings).await,
        Command::List(what) => list_command(what, &settings).await,
        Command::Config(cmd) => config(cmd, &settings),
        Command::Version => {
            println!(
                "flowctl v{} compiled with Rust on {}/{}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                go_arch(std::env::consts::ARCH)
            );
            Ok(())
        }
    }
}

/// Go's GOARCH name for a Rust target architecture.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn config(cmd: ConfigCmd, settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.config_path;
    match cmd {
        ConfigCmd::View | ConfigCmd::Get { key: None } => {
            print!("{}", config_command::view(settings));
        }
        ConfigCmd::Get { key: Some(key) } => print!("{}", config_command::get(settings, &key)?),
        ConfigCmd::Set { key, value } => {
            config_command::set(path, &key, value.as_deref().unwrap_or(""))?;
        }
        ConfigCmd::Reset { key } => config_command::reset(path, key.as_deref())?,
    }
    Ok(())
}

/// A gRPC error as Go's `status.Error` prints it, which is what hubble shows.
fn rpc_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("rpc error: code = {:?} desc = {}", s.code(), s.message())
}

async fn list_command(what: ListCmd, settings: &Settings) -> anyhow::Result<()> {
    settings.check_supported()?;
    let server = settings.server();
    let mut client = client::connect_with(&server, &settings.dial()).await?;
    let deadline = settings.request_timeout();
    let text = match what {
        ListCmd::Namespaces { output } => {
            let call = client.get_namespaces(GetNamespacesRequest {});
            let resp = tokio::time::timeout(deadline, call)
                .await
                .context("GetNamespaces timed out")?
                .map_err(rpc_error)?
                .into_inner();
            list::namespaces(&resp.namespaces, output)
        }
        ListCmd::Nodes { output } => {
            let call = client.get_nodes(GetNodesRequest {});
            let resp = tokio::time::timeout(deadline, call)
                .await
                .context("GetNodes timed out")?
                .map_err(rpc_error)?
                .into_inner();
            list::nodes(&resp.nodes, output)
        }
    };
    print!("{text}");
    Ok(())
}

async fn observe(
    args: ObserveArgs,
    matches: &ArgMatches,
    settings: &Settings,
) -> anyhow::Result<()> {
    let mut filters = flags::filters_from_matches(matches)?;
    // Hubble binds these two flags to viper: HUBBLE_ALLOWLIST or the config file apply
    // when the flag is not on the command line.
    for (id, list) in [
        ("allowlist", &mut filters.whitelist),
        ("denylist", &mut filters.blacklist),
    ] {
        if !flags::raw_filter_given(matches, id) {
            let values = settings::raw_filters(id, &settings.file, env);
            list.extend(flags::raw_filters(id, &values)?);
        }
    }
    if args.filters.print_raw_filters {
        print!("{}", flags::raw_filters_yaml(&filters));
        return Ok(());
    }
    if args.output == OutputFormat::Table && args.selector.follow {
        bail!("output format table is not compatible with follow mode");
    }
    let json = matches!(args.output, OutputFormat::Json | OutputFormat::Jsonpb);
    if !args.field_mask.is_empty() && !json {
        bail!(
            "{} output format is not compatible with custom field mask",
            output_name(args.output)
        );
    }
    let mask = if !args.field_mask.is_empty() {
        Some(args.field_mask.clone())
    } else if !json && args.use_default_field_masks {
        // Hubble's default mask, plus the two fields its printer needs for policy-verdict
        // flows (`policy-verdict:L3-L4 EGRESS`), which Hubble's own mask leaves out, and
        // with `--print-policy-names` the lists it prints the names from.
        let policy_lists: &[&str] = if args.print_policy_names {
            &[
                "ingress_allowed_by",
                "egress_allowed_by",
                "ingress_denied_by",
                "egress_denied_by",
            ]
        } else {
            &[]
        };
        Some(
            DEFAULT_FIELD_MASK
                .iter()
                .chain(&["traffic_direction", "policy_match_type"])
                .chain(policy_lists)
                .map(|s| s.to_string())
                .collect(),
        )
    } else {
        None
    };
    let opts = printer_options(&args, settings);
    if let Some(path) = &args.input_file {
        return observe_file(path, &args, filters, opts);
    }
    let req = request::build_request(&args.selector, filters, mask, chrono::Utc::now())?;

    settings.check_supported()?;
    let server = settings.server();
    let dial = settings.dial();
    let mut client = client::connect_with(&server, &dial).await?;
    let stream = client::first_answer(&server, dial.timeout, client.get_flows(req))
        .await?
        .map_err(status_error)?
        .into_inner();
    let stdout = std::io::stdout();
    let mut printer = Printer::with_stderr(
        opts,
        BufWriter::new(stdout.lock()),
        error_writer(args.silent_errors),
    );
    print_stream(stream, args.selector.follow, &mut printer, |p, r| {
        p.write(r)
    })
    .await
}

/// Prints a response stream with `write`, then finishes the printer. In follow mode the
/// output is flushed whenever the stream goes quiet, so lines appear promptly.
async fn print_stream<T, W: Write, E: Write>(
    stream: impl tokio_stream::Stream<Item = Result<T, tonic::Status>>,
    follow: bool,
    printer: &mut Printer<W, E>,
    mut write: impl FnMut(&mut Printer<W, E>, &T) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    tokio::pin!(stream);
    loop {
        let next = if follow {
            match tokio::time::timeout(std::time::Duration::from_millis(10), stream.next()).await {
                Ok(n) => n,
                Err(_) => {
                    printer.flush()?;
                    continue;
                }
            }
        } else {
            stream.next().await
        };
        match next {
            Some(Ok(resp)) => write(printer, &resp)?,
            Some(Err(status)) => {
                printer.finish()?;
                return Err(status_error(status));
            }
            None => break,
        }
    }
    printer.finish()?;
    Ok(())
}

/// The printer options of `observe`'s formatting flags.
fn printer_options(args: &ObserveArgs, settings: &Settings) -> PrinterOptions {
    let colorable = matches!(args.output, OutputFormat::Compact | OutputFormat::Dict);
    PrinterOptions {
        format: args.output,
        print_node_name: args.print_node_name,
        // Hubble's FormatNameToLayout: an unknown name is StampMilli, not an error.
        time_format: TimeFormat::from_name_lenient(&args.time_format),
        // --numeric turns IP translation off, as in Hubble.
        numeric: args.numeric || !args.ip_translation,
        time_zone: TimeZone::Utc,
        debug: settings.debug(),
        color: colorable && args.color.enabled(std::io::stdout().is_terminal()),
        policy_names: args.print_policy_names,
    }
}

/// Where node-status events and warnings go: stderr, or nowhere with `-s`.
fn error_writer(silent: bool) -> Box<dyn Write> {
    if silent {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stderr())
    }
}

/// Offline mode: filter and print a jsonpb file with the server's filter engine.
fn observe_file(
    path: &str,
    args: &ObserveArgs,
    filters: flags::Filters,
    opts: PrinterOptions,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let sel = &args.selector;
    let time = |s: &Option<String>| -> anyhow::Result<_> {
        Ok(match s {
            Some(s) => Some(request::parse_time(s, now)?),
            None => None,
        })
    };
    let selection = input::Selection {
        first: sel.first,
        last: sel.last,
        since: time(&sel.since)?,
        until: time(&sel.until)?,
    };
    let engine = flowscope_filter::FlowFilters::new(&filters.whitelist, &filters.blacklist)?;
    let stdout = std::io::stdout();
    let silent = args.silent_errors;
    let mut printer =
        Printer::with_stderr(opts, BufWriter::new(stdout.lock()), error_writer(silent));
    let reader: Box<dyn std::io::BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    input::read_responses(
        reader,
        &selection,
        &engine,
        |resp| printer.write(resp),
        |w| {
            if !silent {
                eprintln!("flowctl: warning: {w}");
            }
        },
    )?;
    printer.finish()?;
    Ok(())
}

async fn status(settings: &Settings) -> anyhow::Result<()> {
    settings.check_supported()?;
    let server = settings.server();
    let channel = client::channel_with(&server, &settings.dial()).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let check = tokio::time::timeout(
        settings.request_timeout(),
        health.check(tonic_health::pb::HealthCheckRequest {
            service: "hubble.server.Observer".to_string(),
        }),
    )
    .await
    .context("health check timed out")?
    .map_err(status_error)?
    .into_inner();
    let serving =
        check.status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Healthcheck (via {server}): {}",
        if serving { "Ok" } else { "Not serving" }
    )?;
    if !serving {
        bail!("server is not serving");
    }
    let mut observer = flowscope_proto::observer::observer_client::ObserverClient::new(channel);
    let st = tokio::time::timeout(
        settings.request_timeout(),
        observer.server_status(ServerStatusRequest {}),
    )
    .await
    .context("ServerStatus timed out")?
    .map_err(status_error)?
    .into_inner();
    let pct = if st.max_flows > 0 {
        st.num_flows as f64 / st.max_flows as f64 * 100.0
    } else {
        0.0
    };
    writeln!(
        out,
        "Current/Max Flows: {}/{} ({pct:.2}%)",
        thousands(st.num_flows),
        thousands(st.max_flows)
    )?;
    let rate = if st.flows_rate > 0.0 {
        st.flows_rate
    } else if st.uptime_ns > 0 {
        st.seen_flows as f64 / (st.uptime_ns as f64 / 1e9)
    } else {
        0.0
    };
    writeln!(out, "Flows/s: {rate:.2}")?;
    if let (Some(c), Some(u)) = (st.num_connected_nodes, st.num_unavailable_nodes) {
        writeln!(out, "Connected Nodes: {}/{}", c.value, c.value + u.value)?;
        if u.value > 0 {
            writeln!(out, "Unavailable Nodes: {}", u.value)?;
            for n in &st.unavailable_nodes {
                writeln!(out, "  - {n}")?;
            }
        }
    }
    Ok(())
}

/// The `-o` value as Hubble names it in messages.
fn output_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Compact => "compact",
        OutputFormat::Dict => "dict",
        OutputFormat::Json => "json",
        OutputFormat::Jsonpb => "jsonpb",
        OutputFormat::Table => "table",
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn status_error(s: tonic::Status) -> anyhow::Error {
    // Server messages (e.g. regex errors) may span lines; an error is one line here.
    let message = s.message().split_whitespace().collect::<Vec<_>>().join(" ");
    anyhow::anyhow!(
        "{}: {message}{}",
        client::code_name(s.code()),
        client::transport_cause(&s)
    )
}
