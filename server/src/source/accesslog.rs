//! The L7 proxy access-log socket: a unix `SOCK_SEQPACKET` listener, one serialized
//! `cilium.LogEntry` per datagram (spec §10.1), any number of producer connections.
//!
//! tokio has no seqpacket listener and truncation (`MSG_TRUNC`) is only visible through
//! `recvmsg`'s flags, so the socket calls are made through `libc` and driven by `AsyncFd`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::unix::AsyncFd;

use super::SourceError;
use crate::observer::EventSender;
use crate::sockets::{OwnedPath, unix_addr};
use crate::stats::{Stats, warn_limited};

/// Default receive buffer: records larger than this are counted as truncated and dropped.
/// Cilium uses 4 KiB; larger buffers lose fewer records with long URLs or many headers.
pub const DEFAULT_MAX_RECORD: usize = 64 * 1024;

/// Default cap on concurrent producer connections: each one holds a descriptor, and 1,100
/// idle producers once exhausted a 1,024-descriptor limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// A bound, listening access-log socket.
pub struct AccessLogListener {
    fd: AsyncFd<OwnedFd>,
    /// Removed when the listener drops, if the path still names our socket.
    path: OwnedPath,
}

impl AccessLogListener {
    /// Creates the parent directory (0750), replaces a stale socket file (a live one is
    /// refused), binds, listens and sets mode 0660.
    pub fn bind(path: &Path) -> Result<Self, SourceError> {
        let err = |what, source| SourceError::Io {
            what,
            path: path.display().to_string(),
            source,
        };
        crate::sockets::prepare(path)?;
        let fd = socket().map_err(|e| err("cannot create socket for", e))?;
        bind_unix(&fd, path).map_err(|e| err("cannot bind", e))?;
        let owned = OwnedPath::claim(path)?;
        // SAFETY: `fd` is a valid socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
            return Err(err("cannot listen on", io::Error::last_os_error()));
        }
        let fd = register(fd).map_err(|e| err("cannot register", e))?;
        Ok(AccessLogListener { fd, path: owned })
    }

    pub fn path(&self) -> &Path {
        self.path.path()
    }

    /// Accepts producers forever; each connection gets its own reader task. Beyond
    /// `max_connections` open ones, new producers are closed at once and counted.
    pub async fn run(
        self,
        sender: EventSender,
        stats: Arc<Stats>,
        max_record: usize,
        max_connections: usize,
    ) {
        let open = Arc::new(AtomicUsize::new(0));
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
            if open.load(Ordering::Relaxed) >= max_connections {
                drop(conn);
                stats.access_log_connections_refused.inc();
                warn_limited(
                    &stats.warn_source,
                    format_args!(
                        "refused an access-log producer: {max_connections} connections are open (--max-access-log-connections; counted in flowscope_access_log_connections_refused_total)"
                    ),
                );
                continue;
            }
            open.fetch_add(1, Ordering::Relaxed);
            let sender = sender.clone();
            let stats = stats.clone();
            let open = open.clone();
            tokio::spawn(async move {
                stats.access_log_connections.inc();
                if let Err(e) = read_connection(conn, &sender, &stats, max_record).await {
                    tracing::debug!(error = %e, "access-log connection ended");
                }
                stats.access_log_connections.dec();
                open.fetch_sub(1, Ordering::Relaxed);
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
            if peer_closed(fd_of(&conn))? {
                return Ok(()); // orderly shutdown by the producer
            }
            // A zero-length datagram: recvmsg reports it exactly like end of stream.
            stats.access_log_received.inc();
            stats.access_log_empty.inc();
            warn_limited(
                &stats.warn_source,
                format_args!(
                    "discarded an empty access-log record (counted in flowscope_source_records_dropped_total{{reason=\"empty\"}})"
                ),
            );
            continue;
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
        sender.access_log(&buf[..n]);
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

fn fd_of(conn: &AsyncFd<OwnedFd>) -> RawFd {
    conn.get_ref().as_raw_fd()
}

/// After `recvmsg` returned 0: whether that was the end of the connection rather than a
/// zero-length datagram. Without a hang-up it was a datagram. After a hang-up, queued bytes
/// mean records still follow (the 0 was a datagram before them); with none left, the
/// connection is over (only further empty datagrams could remain, and they carry nothing).
fn peer_closed(fd: RawFd) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    if unsafe { libc::poll(&mut pfd, 1, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if pfd.revents & (libc::POLLRDHUP | libc::POLLHUP) == 0 {
        return Ok(false);
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int: the bytes queued on a unix seqpacket socket.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(queued == 0)
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
            let fd = crate::sockets::connect(path, libc::SOCK_SEQPACKET)?;
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
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn truncated_garbage_and_good_records_from_two_producers() {
        let (path, stats, handle) = harness("producers", 16);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);

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
        remove_harness_dir(&path);
    }

    /// Removes the directory [`harness`] made for `path`.
    fn remove_harness_dir(path: &std::path::Path) {
        if let Some(dir) = path.parent().and_then(std::path::Path::parent) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// An observer fed by a listener on a fresh path; returns what the tests look at.
    fn harness(
        name: &str,
        max_connections: usize,
    ) -> (
        std::path::PathBuf,
        Arc<Stats>,
        Arc<crate::observer::ObserverHandle>,
    ) {
        let dir = std::env::temp_dir().join(format!("flowscope-al-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // In a directory bind creates (with the socket's own mode).
        let path = dir.join("sub/access_log.sock");
        let listener = AccessLogListener::bind(&path).expect("bind");
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
        tokio::spawn(listener.run(sender, stats.clone(), 1024, max_connections));
        (path, stats, handle)
    }

    fn good_record() -> Vec<u8> {
        prost::Message::encode_to_vec(&http_entry(
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
        ))
    }

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn empty_datagram_is_counted_not_taken_for_end_of_stream() {
        let (path, stats, handle) = harness("empty", 16);
        let good = good_record();
        let p = Producer::connect(&path).expect("connect");
        p.send(&good).expect("send");
        p.send(&[]).expect("send empty");
        p.send(&good).expect("send");
        wait_until("two flows and one empty record", || {
            handle.seen_flows() == 2 && stats.access_log_empty.get() == 1
        })
        .await;
        // The connection is still served.
        p.send(&good).expect("send after empty");
        wait_until("third flow", || handle.seen_flows() == 3).await;
        assert_eq!(stats.access_log_connections.get(), 1);
        // Empty, then records, then close: nothing queued after the empty datagram is lost.
        p.send(&[]).expect("send empty");
        p.send(&good).expect("send");
        drop(p);
        wait_until("fourth flow", || handle.seen_flows() == 4).await;
        wait_until("connection closed", || {
            stats.access_log_connections.get() == 0
        })
        .await;
        assert_eq!(stats.access_log_received.get(), 6);
        assert_eq!(stats.access_log_empty.get(), 2);
        assert_eq!(stats.access_log_decoded.get(), 4);
        remove_harness_dir(&path);
    }

    #[tokio::test]
    async fn producers_beyond_the_cap_are_refused_and_counted() {
        let (path, stats, handle) = harness("cap", 2);
        let a = Producer::connect(&path).expect("a");
        let b = Producer::connect(&path).expect("b");
        wait_until("two connections", || {
            stats.access_log_connections.get() == 2
        })
        .await;
        let c = Producer::connect(&path).expect("c is accepted by the kernel");
        let d = Producer::connect(&path).expect("d");
        wait_until("two refusals", || {
            stats.access_log_connections_refused.get() == 2
        })
        .await;
        assert_eq!(stats.access_log_connections.get(), 2);
        // The refused ones are closed: sending fails once flowd has closed its end.
        let good = good_record();
        assert!(c.send(&good).is_err() && d.send(&good).is_err());
        a.send(&good).expect("a");
        b.send(&good).expect("b");
        wait_until("flows of the admitted producers", || {
            handle.seen_flows() == 2
        })
        .await;
        // A slot freed is a slot for the next producer.
        drop(a);
        wait_until("one connection", || stats.access_log_connections.get() == 1).await;
        let e = Producer::connect(&path).expect("e");
        e.send(&good).expect("e");
        wait_until("flow of e", || handle.seen_flows() == 3).await;
        remove_harness_dir(&path);
    }
}
