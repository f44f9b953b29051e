//! Knowing when an app is ready, not just started: the systemd notify socket every app gets,
//! and the TCP and HTTP probes for apps that do not speak it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::RawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::event::{AppId, Event, NotifyMessage, ReadyVia};

/// The datagram socket whose path every app finds in `NOTIFY_SOCKET`.
///
/// It lives in a directory of its own that only hot's user may enter (0700), so no other user
/// can say READY=1. On Linux the kernel also attaches the sender's pid to each datagram
/// (SO_PASSCRED), so a message is attributed to the app whose process group sent it, even when
/// two apps run at once. macOS and the BSDs attach no pid to datagrams: there a message is taken
/// as the newest app's (the one being started), which is right for every restart hot does.
#[derive(Debug)]
pub struct NotifySocket {
    dir: PathBuf,
    path: PathBuf,
}

/// The longest notify datagram read; the protocol's messages are a few short lines.
const MAX_DATAGRAM: usize = 4096;

impl NotifySocket {
    /// Binds the socket in the temp dir and forwards every message as `Event::Notified`.
    pub fn bind(events: Sender<Event>) -> io::Result<NotifySocket> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("hot-{}", std::process::id()));
        // A leftover from an earlier hot with the same pid (the pid was reused).
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path)?;
        #[cfg(linux_native)]
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::PassCred, &true)
            .map_err(io::Error::from)?;
        thread::Builder::new()
            .name("notify".into())
            .spawn(move || receive(&socket, &events))?;
        Ok(NotifySocket { dir, path })
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Reads datagrams with the sender's pid attached by the kernel.
#[cfg(linux_native)]
fn receive(socket: &UnixDatagram, events: &Sender<Event>) {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg};
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; MAX_DATAGRAM];
    loop {
        let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<UnixAddr>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            // The socket itself failed: nothing more will arrive.
            Err(_) => return,
        };
        let len = msg.bytes;
        let pid = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|c| match c {
                ControlMessageOwned::ScmCredentials(creds) => u32::try_from(creds.pid()).ok(),
                _ => None,
            })
        });
        // Without a sender the message cannot be attributed: ignore it.
        let Some(pid) = pid else { continue };
        let message = NotifyMessage::parse(&buf[..len]);
        let sender = Some(pid);
        if events.send(Event::Notified { sender, message }).is_err() {
            return;
        }
    }
}

/// Reads datagrams; the OS says nothing of who sent them.
#[cfg(not(linux_native))]
fn receive(socket: &UnixDatagram, events: &Sender<Event>) {
    let mut buf = [0u8; MAX_DATAGRAM];
    loop {
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let message = NotifyMessage::parse(&buf[..len]);
        if events
            .send(Event::Notified {
                sender: None,
                message,
            })
            .is_err()
        {
            return;
        }
    }
}

/// What a probe connects to.
#[derive(Debug, Clone)]
pub enum ProbeTarget {
    /// `GET path` on this address; ready on `expect`, or any status below 500.
    Http {
        addr: SocketAddr,
        path: String,
        expect: Option<u16>,
    },
    /// A socket the app binds itself: ready once a connection is accepted.
    Connect(SocketAddr),
    /// A socket hot holds (`listener` is hot's copy): a connection always succeeds there,
    /// because the kernel queues it, so ready means the app took it off the queue.
    Accepted { addr: SocketAddr, listener: RawFd },
}

/// Time between probe attempts.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// How long one HTTP attempt may wait for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes `target` on a thread until it answers, then sends `AppReady`; gives up quietly once
/// `gone` is set (the app exited). Each failed HTTP attempt is kept in `last_attempt`, for a
/// `--once` that gives up to say why.
pub fn probe(
    target: ProbeTarget,
    app: AppId,
    gone: Arc<AtomicBool>,
    last_attempt: Arc<Mutex<Option<String>>>,
    events: Sender<Event>,
) -> io::Result<()> {
    thread::Builder::new().name("probe".into()).spawn(move || {
        let (ready, via) = match &target {
            ProbeTarget::Http { addr, path, expect } => (
                until(&gone, || {
                    let attempt = http_status(*addr, path, PROBE_TIMEOUT, "hot");
                    let ok = match &attempt {
                        Ok(status) => expect.map_or(*status < 500, |e| *status == e),
                        Err(_) => false,
                    };
                    if !ok {
                        if let Ok(mut last) = last_attempt.lock() {
                            *last = Some(match attempt {
                                Ok(status) => format!("HTTP {status}"),
                                Err(e) => e,
                            });
                        }
                    }
                    ok
                }),
                ReadyVia::Http,
            ),
            ProbeTarget::Connect(addr) => (
                until(&gone, || {
                    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
                }),
                ReadyVia::Tcp,
            ),
            ProbeTarget::Accepted { addr, listener } => {
                // One probe connection: it waits in the queue until the app takes it (a
                // connection per attempt would leave the app a pile of dead ones to accept).
                let ready = match TcpStream::connect_timeout(addr, Duration::from_secs(1)) {
                    Ok(probe) => taken(*listener, probe, &gone),
                    Err(_) => false,
                };
                (ready, ReadyVia::Tcp)
            }
        };
        if ready {
            let _ = events.send(Event::AppReady { app, via });
        }
    })?;
    Ok(())
}

/// Sends `AppReady` (started) once the app has kept running for `settle`.
pub fn settle(
    settle: Duration,
    app: AppId,
    gone: Arc<AtomicBool>,
    events: Sender<Event>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("settle".into())
        .spawn(move || {
            thread::sleep(settle);
            if !gone.load(Ordering::Relaxed) {
                let via = ReadyVia::Started;
                let _ = events.send(Event::AppReady { app, via });
            }
        })?;
    Ok(())
}

/// Polls `check` until it holds (true) or the app is gone (false).
fn until(gone: &AtomicBool, mut check: impl FnMut() -> bool) -> bool {
    while !gone.load(Ordering::Relaxed) {
        if check() {
            return !gone.load(Ordering::Relaxed);
        }
        thread::sleep(PROBE_INTERVAL);
    }
    false
}

/// Whether the app took `probe` off the queue of `listener`, hot's copy of its socket: the
/// queue is empty. Linux and FreeBSD show its length.
#[cfg(any(linux_native, target_os = "freebsd"))]
fn taken(listener: RawFd, _probe: TcpStream, gone: &AtomicBool) -> bool {
    until(gone, || queued(listener) == Some(0))
}

/// macOS shows no accept queue (nor does Linux built `portable`, which runs this path): the
/// app must take the probe connection and react to a request on it. Any answer, a close or a
/// reset means it accepted; every HTTP server, and most other servers, do one of these.
#[cfg(not(any(linux_native, target_os = "freebsd")))]
fn taken(_listener: RawFd, mut probe: TcpStream, gone: &AtomicBool) -> bool {
    if probe
        .write_all(b"HEAD / HTTP/1.0\r\nUser-Agent: hot\r\n\r\n")
        .is_err()
    {
        return !gone.load(Ordering::Relaxed);
    }
    let _ = probe.set_read_timeout(Some(PROBE_INTERVAL * 10));
    let mut byte = [0u8; 1];
    while !gone.load(Ordering::Relaxed) {
        match probe.read(&mut byte) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Bytes, the end of the stream, or a reset: the app has the connection.
            _ => return !gone.load(Ordering::Relaxed),
        }
    }
    false
}

/// Connections waiting in a listening socket's accept queue (Linux: `tcpi_unacked` of a
/// listening socket is its current backlog).
#[cfg(linux_native)]
fn queued(listener: RawFd) -> Option<u32> {
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            listener,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        );
        (rc == 0).then_some(info.tcpi_unacked)
    }
}

/// FreeBSD: the complete-connection queue's length (SO_LISTENQLEN).
#[cfg(target_os = "freebsd")]
fn queued(listener: RawFd) -> Option<u32> {
    // SAFETY: an int-sized option into an int; getsockopt writes at most `len` bytes.
    unsafe {
        let mut qlen: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = libc::getsockopt(
            listener,
            libc::SOL_SOCKET,
            libc::SO_LISTENQLEN,
            (&raw mut qlen).cast(),
            &raw mut len,
        );
        (rc == 0).then(|| u32::try_from(qlen).unwrap_or(0))
    }
}

/// One HTTP GET; the status code of the answer.
pub fn http_status(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    agent: &str,
) -> Result<u16, String> {
    let timeout = timeout.max(Duration::from_millis(10));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]) {
            Ok(0) => return Err("connection closed without an answer".into()),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err("no answer yet".into());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let text = String::from_utf8_lossy(&head[..got]);
    text.strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: {:?}",
                text.lines().next().unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_messages_parse() {
        let m = NotifyMessage::parse(b"STATUS=warming up\nREADY=1\nMAINPID=4\n");
        assert!(m.ready);
        assert_eq!(m.status.as_deref(), Some("warming up"));
        assert!(!NotifyMessage::parse(b"READY=0").ready);
        assert!(NotifyMessage::parse(b"STOPPING=1").stopping);
    }
}
