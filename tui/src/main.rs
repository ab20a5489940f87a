//! flowtop: the live terminal view of flows.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use flowscope_cli::flags;
use flowscope_tui::args::{self, Args};
use flowscope_tui::{app, term};

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let filters = match args::initial_filters(&matches) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("flowtop: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.filters.print_raw_filters {
        match filters.filters() {
            Ok(f) => print!("{}", flags::raw_filters_yaml(&f)),
            Err(e) => {
                eprintln!("flowtop: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    // Two workers: the connection task decodes flows while the UI loop handles keys.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flowtop")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flowtop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(app::run(args, filters));
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            term::restore();
            eprintln!("flowtop: {e:#}");
            ExitCode::FAILURE
        }
    }
}
