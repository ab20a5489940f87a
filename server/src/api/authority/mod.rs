//! Lets gRPC clients that send an invalid `:authority` over the unix socket in.
//!
//! gRPC's C core (grpcio for Python, the C++, Ruby and PHP clients) names a `unix:` target's
//! authority after the socket path, percent-encoded: `unix:///run/flowscope/hubble.sock`
//! sends `:authority: run%2Fflowscope%2Fhubble.sock`. A `%` outside the userinfo is not a
//! valid URI authority, and h2 resets every such stream with PROTOCOL_ERROR before any
//! service runs; Go's gRPC server takes the value as it is. h2, hyper and tonic have no
//! setting to relax this, so accepted unix-socket connections are wrapped in
//! [`AuthorityRepair`], which rewrites such values in the incoming header blocks into valid
//! ones of the same length (see [`hpack`] for why the length matters). flowd does not use the
//! authority; the TCP listener is not wrapped.

pub mod frames;
pub mod hpack;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// Bytes read from the connection at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A server-side connection whose incoming `:authority` values are repaired; writes pass
/// straight through.
#[derive(Debug)]
pub struct AuthorityRepair<S> {
    inner: S,
    scanner: frames::Scanner,
    /// Scanned bytes not yet handed to the reader, from `ready_pos` on.
    ready: Vec<u8>,
    ready_pos: usize,
    eof: bool,
}

impl<S> AuthorityRepair<S> {
    pub fn new(inner: S) -> Self {
        AuthorityRepair {
            inner,
            scanner: frames::Scanner::default(),
            ready: Vec::new(),
            ready_pos: 0,
            eof: false,
        }
    }

    /// How many `:authority` values this connection had repaired so far.
    pub fn repaired(&self) -> u64 {
        self.scanner.repaired()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityRepair<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.ready_pos < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_pos);
                buf.put_slice(&this.ready[this.ready_pos..this.ready_pos + n]);
                this.ready_pos += n;
                if this.ready_pos == this.ready.len() {
                    this.ready.clear();
                    this.ready_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
                this.scanner.finish(&mut this.ready);
            } else {
                this.scanner.feed(read.filled(), &mut this.ready);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityRepair<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for AuthorityRepair<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[tokio::test]
    async fn reads_are_repaired_and_writes_pass_through() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = AuthorityRepair::new(server);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        // :authority (static 1) `a%b`, in a HEADERS frame with END_HEADERS on stream 1.
        let mut sent = PREFACE.to_vec();
        sent.extend([0, 0, 5, 0x1, 0x4, 0, 0, 0, 1, 0x41, 3, b'a', b'%', b'b']);
        let writer = tokio::spawn(async move {
            // Small pieces through a small pipe: the scanner sees them split anywhere.
            for piece in sent.chunks(5) {
                client_write.write_all(piece).await.expect("write");
            }
            client_write.shutdown().await.expect("shutdown");
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("read");
        writer.await.expect("writer");
        let mut want = PREFACE.to_vec();
        want.extend([0, 0, 5, 0x1, 0x4, 0, 0, 0, 1, 0x41, 3, b'a', b'-', b'b']);
        assert_eq!(got, want);
        assert_eq!(server.repaired(), 1);

        server.write_all(b"reply").await.expect("write");
        server.shutdown().await.expect("shutdown");
        let mut reply = Vec::new();
        client_read.read_to_end(&mut reply).await.expect("read");
        assert_eq!(reply, b"reply");
    }
}
