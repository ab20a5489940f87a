//! TLS and mutual TLS on flowd's Observer API, through the real `flowd` and `flowctl`:
//! certificates made by the test (a CA, a server certificate for 127.0.0.1 and localhost, a
//! client certificate), refused clients, `--tls-allow-insecure`, and a certificate rotated on
//! disk while flowd runs.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use flowscope_proto::cilium::EntryType;
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::pki::Pki;
use flowscope_tests::{Flowd, FlowdOptions, flowctl_command, free_port};
use rcgen::ExtendedKeyUsagePurpose;

/// flowd serving TLS on a loopback port with `server.crt`/`server.key` (and `client_ca`,
/// which makes it mutual), with one HTTP flow to `/tls` in its buffer.
fn flowd_with_tls(pki: &Pki, client_ca: Option<&str>) -> (Flowd, u16) {
    let port = free_port();
    let mut extra_args = vec![
        format!("--listen-address=127.0.0.1:{port}"),
        format!("--tls-cert-file={}", pki.path("server.crt")),
        format!("--tls-key-file={}", pki.path("server.key")),
    ];
    if let Some(ca) = client_ca {
        extra_args.push(format!("--tls-client-ca-files={}", pki.path(ca)));
    }
    let flowd = Flowd::start(FlowdOptions {
        extra_args,
        ..Default::default()
    });
    let entry = http_entry(
        EntryType::Request,
        1_700_000_000_000_000_000,
        "192.0.2.1:1000",
        2,
        "10.0.0.1:80",
        8,
        "GET",
        "h",
        "/tls",
        0,
        &[],
    );
    flowd
        .producer()
        .send(&prost::Message::encode_to_vec(&entry))
        .unwrap();
    let decoded = flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        1.0,
    );
    assert_eq!(decoded, 1.0);
    (flowd, port)
}

/// `flowctl observe --last 1` against `server` with `args`; `SSL_CERT_FILE` points at
/// `system_ca` so that "the system's CAs" are known to the test.
fn observe<S: AsRef<std::ffi::OsStr>>(
    pki: &Pki,
    server: &str,
    system_ca: &str,
    args: &[S],
) -> Output {
    flowctl_command(&pki.dir)
        .env("SSL_CERT_FILE", pki.path(system_ca))
        .args(["observe", "--last", "1", "-o", "json", "--timeout", "5s"])
        .args(["--server", server])
        .args(args)
        .output()
        .unwrap()
}

/// `--tls-ca-cert-files <ca>.crt` and the client certificate `<client>.crt`/`<client>.key`.
fn client_args(pki: &Pki, ca: &str, client: &str) -> Vec<String> {
    [
        "--tls-ca-cert-files",
        &pki.path(&format!("{ca}.crt")),
        "--tls-client-cert-file",
        &pki.path(&format!("{client}.crt")),
        "--tls-client-key-file",
        &pki.path(&format!("{client}.key")),
    ]
    .map(String::from)
    .to_vec()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_observed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("\"url\":\"http://h/tls\""),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        stderr(out)
    );
}

fn assert_refused(out: &Output, reason: &str) {
    assert!(!out.status.success(), "connected: {}", stderr(out));
    assert!(stderr(out).contains(reason), "{}", stderr(out));
}

#[test]
fn mutual_tls_serves_certified_clients_and_refuses_the_others() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let other = pki.ca("other");
    pki.leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    pki.leaf(&ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
    pki.leaf(&other, "stranger", ExtendedKeyUsagePurpose::ClientAuth);
    let (flowd, port) = flowd_with_tls(&pki, Some("ca.crt"));
    let tls_addr = format!("tls://127.0.0.1:{port}");
    let client = client_args(&pki, "ca", "client");

    // tls:// with the CA and a client certificate.
    assert_observed(&observe(&pki, &tls_addr, "other.crt", &client));
    // --tls with a plain address; the certificate's DNS name checked via --tls-server-name.
    let plain_addr = format!("127.0.0.1:{port}");
    let mut named = client.to_vec();
    named.extend(["--tls", "--tls-server-name", "localhost"].map(String::from));
    assert_observed(&observe(&pki, &plain_addr, "other.crt", &named));
    // The CA from SSL_CERT_FILE, as the system's.
    assert_observed(&observe(&pki, &tls_addr, "ca.crt", &client[2..]));

    // No client certificate: refused in the handshake.
    let out = observe(&pki, &tls_addr, "other.crt", &client[..2]);
    assert_refused(&out, "CertificateRequired");
    // A client certificate from a CA the server does not trust.
    let stranger = client_args(&pki, "ca", "stranger");
    assert_refused(
        &observe(&pki, &tls_addr, "other.crt", &stranger),
        "UnknownCA",
    );
    // A server certificate the client cannot verify.
    assert_refused(
        &observe(&pki, &tls_addr, "other.crt", &client[2..]),
        "UnknownIssuer",
    );
    // A name the server certificate is not for.
    let mut misnamed = client.to_vec();
    misnamed.extend(["--tls-server-name", "elsewhere.example"].map(String::from));
    assert_refused(
        &observe(&pki, &tls_addr, "other.crt", &misnamed),
        "not valid for name",
    );
    // Plaintext against the TLS port.
    let out = observe(&pki, &plain_addr, "other.crt", &[] as &[&str]);
    assert!(!out.status.success(), "plaintext connected");

    // The unix socket stays plaintext.
    assert_observed(&flowd.flowctl(&["observe", "--last", "1", "-o", "json"]));
}

#[test]
fn allow_insecure_accepts_an_unverifiable_server_certificate() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.ca("other");
    pki.leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    let (_flowd, port) = flowd_with_tls(&pki, None);
    let addr = format!("tls://127.0.0.1:{port}");

    // Without a client CA, no client certificate is needed.
    assert_observed(&observe(&pki, &addr, "ca.crt", &[] as &[&str]));
    assert_refused(
        &observe(&pki, &addr, "other.crt", &[] as &[&str]),
        "UnknownIssuer",
    );
    assert_observed(&observe(
        &pki,
        &addr,
        "other.crt",
        &["--tls-allow-insecure"],
    ));
    let wrong_name = [
        "--tls-allow-insecure",
        "--tls-server-name",
        "elsewhere.example",
    ];
    assert_observed(&observe(&pki, &addr, "other.crt", &wrong_name));
}

#[test]
fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let pki = Pki::new();
    let old_ca = pki.ca("old");
    let new_ca = pki.ca("new");
    let client_ca = pki.ca("ca");
    pki.leaf(&old_ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    pki.leaf(&client_ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
    let (flowd, port) = flowd_with_tls(&pki, Some("ca.crt"));
    let addr = format!("tls://127.0.0.1:{port}");
    let with_ca = |ca: &str| observe(&pki, &addr, "ca.crt", &client_args(&pki, ca, "client"));
    assert_observed(&with_ca("old"));
    assert_refused(&with_ca("new"), "UnknownIssuer");

    pki.leaf(&new_ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = with_ca("new");
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_observed(&out);
    assert_refused(&with_ca("old"), "UnknownIssuer");
    assert!(
        flowd.log().contains("TLS certificates reloaded"),
        "{}",
        flowd.log()
    );
}

/// Runs flowd with `args` expecting it to refuse to start; returns its standard error.
fn flowd_refusing(dir: &Path, args: &[String]) -> String {
    let out = std::process::Command::new(flowscope_tests::bin("flowd"))
        .arg(format!("--listen-address=127.0.0.1:{}", free_port()))
        .arg(format!("--unix-socket={}", dir.join("api.sock").display()))
        .arg(format!(
            "--access-log-socket={}",
            dir.join("al.sock").display()
        ))
        .arg("--metrics-address=")
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?}: started");
    stderr(&out)
}

#[test]
fn flowd_refuses_unusable_tls_files() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    let cert = format!("--tls-cert-file={}", pki.path("server.crt"));
    let key = format!("--tls-key-file={}", pki.path("server.key"));

    let err = flowd_refusing(&pki.dir, std::slice::from_ref(&cert));
    assert!(err.contains("--tls-key-file"), "{err}");
    let missing = format!("--tls-client-ca-files={}", pki.path("absent.crt"));
    let err = flowd_refusing(&pki.dir, &[cert.clone(), key.clone(), missing]);
    assert!(
        err.contains("cannot read") && err.contains("absent.crt"),
        "{err}"
    );
    let not_a_cert = format!("--tls-client-ca-files={}", pki.path("server.key"));
    let err = flowd_refusing(&pki.dir, &[cert, key, not_a_cert]);
    assert!(err.contains("must be a PEM encoded certificate"), "{err}");
}

#[test]
fn flowtop_takes_the_tls_flags_and_shows_a_refusal() {
    use flowscope_tests::tmux::{Tmux, flowtop_command};
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    pki.leaf(&ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
    let (_flowd, port) = flowd_with_tls(&pki, Some("ca.crt"));
    let server = format!("tls://127.0.0.1:{port}");
    let client = client_args(&pki, "ca", "client");
    let bound = Duration::from_secs(30);

    // With the CA and a client certificate, the flow is shown.
    let dir = pki.dir.join("flowtop-mtls");
    let mut args = vec!["--server", server.as_str()];
    args.extend(client.iter().map(String::as_str));
    let tmux = Tmux::start(&dir, &flowtop_command(&dir, &args));
    tmux.wait_for(bound, "http://h/tls");
    drop(tmux);

    // Without the client certificate, the header says why the server refuses.
    let dir = pki.dir.join("flowtop-anonymous");
    let mut args = vec!["--server", server.as_str()];
    args.extend(client[..2].iter().map(String::as_str));
    let tmux = Tmux::start(&dir, &flowtop_command(&dir, &args));
    tmux.wait_for(bound, "CertificateRequired");
}
