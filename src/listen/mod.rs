//! The listening sockets: bound once when `hot` starts, held for the whole session, and handed
//! to each app process as fds 3.. (systemd socket activation).
//!
//! `hot`'s own copies are CLOEXEC and parked at high fd numbers, so builds and anything else
//! `hot` runs never inherit them, and `dup2` onto 3.. in the app's child can never collide with
//! a held fd.

use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{getsockopt, sockopt};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::Error;

pub mod hold;
#[cfg(linux_native)]
pub mod intercept;
#[cfg(target_os = "linux")]
pub mod procfs;

#[cfg(linux_native)]
pub use intercept::PortHold;

/// Where nothing can see the app's binds: a stand-in that holds nothing.
#[cfg(not(linux_native))]
#[derive(Debug, Clone, Default)]
pub struct PortHold {}

#[cfg(not(linux_native))]
impl PortHold {
    pub fn unavailable() -> Option<String> {
        Some(if cfg!(target_os = "linux") {
            "this hot was built with the portable code paths (--features portable)".into()
        } else {
            format!(
                "{} has no way to hand a process's bind() to another process",
                std::env::consts::OS
            )
        })
    }
}

/// Variables of the socket-activation protocol: they belong to the app alone (a build, or a
/// process hot did not start for the app, must not see them).
pub const ACTIVATION_VARS: [&str; 4] = [
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
];

/// Held copies live at or above this fd number.
const HELD_FD_FLOOR: RawFd = 100;
/// The first fd an app receives, per the socket-activation protocol.
pub const FIRST_APP_FD: RawFd = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// An explicit address, or a host name resolved at bind time.
    Tcp(String),
    /// `:PORT`: every interface, IPv6 and IPv4.
    AnyInterface(u16),
    Unix(PathBuf),
}

impl ListenAddr {
    /// Port 0: any free port, so never the same address as another's.
    pub fn is_any_port(&self) -> bool {
        match self {
            ListenAddr::Tcp(addr) => addr.ends_with(":0"),
            ListenAddr::AnyInterface(port) => *port == 0,
            ListenAddr::Unix(_) => false,
        }
    }

    /// Makes a relative unix socket path relative to the project directory.
    pub fn in_dir(self, root: &Path) -> ListenAddr {
        match self {
            ListenAddr::Unix(p) if p.is_relative() => ListenAddr::Unix(root.join(p)),
            other => other,
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("a unix socket needs a path, like \"unix:./tmp/app.sock\"".into());
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if let Some(port) = s.strip_prefix(':') {
            return port
                .parse()
                .map(ListenAddr::AnyInterface)
                .map_err(|_| format!("{port:?} is not a port number (0-65535)"));
        }
        if s.parse::<SocketAddr>().is_ok() {
            return Ok(ListenAddr::Tcp(s.to_owned()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(ListenAddr::Tcp(s.to_owned()))
            }
            _ => Err(
                "expected HOST:PORT (127.0.0.1:8080, [::1]:8080, localhost:8080), :PORT for \
                 every interface, or unix:PATH"
                    .into(),
            ),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => f.write_str(a),
            ListenAddr::AnyInterface(p) => write!(f, ":{p}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// One configured socket: where, and the name it gets in `LISTEN_FDNAMES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub addr: ListenAddr,
    pub name: String,
    /// Permission bits of a unix socket file.
    pub mode: u32,
}

/// Unix sockets are private to the user who runs hot unless `listen_mode` says otherwise.
pub const DEFAULT_UNIX_MODE: u32 = 0o600;

impl ListenSpec {
    pub fn new(addr: ListenAddr, name: Option<String>, index: usize) -> ListenSpec {
        let name = name.unwrap_or_else(|| match (&addr, index) {
            (ListenAddr::Unix(_), _) => format!("unix{index}"),
            (_, 0) => "http".to_owned(),
            _ => format!("http{index}"),
        });
        ListenSpec {
            addr,
            name,
            mode: DEFAULT_UNIX_MODE,
        }
    }

    pub fn with_mode(self, mode: u32) -> ListenSpec {
        ListenSpec { mode, ..self }
    }
}

/// A bound, listening socket `hot` holds.
#[derive(Debug)]
pub struct Listener {
    spec: ListenSpec,
    fd: OwnedFd,
    /// The real address, with port 0 resolved: "127.0.0.1:41234" or "unix:/abs/path".
    bound: String,
}

impl Listener {
    /// The socket file `hot` created (and removes at exit), for a unix socket.
    fn socket_file(&self) -> Option<&Path> {
        match &self.spec.addr {
            ListenAddr::Unix(path) => Some(path),
            _ => None,
        }
    }

    /// Whether this socket is what `spec` asks for: the same entry, or the address it is bound
    /// to (a port 0 that got a port, written out after the fact).
    fn serves(&self, spec: &ListenSpec) -> bool {
        self.spec == *spec || self.bound == spec.addr.to_string()
    }

    /// Brings back a listener that an app shut down.
    ///
    /// `listen()` again would do for a port given explicitly, but Linux releases a port that
    /// was chosen by the kernel (port 0) when the socket closes, and would pick a new one. So a
    /// fresh socket is bound to the exact address the session announced and put in place of the
    /// old one at the same fd number.
    fn relisten(&self) -> io::Result<()> {
        let fresh = match self.socket_file() {
            Some(path) => {
                let _ = std::fs::remove_file(path);
                bind_unix(path, self.spec.mode).map_err(io::Error::other)?
            }
            None => {
                let addr: SocketAddr = self.bound.parse().map_err(io::Error::other)?;
                bind_tcp(addr, addr.ip().is_unspecified() && addr.is_ipv6())?
            }
        };
        // SAFETY: dup2 onto the fd this Listener owns replaces the open file it refers to;
        // ownership of the fd number does not change. dup2 clears CLOEXEC, so it is set again
        // at once; only the app loop's thread spawns processes, and it is the one running here,
        // so no fork can observe the gap.
        if unsafe { libc::dup2(fresh.as_raw_fd(), self.fd.as_raw_fd()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        fcntl(
            self.fd.as_fd(),
            FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(io::Error::from)?;
        Ok(())
    }

    #[cfg(test)]
    fn tcp_addr(&self) -> Option<SocketAddr> {
        self.bound.parse().ok()
    }
}

/// A copy of a held socket, for hot's own HTTP side to accept on.
#[derive(Debug)]
pub enum HeldSocket {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Every socket of the session, in `listen` order.
#[derive(Debug, Default)]
pub struct Listeners {
    sockets: Vec<Listener>,
}

impl Listeners {
    pub fn bind(specs: &[ListenSpec]) -> Result<Listeners, Error> {
        let mut listeners = Listeners::default();
        for spec in specs {
            // On error, `listeners` drops here and removes socket files bound so far.
            listeners.sockets.push(bind_one(spec)?);
        }
        Ok(listeners)
    }

    /// Moves to a new `listen` list, keeping (not re-binding) every socket that stays, so its
    /// queued connections and its port survive. On error nothing changes.
    pub fn rebind(&mut self, specs: &[ListenSpec]) -> Result<(), Error> {
        let mut fresh = Listeners::default();
        for spec in specs
            .iter()
            .filter(|s| !self.sockets.iter().any(|l| l.serves(s)))
        {
            fresh.sockets.push(bind_one(spec)?);
        }
        let mut old: Vec<Option<Listener>> = std::mem::take(&mut self.sockets)
            .into_iter()
            .map(Some)
            .collect();
        let mut fresh: Vec<Option<Listener>> = std::mem::take(&mut fresh.sockets)
            .into_iter()
            .map(Some)
            .collect();
        for spec in specs {
            let take = |pool: &mut Vec<Option<Listener>>| {
                pool.iter_mut()
                    .find(|l| l.as_ref().is_some_and(|l| l.serves(spec)))
                    .and_then(Option::take)
            };
            if let Some(mut listener) = take(&mut old).or_else(|| take(&mut fresh)) {
                listener.spec = spec.clone();
                self.sockets.push(listener);
            }
        }
        // Sockets no longer listed close here, removing their socket files.
        drop(Listeners {
            sockets: old.into_iter().flatten().collect(),
        });
        Ok(())
    }

    /// Private sockets on loopback, one per public one and with the same names, for an app
    /// behind hot's proxy.
    pub fn bind_private(public: &[ListenSpec]) -> Result<Listeners, Error> {
        let specs: Vec<ListenSpec> = public
            .iter()
            .map(|p| ListenSpec {
                addr: ListenAddr::Tcp("127.0.0.1:0".into()),
                name: p.name.clone(),
                mode: p.mode,
            })
            .collect();
        Listeners::bind(&specs)
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Copies of every socket (sharing the kernel's socket), in order.
    pub fn copies(&self) -> io::Result<Vec<HeldSocket>> {
        self.sockets
            .iter()
            .map(|l| {
                let fd = l.fd.try_clone()?;
                Ok(match l.socket_file() {
                    Some(_) => HeldSocket::Unix(fd.into()),
                    None => HeldSocket::Tcp(fd.into()),
                })
            })
            .collect()
    }

    /// The loopback-reachable address of every TCP socket (`None` for unix ones), in order.
    pub fn tcp_addrs(&self) -> Vec<Option<SocketAddr>> {
        self.sockets
            .iter()
            .map(|l| l.bound.parse().ok().map(reachable))
            .collect()
    }

    /// The first TCP socket and hot's fd for it, to probe whether an app accepts.
    pub fn first_tcp_fd(&self) -> Option<(SocketAddr, RawFd)> {
        self.sockets.iter().find_map(|l| {
            let addr: SocketAddr = l.bound.parse().ok()?;
            Some((reachable(addr), l.fd.as_raw_fd()))
        })
    }

    pub fn addrs(&self) -> Vec<String> {
        self.sockets.iter().map(|l| l.bound.clone()).collect()
    }

    /// The first TCP socket, which `--once` probes over HTTP.
    pub fn first_tcp(&self) -> Option<SocketAddr> {
        self.first_tcp_fd().map(|(addr, _)| addr)
    }

    /// Copies of the TCP sockets, each with the bind that names it (for `hold`: an app that
    /// binds one of these ports itself gets the socket hot holds).
    pub fn keyed_copies(&self) -> io::Result<Vec<(hold::BindKey, OwnedFd)>> {
        let mut copies = Vec::new();
        for l in &self.sockets {
            let Ok(addr) = l.bound.parse::<SocketAddr>() else {
                continue;
            };
            let v6only = addr.is_ipv6() && getsockopt(&l.fd, sockopt::Ipv6V6Only).unwrap_or(true);
            let copy = fcntl(&l.fd, FcntlArg::F_DUPFD_CLOEXEC(HELD_FD_FLOOR))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
            copies.push((hold::BindKey { addr, v6only }, unsafe {
                OwnedFd::from_raw_fd(copy)
            }));
        }
        Ok(copies)
    }

    /// The sockets' inode numbers, by which /proc names them in every process holding one.
    pub fn inodes(&self) -> Vec<u64> {
        self.sockets
            .iter()
            .filter_map(|l| nix::sys::stat::fstat(&l.fd).ok())
            .map(|st| st.st_ino)
            .collect()
    }

    /// The raw fds to place at 3, 4, ... in the app's child, in order.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.sockets.iter().map(|l| l.fd.as_raw_fd()).collect()
    }

    /// `LISTEN_FDS` and `LISTEN_FDNAMES` (LISTEN_PID is set by the app's own process).
    pub fn env(&self) -> [(&'static str, String); 2] {
        let names: Vec<&str> = self.sockets.iter().map(|l| l.spec.name.as_str()).collect();
        [
            ("LISTEN_FDS", self.sockets.len().to_string()),
            ("LISTEN_FDNAMES", names.join(":")),
        ]
    }

    /// Puts every socket back in the state a new app expects: blocking and listening.
    ///
    /// O_NONBLOCK lives on the open file description, which every copy shares, so an app that
    /// set it (Go, tokio and Node all do) would hand it to the next app. An app that called
    /// `shutdown()` on its listener stopped it listening for every holder; `listen()` again
    /// restores it on the same bound address.
    pub fn reset(&self) -> Result<(), String> {
        for l in &self.sockets {
            let fd = l.fd.as_fd();
            let flags =
                fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("{}: F_GETFL: {e}", l.bound))?;
            let flags = OFlag::from_bits_truncate(flags);
            if flags.contains(OFlag::O_NONBLOCK) {
                fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))
                    .map_err(|e| format!("{}: clearing O_NONBLOCK: {e}", l.bound))?;
            }
            let listening = getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false);
            if !listening {
                l.relisten().map_err(|e| {
                    format!("{} stopped listening and cannot listen again: {e}", l.bound)
                })?;
            }
        }
        Ok(())
    }
}

/// A socket on every interface is reachable on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        _ => addr,
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for l in &self.sockets {
            if let Some(path) = l.socket_file() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn bind_one(spec: &ListenSpec) -> Result<Listener, Error> {
    let display = spec.addr.to_string();
    let fail = |message: String| Error::Listen {
        addr: display.clone(),
        message,
    };
    let socket = match &spec.addr {
        ListenAddr::Tcp(text) => {
            let addr = text
                .to_socket_addrs()
                .map_err(|e| fail(format!("cannot resolve the host: {e}")))?
                .next()
                .ok_or_else(|| fail("the host name resolves to no address".into()))?;
            bind_tcp(addr, false).map_err(|e| fail(explain_tcp(e, addr)))?
        }
        ListenAddr::AnyInterface(port) => {
            let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, *port));
            match bind_tcp(v6, true) {
                Ok(s) => s,
                // No IPv6 on this machine: every IPv4 interface is what ":PORT" can mean.
                Err(e)
                    if e.raw_os_error() == Some(libc::EAFNOSUPPORT)
                        || e.raw_os_error() == Some(libc::EADDRNOTAVAIL) =>
                {
                    let v4 = SocketAddr::from(([0, 0, 0, 0], *port));
                    bind_tcp(v4, false).map_err(|e| fail(explain_tcp(e, v4)))?
                }
                Err(e) => return Err(fail(explain_tcp(e, v6))),
            }
        }
        ListenAddr::Unix(path) => bind_unix(path, spec.mode).map_err(fail)?,
    };

    let bound = match &spec.addr {
        ListenAddr::Unix(path) => format!("unix:{}", path.display()),
        _ => socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or_else(|| display.clone(), |a| a.to_string()),
    };

    // Park the held copy high and CLOEXEC (socket2 already opened it CLOEXEC; F_DUPFD_CLOEXEC
    // keeps it so).
    let high = fcntl(&socket, FcntlArg::F_DUPFD_CLOEXEC(HELD_FD_FLOOR))
        .map_err(|e| fail(format!("cannot move the socket to a high fd: {e}")))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(high) };
    drop(socket);

    Ok(Listener {
        spec: spec.clone(),
        fd,
        bound,
    })
}

fn bind_tcp(addr: SocketAddr, dual_stack: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // SO_REUSEADDR lets hot rebind right after a previous session; SO_REUSEPORT is deliberately
    // not set, so an app that ignores fd 3 and binds the port itself fails loudly instead of
    // silently taking half the connections.
    socket.set_reuse_address(true)?;
    // Connections the app accepts inherit TCP_NODELAY from the listening socket (Linux, the
    // BSDs, macOS). A server that leaves Nagle on (uvicorn `--fd 3`: asyncio does not take a
    // socket it is given for TCP) writes an answer's head and body as two segments and waits
    // for the client's delayed ACK before the second: up to 40 ms per answer on a kept-alive
    // connection (92 requests/s from four kept-alive clients, against 3,000 and more with it). Servers
    // that set it themselves are unaffected. Best effort: without it, answers are only slower.
    let _ = socket.set_tcp_nodelay(true);
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(libc::SOMAXCONN)?;
    Ok(socket)
}

/// Who listens on `port`, where the OS tells (Linux).
fn holder_of(port: u16) -> Option<String> {
    #[cfg(target_os = "linux")]
    return procfs::holder_of(port);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

fn explain_tcp(e: io::Error, addr: SocketAddr) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => match holder_of(addr.port()) {
            Some(holder) => format!(
                "{addr} is already in use by {holder}: stop it, or give hot another address"
            ),
            None => format!(
                "{addr} is already in use: is another hot, or the app itself, running? \
                 (`ss -ltnp 'sport = :{}'` shows who holds it)",
                addr.port()
            ),
        },
        Some(libc::EACCES) => format!(
            "permission denied: port {} is privileged; use a port above 1023 (or grant \
             CAP_NET_BIND_SERVICE)",
            addr.port()
        ),
        Some(libc::EADDRNOTAVAIL) => format!("{} is not an address of this machine", addr.ip()),
        _ => e.to_string(),
    }
}

fn bind_unix(path: &Path, mode: u32) -> Result<Socket, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("the directory {} does not exist", dir.display()));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket file from a crashed run: remove it only if nothing answers on it.
            if UnixStream::connect(path).is_ok() {
                return Err(format!("{} is in use by a running process", path.display()));
            }
            std::fs::remove_file(path).map_err(|e| {
                format!(
                    "cannot remove the stale socket file {}: {e}",
                    path.display()
                )
            })?;
        }
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a socket; remove it or pick another path",
                path.display()
            ));
        }
        Err(_) => {}
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| e.to_string())?;
    let addr = SockAddr::unix(path).map_err(|e| format!("bad socket path: {e}"))?;
    socket.bind(&addr).map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES) => format!(
            "permission denied: cannot create a socket in {}",
            dir.display()
        ),
        _ => e.to_string(),
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| e.to_string())?;
    socket.listen(libc::SOMAXCONN).map_err(|e| e.to_string())?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "127.0.0.1:8080".parse(),
            Ok(ListenAddr::Tcp("127.0.0.1:8080".into()))
        );
        assert_eq!(
            "[::1]:8080".parse(),
            Ok(ListenAddr::Tcp("[::1]:8080".into()))
        );
        assert_eq!(":8080".parse(), Ok(ListenAddr::AnyInterface(8080)));
        assert_eq!(
            "localhost:0".parse(),
            Ok(ListenAddr::Tcp("localhost:0".into()))
        );
        assert_eq!(
            "unix:./a.sock".parse(),
            Ok(ListenAddr::Unix("./a.sock".into()))
        );
        for bad in ["8080", "127.0.0.1", ":http", "unix:", "host:99999", ""] {
            assert!(
                bad.parse::<ListenAddr>().is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn port_zero_reports_the_real_port_and_fd_is_high_and_cloexec() {
        let specs = [ListenSpec::new(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            0,
        )];
        let l = Listeners::bind(&specs).expect("bind");
        let addr = l.sockets[0].tcp_addr().expect("tcp");
        assert_ne!(addr.port(), 0);
        let fd = l.raw_fds()[0];
        assert!(fd >= HELD_FD_FLOOR);
        let flags = fcntl(l.sockets[0].fd.as_fd(), FcntlArg::F_GETFD).expect("getfd");
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert_eq!(l.env()[1].1, "http");
    }

    #[test]
    fn reset_restores_blocking_and_listening() {
        let specs = [ListenSpec::new(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            0,
        )];
        let l = Listeners::bind(&specs).expect("bind");
        let fd = l.sockets[0].fd.as_fd();
        fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("setfl");
        nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Both)
            .expect("shutdown");
        assert!(!getsockopt(&fd, sockopt::AcceptConn).expect("acceptconn"));
        l.reset().expect("reset");
        let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).expect("getfl"));
        assert!(!flags.contains(OFlag::O_NONBLOCK));
        assert!(getsockopt(&fd, sockopt::AcceptConn).expect("acceptconn"));
        assert!(TcpStream::connect(l.sockets[0].tcp_addr().expect("tcp")).is_ok());
    }

    #[test]
    fn reset_keeps_an_explicit_port() {
        // Find a free port, then bind it explicitly.
        let probe = Listeners::bind(&[ListenSpec::new(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            0,
        )])
        .expect("bind");
        let addr = probe.addrs()[0].clone();
        drop(probe);
        let l = Listeners::bind(&[ListenSpec::new(ListenAddr::Tcp(addr.clone()), None, 0)])
            .expect("bind");
        let fd = l.sockets[0].fd.as_fd();
        nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Both)
            .expect("shutdown");
        l.reset().expect("reset");
        assert_eq!(l.addrs()[0], addr);
        assert!(TcpStream::connect(&addr).is_ok());
    }

    #[test]
    fn port_in_use_names_the_address() {
        let first = Listeners::bind(&[ListenSpec::new(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            0,
        )])
        .expect("bind");
        let taken = first.addrs()[0].clone();
        let err = Listeners::bind(&[ListenSpec::new(ListenAddr::Tcp(taken.clone()), None, 0)])
            .expect_err("in use");
        let text = err.to_string();
        assert!(
            text.contains(&taken) && text.contains("already in use"),
            "{text}"
        );
    }
}
