//! Every decoder and loader survives 100,000 mutated inputs without a panic. Seeded, so a
//! failure reproduces: the message carries the minimized input as hex.

use std::time::Duration;

use flowscope_fuzz::{Options, run, targets};

const INPUTS: u64 = 100_000;

fn fuzz(name: &str) {
    let target = targets::by_name(name).expect("target");
    assert!(!(target.seeds)().is_empty(), "{name} has seeds");
    let report = run(
        target,
        &Options {
            iterations: INPUTS,
            time_limit: None,
            seed: 0x5eed,
            crash_dir: std::env::temp_dir().join("flowscope-fuzz-crashes"),
        },
    );
    if let Some(crash) = report.crash {
        panic!("{crash}");
    }
    assert_eq!(report.executions, INPUTS);
    eprintln!("{name}: {INPUTS} inputs in {:?}", report.elapsed);
    assert!(report.elapsed < Duration::from_secs(120));
}

#[test]
fn l34_monitor_records() {
    fuzz("l34");
}

#[test]
fn l7_log_entries() {
    fuzz("l7");
}

#[test]
fn state_loader() {
    fuzz("state");
}

#[test]
fn policy_loader() {
    fuzz("policy");
}

#[test]
fn filter_compiler() {
    fuzz("filter");
}

#[test]
fn flowctl_input_file() {
    fuzz("input");
}
