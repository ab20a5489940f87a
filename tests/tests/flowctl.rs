//! `flowctl` habits carried over from `hubble observe`: dial time-outs, strict raw filters,
//! lost events, field masks, pflag syntax, `HUBBLE_*` variables, the config file and the
//! `config`, `list` and `version` commands. Each test runs the real binary.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use flowscope_tests::{flowctl_command, temp_dir, wait_bounded};

/// A listener on loopback that accepts connections and never writes a byte (not an HTTP/2
/// server). The accepted sockets stay open until the returned guard is dropped.
struct SilentServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut sock, _)) => {
                        // Read what the client sends (the HTTP/2 preface) and never answer.
                        sock.set_nonblocking(true).unwrap();
                        let mut buf = [0u8; 1024];
                        let _ = sock.read(&mut buf);
                        held.push(sock);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        SilentServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn observe_gives_up_on_a_server_that_never_speaks_http2() {
    let silent = SilentServer::start();
    let home = temp_dir("timeout");
    let server = format!("127.0.0.1:{}", silent.port);
    // Follow mode would otherwise wait for flows forever.
    let child = flowctl_command(&home)
        .args(["observe", "-f", "--server", &server, "--timeout", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = wait_bounded(child, Duration::from_secs(30));
    let out = out.unwrap_or_else(|| panic!("flowctl still waiting after {took:?}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail: {stderr}");
    assert!(
        stderr.contains("no answer within 1s (--timeout)"),
        "stderr: {stderr}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "gave up too early: {took:?}"
    );

    // The default is Hubble's 5s; a bad duration is rejected like pflag does.
    let child = flowctl_command(&home)
        .args(["observe", "--server", &server, "--timeout", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, _) = wait_bounded(child, Duration::from_secs(30));
    let out = out.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid duration"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&home);
}
