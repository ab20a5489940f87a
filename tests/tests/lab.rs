//! The README's lab end to end: network namespaces, real HTTP through the ingress proxy,
//! flows checked by the script, and nothing left behind.

use std::process::Command;

#[test]
fn lab_runs_real_traffic_in_namespaces_and_cleans_up() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("skipped: the lab needs root for network namespaces");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join("scripts/lab.sh"))
        .args(["--check", "--rounds", "5"])
        .output()
        .expect("run lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lab failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = stdout
        .lines()
        .find(|l| l.starts_with("lab check:"))
        .unwrap_or_else(|| panic!("no check line:\n{stdout}"));
    assert!(check.ends_with("(want >= 5 each)"), "{check}");
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let left = String::from_utf8_lossy(&netns.stdout);
    assert!(
        !left
            .lines()
            .any(|l| l.starts_with("fl") && l.contains("-router")),
        "namespaces left behind: {left}"
    );
}
