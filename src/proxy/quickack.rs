//! The proxy's connection to the app, acknowledging at once what it receives.
//!
//! A server that writes an answer in two pieces (head, then body) with Nagle's algorithm on
//! waits for the first piece's ACK before sending the second; a receiver that delays its ACKs
//! (Linux: up to 40 ms) then stalls every answer on a kept-alive connection. uvicorn `--fd 3`
//! is such a server (its socket from an fd is not taken for TCP, so asyncio leaves Nagle on):
//! 43 ms per request through hot's pool, against 1.7 ms on a fresh connection. Linux forgets
//! TCP_QUICKACK after a while, so it is set again after every read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct AppStream(pub TcpStream);

impl AppStream {
    #[cfg(target_os = "linux")]
    fn quick_ack(&self) {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: an int option on a socket this stream owns; the kernel reads `size_of` bytes
        // from `on`, which lives across the call. A failure only means delayed ACKs as before.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn quick_ack(&self) {}
}

impl AsyncRead for AppStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            self.quick_ack();
        }
        polled
    }
}

impl AsyncWrite for AppStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
