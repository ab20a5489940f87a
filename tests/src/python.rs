//! A Python with grpcio for the tests that run real Python gRPC clients: a virtualenv in the
//! target directory (`target/python-venv`), made once with pip from
//! `tests/python/requirements.txt` and reused while those requirements are unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{bin_dir, wait_bounded};

/// The pinned requirements; the virtualenv keeps a copy to tell when it is stale.
const REQUIREMENTS: &str = include_str!("../python/requirements.txt");
const STAMP: &str = "flowscope-requirements.txt";
/// Bound on creating the virtualenv and on pip's install.
const VENV_LIMIT: Duration = Duration::from_secs(120);
const PIP_LIMIT: Duration = Duration::from_secs(600);

/// `tests/python` in the repository: the scripts the tests run.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The virtualenv's interpreter, with grpcio and grpcio-tools importable. Made (or remade)
/// on first use; panics with what to install if python3 or its venv/pip are missing.
pub fn grpcio_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(prepare).clone()
}

fn prepare() -> PathBuf {
    let target = bin_dir()
        .parent()
        .expect("target directory above the profile")
        .to_path_buf();
    let venv = target.join("python-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) && imports_grpc(&python) {
        return python;
    }
    let version = Command::new("python3").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "python3 is required by the grpcio tests but cannot be run ({version:?}): install \
         Python 3 with venv and pip (Debian: apt-get install python3 python3-venv)"
    );
    let log = target.join("python-venv-setup.log");
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        &log,
        VENV_LIMIT,
        "python3 -m venv (Debian needs python3-venv for pip in a virtualenv)",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(["--no-input", "--quiet", "-r"])
            .arg(scripts_dir().join("requirements.txt")),
        &log,
        PIP_LIMIT,
        "pip install of tests/python/requirements.txt (grpcio, grpcio-tools)",
    );
    assert!(
        imports_grpc(&python),
        "grpcio was installed into {} but cannot be imported",
        venv.display()
    );
    std::fs::write(&stamp, REQUIREMENTS).expect("write the requirements stamp");
    python
}

fn imports_grpc(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to completion within `limit`, its output in `log`; panics with it otherwise.
fn run(cmd: &mut Command, log: &Path, limit: Duration, what: &str) {
    let out = std::fs::File::create(log).expect("create the setup log");
    let err = out.try_clone().expect("clone the setup log");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let (done, took) = wait_bounded(child, limit);
    let output = std::fs::read_to_string(log).unwrap_or_default();
    match done {
        Some(done) if done.status.success() => {}
        Some(done) => panic!("{what} failed ({}):\n{output}", done.status),
        None => panic!("{what} did not finish within {took:?}:\n{output}"),
    }
}
