//! Linux: the app's `bind()` calls, answered by hot from the ports it holds (`hold`).
//!
//! Each app process is started under a seccomp filter (installed by the trampoline just before
//! it becomes the app; `sys::seccomp`) whose notifications come to a thread of hot's, one per
//! app process, which answers from the app's `HeldPorts`:
//! - a TCP bind of an address hot holds: the held socket is put in place of the app's fd and
//!   the call returns 0; the app's `listen()` on it then succeeds (and sets its backlog);
//! - the first bind of an address: hot binds the app's own socket (a copy it takes with
//!   `pidfd_getfd`, sharing the socket) and keeps that copy;
//! - port 0, UDP, unix sockets, netlink: the call runs as the app made it;
//! - `shutdown()` of a held socket's read side: answered 0 without running, since it would
//!   stop the socket listening for every holder, and so refuse connections meant for the next
//!   app (the stopping app closes its copy anyway, which is harmless).
//!
//! When every process under the filter has exited, held sockets get a large backlog again
//! (Python's servers listen with 5), so connections made while no app runs all wait.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::socket::{getsockopt, sockopt};
use socket2::SockRef;

use crate::event::{AppId, Event, PortFact};
use crate::sys::pidfd::PidFd;
use crate::sys::seccomp::{self, Call, Notifier, Reply, Request, Wait};

use super::hold::{Answer, BindKey, Generation, HeldPorts, Origin, SweepRule};
use super::{HELD_FD_FLOOR, procfs};

/// The environment variable that tells the trampoline which fd leads back to hot.
const CHANNEL_VAR: &str = "__HOT_HOLD_FD";

/// The longest socket address read from the app (`sockaddr_storage`).
const MAX_SOCKADDR: u32 = 128;

/// The ports held for one app, shared by the threads serving its processes.
#[derive(Debug, Clone, Default)]
pub struct PortHold {
    ports: Arc<Mutex<HeldPorts<OwnedFd>>>,
}

/// One app process's interception, made before it starts.
#[derive(Debug)]
pub struct Pending {
    ports: Arc<Mutex<HeldPorts<OwnedFd>>>,
    generation: Generation,
    /// hot's end: the filter's listener arrives here.
    ours: UnixStream,
    /// The trampoline's end, parked high so that placing the app's fds 3.. cannot overwrite it.
    theirs: OwnedFd,
}

impl PortHold {
    /// Why this kernel cannot hold an app's ports, if it cannot: checked once, so that the
    /// user reads one line rather than an app that hangs or fails.
    pub fn unavailable() -> Option<String> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut numbers = release
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if version < (5, 9) {
            return Some(format!(
                "Linux {} is older than 5.9, which can hand a socket to a process \
                 (SECCOMP_IOCTL_NOTIF_ADDFD)",
                release.trim()
            ));
        }
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return Some("hot holds an app's ports on x86_64 and aarch64 only".into());
        }
        None
    }

    /// Before an app process starts: refreshes the pinned sockets (hot's `listen`) and opens
    /// the channel its trampoline will send the filter on, placed in the app's `fds` after its
    /// sockets (at 3 + LISTEN_FDS) and named in its environment.
    pub fn prepare(
        &self,
        pinned: Vec<(BindKey, OwnedFd)>,
        cmd: &mut std::process::Command,
        fds: &mut Vec<RawFd>,
    ) -> io::Result<Pending> {
        let generation = {
            let mut ports = self
                .ports
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            ports.pin(pinned);
            ports.next_generation()
        };
        let (ours, theirs) = UnixStream::pair()?;
        let high = fcntl(&theirs, FcntlArg::F_DUPFD_CLOEXEC(HELD_FD_FLOOR))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
        let theirs = unsafe { OwnedFd::from_raw_fd(high) };
        let at = super::FIRST_APP_FD + RawFd::try_from(fds.len()).map_err(io::Error::other)?;
        cmd.env(CHANNEL_VAR, at.to_string());
        fds.push(theirs.as_raw_fd());
        Ok(Pending {
            ports: Arc::clone(&self.ports),
            generation,
            ours,
            theirs,
        })
    }
}

impl Pending {
    /// The app process has been spawned: serve its binds on a thread until every process
    /// under its filter is gone.
    pub fn serve(self, app: AppId, events: Sender<Event>) -> io::Result<()> {
        let Pending {
            ports,
            generation,
            ours,
            theirs,
        } = self;
        // Only the trampoline may hold the other end, so that its exit ends the wait below.
        drop(theirs);
        std::thread::Builder::new()
            .name("hold".into())
            .spawn(move || {
                let notifier = match receive_filter(&ours) {
                    Ok(notifier) => notifier,
                    Err(reason) => {
                        let fact = PortFact::Unavailable(reason);
                        let _ = events.send(Event::Port { app, fact });
                        return;
                    }
                };
                drop(ours);
                let server = Server {
                    ports,
                    generation,
                    notifier,
                    app,
                    events,
                };
                server.run(SweepRule::DEFAULT);
            })?;
        Ok(())
    }
}

/// Waits for the trampoline's filter listener, or the reason it has none.
fn receive_filter(channel: &UnixStream) -> Result<Notifier, String> {
    let mut buf = [0u8; 512];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = loop {
        match recvmsg::<()>(
            channel.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => break msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("no answer from the app's starter: {e}")),
        }
    };
    let fd = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
    });
    let len = msg.bytes;
    match fd {
        // SAFETY: SCM_RIGHTS gave this process a new fd that nothing else owns.
        Some(fd) => Ok(Notifier::from(unsafe { OwnedFd::from_raw_fd(fd) })),
        None if len == 0 => Err("the app's starter exited before installing the filter".into()),
        None => Err(String::from_utf8_lossy(&buf[..len]).into_owned()),
    }
}

struct Server {
    ports: Arc<Mutex<HeldPorts<OwnedFd>>>,
    generation: Generation,
    notifier: Notifier,
    app: AppId,
    events: Sender<Event>,
}

impl Server {
    fn run(self, rule: SweepRule) {
        let started = Instant::now();
        let mut last_bind: Option<Instant> = None;
        let mut settled = false;
        loop {
            let wait = if settled {
                Duration::from_secs(60)
            } else {
                Duration::from_millis(250)
            };
            match self.notifier.wait(wait) {
                Ok(Wait::Request) => match self.notifier.receive() {
                    Ok(Some(request)) => {
                        if self.answer(request) {
                            last_bind = Some(Instant::now());
                        }
                    }
                    Ok(None) => {}
                    Err(_) => break,
                },
                Ok(Wait::TimedOut) => {}
                Ok(Wait::Closed) | Err(_) => break,
            }
            if !settled && rule.settled(started, last_bind, Instant::now()) {
                settled = true;
                self.sweep();
                self.check_served();
            }
        }
        self.deepen_backlogs();
    }

    /// Answers one request; true if it was a TCP bind hot holds now.
    fn answer(&self, request: Request) -> bool {
        let (reply, held) = match request.call {
            Call::Bind { fd, addr, len } => self.bind(&request, fd, addr, len),
            Call::Shutdown { fd } => (self.shutdown(&request, fd), false),
            Call::Other => (Reply::Continue, false),
        };
        let _ = self.notifier.reply(request.id, reply);
        held
    }

    fn bind(&self, request: &Request, fd: RawFd, addr: u64, len: u32) -> (Reply, bool) {
        let Ok(bytes) = seccomp::read_memory(request.tid, addr, len.min(MAX_SOCKADDR) as usize)
        else {
            return (Reply::Continue, false);
        };
        // What was read is the caller's only if it still waits (its tid cannot have been reused).
        if !self.notifier.is_valid(request.id) {
            return (Reply::Continue, false);
        }
        let Some(addr) = parse_sockaddr(&bytes) else {
            return (Reply::Continue, false);
        };
        if addr.port() == 0 {
            // Go probes the stack with port-0 binds; "any free port" is never the same twice.
            return (Reply::Continue, false);
        }
        let Some(process) = thread_group(request.tid) else {
            return (Reply::Continue, false);
        };
        let Ok(socket) = PidFd::open(process).and_then(|p| p.get_fd(fd)) else {
            return (Reply::Continue, false);
        };
        if getsockopt(&socket, sockopt::SockType) != Ok(nix::sys::socket::SockType::Stream) {
            return (Reply::Continue, false);
        }
        let v6only = addr.is_ipv6() && getsockopt(&socket, sockopt::Ipv6V6Only).unwrap_or(true);
        let key = BindKey { addr, v6only };
        let Ok(mut ports) = self.ports.lock() else {
            return (Reply::Continue, false);
        };
        match ports.answer(key, self.generation) {
            Answer::Hand(held, origin) => {
                // O_NONBLOCK is shared by every copy of the socket: the app's own choice for
                // the socket it made wins.
                if let Ok(flags) = fcntl(&socket, FcntlArg::F_GETFL) {
                    let nonblocking = OFlag::from_bits_truncate(flags) & OFlag::O_NONBLOCK;
                    if let Ok(current) = fcntl(held, FcntlArg::F_GETFL) {
                        let current = OFlag::from_bits_truncate(current) - OFlag::O_NONBLOCK;
                        let _ = fcntl(held, FcntlArg::F_SETFL(current | nonblocking));
                    }
                }
                let cloexec = fd_cloexec(process, fd);
                match self
                    .notifier
                    .place_fd(request.id, held.as_fd(), fd, cloexec)
                {
                    Ok(()) => {
                        drop(ports);
                        self.tell(PortFact::Held {
                            addr,
                            reused: true,
                            pinned: origin == Origin::Pinned,
                        });
                        (Reply::Return(0), true)
                    }
                    // The caller was interrupted: it will bind again.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => (Reply::Continue, false),
                    Err(e) => (Reply::Fail(e.raw_os_error().unwrap_or(libc::EIO)), false),
                }
            }
            Answer::Bind { release } => {
                drop(ports.release(&release));
                match SockRef::from(&socket).bind(&addr.into()) {
                    Ok(()) => {
                        ports.learn(key, socket, self.generation);
                        drop(ports);
                        self.tell(PortFact::Held {
                            addr,
                            reused: false,
                            pinned: false,
                        });
                        (Reply::Return(0), true)
                    }
                    Err(e) => {
                        drop(ports);
                        if e.raw_os_error() == Some(libc::EADDRINUSE) {
                            self.tell(PortFact::InUse {
                                addr,
                                holder: procfs::holder_of(addr.port()),
                            });
                        }
                        (Reply::Fail(e.raw_os_error().unwrap_or(libc::EIO)), false)
                    }
                }
            }
        }
    }

    fn shutdown(&self, request: &Request, fd: RawFd) -> Reply {
        let Some(process) = thread_group(request.tid) else {
            return Reply::Continue;
        };
        let Ok(socket) = PidFd::open(process).and_then(|p| p.get_fd(fd)) else {
            return Reply::Continue;
        };
        let Ok(target) = nix::sys::stat::fstat(&socket) else {
            return Reply::Continue;
        };
        let held = self.ports.lock().is_ok_and(|ports| {
            ports.holds(|s| nix::sys::stat::fstat(s).is_ok_and(|st| st.st_ino == target.st_ino))
        });
        if held {
            Reply::Return(0)
        } else {
            Reply::Continue
        }
    }

    /// This app process has bound what it binds: held sockets no app binds any more go.
    fn sweep(&self) {
        let gone = match self.ports.lock() {
            Ok(mut ports) => ports.sweep(self.generation),
            Err(_) => return,
        };
        for (key, socket) in gone {
            drop(socket);
            self.tell(PortFact::Released { addr: key.addr });
        }
    }

    /// The app bound ports of its own and none of hot's `listen`: it may serve elsewhere than
    /// where hot takes its connections (`listen = ["127.0.0.1:8080"]`, an app on 3000), and a
    /// client of 8080 would wait for ever. Probes each such socket of hot's, on a thread (the
    /// binds of other processes must not wait): a connection nobody accepts within a moment
    /// makes it `Unserved`. An app that takes fd 3 accepts the probe (an empty connection).
    fn check_served(&self) {
        let Ok(ports) = self.ports.lock() else {
            return;
        };
        let (learned, unclaimed) = ports.bound_by(self.generation);
        if learned.is_empty() || unclaimed.is_empty() {
            return;
        }
        let copies: Vec<OwnedFd> = unclaimed
            .into_iter()
            .filter_map(|s| s.try_clone().ok())
            .collect();
        drop(ports);
        let listens: Vec<SocketAddr> = learned.iter().map(|k| k.addr).collect();
        let (app, events) = (self.app, self.events.clone());
        let _ = std::thread::Builder::new()
            .name("hold-probe".into())
            .spawn(move || {
                for socket in copies {
                    if let Some(addr) = unaccepted(&socket, PROBE_WAIT) {
                        let fact = PortFact::Unserved {
                            addr,
                            listens: listens.clone(),
                        };
                        let _ = events.send(Event::Port { app, fact });
                    }
                }
            });
    }

    fn deepen_backlogs(&self) {
        let Ok(ports) = self.ports.lock() else {
            return;
        };
        for (_, socket) in ports.sockets() {
            if getsockopt(socket, sockopt::AcceptConn).unwrap_or(false) {
                let _ = SockRef::from(socket).listen(libc::SOMAXCONN);
            }
        }
    }

    fn tell(&self, fact: PortFact) {
        let _ = self.events.send(Event::Port {
            app: self.app,
            fact,
        });
    }
}

/// How long a probe connection may wait to be accepted before the socket counts as unserved.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// Connects to the listening `socket` and watches its accept queue: `Some(address)` if the
/// probe is still waiting there after `wait` (nobody accepts on it), `None` if it was
/// accepted or the probe could not tell.
fn unaccepted(socket: &OwnedFd, wait: Duration) -> Option<SocketAddr> {
    let local = SockRef::from(socket).local_addr().ok()?.as_socket()?;
    let reach = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, local.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, local.port())),
        _ => local,
    };
    let inode = nix::sys::stat::fstat(socket).ok()?.st_ino;
    let probe = std::net::TcpStream::connect_timeout(&reach, wait).ok()?;
    let deadline = Instant::now() + wait;
    loop {
        if accept_queue(inode)? == 0 {
            return None;
        }
        if Instant::now() >= deadline {
            drop(probe);
            return Some(local);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The length of a listening socket's accept queue.
fn accept_queue(inode: u64) -> Option<u64> {
    procfs::listening()
        .into_iter()
        .find(|l| l.inode == inode)
        .map(|l| l.queued)
}

/// The trampoline's half: if hot asked for it, installs the filter and sends its listener (or
/// why there is none) to hot. Runs single-threaded, just before the exec of the app.
pub fn enter_if_asked() {
    let Some(fd) = std::env::var(CHANNEL_VAR)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    // SAFETY: the trampoline has started no thread, so nothing reads the environment now.
    unsafe { std::env::remove_var(CHANNEL_VAR) };
    // SAFETY: F_GETFD takes a number and touches no memory: it only says whether it is open.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return;
    }
    // SAFETY: hot placed this fd for the trampoline alone, which owns it from here (it closes
    // when `channel` drops, before the exec).
    let channel = unsafe { OwnedFd::from_raw_fd(fd) };
    let sent = match seccomp::install_filter() {
        Ok(listener) => {
            let fds = [listener.as_raw_fd()];
            sendmsg::<()>(
                channel.as_raw_fd(),
                &[IoSlice::new(b"1")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
        }
        Err(e) => {
            let reason =
                format!("the kernel refused the seccomp filter hot uses to see binds: {e}");
            sendmsg::<()>(
                channel.as_raw_fd(),
                &[IoSlice::new(reason.as_bytes())],
                &[],
                MsgFlags::empty(),
                None,
            )
        }
    };
    let _ = sent;
}

/// A socket address as the app passed it to bind: IPv4 or IPv6, else `None`.
pub fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    let port = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flowinfo = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let scope = bytes
                .get(24..28)
                .and_then(|s| s.try_into().ok())
                .map_or(0, u32::from_ne_bytes);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flowinfo,
                scope,
            )))
        }
        _ => None,
    }
}

/// The process a thread belongs to (`pidfd_open` takes processes, and the notification names
/// the calling thread: Go and Node bind from threads other than the main one).
fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the app's fd is close-on-exec (per fd, so the socket put in its place keeps it).
/// Unknown counts as yes: every runtime hot serves opens its sockets CLOEXEC.
fn fd_cloexec(process: u32, fd: RawFd) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{process}/fdinfo/{fd}")) else {
        return true;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_none_or(|flags| flags & libc::O_CLOEXEC as u32 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_parse_as_the_kernel_lays_them_out() {
        let v4 = socket2::SockAddr::from("127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        // SAFETY: a SockAddr's storage holds `len` initialised bytes.
        let bytes =
            unsafe { std::slice::from_raw_parts(v4.as_ptr().cast::<u8>(), v4.len() as usize) };
        assert_eq!(
            parse_sockaddr(bytes),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        let v6 = socket2::SockAddr::from("[::]:9229".parse::<SocketAddr>().unwrap());
        // SAFETY: as above.
        let bytes =
            unsafe { std::slice::from_raw_parts(v6.as_ptr().cast::<u8>(), v6.len() as usize) };
        assert_eq!(parse_sockaddr(bytes), Some("[::]:9229".parse().unwrap()));
        assert_eq!(parse_sockaddr(&[1, 0, b'/', b't']), None);
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[2, 0, 0]), None);
    }

    /// Whatever bytes an app passes to bind, reading them never panics.
    #[test]
    fn any_bytes_parse_without_panicking() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first = [2u8, 10, 1, 16][(state % 4) as usize];
            }
            let _ = parse_sockaddr(&bytes);
        }
    }
}
