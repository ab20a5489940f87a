//! The README's labs end to end: network namespaces, real traffic, flows checked by the
//! script, and nothing left behind. The single-node lab goes through the ingress proxy;
//! the multi-node one (`--nodes 3`) through flowrelay over three nodes.

use std::process::Command;
use std::time::{Duration, Instant};

use flowscope_tests::netns::is_root;
use flowscope_tests::tmux::Tmux;

/// One lab at a time: each loads the 2 cores with its nodes and traffic.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `scripts/lab.sh ARGS`, expects success; returns its `lab check:` line.
fn run_lab(args: &[&str]) -> String {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join("scripts/lab.sh"))
        .args(args)
        .output()
        .expect("run lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lab failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find(|l| l.starts_with("lab check:"))
        .unwrap_or_else(|| panic!("no check line:\n{stdout}"))
        .to_string()
}

/// No namespace of a lab (`fl<pid>-<suffix>`) is left.
fn assert_nothing_left(suffix: &str) {
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let left = String::from_utf8_lossy(&netns.stdout);
    assert!(
        !left
            .lines()
            .any(|l| l.starts_with("fl")
                && l.split_whitespace().next().unwrap_or("").ends_with(suffix)),
        "namespaces left behind: {left}"
    );
}

#[test]
fn lab_runs_real_traffic_in_namespaces_and_cleans_up() {
    if !is_root() {
        eprintln!("skipped: the lab needs root for network namespaces");
        return;
    }
    let check = run_lab(&["--check", "--rounds", "5", "--no-build"]);
    assert!(check.ends_with("(want >= 5 each)"), "{check}");
    assert_nothing_left("-router");
}

#[test]
fn multi_node_lab_shows_every_node_through_the_relay_and_cleans_up() {
    if !is_root() {
        eprintln!("skipped: the lab needs root for network namespaces");
        return;
    }
    let check = run_lab(&["--nodes", "3", "--check", "--rounds", "3", "--no-build"]);
    assert!(check.contains("nodes=3 connected=3 "), "{check}");
    for (node, client) in [(1, "10.98.12.2"), (2, "10.98.22.2"), (3, "10.98.32.2")] {
        let flows = check
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("lab-node-{node}=")))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no flows of lab-node-{node}: {check}"));
        assert!(flows >= 3, "{check}");
        assert!(check.contains(&format!("cross:{client}=2 ")), "{check}");
    }
    assert_nothing_left("-ctl");
}

/// The multi-node demo as a user runs it: flowtop through the relay, live, in a terminal;
/// `q` ends it and the lab tears itself down.
#[test]
fn multi_node_demo_shows_flowtop_through_the_relay() {
    if !is_root() {
        eprintln!("skipped: the lab needs root for network namespaces");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = flowscope_tests::temp_dir("lab-demo");
    let status = dir.join("lab.status");
    let tmux = Tmux::start(
        &dir,
        &format!(
            "'{}' --nodes 3 --rounds 300 --no-build; echo $? >'{}'",
            root.join("scripts/lab.sh").display(),
            status.display()
        ),
    );
    // The header is the relay's (three nodes' rings of 4095), the rows every node's clients.
    let (pane, _) = tmux.wait(Duration::from_secs(240), "flows of three nodes", |p| {
        p.contains("10.98.0.100:4245")
            && p.contains("● connected")
            && p.contains("/12285 ")
            && (1..=3).all(|i| p.contains(&format!("default/client-{i}")))
    });
    assert!(pane.contains("FORWARDED"), "{pane}");
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && s.ends_with('\n')
        {
            break s.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the lab did not end:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, "0", "{}", tmux.capture());
    assert_nothing_left("-ctl");
}
