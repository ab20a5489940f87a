//! The L7 proxy access-log socket: a unix `SOCK_SEQPACKET` listener, one serialized
//! `cilium.LogEntry` per datagram (spec §10.1), any number of producer connections.
//!
//! tokio has no seqpacket listener and truncation (`MSG_TRUNC`) is only visible through
//! `recvmsg`'s flags, so the socket calls are made through `libc` and driven by `AsyncFd`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;

use super::SourceError;
use crate::observer::{EventSender, SourceEvent};
use crate::stats::{Stats, warn_limited};

/// Default receive buffer: records larger than this are counted as truncated and dropped.
/// Cilium uses 4 KiB; larger buffers lose fewer records with long URLs or many headers.
pub const DEFAULT_MAX_RECORD: usize = 64 * 1024;

/// A bound, listening access-log socket.
pub struct AccessLogListener {
    fd: AsyncFd<OwnedFd>,
    path: PathBuf,
}

impl AccessLogListener {
    /// Creates the parent directory, replaces a stale socket file, binds, listens and sets
    /// mode 0660.
    pub fn bind(path: &Path) -> Result<Self, SourceError> {
        let err = |what, source| SourceError::Io {
            what,
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err("cannot create directory for", e))?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                std::fs::remove_file(path).map_err(|e| err("cannot remove stale socket", e))?;
            } else {
                return Err(err(
                    "refusing to replace non-socket file",
                    io::Error::from(io::ErrorKind::AlreadyExists),
                ));
            }
        }
        let fd = socket().map_err(|e| err("cannot create socket for", e))?;
        bind_unix(&fd, path).map_err(|e| err("cannot bind", e))?;
        // SAFETY: `fd` is a valid socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
            return Err(err("cannot listen on", io::Error::last_os_error()));
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| err("cannot chmod", e))?;
        let fd = register(fd).map_err(|e| err("cannot register", e))?;
        Ok(AccessLogListener {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts producers forever; each connection gets its own reader task.
    pub async fn run(self, sender: EventSender, stats: Arc<Stats>, max_record: usize) {
        loop {
            let conn = match self.accept().await {
                Ok(c) => c,
                Err(e) => {
                    warn_limited(
                        &stats.warn_source,
                        format_args!("access-log accept failed: {e}"),
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let sender = sender.clone();
            let stats = stats.clone();
            tokio::spawn(async move {
                stats.access_log_connections.inc();
                if let Err(e) = read_connection(conn, &sender, &stats, max_record).await {
                    tracing::debug!(error = %e, "access-log connection ended");
                }
                stats.access_log_connections.dec();
            });
        }
    }

    async fn accept(&self) -> io::Result<AsyncFd<OwnedFd>> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| accept(fd.get_ref().as_raw_fd())) {
                Ok(Ok(fd)) => return register(fd),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

impl Drop for AccessLogListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn read_connection(
    conn: AsyncFd<OwnedFd>,
    sender: &EventSender,
    stats: &Stats,
    max_record: usize,
) -> io::Result<()> {
    let mut buf = vec![0u8; max_record.max(1)];
    loop {
        let mut guard = conn.readable().await?;
        let (n, truncated) =
            match guard.try_io(|fd| recv_datagram(fd.get_ref().as_raw_fd(), &mut buf)) {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            };
        if n == 0 && !truncated {
            return Ok(()); // orderly shutdown by the producer
        }
        stats.access_log_received.inc();
        if truncated {
            stats.access_log_truncated.inc();
            warn_limited(
                &stats.warn_source,
                format_args!(
                    "discarded truncated access-log record larger than {max_record} bytes (counted in flowscope_source_records_dropped_total{{reason=\"truncated\"}})"
                ),
            );
            continue;
        }
        sender.send(SourceEvent::AccessLog(buf[..n].to_vec()));
    }
}

fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the descriptor, so it stays open for as long as
    // it is registered with the reactor.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before being wrapped.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A `sockaddr_un` for `path` and its length.
fn unix_addr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

fn bind_unix(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let (addr, len) = unix_addr(path)?;
    // SAFETY: `addr` is a valid sockaddr_un and `len` does not exceed its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: accept4 with null address pointers is valid; the result is checked.
    let c = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if c < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `c` is a new descriptor returned by accept4 that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(c) })
}

/// Receives one datagram: `(bytes copied, truncated)`.
fn recv_datagram(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; zeroed is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: `msg` points at one iovec covering `buf`, which outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, msg.msg_flags & libc::MSG_TRUNC != 0))
}

/// A producer-side connection, for tests, benchmarks and tools that feed flowd.
pub mod producer {
    use super::*;

    /// A connected `SOCK_SEQPACKET` client (blocking).
    pub struct Producer {
        fd: OwnedFd,
    }

    impl Producer {
        pub fn connect(path: &Path) -> io::Result<Self> {
            // SAFETY: plain socket(2) call, checked below.
            let fd = unsafe {
                libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fresh descriptor, owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let (addr, len) = unix_addr(path)?;
            // SAFETY: valid address of the given length.
            let rc = unsafe {
                libc::connect(
                    fd.as_raw_fd(),
                    (&addr as *const libc::sockaddr_un).cast(),
                    len,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Producer { fd })
        }

        /// Sends one datagram (one record).
        pub fn send(&self, record: &[u8]) -> io::Result<()> {
            // SAFETY: `record` is a valid buffer for the duration of the call.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    record.as_ptr().cast(),
                    record.len(),
                    libc::MSG_EOR | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::producer::Producer;
    use super::*;
    use crate::identity::{ClusterState, StateHandle};
    use crate::observer::{Observer, ObserverConfig};
    use crate::parser::l7::{RedactOptions, build::http_entry};
    use flowscope_proto::cilium::EntryType;
    use prometheus_client::registry::Registry;

    #[tokio::test]
    async fn truncated_garbage_and_good_records_from_two_producers() {
        let dir = std::env::temp_dir().join(format!("flowscope-al-{}", std::process::id()));
        let path = dir.join("sub/access_log.sock");
        let listener = AccessLogListener::bind(&path).expect("bind");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let stats = Arc::new(Stats::new(&mut Registry::default()));
        let state = Arc::new(StateHandle::new(ClusterState::empty("n")));
        let (observer, sender, handle) = Observer::new(
            ObserverConfig {
                ring_capacity: 15,
                queue_size: 64,
                redact: RedactOptions::default(),
                processors: Vec::new(),
            },
            state,
            stats.clone(),
        )
        .expect("observer");
        tokio::spawn(observer.run());
        tokio::spawn(listener.run(sender, stats.clone(), 1024));

        let good = prost::Message::encode_to_vec(&http_entry(
            EntryType::Request,
            1,
            "10.0.0.1:1",
            0,
            "10.0.0.2:80",
            0,
            "GET",
            "h",
            "/",
            0,
            &[],
        ));
        let p = path.clone();
        let g = good.clone();
        tokio::task::spawn_blocking(move || {
            let a = Producer::connect(&p).expect("connect a");
            let b = Producer::connect(&p).expect("connect b");
            a.send(&g).expect("send");
            b.send(&[0xff; 7]).expect("send garbage");
            b.send(&vec![0u8; 4096]).expect("send oversize");
            a.send(&g).expect("send");
            drop(a);
            let c = Producer::connect(&p).expect("reconnect");
            c.send(&g).expect("send");
        })
        .await
        .expect("producers");

        for _ in 0..200 {
            if handle.seen_flows() == 3 && stats.access_log_undecodable.get() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(handle.seen_flows(), 3);
        assert_eq!(stats.access_log_received.get(), 5);
        assert_eq!(stats.access_log_truncated.get(), 1);
        assert_eq!(stats.access_log_undecodable.get(), 1);
        assert_eq!(stats.access_log_decoded.get(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
