//! Harness for the integration tests: runs the real `flowd` and `flowctl` binaries in a
//! private temporary directory, feeds flowd through its real access-log socket and talks to
//! it over its real gRPC API.

#![allow(clippy::unwrap_used)] // test support: failing loudly is the point

pub mod dnsmasq;
pub mod fake_observer;
pub mod grafana;
pub mod kube;
pub mod netns;
pub mod pki;
pub mod python;
pub mod relay;
pub mod tmux;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flowscope_proto::observer::observer_client::ObserverClient;
use flowscope_server::source::accesslog::producer::Producer;
use tonic::transport::Channel;

/// A node with bookinfo's productpage (10.244.1.9) and details (10.244.1.7) pods.
pub const BOOKINFO_STATE: &str = r#"
node_name: kind-worker
cluster_name: default
endpoints:
  - name: productpage-v1-6b746f74dc-9stvq
    namespace: default
    labels: {app: productpage}
    ips: [10.244.1.9]
    identity: 25000
    endpoint_id: 1234
    workload: productpage-v1
  - name: details-v1-79f774bdb9-x2x4k
    namespace: default
    labels: {app: details, version: v1}
    ips: [10.244.1.7]
    identity: 25001
    endpoint_id: 2345
    workload: details-v1
"#;

/// Runs flowd with `--metrics <spec>` and no listeners, expecting it to refuse to start;
/// returns its standard error.
pub fn flowd_refusing_metrics(spec: &str) -> String {
    let dir = temp_dir("badmetrics");
    let out = Command::new(bin("flowd"))
        .arg("--listen-address=")
        .arg("--unix-socket=")
        .arg("--metrics-address=")
        .arg(format!(
            "--access-log-socket={}",
            dir.join("access_log.sock").display()
        ))
        .arg("--metrics")
        .arg(spec)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success(), "{spec}: started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The directory holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    // Test binaries live in target/<profile>/deps; other binaries next to flowd.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap().to_path_buf()
    } else {
        dir.to_path_buf()
    }
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
    /// The network namespace flowd runs in, if any.
    pub netns: Option<String>,
}

pub struct FlowdOptions<'a> {
    pub state_yaml: &'a str,
    pub buffer_capacity: u64,
    pub extra_args: Vec<String>,
    /// Run flowd inside this (existing) network namespace.
    pub netns: Option<String>,
    /// Shell commands run before flowd is exec'd in the same process (e.g. `umask 000`).
    pub shell_setup: Option<&'a str>,
}

impl Default for FlowdOptions<'_> {
    fn default() -> Self {
        FlowdOptions {
            state_yaml: "node_name: test-node\nendpoints: []\n",
            buffer_capacity: 4095,
            extra_args: Vec::new(),
            netns: None,
            shell_setup: None,
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
        let mut cmd = match (&opts.netns, opts.shell_setup) {
            (Some(ns), _) => {
                assert!(
                    opts.shell_setup.is_none(),
                    "shell_setup is not for namespaces"
                );
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("flowd"));
                c
            }
            (None, Some(setup)) => {
                // exec keeps the pid, so the harness still ends flowd itself by its pid.
                let mut c = Command::new("sh");
                c.args(["-c", &format!("{setup}; exec \"$0\" \"$@\"")])
                    .arg(bin("flowd"));
                c
            }
            (None, None) => Command::new(bin("flowd")),
        };
        // No TCP listener unless the test asks for one.
        if !opts
            .extra_args
            .iter()
            .any(|a| a.starts_with("--listen-address"))
        {
            cmd.arg("--listen-address=");
        }
        let child = cmd
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
            netns: opts.netns.clone(),
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

    /// Waits up to `limit` for flowd to exit by itself (after a signal the test sent).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends flowd a signal (`"HUP"`, `"TERM"`, ...) with `kill`; panics if it fails.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
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
        match &self.netns {
            None => http_get(self.metrics_port, "/metrics"),
            Some(ns) => {
                let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
                let out = Command::new("ip")
                    .args(["netns", "exec", ns, "curl", "-sf", "--max-time", "5", &url])
                    .output()
                    .ok()?;
                out.status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            }
        }
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
        flowctl_command(&self.dir)
            .args(args)
            .arg("--server")
            .arg(self.server_arg())
            .output()
            .unwrap()
    }
}

impl Drop for Flowd {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `flowctl` command isolated from the caller's environment: no `HUBBLE_*` or
/// `FLOWCTL_*` variables, `home` as the home and config directory (so no user config file
/// is read), UTC, and colours left to the flags.
pub fn flowctl_command(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(bin("flowctl"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HUBBLE_") || k.starts_with("FLOWCTL_") || k == "NO_COLOR" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("TZ", "UTC")
        .current_dir(home);
    cmd
}

/// A fresh empty directory under the system temp dir, for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("flowscope-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits up to `limit` for `child` to exit; on time-out it is ended (by its pid) and
/// `None` is returned. The output is collected either way.
pub fn wait_bounded(mut child: Child, limit: Duration) -> (Option<Output>, Duration) {
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return (Some(child.wait_with_output().unwrap()), start.elapsed());
        }
        if start.elapsed() > limit {
            terminate(&mut child, Duration::from_secs(2));
            return (None, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends a process this harness started, by its pid: SIGTERM, up to `grace` to exit, then
/// SIGKILL; always reaped.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
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

/// An HTTP response: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Minimal HTTP/1.0 GET on loopback with extra request headers.
pub fn http_get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<HttpResponse> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus server (Debian's `prometheus`) on loopback, scraping the given targets
/// every second, in its own temporary directory; killed by its pid and cleaned up on drop.
pub struct Prometheus {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
    /// The network namespace it runs in, if any.
    netns: Option<String>,
}

impl Prometheus {
    pub const BINARY: &'static str = "/usr/bin/prometheus";

    /// Starts Prometheus scraping `targets` (`/metrics` on loopback ports) and waits until it
    /// is ready. Exemplar storage is on, so scraped exemplars can be queried.
    pub fn start(targets: &[u16]) -> Prometheus {
        Self::start_in(None, targets)
    }

    /// [`Prometheus::start`] inside network namespace `netns` (to scrape a flowd there).
    pub fn start_in(netns: Option<&str>, targets: &[u16]) -> Prometheus {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("flowscope-prom-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: flowd\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, Self::BINARY]);
                c
            }
            None => Command::new(Self::BINARY),
        };
        let child = cmd
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            dir,
            port,
            netns: netns.map(str::to_string),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if p.get("/-/ready").is_some_and(|r| r.status == 200) {
                return p;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("prometheus did not become ready; log:\n{}", p.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` on Prometheus' own address (through its namespace, if any).
    fn get(&self, path: &str) -> Option<HttpResponse> {
        match &self.netns {
            None => http_get_with(self.port, path, &[]),
            Some(ns) => {
                let url = format!("http://127.0.0.1:{}{path}", self.port);
                let out = Command::new("ip")
                    .args(["netns", "exec", ns, "curl", "-s", "--max-time", "5"])
                    .args(["-w", "\n%{http_code}", &url])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let (body, code) = text.rsplit_once('\n')?;
                Some(HttpResponse {
                    status: code.trim().parse().ok()?,
                    headers: Vec::new(),
                    body: body.to_string(),
                })
            }
        }
    }

    /// `GET /api/v1/<endpoint>?<params>`: the `data` of a successful answer.
    pub fn api(&self, endpoint: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let path = format!("/api/v1/{endpoint}?{}", query.join("&"));
        let r = self
            .get(&path)
            .unwrap_or_else(|| panic!("prometheus unreachable; log:\n{}", self.log()));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            r.status == 200 && v["status"] == "success",
            "{path}: {} {}",
            r.status,
            r.body
        );
        v["data"].clone()
    }

    /// The result vector of an instant query.
    pub fn query(&self, q: &str) -> Vec<serde_json::Value> {
        self.api("query", &[("query", q)])["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The value of a query returning one sample, None for an empty result.
    pub fn query_value(&self, q: &str) -> Option<f64> {
        let r = self.query(q);
        assert!(r.len() <= 1, "{q}: more than one series: {r:?}");
        r.first()
            .and_then(|s| s["value"][1].as_str())
            .map(|v| v.parse().unwrap())
    }

    /// Polls `q` until `done` accepts its result or `timeout` passes; returns the last result.
    pub fn wait_query(
        &self,
        q: &str,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.query(q);
            if done(&r) || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
pub mod cluster;
pub mod cluster_tls;
pub mod workload;
