#![doc = include_str!("../README.md")]

pub mod mutate;
pub mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutate::{Rng, mutate};

/// A fuzz target: feeds one input to a decoder and drops the result. Built fresh by its
/// factory, so a panic can be replayed on a clean instance.
pub type Harness = Box<dyn FnMut(&[u8])>;

/// A named target: how to build its harness and its seed inputs.
pub struct Target {
    pub name: &'static str,
    pub make: fn() -> Harness,
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Inputs grow at most this long.
    pub max_len: usize,
}

/// How long to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub iterations: u64,
    pub time_limit: Option<Duration>,
    pub seed: u64,
    /// Where minimized crashing inputs are saved.
    pub crash_dir: PathBuf,
}

/// A panicking input, minimized.
#[derive(Debug, Clone)]
pub struct Crash {
    pub target: &'static str,
    pub input: Vec<u8>,
    pub message: String,
    pub saved: Option<PathBuf>,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: panic: {}\n  minimized input ({} bytes): {}",
            self.target,
            self.message,
            self.input.len(),
            hex(&self.input)
        )?;
        if let Some(p) = &self.saved {
            write!(f, "\n  saved to {}", p.display())?;
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub executions: u64,
    pub elapsed: Duration,
    pub crash: Option<Crash>,
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `input` on `harness`; the panic message if it panicked.
fn panics(harness: &mut Harness, input: &[u8]) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| harness(input)))
        .err()
        .map(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_string())
        })
}

thread_local! {
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silences the panic hook on this thread while inputs are expected to panic. The hook is
/// wrapped once for the whole process and stays quiet only on threads that are fuzzing, so
/// a test's own failure elsewhere still prints.
struct QuietPanics;

impl QuietPanics {
    fn new() -> Self {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !FUZZING.with(std::cell::Cell::get) {
                    prev(info);
                }
            }));
        });
        FUZZING.with(|f| f.set(true));
        QuietPanics
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        FUZZING.with(|f| f.set(false));
    }
}

/// Shrinks `input` by removing chunks (halves down to single bytes) while a fresh harness
/// still panics on it. Bounded: at most `budget` executions.
pub fn minimize(make: fn() -> Harness, input: &[u8], budget: u32) -> Vec<u8> {
    let mut best = input.to_vec();
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        while i < best.len() && runs < budget {
            let end = (i + chunk).min(best.len());
            let mut candidate = best.clone();
            candidate.drain(i..end);
            runs += 1;
            if panics(&mut make(), &candidate).is_some() {
                best = candidate;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 || runs >= budget {
            return best;
        }
        chunk = chunk.div_ceil(2);
    }
}

fn save(dir: &Path, target: &str, input: &[u8]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    // FNV-1a names the file by content, so the same crash is saved once.
    let h = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    let path = dir.join(format!("{target}-{h:016x}.bin"));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// Runs `target` for `opts.iterations` inputs (or until the time limit), the seeds first.
/// Stops at the first panic and returns it minimized.
pub fn run(target: &Target, opts: &Options) -> Report {
    let _quiet = QuietPanics::new();
    let start = Instant::now();
    let seeds = (target.seeds)();
    let mut rng = Rng::new(opts.seed);
    let mut harness = (target.make)();
    let mut executions = 0u64;
    let mut input = Vec::with_capacity(target.max_len);
    let mut crash = None;
    while executions < opts.iterations {
        if opts.time_limit.is_some_and(|t| start.elapsed() >= t) {
            break;
        }
        input.clear();
        let i = executions as usize;
        if i < seeds.len() {
            input.extend_from_slice(&seeds[i]);
        } else if !seeds.is_empty() {
            input.extend_from_slice(&seeds[rng.below(seeds.len())]);
            mutate(&mut rng, &mut input, &seeds, target.max_len);
        } else {
            mutate(&mut rng, &mut input, &seeds, target.max_len);
        }
        executions += 1;
        if let Some(message) = panics(&mut harness, &input) {
            let small = minimize(target.make, &input, 20_000);
            let message = panics(&mut (target.make)(), &small).unwrap_or(message);
            let saved = save(&opts.crash_dir, target.name, &small);
            crash = Some(Crash {
                target: target.name,
                input: small,
                message,
                saved,
            });
            break;
        }
        // A panic can leave a harness inconsistent; a fresh one every so often also keeps
        // stateful decoders (the L7 request cache) from growing without bound.
        if executions.is_multiple_of(4096) {
            harness = (target.make)();
        }
    }
    Report {
        target: target.name,
        executions,
        elapsed: start.elapsed(),
        crash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buggy() -> Harness {
        Box::new(|data: &[u8]| {
            if data.windows(3).any(|w| w == b"BUG") {
                panic!("found the bug");
            }
        })
    }

    fn buggy_seeds() -> Vec<Vec<u8>> {
        vec![b"a harmless BUF seed with padding around it".to_vec()]
    }

    #[test]
    fn finds_minimizes_reports_and_saves_a_panic() {
        let dir = std::env::temp_dir().join(format!("flowscope-fuzz-{}", std::process::id()));
        let target = Target {
            name: "toy",
            make: buggy,
            seeds: buggy_seeds,
            max_len: 256,
        };
        let report = run(
            &target,
            &Options {
                iterations: 2_000_000,
                time_limit: Some(Duration::from_secs(60)),
                seed: 1,
                crash_dir: dir.clone(),
            },
        );
        let crash = report.crash.expect("the toy bug is found");
        assert_eq!(crash.input, b"BUG");
        assert_eq!(crash.message, "found the bug");
        let saved = crash.saved.clone().expect("saved");
        assert_eq!(std::fs::read(&saved).expect("read"), b"BUG");
        assert!(
            crash
                .to_string()
                .contains("minimized input (3 bytes): 425547")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
