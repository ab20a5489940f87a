//! The repository itself: self-contained (nothing read from beside the clone) and a test
//! script that reports every failure, not only the first.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "data" | "corpus" | "crashes"
            ) {
                walk(&path, out);
            }
        } else if [".rs", ".sh", ".toml"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reads_from_beside_the_repository() {
    // Spelled in pieces so this file does not match itself.
    let needles = [concat!("../", "shared"), concat!("shared/", "corpus")];
    let mut files = Vec::new();
    walk(&repo_root(), &mut files);
    assert!(files.len() > 20, "walked {} files", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            needles
                .iter()
                .any(|n| text.contains(n))
                .then(|| f.display().to_string())
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files referring outside the repository: {offenders:#?}"
    );
    let corpus = repo_root().join("tests/data/monitor-v1.19");
    for f in [
        "README.md",
        "PROVENANCE.md",
        "cluster.json",
        "events.bin",
        "expected.jsonl",
    ] {
        assert!(corpus.join(f).is_file(), "vendored corpus lacks {f}");
    }
}

const CARGO_OUTPUT: &str = r"
     Running unittests src/lib.rs (target/debug/deps/flowscope_server-0123)
running 2 tests
test identity::tests::a ... ok
test identity::tests::b ... FAILED
     Running tests/datapath.rs (target/debug/deps/datapath-4567)
running 2 tests
test paused_reader_lost_events_add_up ... FAILED
test perf_transport_delivers_the_same_flows ... ok
     Running tests/observe.rs (target/debug/deps/observe-89ab)
test follows ... ok
error: 2 targets failed:
    `-p flowscope-server --lib`
    `-p flowscope-tests --test datapath`
";

fn summarize(input: &str) -> (bool, String) {
    let mut child = Command::new(repo_root().join("scripts/test-summary.sh"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn test_script_runs_everything_and_lists_every_failure() {
    let script = std::fs::read_to_string(repo_root().join("scripts/test.sh")).unwrap();
    assert!(
        script.contains("cargo test --workspace --locked --no-fail-fast"),
        "test.sh must not stop at the first failing test binary"
    );
    assert!(script.contains("scripts/test-summary.sh"));

    let (ok, summary) = summarize(CARGO_OUTPUT);
    assert!(!ok, "failures make the summary fail");
    assert!(
        summary.contains("target/debug/deps/flowscope_server-0123): identity::tests::b"),
        "{summary}"
    );
    assert!(
        summary.contains("paused_reader_lost_events_add_up"),
        "{summary}"
    );
    assert!(
        summary.contains("`-p flowscope-tests --test datapath`"),
        "{summary}"
    );
    assert!(!summary.contains("perf_transport"), "{summary}");

    let (ok, summary) = summarize("test a ... ok\n");
    assert!(ok && summary.is_empty(), "{summary}");
}
