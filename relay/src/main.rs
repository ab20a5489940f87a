//! `flowrelay`: serves one Observer API over every flowd node a Peer service announces.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use flowscope_cli::tls::TlsOptions;
use flowscope_relay::metrics::Metrics;
use flowscope_relay::pool::{Links, Pool};
use flowscope_relay::server::{Relay, RelayService};
use flowscope_tls::server::{ReloadingConfig, TlsFiles};
use tokio_stream::wrappers::TcpListenerStream;

/// Hubble Relay's default Peer service is the local agent's socket; ours is a local flowd's.
const DEFAULT_PEER_SERVICE: &str = "unix:///run/flowscope/hubble.sock";

#[derive(Parser, Debug)]
#[command(name = "flowrelay", version)]
struct Args {
    /// A node's Peer service (`HOST:PORT` or `unix:///path`): every node it announces is
    /// served, as Hubble Relay's `--peer-service` [default: unix:///run/flowscope/hubble.sock
    /// unless --peer or --peer-dns is given].
    #[arg(long)]
    peer_service: Option<String>,
    /// A node to serve, `[NAME=]HOST:PORT` (repeatable), besides the Peer service's.
    #[arg(long = "peer")]
    peers: Vec<flowscope_peers::StaticPeer>,
    /// A DNS name whose A/AAAA records are nodes to serve, `NAME[:PORT]` (port 4244 by
    /// default), e.g. a Kubernetes headless Service; resolved again every
    /// --peer-dns-interval seconds.
    #[arg(long)]
    peer_dns: Option<flowscope_peers::DnsPeers>,
    /// Seconds between resolutions of --peer-dns.
    #[arg(long, default_value_t = 30)]
    peer_dns_interval: u64,
    /// The relay's Observer API (`:4245` listens on every address, as Hubble Relay).
    #[arg(long, default_value = ":4245")]
    listen_address: String,
    /// A second, plaintext listener for the gRPC health service, e.g. `:4222` (Hubble
    /// Relay's default); empty (the default) disables it. The Observer API's listener
    /// serves health too.
    #[arg(long, default_value = "")]
    health_listen_address: String,
    /// Prometheus metrics (`/metrics`), e.g. `:9966`; empty disables.
    #[arg(long, default_value = "")]
    metrics_listen_address: String,
    /// The cluster's name, part of the TLS server names nodes are verified against
    /// (`<node>.<cluster>.hubble-grpc.cilium.io`).
    #[arg(long, default_value = "default")]
    cluster_name: String,
    /// Responses of followed streams kept for time ordering before the oldest is sent.
    #[arg(long, default_value_t = 100)]
    sort_buffer_len_max: usize,
    /// A followed stream sends what is older than this (and everything after this long
    /// without a response) from its sort buffer (Go duration, e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = flowscope_cli::goflags::parse_duration)]
    sort_buffer_drain_timeout: Duration,
    /// TLS certificate (PEM) of the relay's Observer API; with its key it serves TLS only.
    /// Reloaded when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_relay_server_key_file")]
    tls_relay_server_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --tls-relay-server-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_relay_server_cert_file")]
    tls_relay_server_key_file: Option<PathBuf>,
    /// CAs (PEM; repeatable or comma-separated) clients' certificates must chain to: makes
    /// the relay's TLS mutual.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    tls_relay_client_ca_files: Vec<PathBuf>,
    /// Serve the Observer API in plaintext even if certificate files are given.
    #[arg(long)]
    disable_server_tls: bool,
    /// Client certificate (PEM) the relay presents to nodes and the Peer service (mTLS).
    #[arg(long, value_name = "FILE", requires = "tls_hubble_client_key_file")]
    tls_hubble_client_cert_file: Option<String>,
    /// Private key (PEM) of --tls-hubble-client-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_hubble_client_cert_file")]
    tls_hubble_client_key_file: Option<String>,
    /// CAs (PEM; repeatable or comma-separated) the nodes' certificates must chain to
    /// (default: the system's). Any of the --tls-hubble-* flags turns TLS to nodes on.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    tls_hubble_server_ca_files: Vec<String>,
    /// Connect to nodes and the Peer service in plaintext even if TLS files are given.
    #[arg(long)]
    disable_client_tls: bool,
}

impl Args {
    /// The TLS of the links to the nodes, when it is on.
    fn links(&self) -> Links {
        let any = self.tls_hubble_client_cert_file.is_some()
            || !self.tls_hubble_server_ca_files.is_empty();
        let tls = (any && !self.disable_client_tls).then(|| TlsOptions {
            enabled: true,
            ca_cert_files: self.tls_hubble_server_ca_files.clone(),
            client_cert_file: self.tls_hubble_client_cert_file.clone().unwrap_or_default(),
            client_key_file: self.tls_hubble_client_key_file.clone().unwrap_or_default(),
            ..TlsOptions::default()
        });
        Links {
            tls,
            cluster: self.cluster_name.clone(),
        }
    }

    /// The TLS of the relay's own listener, when it is on.
    fn server_tls(&self) -> Option<TlsFiles> {
        match (
            &self.tls_relay_server_cert_file,
            &self.tls_relay_server_key_file,
        ) {
            (Some(cert), Some(key)) if !self.disable_server_tls => Some(TlsFiles {
                cert_file: cert.clone(),
                key_file: key.clone(),
                client_ca_files: self.tls_relay_client_ca_files.clone(),
            }),
            _ => None,
        }
    }
}

/// `:PORT` listens on every address, as Go's listeners do; empty: none.
fn listen_address(s: &str, flag: &str) -> anyhow::Result<Option<SocketAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    flowscope_relay::metrics::listen_address(s)
        .map(Some)
        .with_context(|| format!("invalid --{flag} {s:?}"))
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what})"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowrelay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves at SIGINT or SIGTERM.
async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let addr = listen_address(&args.listen_address, "listen-address")?
        .context("--listen-address must not be empty")?;
    let health_addr = listen_address(&args.health_listen_address, "health-listen-address")?;
    let metrics_addr = listen_address(&args.metrics_listen_address, "metrics-listen-address")?;
    let tls = match args.server_tls() {
        Some(files) => Some(Arc::new(
            ReloadingConfig::load(files).context("relay server TLS")?,
        )),
        None => None,
    };
    let listener = bind(addr, "Observer API").await?;
    let health_listener = match health_addr {
        Some(a) => Some(bind(a, "health").await?),
        None => None,
    };
    let metrics_listener = match metrics_addr {
        Some(a) => Some(bind(a, "metrics").await?),
        None => None,
    };

    let metrics = Metrics::new();
    let links = args.links();
    let pool = Pool::new(links.clone(), metrics.clone());
    let peer_service = match &args.peer_service {
        Some(s) => Some(s.clone()),
        None if args.peers.is_empty() && args.peer_dns.is_none() => {
            Some(DEFAULT_PEER_SERVICE.to_string())
        }
        None => None,
    };
    if let Some(s) = &peer_service {
        tokio::spawn(pool.clone().follow_peers(s.clone()));
    }
    // Discovery runs as long as the relay: the sender lives to the end of `run`.
    let (_discovery_runs, discovery_stop) = tokio::sync::watch::channel(false);
    if !args.peers.is_empty() || args.peer_dns.is_some() {
        let found = flowscope_peers::spawn(
            flowscope_peers::PeerConfig {
                statics: args.peers.clone(),
                dns: args.peer_dns.clone(),
                interval: Duration::from_secs(args.peer_dns_interval),
            },
            None,
            discovery_stop,
        );
        tokio::spawn(pool.clone().follow_discovery(found));
    }
    tokio::spawn(pool.clone().keep_connected());
    if let Some(l) = metrics_listener {
        tokio::spawn(metrics.clone().serve(l));
    }
    let relay = RelayService::new(Relay::new(
        pool,
        args.sort_buffer_len_max,
        args.sort_buffer_drain_timeout,
    ));
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("observer.Observer", tonic_health::ServingStatus::Serving)
        .await;
    if let Some(l) = health_listener {
        let health = health.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(TcpListenerStream::new(l))
                .await
        });
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(flowscope_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("gRPC reflection")?;
    let router = tonic::transport::Server::builder()
        .add_service(relay)
        .add_service(health)
        .add_service(reflection_v1);
    tracing::info!(
        address = %addr,
        tls = tls.is_some(),
        mutual = tls.as_ref().is_some_and(|t| t.is_mutual()),
        client_tls = links.tls.is_some(),
        peer_service = peer_service.as_deref().unwrap_or("none"),
        peers = args.peers.len(),
        peer_dns = args.peer_dns.as_ref().map(|d| d.name.as_str()).unwrap_or("none"),
        "flowrelay listening"
    );
    match tls {
        Some(tls) => {
            let watched = tls.clone();
            tokio::spawn(async move {
                watched
                    .watch(
                        flowscope_tls::server::RELOAD_INTERVAL,
                        std::future::pending(),
                    )
                    .await
            });
            let incoming = flowscope_tls::server::incoming(listener, tls);
            router
                .serve_with_incoming_shutdown(incoming, shutdown())
                .await
        }
        None => {
            router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown())
                .await
        }
    }
    .context("gRPC server")
}
