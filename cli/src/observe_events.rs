//! `flowctl observe agent-events`: flowd's (or a Cilium agent's) agent events, printed as
//! `hubble observe agent-events` prints them.

use std::io::BufWriter;

use anyhow::bail;
use clap::Args;
use flowscope_cli::client;
use flowscope_cli::goflags;
use flowscope_cli::printer::color::ColorMode;
use flowscope_cli::printer::{OutputFormat, Printer, PrinterOptions, TimeFormat, TimeZone};
use flowscope_cli::request::{self, SelectorFlags};
use flowscope_cli::settings::Settings;

/// The flags of `observe agent-events` (Hubble's selector, formatting and other flags that
/// apply to agent events).
#[derive(Args, Debug)]
pub struct AgentEventsArgs {
    #[command(flatten)]
    selector: SelectorFlags,
    /// Output format: compact, dict, json, jsonpb or table.
    #[arg(short = 'o', long = "output", value_enum, default_value = "compact")]
    output: OutputFormat,
    /// Print the node name of each event.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    print_node_name: bool,
    /// Time format for compact, dict and table output (the names of `observe`).
    #[arg(long, default_value = "StampMilli")]
    time_format: String,
    /// Accepted as in Hubble; agent events are never coloured.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorMode,
    /// Silently ignore errors and warnings.
    #[arg(short = 's', long, num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_parser = goflags::parse_bool,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    silent_errors: bool,
}

pub async fn run(args: AgentEventsArgs, settings: &Settings) -> anyhow::Result<()> {
    if args.output == OutputFormat::Table && args.selector.follow {
        bail!("table output format is not compatible with follow mode");
    }
    let _ = (args.color, args.silent_errors);
    let req = request::build_agent_events_request(&args.selector, chrono::Utc::now())?;
    let opts = PrinterOptions {
        format: args.output,
        print_node_name: args.print_node_name,
        time_format: TimeFormat::from_name_lenient(&args.time_format),
        time_zone: TimeZone::Utc,
        debug: settings.debug(),
        ..PrinterOptions::default()
    };

    settings.check_supported()?;
    let server = settings.server();
    let dial = settings.dial();
    let mut client = client::connect_with(&server, &dial).await?;
    let stream = client::first_answer(&server, dial.timeout, client.get_agent_events(req))
        .await?
        .map_err(crate::status_error)?
        .into_inner();
    let stdout = std::io::stdout();
    let mut printer = Printer::new(opts, BufWriter::new(stdout.lock()));
    crate::print_stream(stream, args.selector.follow, &mut printer, |p, r| {
        p.write_agent_event(r)
    })
    .await
}
