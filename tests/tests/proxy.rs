//! Real HTTP through the l7proxy fixture (the lab's ingress proxy) on loopback: flowd sees
//! both legs of every request under one X-Request-Id, and the denied request as DROPPED.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowscope_tests::{Flowd, FlowdOptions, bin, free_port};

const STATE: &str = "node_name: lab-node\nendpoints:\n  - name: productpage-v1\n    namespace: default\n    labels: {app: productpage}\n    ips: [127.0.0.2]\n    identity: 25000\n    endpoint_id: 100\n";

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `n` connections with a fixed 200 response, then stops.
fn backend(n: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(n) {
            let mut c = conn.unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

fn get(port: u16, path: &str, request_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("proxy unreachable: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 192.168.10.211\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn proxied_requests_become_l7_flows_on_both_legs() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        ..Default::default()
    });
    let upstream = backend(1);
    let port = free_port();
    let _proxy = Proc(
        Command::new(bin("l7proxy"))
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--upstream=127.0.0.2:{upstream}"))
            .arg(format!("--access-log={}", flowd.access_log.display()))
            .arg("--deny-path=/details")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ok = get(port, "/productpage", "req-1");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("ok"));
    let denied = get(port, "/details/1", "req-2");
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        6.0,
    );

    let lines = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["observe", "--all"];
        all.extend_from_slice(args);
        let out = flowd.flowctl(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let trace = lines(&["--http-header", "X-Request-Id:req-1"]);
    assert_eq!(trace.len(), 4, "{trace:#?}");
    let types: Vec<_> = trace
        .iter()
        .map(|l| {
            (
                l.contains("(world) -> ") || l.contains("(world) <- "),
                l.contains("default/productpage-v1:"),
            )
        })
        .collect();
    assert!(
        types.contains(&(true, false)),
        "world -> ingress leg: {trace:#?}"
    );
    assert!(
        types.contains(&(false, true)),
        "ingress -> pod leg: {trace:#?}"
    );
    assert!(
        trace
            .iter()
            .any(|l| l.contains("(ingress) -> default/productpage-v1:")
                && l.contains(
                    "http-request FORWARDED (HTTP/1.1 GET http://192.168.10.211/productpage)"
                )),
        "{trace:#?}"
    );
    assert!(
        trace
            .iter()
            .any(|l| l.contains("(ingress) <- default/productpage-v1:")
                && l.contains("http-response FORWARDED (HTTP/1.1 200 ")),
        "{trace:#?}"
    );

    let dropped = lines(&["--verdict", "DROPPED"]);
    assert_eq!(dropped.len(), 1);
    let line = &dropped[0];
    assert!(line.contains(" (world) -> 127.0.0.1:"), "{line}");
    assert!(
        line.ends_with(
            " (ingress) http-request DROPPED (HTTP/1.1 GET http://192.168.10.211/details/1)"
        ),
        "{line}"
    );
    let forbidden = lines(&["--http-status", "403"]);
    assert_eq!(forbidden.len(), 1);
    assert!(
        forbidden[0].contains("http-response FORWARDED (HTTP/1.1 403 "),
        "{forbidden:?}"
    );
}
