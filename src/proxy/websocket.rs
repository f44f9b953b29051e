//! A WebSocket (or any upgraded connection) between a browser and the app, byte for byte.
//!
//! One thing is added: when the app's side ends without a WebSocket close frame (it was
//! stopped for a restart), the browser gets a close frame with code 1012 "service restart"
//! instead of a bare end of stream, so that its `onclose` sees a clean close with a reason it
//! can act on (reconnect).

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Close frame, FIN + opcode 8, unmasked (server to client), payload: code 1012 and a reason.
const RESTART_CLOSE: &[u8] = b"\x88\x10\x03\xf4app restarting";

pub async fn tunnel(client: OnUpgrade, app: OnUpgrade) {
    let (Ok(client), Ok(app)) = (client.await, app.await) else {
        return;
    };
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut app_read, mut app_write) = tokio::io::split(TokioIo::new(app));
    let upstream = async {
        let _ = tokio::io::copy(&mut client_read, &mut app_write).await;
        let _ = app_write.shutdown().await;
    };
    let downstream = async {
        let mut frames = Frames::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match app_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    frames.feed(&buf[..n]);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !frames.closed && frames.at_boundary() {
            let _ = client_write.write_all(RESTART_CLOSE).await;
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Follows the frame boundaries of the app-to-browser direction, to know whether a close frame
/// went by and whether a frame of hot's own may be added.
#[derive(Debug, Default)]
struct Frames {
    /// Bytes of the current frame's header collected so far.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    closed: bool,
}

impl Frames {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some((opcode, payload)) = parse_header(&self.header) {
                if opcode == 8 {
                    self.closed = true;
                }
                self.payload_left = payload;
                self.header.clear();
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.header.is_empty() && self.payload_left == 0
    }
}

/// The opcode and payload length once `header` holds a whole frame header.
fn parse_header(header: &[u8]) -> Option<(u8, u64)> {
    let [first, second, rest @ ..] = header else {
        return None;
    };
    let masked = second & 0x80 != 0;
    let mask_len = if masked { 4 } else { 0 };
    let (len, ext) = match second & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            2,
        ),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
        n => (u64::from(n), 0),
    };
    (rest.len() == ext + mask_len).then_some((first & 0x0f, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_followed_across_reads() {
        let mut f = Frames::default();
        // "hi" text frame, then a 300-byte binary frame split over two reads.
        f.feed(b"\x81\x02hi");
        assert!(f.at_boundary());
        let mut big = vec![0x82, 126, 0x01, 0x2c];
        big.extend(std::iter::repeat_n(7u8, 300));
        f.feed(&big[..100]);
        assert!(!f.at_boundary());
        f.feed(&big[100..]);
        assert!(f.at_boundary() && !f.closed);
        f.feed(b"\x88\x02\x03\xe8");
        assert!(f.closed);
    }

    #[test]
    fn the_restart_close_frame_is_well_formed() {
        assert_eq!(parse_header(&RESTART_CLOSE[..2]), Some((8, 16)));
        assert_eq!(RESTART_CLOSE.len(), 2 + 16);
    }
}
