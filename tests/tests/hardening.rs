//! What an operator's probe of flowd found: a second instance stealing the first one's
//! sockets, socket modes following the umask, descriptor exhaustion. Each test creates its
//! condition with real binaries in private temporary directories.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flowscope_tests::{Flowd, FlowdOptions, bin, free_port, terminate, workload};

/// Runs a flowd that is expected to exit by itself (refusing to start); killed by its pid
/// if it is still running after `timeout`.
fn run_flowd(args: &[String], timeout: Duration) -> Output {
    let mut child = Command::new(bin("flowd"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    terminate(&mut child, Duration::from_secs(2));
    panic!("flowd did not exit within {timeout:?}; it should have refused to start");
}

fn inode(path: &std::path::Path) -> u64 {
    std::fs::symlink_metadata(path).unwrap().ino()
}

/// The first flowd still receives records on its access-log socket and serves its API.
fn still_serves(a: &Flowd, records_before: f64) {
    let p = a.producer();
    let record = workload::events(workload::Mix::L7, 1, workload::SEED).remove(0);
    p.send(&record.bytes).unwrap();
    let series = r#"flowscope_source_records_received_total{source="access_log"}"#;
    let v = a.wait_metric(series, records_before + 1.0);
    assert!(
        v >= records_before + 1.0,
        "first flowd lost its access-log socket ({v})"
    );
    let out = a.flowctl(&["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_second_flowd_refuses_and_leaves_the_first_alone() {
    let a = Flowd::start(FlowdOptions::default());
    let (al, api) = (inode(&a.access_log), inode(&a.grpc_socket));
    let common = [
        "--listen-address=".to_string(),
        format!("--access-log-socket={}", a.access_log.display()),
        format!("--unix-socket={}", a.grpc_socket.display()),
    ];

    // Same metrics port: it must fail on the port before touching any socket path.
    let mut args = common.to_vec();
    args.push(format!("--metrics-address=127.0.0.1:{}", a.metrics_port));
    let out = run_flowd(&args, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot listen on metrics address"), "{err}");
    assert_eq!(inode(&a.access_log), al, "access-log socket replaced");
    assert_eq!(inode(&a.grpc_socket), api, "API socket replaced");
    still_serves(&a, 0.0);

    // Free ports, same socket paths: the live sockets are refused by name.
    let mut args = common.to_vec();
    args.push(format!("--metrics-address=127.0.0.1:{}", free_port()));
    let out = run_flowd(&args, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("{} is in use", a.access_log.display())),
        "{err}"
    );
    assert_eq!(inode(&a.access_log), al);
    assert_eq!(inode(&a.grpc_socket), api);
    still_serves(&a, 1.0);
}

#[test]
fn a_regular_file_at_the_api_socket_path_is_refused() {
    let dir = std::env::temp_dir().join(format!("flowscope-regfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hubble.sock");
    std::fs::write(&file, "precious").unwrap();
    let out = run_flowd(
        &[
            "--listen-address=".to_string(),
            "--metrics-address=".to_string(),
            format!("--unix-socket={}", file.display()),
            format!("--access-log-socket={}", dir.join("al.sock").display()),
        ],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let kept = std::fs::read_to_string(&file).unwrap_or_default();
    let al_left = dir.join("al.sock").exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(kept, "precious");
    assert!(!al_left, "nothing is created when a path is refused");
}

#[test]
fn socket_modes_do_not_follow_the_umask() {
    let f = Flowd::start(FlowdOptions {
        shell_setup: Some("umask 000"),
        ..FlowdOptions::default()
    });
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f.access_log), 0o660, "access_log.sock");
    assert_eq!(mode(&f.grpc_socket), 0o660, "API socket");
    // flowd created the access-log socket's directory.
    assert_eq!(mode(f.access_log.parent().unwrap()), 0o750);
}

#[test]
fn open_file_limit_is_raised_and_producers_are_capped() {
    let f = Flowd::start(FlowdOptions {
        shell_setup: Some("ulimit -Sn 256"),
        extra_args: vec!["--max-access-log-connections=2".to_string()],
        ..FlowdOptions::default()
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", f.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[3], fields[4],
        "soft limit raised to the hard limit: {line}"
    );
    assert_ne!(fields[3], "256", "{line}");

    let _a = f.producer();
    let _b = f.producer();
    let _c = f.producer();
    let _d = f.producer();
    let v = f.wait_metric("flowscope_access_log_connections_refused_total", 2.0);
    assert_eq!(v, 2.0);
    assert_eq!(f.metric("flowscope_access_log_connections"), Some(2.0));
}

/// One HTTP request record carrying credentials and a request id.
fn request_with_credentials() -> Vec<u8> {
    use flowscope_proto::cilium::EntryType;
    use flowscope_server::parser::l7::build::http_entry;
    prost::Message::encode_to_vec(&http_entry(
        EntryType::Request,
        1_700_000_000_000_000_000,
        "10.0.0.1:40000",
        0,
        "10.0.0.2:80",
        0,
        "GET",
        "api",
        "/",
        0,
        &[
            ("Authorization", "Bearer s3cret"),
            ("Cookie", "session=s3cret"),
            ("X-Api-Key", "s3cret"),
            ("X-Request-Id", "req-1"),
        ],
    ))
}

fn observed_headers(f: &Flowd) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = f.flowctl(&["observe", "--all", "-o", "jsonpb"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("req-1") || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn credentials_are_redacted_by_default_and_the_flag_overrides() {
    let f = Flowd::start(FlowdOptions::default());
    f.producer().send(&request_with_credentials()).unwrap();
    let text = observed_headers(&f);
    assert!(text.contains("req-1"), "{text}");
    assert!(!text.contains("s3cret"), "credentials leaked: {text}");
    assert_eq!(text.matches("HUBBLE_REDACTED").count(), 3, "{text}");

    let f = Flowd::start(FlowdOptions {
        extra_args: vec!["--redact-http-headers-deny=".to_string()],
        ..FlowdOptions::default()
    });
    f.producer().send(&request_with_credentials()).unwrap();
    let text = observed_headers(&f);
    assert_eq!(text.matches("s3cret").count(), 3, "{text}");
}
