//! flowctl: observe flows from a Hubble-compatible Observer API.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use flowscope_cli::client;
use flowscope_cli::flags::{self, FilterFlags};
use flowscope_cli::goflags;
use flowscope_cli::input;
use flowscope_cli::printer::{OutputFormat, Printer, PrinterOptions, TimeFormat, TimeZone};
use flowscope_cli::request::{self, DEFAULT_FIELD_MASK, SelectorFlags};
use flowscope_proto::observer::ServerStatusRequest;
use tokio_stream::StreamExt;

/// Observe flows from flowd, Hubble or Hubble Relay.
#[derive(Parser, Debug)]
#[command(name = "flowctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Observe flows (history and/or live).
    Observe(Box<ObserveArgs>),
    /// Health check and server status.
    Status(ServerArgs),
}

#[derive(Args, Debug, Clone)]
struct ServerArgs {
    /// Observer API address: host:port or unix:///path.
    #[arg(
        long,
        env = "FLOWCTL_SERVER",
        default_value = "localhost:4244",
        global = true
    )]
    server: String,
    /// Hubble server dialing timeout: how long to wait for the connection and the server's
    /// first answer (a Go duration such as 5s or 1m30s)
    #[arg(long, global = true, value_name = "DURATION", default_value = "5s",
          value_parser = goflags::parse_duration)]
    timeout: Duration,
    /// Unary request timeout. Only applies to non-streaming RPCs (ServerStatus, ...)
    #[arg(long, global = true, value_name = "DURATION", default_value = "12s",
          value_parser = goflags::parse_duration)]
    request_timeout: Duration,
}

#[derive(Args, Debug)]
struct ObserveArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    selector: SelectorFlags,
    #[command(flatten)]
    filters: FilterFlags,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "compact")]
    output: OutputFormat,
    /// Print the node name of each flow.
    #[arg(long)]
    print_node_name: bool,
    /// Time format for compact, dict and table output.
    #[arg(long, default_value = "StampMilli")]
    time_format: String,
    /// Show IP addresses instead of pod names.
    #[arg(long)]
    numeric: bool,
    /// Flow fields to request (json/jsonpb output only).
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Observe(args) => {
            let sub = matches
                .subcommand_matches("observe")
                .cloned()
                .unwrap_or_default();
            observe(*args, &sub).await
        }
        Command::Status(args) => status(&args).await,
    };
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

async fn observe(args: ObserveArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    let filters = flags::filters_from_matches(matches)?;
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
        // flows (`policy-verdict:L3-L4 EGRESS`), which Hubble's own mask leaves out.
        Some(
            DEFAULT_FIELD_MASK
                .iter()
                .chain(&["traffic_direction", "policy_match_type"])
                .map(|s| s.to_string())
                .collect(),
        )
    } else {
        None
    };
    let time_format: TimeFormat = args
        .time_format
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid --time-format: {e}"))?;
    if let Some(path) = &args.input_file {
        return observe_file(path, &args, filters, time_format);
    }
    let req = request::build_request(&args.selector, filters, mask, chrono::Utc::now())?;

    let server = &args.server.server;
    let dial = args.server.timeout;
    let mut client = client::connect_with_timeout(server, dial).await?;
    let stream = client::first_answer(server, dial, client.get_flows(req))
        .await?
        .map_err(status_error)?
        .into_inner();
    let opts = PrinterOptions {
        format: args.output,
        print_node_name: args.print_node_name,
        time_format,
        numeric: args.numeric,
        time_zone: TimeZone::Utc,
        debug: false,
    };
    let stdout = std::io::stdout();
    let mut printer = Printer::with_stderr(opts, BufWriter::new(stdout.lock()), std::io::stderr());
    let follow = args.selector.follow;
    tokio::pin!(stream);
    loop {
        // In follow mode, flush whenever the stream goes quiet so lines appear promptly.
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
            Some(Ok(resp)) => printer.write(&resp)?,
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

/// Offline mode: filter and print a jsonpb file with the server's filter engine.
fn observe_file(
    path: &str,
    args: &ObserveArgs,
    filters: flags::Filters,
    time_format: TimeFormat,
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
    let opts = PrinterOptions {
        format: args.output,
        print_node_name: args.print_node_name,
        time_format,
        numeric: args.numeric,
        time_zone: TimeZone::Utc,
        debug: false,
    };
    let stdout = std::io::stdout();
    let mut printer = Printer::with_stderr(opts, BufWriter::new(stdout.lock()), std::io::stderr());
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
        |w| eprintln!("flowctl: warning: {w}"),
    )?;
    printer.finish()?;
    Ok(())
}

async fn status(args: &ServerArgs) -> anyhow::Result<()> {
    let server = args.server.as_str();
    let channel = client::channel_with_timeout(server, args.timeout).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let check = tokio::time::timeout(
        args.request_timeout,
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
        args.request_timeout,
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
    anyhow::anyhow!("{}: {message}", code_name(s.code()))
}

fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::Unavailable => "server unavailable",
        tonic::Code::Unimplemented => "not implemented by the server",
        tonic::Code::DeadlineExceeded => "deadline exceeded",
        _ => "request failed",
    }
}
