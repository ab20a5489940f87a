//! flowd: the Flowscope server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use flowscope_server::daemon::{self, Config};
use flowscope_server::parser::l7::RedactOptions;
use flowscope_server::source::accesslog::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_RECORD};
use flowscope_server::source::datapath::{Aggregation, Transport};

/// Flowscope server: Hubble-compatible flows from L7 proxy access logs.
#[derive(Parser, Debug)]
#[command(name = "flowd", version)]
struct Args {
    /// gRPC Observer API address (TCP); empty disables.
    #[arg(long, default_value = "127.0.0.1:4244")]
    listen_address: String,
    /// TLS certificate (PEM) of the Observer API's TCP listener; with --tls-key-file it
    /// serves TLS only. Reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM; repeatable or comma-separated) client certificates must be
    /// signed by: makes the TLS listener mutual (mTLS), refusing clients without one.
    #[arg(
        long,
        value_name = "FILES",
        value_delimiter = ',',
        requires = "tls_cert_file"
    )]
    tls_client_ca_files: Vec<PathBuf>,
    /// Observer API unix socket; empty disables.
    #[arg(long, default_value = "/run/flowscope/hubble.sock")]
    unix_socket: String,
    /// Access-log socket the L7 proxy connects to (SOCK_SEQPACKET).
    #[arg(long, default_value = "/run/flowscope/access_log.sock")]
    access_log_socket: PathBuf,
    /// Largest access-log record accepted; larger ones are counted as truncated.
    #[arg(long, default_value_t = DEFAULT_MAX_RECORD)]
    access_log_max_record: usize,
    /// Access-log producer connections served at once; further producers are closed at
    /// once and counted (flowscope_access_log_connections_refused_total).
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_access_log_connections: usize,
    /// Cluster-state YAML file (endpoints, labels, identities); reloaded on SIGHUP.
    #[arg(long)]
    state: Option<PathBuf>,
    /// The cluster's name: with TLS, the Peer service announces each node's TLS server name
    /// as `<node>.<cluster>.hubble-grpc.cilium.io`, as Cilium does.
    #[arg(long, default_value = "default")]
    cluster_name: String,
    /// Node name flows carry (default: the state file's, else the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// Another node the Peer service announces, `[NAME=]HOST:PORT` (repeatable).
    #[arg(long = "peer")]
    peers: Vec<flowscope_server::peers::StaticPeer>,
    /// A DNS name whose A/AAAA records are nodes the Peer service announces, `NAME[:PORT]`
    /// (port 4244 by default), e.g. a Kubernetes headless Service.
    #[arg(long)]
    peer_dns: Option<flowscope_server::peers::DnsPeers>,
    /// Seconds between resolutions of --peer-dns.
    #[arg(long, default_value_t = 30)]
    peer_dns_interval: u64,
    /// Flows kept for GetFlows history: 2^n-1 (4095, 65535, 1048575, ...).
    #[arg(long, default_value_t = 4095)]
    buffer_capacity: u64,
    /// Events queued between sources and the observer before they are counted as lost.
    #[arg(long, default_value_t = 16384)]
    event_queue_size: usize,
    /// Prometheus metrics address; empty disables.
    #[arg(long, default_value = "127.0.0.1:9965")]
    metrics_address: String,
    /// Hubble metrics to enable, in Hubble's syntax: space-separated handlers, each
    /// `name[:option=value;...]`, e.g. "flow drop httpV2:exemplars=true;sourceContext=pod".
    /// Comma-separated as in Cilium's Helm value also works ("dns,drop,flow").
    /// Handlers: flow, drop, tcp, port-distribution, icmp, policy, http, httpV2,
    /// flows-to-world, dns, kafka, sctp.
    #[arg(long, default_value = "")]
    metrics: String,
    /// Label sets (series) per Hubble metric; further ones are counted in the metric's
    /// overflow series (all labels "__overflow__"). 0 means unlimited.
    #[arg(long, default_value_t = flowscope_server::metrics::DEFAULT_SERIES_LIMIT)]
    metrics_series_limit: usize,
    /// Attach the eBPF datapath to this interface (repeatable): tc ingress sees packets
    /// from the endpoint behind it, tc egress packets to it.
    #[arg(long = "interface")]
    interfaces: Vec<String>,
    /// If another flowd's programs are attached to an --interface, detach them and attach
    /// ours (by default flowd refuses to start rather than chain a second copy).
    #[arg(long)]
    replace_datapath: bool,
    /// CiliumNetworkPolicy YAML (a supported subset) enforced by the datapath; reloaded on SIGHUP.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Monitor aggregation of datapath trace events.
    #[arg(long, value_enum, default_value = "medium")]
    monitor_aggregation: Aggregation,
    /// How datapath events reach flowd: a BPF ring buffer with batched wake-ups (the
    /// default: measured at half of flowd's CPU per event and a fifth of the senders'
    /// overhead, see BENCHMARKS.md), or a perf event array (one ring per CPU).
    #[arg(long, value_enum, default_value = "ringbuf")]
    datapath_transport: Transport,
    /// Ring buffer: wake the reader once this many bytes are queued (else every 10 ms).
    #[arg(long, default_value_t = 64 * 1024)]
    ringbuf_wakeup_bytes: u32,
    /// Perf ring pages per CPU (a power of two).
    #[arg(long, default_value_t = 64)]
    perf_pages: usize,
    /// Packet bytes copied after each datapath event header (at most 128).
    #[arg(long, default_value_t = 128)]
    trace_payloadlen: u32,
    /// DNS packets (UDP and TCP port 53) are copied up to this many bytes (at most 512) and
    /// decoded into DNS flows; 0 turns DNS flows off.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(0..=512))]
    dns_capture_len: u32,
    /// Replace the password of URL user-info with HUBBLE_REDACTED.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    redact_http_userinfo: bool,
    /// Drop URL query strings and fragments.
    #[arg(long)]
    redact_http_urlquery: bool,
    /// Keep only these HTTP header values (others become HUBBLE_REDACTED); comma-separated.
    #[arg(long, value_delimiter = ',')]
    redact_http_headers_allow: Vec<String>,
    /// Redact these HTTP header values; comma-separated. Replaces the default list of
    /// credential headers; an empty value redacts none.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_DENY)]
    redact_http_headers_deny: Vec<String>,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "FLOWD_LOG", default_value = "info")]
    log: String,
}

/// `--redact-http-headers-deny`'s default: the credential headers, comma-separated.
const DEFAULT_DENY: &str = "authorization,proxy-authorization,cookie,set-cookie,x-api-key,\
                            x-auth-token,x-access-token,x-csrf-token,x-xsrf-token,\
                            x-amz-security-token";

fn optional_addr(s: &str, what: &str) -> anyhow::Result<Option<SocketAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .with_context(|| format!("invalid {what} {s:?}"))
}

/// The listener's TLS files, when a certificate and key are given (clap requires both).
fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_cas: Vec<PathBuf>,
) -> Option<flowscope_server::tls::TlsFiles> {
    Some(flowscope_server::tls::TlsFiles {
        cert_file: cert?,
        key_file: key?,
        client_ca_files: client_cas
            .into_iter()
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let lower = |v: Vec<String>| {
        v.into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    };
    let cfg = Config {
        listen_address: optional_addr(&args.listen_address, "--listen-address")?,
        tls: tls_files(
            args.tls_cert_file,
            args.tls_key_file,
            args.tls_client_ca_files,
        ),
        cluster_name: args.cluster_name,
        unix_socket: (!args.unix_socket.is_empty()).then(|| PathBuf::from(&args.unix_socket)),
        access_log_socket: args.access_log_socket,
        access_log_max_record: args.access_log_max_record,
        max_access_log_connections: args.max_access_log_connections,
        state_file: args.state,
        node_name: args.node_name,
        buffer_capacity: args.buffer_capacity,
        event_queue_size: args.event_queue_size,
        metrics_address: optional_addr(&args.metrics_address, "--metrics-address")?,
        metrics: flowscope_server::metrics::MetricsSpec::parse(&args.metrics)
            .context("invalid --metrics")?,
        metrics_series_limit: args.metrics_series_limit,
        redact: RedactOptions {
            url_user_info: args.redact_http_userinfo,
            url_query: args.redact_http_urlquery,
            headers_allow: lower(args.redact_http_headers_allow),
            headers_deny: lower(args.redact_http_headers_deny),
        },
        interfaces: args.interfaces,
        replace_datapath: args.replace_datapath,
        policy_file: args.policy,
        aggregation: args.monitor_aggregation,
        perf_pages: args.perf_pages,
        cap_len: args.trace_payloadlen,
        dns_cap_len: args.dns_capture_len,
        transport: args.datapath_transport,
        wakeup_bytes: args.ringbuf_wakeup_bytes,
        peers: flowscope_server::peers::PeerConfig {
            statics: args.peers,
            dns: args.peer_dns,
            interval: std::time::Duration::from_secs(args.peer_dns_interval.max(1)),
        },
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    daemon::run(cfg, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deny_flag_matches_the_library_default() {
        let args = Args::parse_from(["flowd"]);
        assert_eq!(
            args.redact_http_headers_deny,
            flowscope_server::parser::redact::default_denied_headers()
        );
        let args = Args::parse_from(["flowd", "--redact-http-headers-deny="]);
        assert_eq!(args.redact_http_headers_deny, vec![String::new()]);
    }
}
