//! l7proxy: a small HTTP/1.1 ingress proxy that writes cilium-envoy access-log records.
//!
//! It stands in for the node's Envoy in tests and in the lab: a request from a client (world)
//! reaches the proxy under the `ingress` identity, which denies paths on its deny list with a
//! 403 (an http-request DROPPED flow plus the 403 response) and forwards the rest to one
//! upstream, logging both legs (world → ingress, ingress → pod) with one X-Request-Id.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use flowscope_proto::cilium::{
    EntryType, HttpLogEntry, HttpProtocol, KeyValue, LogEntry, log_entry,
};
use flowscope_server::source::accesslog::producer::Producer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const INGRESS: u32 = 8;
const MAX_HEAD: usize = 16 * 1024;

#[derive(Parser, Debug)]
#[command(name = "l7proxy")]
struct Args {
    /// Address to accept client connections on.
    #[arg(long)]
    listen: SocketAddr,
    /// The backend every allowed request goes to.
    #[arg(long)]
    upstream: SocketAddr,
    /// flowd's access-log socket.
    #[arg(long)]
    access_log: PathBuf,
    /// Requests whose path starts with this are denied with 403 (repeatable).
    #[arg(long)]
    deny_path: Vec<String>,
}

/// Sends records to flowd, reconnecting if flowd went away.
struct AccessLog {
    path: PathBuf,
    conn: Mutex<Option<Producer>>,
}

impl AccessLog {
    fn send(&self, entry: &LogEntry) {
        let bytes = prost::Message::encode_to_vec(entry);
        let mut conn = match self.conn.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        for _ in 0..2 {
            if conn.is_none() {
                *conn = Producer::connect(&self.path).ok();
            }
            match conn.as_ref().map(|c| c.send(&bytes)) {
                Some(Ok(())) => return,
                _ => *conn = None,
            }
        }
        eprintln!("l7proxy: access-log record lost (flowd unreachable)");
    }
}

struct Request {
    method: String,
    path: String,
    host: String,
    headers: Vec<(String, String)>,
    /// Head bytes as forwarded upstream (with X-Request-Id and Connection: close).
    upstream_head: Vec<u8>,
    /// Body bytes already read after the head.
    rest: Vec<u8>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

async fn read_head(s: &mut TcpStream) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok((buf, i + 4));
        }
        anyhow::ensure!(buf.len() < MAX_HEAD, "request head too large");
        let n = s.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed before the request head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_request(buf: &[u8], head_len: usize) -> anyhow::Result<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&buf[..head_len]).context("malformed request")?;
    let method = req.method.unwrap_or("GET").to_string();
    let path = req.path.unwrap_or("/").to_string();
    let mut hdrs: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let host = hdrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if !hdrs
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
    {
        hdrs.push(("X-Request-Id".to_string(), uuid::Uuid::new_v4().to_string()));
    }
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &hdrs {
        if !k.eq_ignore_ascii_case("connection") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    Ok(Request {
        method,
        path,
        host,
        headers: hdrs,
        upstream_head: head.into_bytes(),
        rest: buf[head_len..].to_vec(),
    })
}

#[allow(clippy::too_many_arguments)]
fn entry(
    t: EntryType,
    ingress: bool,
    src: SocketAddr,
    src_id: u32,
    dst: SocketAddr,
    dst_id: u32,
    req: &Request,
    status: u32,
) -> LogEntry {
    LogEntry {
        timestamp: now_ns(),
        is_ingress: ingress,
        entry_type: t as i32,
        source_security_id: src_id,
        destination_security_id: dst_id,
        source_address: src.to_string(),
        destination_address: dst.to_string(),
        l7: Some(log_entry::L7::Http(HttpLogEntry {
            http_protocol: HttpProtocol::Http11 as i32,
            scheme: "http".to_string(),
            host: req.host.clone(),
            path: req.path.clone(),
            method: req.method.clone(),
            status,
            headers: req
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn handle(mut client: TcpStream, args: Arc<Args>, log: Arc<AccessLog>) -> anyhow::Result<()> {
    let peer = client.peer_addr()?;
    let local = client.local_addr()?;
    let (buf, head_len) = read_head(&mut client).await?;
    let req = parse_request(&buf, head_len)?;
    // Leg 1: the client (world, resolved by IP) to the ingress proxy.
    let leg1 = |t, status| entry(t, true, peer, 0, local, INGRESS, &req, status);

    if args
        .deny_path
        .iter()
        .any(|p| req.path.starts_with(p.as_str()))
    {
        log.send(&leg1(EntryType::Denied, 0));
        let body = "Access denied\r\n";
        let resp = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(resp.as_bytes()).await?;
        log.send(&leg1(EntryType::Response, 403));
        return Ok(());
    }
    log.send(&leg1(EntryType::Request, 0));

    let mut upstream = match TcpStream::connect(args.upstream).await {
        Ok(u) => u,
        Err(_) => {
            client
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await?;
            log.send(&leg1(EntryType::Response, 503));
            return Ok(());
        }
    };
    let up_local = upstream.local_addr()?;
    let up_peer = upstream.peer_addr()?;
    // Leg 2: the ingress proxy to the backend pod (identity resolved by IP).
    let leg2 = |t, status| entry(t, false, up_local, INGRESS, up_peer, 0, &req, status);
    log.send(&leg2(EntryType::Request, 0));
    upstream.write_all(&req.upstream_head).await?;
    upstream.write_all(&req.rest).await?;

    // Response head, then the rest of the body as it comes.
    let mut resp = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let status = loop {
        let n = upstream.read(&mut chunk).await?;
        if n == 0 {
            break 502;
        }
        resp.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(_)) = r.parse(&resp) {
            break r.code.map_or(502, u32::from);
        }
        if resp.len() > MAX_HEAD {
            break 502;
        }
    };
    log.send(&leg2(EntryType::Response, status));
    client.write_all(&resp).await?;
    tokio::io::copy(&mut upstream, &mut client).await?;
    log.send(&leg1(EntryType::Response, status));
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let log = Arc::new(AccessLog {
        path: args.access_log.clone(),
        conn: Mutex::new(None),
    });
    eprintln!("l7proxy: listening on {} -> {}", args.listen, args.upstream);
    loop {
        let (conn, _) = listener.accept().await?;
        let (args, log) = (args.clone(), log.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(conn, args, log).await {
                eprintln!("l7proxy: {e:#}");
            }
        });
    }
}
