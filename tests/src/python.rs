//! Python virtualenvs for the tests that run real Python tools: each lives in the target
//! directory, is made once with pip from a pinned requirements file and reused while those
//! requirements are unchanged. A file lock keeps two test processes from building the same
//! one at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{bin_dir, wait_bounded};

const STAMP: &str = "flowscope-requirements.txt";
/// Bound on creating a virtualenv and on pip's install.
const VENV_LIMIT: Duration = Duration::from_secs(120);
const PIP_LIMIT: Duration = Duration::from_secs(600);

/// `tests/python` in the repository: the scripts the tests run.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The grpcio test's interpreter (`target/python-venv`), with grpcio and grpcio-tools
/// importable, from `tests/python/requirements.txt`.
pub fn grpcio_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            Venv {
                name: "python-venv",
                requirements: &scripts_dir().join("requirements.txt"),
                probe: "import grpc, grpc_tools.protoc",
            }
            .prepare()
        })
        .clone()
}

/// A virtualenv under the target directory.
pub struct Venv<'a> {
    /// Its directory name in the target directory.
    pub name: &'a str,
    /// The pinned requirements file pip installs.
    pub requirements: &'a Path,
    /// Python code that succeeds when the packages are usable.
    pub probe: &'a str,
}

impl Venv<'_> {
    /// The virtualenv's interpreter, (re)made if its requirements changed or the probe
    /// fails; panics with what to install if python3 or its venv/pip are missing.
    pub fn prepare(&self) -> PathBuf {
        let target = bin_dir()
            .parent()
            .expect("target directory above the profile")
            .to_path_buf();
        let venv = target.join(self.name);
        let python = venv.join("bin/python");
        let requirements = std::fs::read_to_string(self.requirements)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.requirements.display()));
        let lock = std::fs::File::create(target.join(format!("{}.lock", self.name)))
            .expect("create the virtualenv lock file");
        // Held until this function returns: another test process waits here while this one
        // builds, then finds the virtualenv ready.
        lock.lock().expect("lock the virtualenv");
        let stamp = venv.join(STAMP);
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) && self.works(&python) {
            return python;
        }
        let version = Command::new("python3").arg("--version").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "python3 is required by this test but cannot be run ({version:?}): install \
             Python 3 with venv and pip (Debian: apt-get install python3 python3-venv)"
        );
        let log = target.join(format!("{}-setup.log", self.name));
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
                .arg(self.requirements),
            &log,
            PIP_LIMIT,
            &format!("pip install -r {}", self.requirements.display()),
        );
        assert!(
            self.works(&python),
            "{} was installed into {} but `{}` fails",
            self.requirements.display(),
            venv.display(),
            self.probe
        );
        std::fs::write(&stamp, requirements).expect("write the requirements stamp");
        python
    }

    fn works(&self, python: &Path) -> bool {
        Command::new(python)
            .args(["-c", self.probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
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
