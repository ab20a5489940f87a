//! `flowscope-fuzz [--target NAME|all] [--iterations N] [--seconds S] [--seed N]`: runs the
//! targets at length; exits 1 and prints the minimized input (hex) on the first panic.

use std::time::Duration;

use anyhow::{Context, bail};
use flowscope_fuzz::{Options, run, targets};

fn main() -> anyhow::Result<()> {
    let mut names: Vec<String> = Vec::new();
    let mut iterations = u64::MAX;
    let mut seconds = None;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--target" => names.push(value("--target")?),
            "--iterations" => iterations = value("--iterations")?.parse()?,
            "--seconds" => seconds = Some(value("--seconds")?.parse::<u64>()?),
            "--seed" => seed = value("--seed")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "flowscope-fuzz [--target NAME|all]... [--iterations N] [--seconds S] [--seed N]\ntargets: {}",
                    targets::ALL
                        .iter()
                        .map(|t| t.name)
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if seconds.is_none() && iterations == u64::MAX {
        iterations = 1_000_000;
    }
    if names.is_empty() || names.iter().any(|n| n == "all") {
        names = targets::ALL.iter().map(|t| t.name.to_string()).collect();
    }
    let crash_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
    let mut failed = false;
    for name in &names {
        let target = targets::by_name(name).with_context(|| format!("no target {name:?}"))?;
        let report = run(
            target,
            &Options {
                iterations,
                time_limit: seconds.map(Duration::from_secs),
                seed,
                crash_dir: crash_dir.clone(),
            },
        );
        let rate = report.executions as f64 / report.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<7} {:>10} inputs in {:>7.1?} ({rate:.0}/s){}",
            report.target,
            report.executions,
            report.elapsed,
            if report.crash.is_some() {
                "  PANIC"
            } else {
                ""
            }
        );
        if let Some(crash) = report.crash {
            println!("{crash}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
