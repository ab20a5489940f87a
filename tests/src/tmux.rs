//! flowtop in a private tmux server, for end-to-end tests that type keys and read the pane.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bin;

/// A private tmux server (its own `-L` socket) with one session; killed on drop.
pub struct Tmux {
    socket: String,
    dir: PathBuf,
}

impl Tmux {
    pub fn start(dir: &Path, command: &str) -> Tmux {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let socket = format!("flowtop-it-{}-{n}", std::process::id());
        std::fs::create_dir_all(dir).unwrap();
        // Keep the pane after flowtop exits, to read its exit status and what it left.
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is needed for the flowtop tests (apt-get install tmux)"
        );
        let out = Command::new("tmux")
            .args(["-L", &socket, "-f"])
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "flowtop",
                "-x",
                "200",
                "-y",
                "50",
            ])
            .arg(command)
            .env("TERM", "xterm-256color")
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux: {}", stderr(&out));
        Tmux {
            socket,
            dir: dir.to_path_buf(),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// Keys by tmux name (`Enter`, `Escape`, `v`, `Space`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "flowtop"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys: {}", stderr(&out));
    }

    /// Literal text.
    pub fn text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "flowtop", "-l", "--", text]);
        assert!(out.status.success(), "send-keys: {}", stderr(&out));
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "flowtop"]).stdout)
            .into_owned()
    }

    pub fn format(&self, fmt: &str) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["display-message", "-p", "-t", "flowtop", fmt])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Polls the pane until `pred` holds; the pane text and how long it took.
    pub fn wait(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> (String, Duration) {
        let start = Instant::now();
        loop {
            let pane = self.capture();
            if pred(&pane) {
                return (pane, start.elapsed());
            }
            if start.elapsed() > within {
                panic!(
                    "waited {within:?} for {what}; pane:\n{pane}\nflowtop stderr:\n{}",
                    std::fs::read_to_string(self.dir.join("flowtop.err")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    pub fn wait_for(&self, within: Duration, needle: &str) -> (String, Duration) {
        self.wait(within, &format!("{needle:?}"), |p| p.contains(needle))
    }

    /// Waits for flowtop to exit; its exit status, as the shell around it saw it. (tmux
    /// 3.3 now and then misses a pane's SIGCHLD and never reports the status itself.)
    pub fn wait_exit(&self) -> String {
        let path = self.dir.join("flowtop.status");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(status) = std::fs::read_to_string(&path)
                && status.ends_with('\n')
            {
                return status.trim().to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("flowtop did not exit; pane:\n{}", self.capture());
    }

    /// flowtop's pid: the child of the pane's shell.
    pub fn flowtop_pid(&self) -> String {
        let sh = self.format("#{pane_pid}");
        let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).unwrap();
        let pid = children.split_whitespace().next().unwrap().to_string();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "flowtop");
        pid
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only the tmux server this test started, by its private socket. (A failure has
        // already printed the pane and flowtop's stderr.)
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shell command tmux runs: flowtop with `args`, stderr to a file, then its exit status
/// to `flowtop.status`.
pub fn flowtop_command(dir: &Path, args: &[&str]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut cmd = quote(&bin("flowtop").display().to_string());
    for a in args {
        cmd.push(' ');
        cmd.push_str(&quote(a));
    }
    let err = quote(&dir.join("flowtop.err").display().to_string());
    let status = quote(&dir.join("flowtop.status").display().to_string());
    format!("{cmd} 2>{err}; echo $? >{status}")
}
