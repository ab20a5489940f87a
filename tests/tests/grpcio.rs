//! Python's grpcio (gRPC's C core) as a client of the real flowd, over the unix socket
//! (`unix:///path` and `unix:/path`) and over TCP: ServerStatus, GetFlows with a number, and
//! a following GetFlows stream, with the flows fed through the access-log socket.
//!
//! grpcio names a unix target's authority after the percent-encoded socket path, which the
//! Rust HTTP/2 stack refuses unless flowd repairs it. The client is
//! `tests/python/grpcio_observer.py`, run in a virtualenv `tests/src/python.rs` prepares.

#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flowscope_proto::cilium::EntryType;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_server::source::accesslog::producer::Producer;
use flowscope_tests::python::{grpcio_python, scripts_dir};
use flowscope_tests::{Flowd, FlowdOptions, free_port, terminate};
use serde_json::Value;

const NODE: &str = "py-node";
const STATE: &str = "node_name: py-node\nendpoints:\n  - name: details-1\n    namespace: bookinfo\n    labels: {app: details}\n    ips: [10.244.1.7]\n    identity: 25001\n";
const CAPACITY: u64 = 63;
/// Flows fed before the client starts; GetFlows asks for all of them.
const HISTORY: u32 = 3;
/// How long one answer of the Python client may take (interpreter start, stub generation).
const ANSWER: Duration = Duration::from_secs(60);

/// Feeds HTTP requests `GET http://details/item/<n>` from 10.0.0.1:<40000+n> to the
/// details endpoint, and knows what their flows must say.
struct Feeder {
    producer: Producer,
    fed: u32,
}

impl Feeder {
    fn feed(&mut self, flowd: &Flowd) {
        let n = self.fed;
        let e = http_entry(
            EntryType::Request,
            1_700_000_000_000_000_000 + u64::from(n),
            &format!("10.0.0.1:{}", 40_000 + n),
            0,
            "10.244.1.7:80",
            25001,
            "GET",
            "details",
            &format!("/item/{n}"),
            0,
            &[],
        );
        self.producer
            .send(&prost::Message::encode_to_vec(&e))
            .unwrap();
        self.fed += 1;
        let decoded = flowd.wait_metric(
            r#"flowscope_source_records_decoded_total{source="access_log"}"#,
            f64::from(self.fed),
        );
        assert_eq!(decoded, f64::from(self.fed), "log:\n{}", flowd.log());
    }

    /// Asserts that `flow` (protobuf JSON, proto field names) is the flow of request `n`.
    fn check(&self, flow: &Value, n: u32) {
        let want = [
            ("/node_name", Value::from(NODE)),
            ("/Type", "L7".into()),
            ("/verdict", "FORWARDED".into()),
            ("/IP/source", "10.0.0.1".into()),
            ("/IP/destination", "10.244.1.7".into()),
            ("/l4/TCP/source_port", (40_000 + n).into()),
            ("/l4/TCP/destination_port", 80.into()),
            ("/destination/namespace", "bookinfo".into()),
            ("/destination/identity", 25001.into()),
            ("/l7/type", "REQUEST".into()),
            ("/l7/http/method", "GET".into()),
            ("/l7/http/url", format!("http://details/item/{n}").into()),
        ];
        for (path, value) in want {
            assert_eq!(
                flow.pointer(path),
                Some(&value),
                "{path} of flow {n}: {flow:#}"
            );
        }
    }
}

/// The Python client, its stdout read line by line (one JSON object each).
struct PyClient {
    /// None once it has exited.
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stderr: std::path::PathBuf,
}

impl PyClient {
    fn start(flowd: &Flowd, target: &str) -> PyClient {
        let stderr = flowd.dir.join("python.log");
        let mut child = Command::new(grpcio_python())
            .arg(scripts_dir().join("grpcio_observer.py"))
            .arg("--proto-dir")
            .arg(scripts_dir().join("../../proto/proto"))
            .args(["--target", target, "--number", &HISTORY.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PyClient {
            child: Some(child),
            lines,
            stderr,
        }
    }

    /// The next answer, which must be the `call` step; the client's error fails the test.
    fn next(&mut self, call: &str) -> Value {
        let line = self.lines.recv_timeout(ANSWER).unwrap_or_else(|e| {
            self.end();
            panic!(
                "no {call} answer from the Python client ({e}); stderr:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            )
        });
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["call"], call, "Python client: {v}");
        v
    }

    fn wait_success(mut self) {
        let child = self.child.take().unwrap();
        let (out, took) = flowscope_tests::wait_bounded(child, ANSWER);
        let status = out.map(|o| o.status);
        assert!(
            status.is_some_and(|s| s.success()),
            "Python client ended with {status:?} after {took:?}; stderr:\n{}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
    }

    fn end(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(2));
        }
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        self.end();
    }
}

/// How the Python client reaches flowd.
#[derive(Clone, Copy)]
enum Listener {
    /// `unix:///path`
    UnixUrl,
    /// `unix:/path`
    UnixPath,
    /// `127.0.0.1:port`; only then does flowd listen on TCP.
    Tcp,
}

/// Starts flowd, feeds [`HISTORY`] flows, and runs the Python client through `listener`.
fn python_client_works(listener: Listener) {
    let python = grpcio_python(); // before flowd: the first run installs grpcio
    assert!(python.exists());
    let port = matches!(listener, Listener::Tcp).then(free_port);
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        buffer_capacity: CAPACITY,
        extra_args: port
            .map(|p| format!("--listen-address=127.0.0.1:{p}"))
            .into_iter()
            .collect(),
        ..Default::default()
    });
    let socket = flowd.grpc_socket.display();
    let target = match (listener, port) {
        (Listener::UnixUrl, _) => format!("unix://{socket}"),
        (Listener::UnixPath, _) => format!("unix:{socket}"),
        (Listener::Tcp, port) => format!("127.0.0.1:{}", port.unwrap()),
    };
    let mut feeder = Feeder {
        producer: flowd.producer(),
        fed: 0,
    };
    for _ in 0..HISTORY {
        feeder.feed(&flowd);
    }
    let mut client = PyClient::start(&flowd, &target);

    let status = &client.next("ServerStatus")["response"];
    // uint64 fields are JSON strings in protobuf's JSON mapping.
    assert_eq!(status["num_flows"], HISTORY.to_string(), "{status}");
    assert_eq!(status["max_flows"], CAPACITY.to_string(), "{status}");
    assert_eq!(status["seen_flows"], HISTORY.to_string(), "{status}");

    let flows = client.next("GetFlows")["flows"].as_array().unwrap().clone();
    assert_eq!(flows.len(), HISTORY as usize);
    for (n, flow) in flows.iter().enumerate() {
        feeder.check(flow, n as u32);
    }

    // The follower's first flow is the newest one; it is following once it has it.
    let first = client.next("follow");
    feeder.check(&first["first"], HISTORY - 1);
    feeder.feed(&flowd);
    let next = client.next("follow");
    feeder.check(&next["next"], HISTORY);
    client.wait_success();
}

#[test]
fn grpcio_over_unix_socket_url() {
    python_client_works(Listener::UnixUrl);
}

#[test]
fn grpcio_over_unix_socket_path() {
    python_client_works(Listener::UnixPath);
}

#[test]
fn grpcio_over_tcp() {
    python_client_works(Listener::Tcp);
}
