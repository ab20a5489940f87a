//! Harness for the integration tests: runs the real `flowd` and `flowctl` binaries in a
//! private temporary directory, feeds flowd through its real access-log socket and talks to
//! it over its real gRPC API.

#![allow(clippy::unwrap_used)] // test support: failing loudly is the point

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_server::source::accesslog::producer::Producer;
use tonic::transport::Channel;

/// The directory holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test-binary>
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Path of a workspace binary; it must have been built (`cargo build --workspace --bins`).
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: build the binaries first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running flowd in its own temporary directory; killed and cleaned up on drop.
pub struct Flowd {
    child: Child,
    pub dir: PathBuf,
    pub access_log: PathBuf,
    pub grpc_socket: PathBuf,
    pub metrics_port: u16,
    pub state_file: PathBuf,
}

pub struct FlowdOptions<'a> {
    pub state_yaml: &'a str,
    pub buffer_capacity: u64,
    pub extra_args: Vec<String>,
}

impl Default for FlowdOptions<'_> {
    fn default() -> Self {
        FlowdOptions {
            state_yaml: "node_name: test-node\nendpoints: []\n",
            buffer_capacity: 4095,
            extra_args: Vec::new(),
        }
    }
}

impl Flowd {
    pub fn start(opts: FlowdOptions<'_>) -> Flowd {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("flowscope-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state_file = dir.join("state.yaml");
        std::fs::write(&state_file, opts.state_yaml).unwrap();
        let access_log = dir.join("run/access_log.sock");
        let grpc_socket = dir.join("hubble.sock");
        let metrics_port = free_port();
        let log = std::fs::File::create(dir.join("flowd.log")).unwrap();
        let child = Command::new(bin("flowd"))
            .arg("--listen-address=")
            .arg(format!("--unix-socket={}", grpc_socket.display()))
            .arg(format!("--access-log-socket={}", access_log.display()))
            .arg(format!("--state={}", state_file.display()))
            .arg(format!("--buffer-capacity={}", opts.buffer_capacity))
            .arg(format!("--metrics-address=127.0.0.1:{metrics_port}"))
            .args(&opts.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let f = Flowd {
            child,
            dir,
            access_log,
            grpc_socket,
            metrics_port,
            state_file,
        };
        f.wait_ready();
        f
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.access_log.exists() && self.grpc_socket.exists() && self.metrics().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("flowd did not start; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("flowd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `unix://` address for flowctl's `--server`.
    pub fn server_arg(&self) -> String {
        format!("unix://{}", self.grpc_socket.display())
    }

    pub fn producer(&self) -> Producer {
        Producer::connect(&self.access_log).unwrap()
    }

    /// The text of `/metrics`, or None if it cannot be fetched.
    pub fn metrics(&self) -> Option<String> {
        http_get(self.metrics_port, "/metrics")
    }

    /// The value of one sample line of `/metrics` (exact series text before the value).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics()?;
        text.lines().find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
    }

    /// Waits until `series` reaches at least `value`.
    pub fn wait_metric(&self, series: &str, value: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(series).unwrap_or(0.0);
            if v >= value || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A gRPC channel over the unix socket (flowctl's own connector).
    pub async fn channel(&self) -> Channel {
        flowscope_cli::client::channel(&self.server_arg())
            .await
            .unwrap()
    }

    /// An Observer client over the unix socket.
    pub async fn client(&self) -> ObserverClient<Channel> {
        ObserverClient::new(self.channel().await)
    }

    /// Runs `flowctl` with `args` against this flowd.
    pub fn flowctl(&self, args: &[&str]) -> Output {
        Command::new(bin("flowctl"))
            .args(args)
            .arg("--server")
            .arg(self.server_arg())
            .env("TZ", "UTC")
            .output()
            .unwrap()
    }
}

impl Drop for Flowd {
    fn drop(&mut self) {
        // End only the process this harness started, by its pid.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Minimal HTTP/1.0 GET on loopback.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_string())
}
