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

/// Runs flowctl with `args` in an isolated home; returns (success, stdout, stderr).
fn run(home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    run_env(home, args, &[])
}

fn run_env(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let child = flowctl_command(home)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = wait_bounded(child, Duration::from_secs(30));
    let out = out.unwrap_or_else(|| panic!("flowctl {args:?} did not exit within {took:?}"));
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn raw_filters_with_unknown_fields_are_rejected_by_name() {
    let home = temp_dir("raw");
    let (ok, out, err) = run(
        &home,
        &[
            "observe",
            "--allowlist",
            r#"{"bogus_field":1}"#,
            "--print-raw-filters",
        ],
    );
    assert!(!ok, "accepted: {out}");
    assert!(err.contains(r#"unknown field "bogus_field""#), "{err}");
    assert!(err.contains("invalid --allowlist flag"), "{err}");

    let (ok, _, err) = run(
        &home,
        &[
            "observe",
            "--denylist",
            r#"{"event_type":[{"typ":1}]}"#,
            "--print-raw-filters",
        ],
    );
    assert!(!ok);
    assert!(err.contains(r#"unknown field "event_type.typ""#), "{err}");

    // Offline mode applies the same check before reading anything.
    let (ok, _, err) = run(
        &home,
        &[
            "observe",
            "--input-file",
            "-",
            "--allowlist",
            r#"{"sourcePodd":["a"]}"#,
        ],
    );
    assert!(!ok);
    assert!(err.contains(r#"unknown field "sourcePodd""#), "{err}");

    // Known fields in proto or JSON spelling still work.
    let (ok, out, err) = run(
        &home,
        &[
            "observe",
            "--allowlist",
            r#"{"source_pod":["default/"]} {"destinationPod":["x/"]}"#,
            "--print-raw-filters",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "allowlist:\n    - '{\"source_pod\":[\"default/\"]}'\n    - '{\"destination_pod\":[\"x/\"]}'\n"
    );
    let _ = std::fs::remove_dir_all(&home);
}

const DROP_LINE: &str = r#"{"flow":{"time":"2023-08-23T15:43:25.500Z","verdict":"DROPPED","IP":{"source":"10.244.0.9","destination":"10.244.1.7","ipVersion":"IPv4"},"l4":{"UDP":{"source_port":5353,"destination_port":53}},"source":{"identity":2},"destination":{"identity":25001},"Type":"L3_L4","node_name":"kind-worker","event_type":{"type":1,"sub_type":133},"drop_reason_desc":"POLICY_DENIED","Summary":"UDP"},"node_name":"kind-worker","time":"2023-08-23T15:43:25.500Z"}"#;
const LOST_LINE: &str = r#"{"lost_events":{"source":"OBSERVER_EVENTS_QUEUE","num_events_lost":"42","cpu":1},"node_name":"kind-worker","time":"2023-08-23T15:43:30Z"}"#;
const LOST_COMPACT: &str = "Aug 23 15:43:30.000 EVENTS LOST: OBSERVER_EVENTS_QUEUE CPU(1) 42";

#[test]
fn lost_events_print_without_node_and_filter_offline_like_hubble() {
    let home = temp_dir("lost");
    let file = home.join("flows.json");
    std::fs::write(&file, format!("{DROP_LINE}\n{LOST_LINE}\n")).unwrap();
    let file = file.to_str().unwrap();
    let lines = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["observe", "--input-file", file];
        args.extend_from_slice(extra);
        let (ok, out, err) = run(&home, &args);
        assert!(ok, "{extra:?}: {err}");
        out.lines().map(str::to_string).collect()
    };

    let all = lines(&["--print-node-name"]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all[0].starts_with("Aug 23 15:43:25.500 [kind-worker]: "),
        "{all:?}"
    );
    assert_eq!(all[1], LOST_COMPACT, "no node name on the lost line");

    // hubble 1.19.4 hands a lost event to the offline filters as a nil Flow.
    let drops = lines(&["-t", "drop"]);
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert!(drops[0].contains("DROPPED"), "{drops:?}");
    assert_eq!(lines(&["--not", "-t", "drop"]), [LOST_COMPACT]);
    assert_eq!(lines(&["--verdict", "DROPPED"]).len(), 1);
    assert_eq!(lines(&["--not", "--verdict", "DROPPED"]), [LOST_COMPACT]);
    let _ = std::fs::remove_dir_all(&home);
}

const POLICY_LINE: &str = r#"{"flow":{"time":"2023-08-23T15:43:28Z","verdict":"FORWARDED","IP":{"source":"10.244.0.5","destination":"10.244.1.7","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":43210,"destination_port":8080,"flags":{"SYN":true}}},"source":{"identity":25000,"namespace":"default","pod_name":"client-6d4b9c7f5-abcde"},"destination":{"identity":25001,"namespace":"default","pod_name":"server-7f8d9b6c4-fghij"},"Type":"L3_L4","node_name":"kind-worker","event_type":{"type":5},"traffic_direction":"EGRESS","policy_match_type":2,"is_reply":false,"Summary":"TCP Flags: SYN"},"node_name":"kind-worker","time":"2023-08-23T15:43:28Z"}"#;
/// What `hubble observe --color never` prints for [`POLICY_LINE`] (spec §12.4).
const POLICY_COMPACT: &str = "Aug 23 15:43:28.000: default/client-6d4b9c7f5-abcde:43210 (ID:25000) -> default/server-7f8d9b6c4-fghij:8080 (ID:25001) policy-verdict:L3-L4 EGRESS ALLOWED (TCP Flags: SYN)\n";

fn response(json: &str) -> flowscope_proto::observer::GetFlowsResponse {
    serde_json::from_str(json).unwrap()
}

#[test]
fn default_field_mask_and_its_hubble_switch() {
    use flowscope_tests::fake_observer::{FakeObserver, Script};
    let fake = FakeObserver::start(Script {
        flows: vec![response(POLICY_LINE), response(LOST_LINE)],
        ..Default::default()
    });
    let server = fake.server_arg();
    let home = temp_dir("mask");
    let observe = |extra: &[&str]| -> String {
        let mut args = vec!["observe", "--server", &server];
        args.extend_from_slice(extra);
        let (ok, out, err) = run(&home, &args);
        assert!(ok, "{extra:?}: {err}");
        out
    };
    let mask = |i: usize| fake.requests()[i].field_mask.clone().map(|m| m.paths);

    // flowctl's default: Hubble's mask plus the two fields policy-verdict lines need.
    let out = observe(&[]);
    let paths = mask(0).expect("a mask by default");
    let mut expected = flowscope_cli::request::default_field_mask();
    expected.extend([
        "traffic_direction".to_string(),
        "policy_match_type".to_string(),
    ]);
    assert_eq!(paths, expected);
    assert_eq!(out, format!("{POLICY_COMPACT}{LOST_COMPACT}\n"));

    // Hubble's own default: no mask at all, and the very same bytes as hubble prints.
    let out = observe(&["--use-default-field-masks=false"]);
    assert_eq!(mask(1), None);
    assert_eq!(out, format!("{POLICY_COMPACT}{LOST_COMPACT}\n"));

    // pflag bool syntax: a bare flag is true, strconv.ParseBool spellings are accepted.
    observe(&["--use-default-field-masks"]);
    assert_eq!(mask(2).map(|p| p.len()), Some(expected.len()));
    observe(&["--use-default-field-masks=F"]);
    assert_eq!(mask(3), None);
    // JSON output never gets the default mask.
    observe(&["-o", "jsonpb"]);
    assert_eq!(mask(4), None);

    let (ok, _, err) = run(
        &home,
        &["observe", "--server", &server, "--field-mask", "time"],
    );
    assert!(!ok);
    assert!(
        err.contains("compact output format is not compatible with custom field mask"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn filter_values_are_accepted_and_rejected_as_hubble_does() {
    let home = temp_dir("values");
    let raw = |args: &[&str]| -> (bool, String, String) {
        let mut all = vec!["observe", "--print-raw-filters"];
        all.extend_from_slice(args);
        run(&home, &all)
    };
    for rejected in [
        &["--verdict", "dropped"][..],
        &["--drop-reason-desc", "policy_denied"],
        &["--identity", "unknown"],
        &["--type", "DROP"],
        &["--type", "drop:POLICY_DENIED"],
    ] {
        let (ok, out, err) = raw(rejected);
        assert!(!ok, "{rejected:?} accepted: {out}");
        assert!(err.contains(&format!("invalid {}", rejected[0])), "{err}");
    }
    for (accepted, json) in [
        (&["--verdict", "DROPPED"][..], r#"{"verdict":["DROPPED"]}"#),
        (&["--to-port", "http"], r#"{"destination_port":["http"]}"#),
        (&["--ip-version", "v5"], r#"{"ip_version":["IP_NOT_USED"]}"#),
        (&["--from-identity", "0x10"], r#"{"source_identity":[16]}"#),
        (
            &["-t", "drop:133"],
            r#"{"event_type":[{"type":1,"match_sub_type":true,"sub_type":133}]}"#,
        ),
    ] {
        let (ok, out, err) = raw(accepted);
        assert!(ok, "{accepted:?}: {err}");
        assert_eq!(out, format!("allowlist:\n    - '{json}'\n"), "{accepted:?}");
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// A policy-verdict flow allowed by a named policy, for --print-policy-names.
fn policy_response_with_names() -> flowscope_proto::observer::GetFlowsResponse {
    let mut resp = response(POLICY_LINE);
    if let Some(flowscope_proto::observer::get_flows_response::ResponseTypes::Flow(f)) =
        resp.response_types.as_mut()
    {
        f.egress_allowed_by = vec![
            flowscope_proto::flow::Policy {
                name: "allow-egress".into(),
                namespace: "default".into(),
                kind: "CiliumNetworkPolicy".into(),
                ..Default::default()
            },
            flowscope_proto::flow::Policy {
                name: "nameless-kind".into(),
                ..Default::default()
            },
        ];
    }
    resp
}

#[test]
fn hubble_environment_and_config_file_choose_the_server_and_filters() {
    use flowscope_tests::fake_observer::{FakeObserver, Script};
    let fake = FakeObserver::start(Script {
        flows: vec![response(POLICY_LINE)],
        ..Default::default()
    });
    let home = temp_dir("env");
    let addr = fake.server_arg();
    let bogus = "127.0.0.1:1";

    // HUBBLE_SERVER replaces --server.
    let (ok, out, err) = run_env(&home, &["observe"], &[("HUBBLE_SERVER", &addr)]);
    assert!(ok, "{err}");
    assert_eq!(out, POLICY_COMPACT);

    // The default config file: keys named as the flags.
    let dir = home.join(".config/hubble");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("server: {addr}\nallowlist:\n  - '{{\"verdict\":[\"FORWARDED\"]}}'\n"),
    )
    .unwrap();
    let (ok, out, err) = run(&home, &["observe"]);
    assert!(ok, "{err}");
    assert_eq!(out, POLICY_COMPACT);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.whitelist.len(), 1, "allowlist from the config file");

    // Precedence: command line > HUBBLE_* > config file.
    let (ok, _, _) = run_env(&home, &["observe"], &[("HUBBLE_SERVER", bogus)]);
    assert!(!ok, "the environment beats the file");
    let (ok, _, err) = run_env(
        &home,
        &["observe", "--server", &addr],
        &[("HUBBLE_SERVER", bogus)],
    );
    assert!(ok, "the flag beats the environment: {err}");
    // HUBBLE_ALLOWLIST beats the file's allowlist; --allowlist beats both.
    run_env(
        &home,
        &["observe"],
        &[("HUBBLE_ALLOWLIST", r#"{"verdict":["DROPPED"]}"#)],
    );
    let req = fake.requests().pop().unwrap();
    assert_eq!(req.whitelist[0].verdict, vec![2], "{req:?}");
    run(
        &home,
        &["observe", "--allowlist", r#"{"source_pod":["x/"]}"#],
    );
    let req = fake.requests().pop().unwrap();
    assert_eq!(req.whitelist.len(), 1);
    assert_eq!(req.whitelist[0].source_pod, vec!["x/".to_string()]);

    // --config names another file; HUBBLE_CONFIG does too.
    let other = home.join("other.yaml");
    std::fs::write(&other, format!("server: {bogus}\ntimeout: 2s\n")).unwrap();
    let (ok, _, err) = run(&home, &["--config", other.to_str().unwrap(), "observe"]);
    assert!(!ok && err.contains(bogus), "{err}");
    let (ok, out, _) = run_env(
        &home,
        &["config", "get", "timeout"],
        &[("HUBBLE_CONFIG", other.to_str().unwrap())],
    );
    assert!(ok);
    assert_eq!(out, "2s\n");

    // HUBBLE_TIMEOUT bounds the dial like --timeout.
    let silent = SilentServer::start();
    let silent_addr = format!("127.0.0.1:{}", silent.port);
    let started = std::time::Instant::now();
    let (ok, _, err) = run_env(
        &home,
        &["observe", "-f", "--server", &silent_addr],
        &[("HUBBLE_TIMEOUT", "1s")],
    );
    assert!(!ok && err.contains("no answer within 1s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // A value of the wrong type is an error naming the flag and where it came from.
    let (ok, _, err) = run_env(&home, &["observe"], &[("HUBBLE_DEBUG", "maybe")]);
    assert!(
        !ok && err.contains("\"--debug\" flag (environment)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn config_subcommand_views_sets_and_resets_the_file() {
    let home = temp_dir("config");
    let file = home.join(".config/hubble/config.yaml");
    let (ok, out, err) = run(&home, &["config", "view"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("basic-auth-password: \"\"\n"), "{out}");
    assert!(
        out.contains("\nserver: localhost:4244\ntimeout: 5s\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("\nconfig: {}\n", file.display())),
        "{out}"
    );

    assert!(run(&home, &["config", "set", "server", "unix:/run/hubble.sock"]).0);
    assert!(run(&home, &["config", "set", "request-timeout", "1m"]).0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "request-timeout: 1m0s\nserver: unix:/run/hubble.sock\n"
    );
    assert_eq!(
        run(&home, &["config", "get", "server"]).1,
        "unix:/run/hubble.sock\n"
    );
    assert_eq!(
        run_env(
            &home,
            &["config", "get", "server"],
            &[("HUBBLE_SERVER", "x:1")]
        )
        .1,
        "x:1\n",
        "get shows the merged value"
    );
    let (ok, _, err) = run(&home, &["config", "set", "debug", "perhaps"]);
    assert!(!ok && err.contains("expected type=bool"), "{err}");
    let (ok, _, err) = run(&home, &["config", "get", "nope"]);
    assert!(!ok && err.contains("unknown key: nope"), "{err}");

    assert!(run(&home, &["config", "reset", "server"]).0);
    assert_eq!(
        run(&home, &["config", "get", "server"]).1,
        "localhost:4244\n"
    );
    assert!(run(&home, &["config", "reset"]).0);
    assert_eq!(run(&home, &["config", "get", "request-timeout"]).1, "12s\n");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn list_and_version_commands() {
    use flowscope_proto::observer::{GetNamespacesResponse, Namespace};
    use flowscope_tests::fake_observer::{FakeObserver, Script};
    let fake = FakeObserver::start(Script {
        namespaces: Some(GetNamespacesResponse {
            namespaces: vec![
                Namespace {
                    cluster: "default".into(),
                    namespace: "default".into(),
                },
                Namespace {
                    cluster: "default".into(),
                    namespace: "kube-system".into(),
                },
            ],
        }),
        ..Default::default()
    });
    let home = temp_dir("list");
    let server = fake.server_arg();
    let (ok, out, err) = run(&home, &["list", "namespaces", "--server", &server]);
    assert!(ok, "{err}");
    assert_eq!(out, "NAMESPACE\ndefault\nkube-system\n");
    let (_, out, _) = run(
        &home,
        &["list", "namespaces", "-o", "wide", "--server", &server],
    );
    assert_eq!(
        out,
        "NAMESPACE     CLUSTER\ndefault       default\nkube-system   default\n"
    );
    let (_, out, _) = run(
        &home,
        &["--server", &server, "list", "namespaces", "-o", "json"],
    );
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed[1]["namespace"], "kube-system");

    // A node (not a relay) answers GetNodes with Unimplemented; hubble prints the status.
    let (ok, _, err) = run(&home, &["list", "nodes", "--server", &server]);
    assert!(!ok);
    assert!(
        err.contains(
            "rpc error: code = Unimplemented desc = GetNodes is only implemented by a relay"
        ),
        "{err}"
    );

    let (ok, out, _) = run(&home, &["version"]);
    assert!(ok);
    assert!(
        out.starts_with(&format!(
            "flowctl v{} compiled with",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn colors_policy_names_aliases_and_pflag_syntax() {
    use flowscope_tests::fake_observer::{FakeObserver, Script};
    let fake = FakeObserver::start(Script {
        flows: vec![policy_response_with_names()],
        ..Default::default()
    });
    let home = temp_dir("color");
    let server = fake.server_arg();
    let observe = |extra: &[&str]| -> String {
        let mut args = vec!["observe", "--server", &server];
        args.extend_from_slice(extra);
        let (ok, out, err) = run(&home, &args);
        assert!(ok, "{extra:?}: {err}");
        out
    };
    // A pipe is no terminal: auto means no colour.
    assert_eq!(observe(&[]), POLICY_COMPACT);
    assert_eq!(observe(&["--color", "never"]), POLICY_COMPACT);
    assert_eq!(
        observe(&["--color", "always"]),
        "Aug 23 15:43:28.000: \u{1b}[36mdefault/client-6d4b9c7f5-abcde:43210\u{1b}[0m \
         \u{1b}[35m(ID:25000)\u{1b}[0m -> \u{1b}[36mdefault/server-7f8d9b6c4-fghij:8080\u{1b}[0m \
         \u{1b}[35m(ID:25001)\u{1b}[0m policy-verdict:L3-L4 EGRESS \u{1b}[32mALLOWED\u{1b}[0m \
         (TCP Flags: SYN)\n"
    );
    // The table is never coloured.
    assert!(!observe(&["--color", "always", "-o", "table"]).contains('\u{1b}'));
    assert_eq!(
        observe(&["--print-policy-names"]),
        POLICY_COMPACT.replace("ALLOWED", "ALLOWED BY allow-egress (CiliumNetworkPolicy)")
    );
    // `observe flows` is `observe`; pflag bools and numbers; --numeric / --ip-translation.
    assert_eq!(
        run(&home, &["observe", "flows", "--server", &server]).1,
        POLICY_COMPACT
    );
    let numeric = observe(&["--ip-translation=false", "--last", "0x14"]);
    assert!(
        numeric.contains(": 10.244.0.5:43210 (ID:25000) -> 10.244.1.7:8080"),
        "{numeric}"
    );
    assert_eq!(observe(&["--numeric=true"]), numeric);
    assert_eq!(fake.requests().last().unwrap().number, 20);
    assert_eq!(
        observe(&["--print-node-name=false", "-f=false"]),
        POLICY_COMPACT
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn unix_targets_with_one_slash() {
    let flowd = flowscope_tests::Flowd::start(flowscope_tests::FlowdOptions::default());
    let home = temp_dir("unix");
    let one_slash = format!("unix:{}", flowd.grpc_socket.display());
    let (ok, _, err) = run(&home, &["status", "--server", &one_slash]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&home, &["list", "namespaces", "--server", &one_slash]);
    assert!(ok, "{err}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn time_formats_by_name_and_go_layout() {
    let home = temp_dir("timefmt");
    let file = home.join("flows.json");
    std::fs::write(&file, format!("{POLICY_LINE}\n")).unwrap();
    let file = file.to_str().unwrap();
    let first_field = |format: &str| -> String {
        let (ok, out, err) = run(
            &home,
            &["observe", "--input-file", file, "--time-format", format],
        );
        assert!(ok, "{format}: {err}");
        out.split(": ").next().unwrap().to_string()
    };
    assert_eq!(first_field("StampMilli"), "Aug 23 15:43:28.000");
    assert_eq!(first_field("RFC3339"), "2023-08-23T15:43:28Z");
    assert_eq!(first_field("rfc1123z"), "Wed, 23 Aug 2023 15:43:28 +0000");
    // Hubble's FormatNameToLayout: an unknown name is StampMilli.
    assert_eq!(first_field("rfc3339mili"), "Aug 23 15:43:28.000");
    // A Go layout (flowctl extension).
    assert_eq!(first_field("2006-01-02 15:04:05"), "2023-08-23 15:43:28");
    assert_eq!(
        run(
            &home,
            &[
                "observe",
                "--input-file",
                file,
                "--time-format",
                "Mon Jan _2 15:04:05 MST 2006",
                "-o",
                "dict"
            ]
        )
        .1
        .lines()
        .next()
        .unwrap(),
        "  TIMESTAMP: Wed Aug 23 15:43:28 UTC 2023"
    );
    let _ = std::fs::remove_dir_all(&home);
}
