//! `flowrelay`: serves one Observer API over every flowd node a Peer service announces.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use flowscope_proto::observer::observer_server::ObserverServer;
use flowscope_relay::pool::Pool;
use flowscope_relay::server::Relay;

#[derive(Parser, Debug)]
#[command(name = "flowrelay", version)]
struct Args {
    /// A node's Peer service (`HOST:PORT` or `unix:///path`): every node it announces is
    /// served, as Hubble Relay's `--peer-service`.
    #[arg(long)]
    peer_service: String,
    /// The relay's Observer API (`:4245` listens on every address, as Hubble Relay).
    #[arg(long, default_value = ":4245")]
    listen_address: String,
    /// Responses of followed streams kept for time ordering before the oldest is sent.
    #[arg(long, default_value_t = 100)]
    sort_buffer_len_max: usize,
    /// A followed stream sends what its sort buffer holds after this long without a
    /// response (Go duration, e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = flowscope_cli::goflags::parse_duration)]
    sort_buffer_drain_timeout: Duration,
}

fn listen_address(s: &str) -> anyhow::Result<SocketAddr> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .with_context(|| format!("invalid --listen-address {s:?}"))
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

async fn run(args: Args) -> anyhow::Result<()> {
    let addr = listen_address(&args.listen_address)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let pool = Pool::new();
    tokio::spawn(pool.clone().follow_peers(args.peer_service.clone()));
    tokio::spawn(pool.clone().keep_connected());
    let relay = Relay::new(
        pool,
        args.sort_buffer_len_max,
        args.sort_buffer_drain_timeout,
    );
    tracing::info!(address = %addr, peer_service = args.peer_service, "flowrelay listening");
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
    };
    tonic::transport::Server::builder()
        .add_service(ObserverServer::new(relay))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .context("gRPC server")?;
    Ok(())
}
