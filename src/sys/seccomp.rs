//! seccomp user notification (seccomp_unotify(2)): the app's `bind()` calls, handed to hot.
//!
//! Two halves. The trampoline, single-threaded just before it becomes the app, installs a filter
//! that turns `bind` (and `shutdown` of the read side, which would stop a listening socket for
//! every holder) into a notification, and gets the filter's listener fd. hot receives that fd
//! and answers each notification: let the call run, answer it itself, or put one of its own
//! sockets in place of the app's fd first. The filter is inherited across fork and exec, so
//! whatever the app starts (`go run`'s child, a reloader's worker) is covered too.
//!
//! The kernel interfaces need Linux 5.9 (`SECCOMP_IOCTL_NOTIF_ADDFD`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// `struct seccomp_data` offsets: `nr`, `arch`, then `args[6]` (u64 each) from 16.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// The low 32 bits of `args[1]` (shutdown's `how`).
#[cfg(target_endian = "little")]
const DATA_ARG1_LOW: u32 = 16 + 8;
#[cfg(target_endian = "big")]
const DATA_ARG1_LOW: u32 = 16 + 8 + 4;

/// Installs the filter on the calling thread (and so on everything it execs and forks) and
/// returns the listener fd to hand to hot.
///
/// Sets `no_new_privs` first, which an unprivileged filter requires: set-uid programs the app
/// runs do not gain privileges (what a development server should not need anyway).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn install_filter() -> io::Result<OwnedFd> {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
        SECCOMP_RET_USER_NOTIF, sock_filter,
    };
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    // Instruction 7 notifies, 8 allows; jumps count from the next instruction.
    let program = [
        /* 0 */ stmt(BPF_LD | BPF_W | BPF_ABS, DATA_ARCH),
        /* 1 */ jump(AUDIT_ARCH, 0, 6),
        /* 2 */ stmt(BPF_LD | BPF_W | BPF_ABS, DATA_NR),
        /* 3 */ jump(libc::SYS_bind as u32, 3, 0),
        /* 4 */ jump(libc::SYS_shutdown as u32, 0, 3),
        /* 5 */ stmt(BPF_LD | BPF_W | BPF_ABS, DATA_ARG1_LOW),
        /* 6 */ jump(libc::SHUT_WR as u32, 1, 0),
        /* 7 */ stmt(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        /* 8 */ stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `program`, both alive for the call; the kernel copies the
    // program and keeps no pointer to it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd (CLOEXEC) the kernel made for this filter; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn install_filter() -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "hot knows the system call numbers of x86_64 and aarch64 only",
    ))
}

/// A system call the app is waiting in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `bind(fd, addr, len)`: `addr` is a pointer in the caller's memory.
    Bind { fd: RawFd, addr: u64, len: u32 },
    /// `shutdown(fd, how)` with `how` other than SHUT_WR.
    Shutdown { fd: RawFd },
    /// Anything else the filter let through to hot (not expected).
    Other,
}

/// One notification: which thread waits, in which call.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub id: u64,
    /// The waiting thread's id (not its process's: see `/proc/TID/status` for the Tgid).
    pub tid: u32,
    pub call: Call,
}

/// How a waiting call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The kernel runs the call as the app made it.
    Continue,
    /// The call returns this value without running.
    Return(i64),
    /// The call fails with this errno.
    Fail(i32),
}

/// What waiting on the listener found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Request,
    /// Every process under the filter has exited: no request can come any more.
    Closed,
    TimedOut,
}

/// hot's end of a filter: the notifications of every process under it.
#[derive(Debug)]
pub struct Notifier(OwnedFd);

impl From<OwnedFd> for Notifier {
    fn from(fd: OwnedFd) -> Self {
        Notifier(fd)
    }
}

impl Notifier {
    pub fn wait(&self, timeout: Duration) -> io::Result<Wait> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => Ok(Wait::TimedOut),
            Ok(_) => {
                let got = fds[0].revents().unwrap_or(PollFlags::empty());
                if got.contains(PollFlags::POLLIN) {
                    Ok(Wait::Request)
                } else {
                    Ok(Wait::Closed)
                }
            }
            Err(nix::errno::Errno::EINTR) => Ok(Wait::TimedOut),
            Err(e) => Err(e.into()),
        }
    }

    /// The next request; `None` when it vanished before it could be read (the caller was
    /// interrupted or died), which is not an error.
    pub fn receive(&self) -> io::Result<Option<Request>> {
        // SAFETY: all-zero is a valid seccomp_notif (plain integers), and the kernel requires
        // it zeroed.
        let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one seccomp_notif into `notif`, which is that size.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut notif as *mut libc::seccomp_notif,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            };
        }
        let args = notif.data.args;
        let nr = i64::from(notif.data.nr);
        let call = if notif.data.arch != AUDIT_ARCH_OF_BUILD {
            Call::Other
        } else if nr == libc::SYS_bind {
            Call::Bind {
                fd: args[0] as RawFd,
                addr: args[1],
                len: args[2] as u32,
            }
        } else if nr == libc::SYS_shutdown {
            Call::Shutdown {
                fd: args[0] as RawFd,
            }
        } else {
            Call::Other
        };
        Ok(Some(Request {
            id: notif.id,
            tid: notif.pid,
            call,
        }))
    }

    /// Whether request `id` still waits: what was read of its memory since is trustworthy only
    /// if it does (the thread could have died and its id been reused).
    pub fn is_valid(&self, id: u64) -> bool {
        // SAFETY: NOTIF_ID_VALID reads one u64 from the pointer, which points at `id`.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
                &id as *const u64,
            )
        };
        rc == 0
    }

    /// Ends request `id`. A request whose caller has gone meanwhile is not an error.
    pub fn reply(&self, id: u64, reply: Reply) -> io::Result<()> {
        let (val, error, flags) = match reply {
            Reply::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
            Reply::Return(val) => (val, 0, 0),
            Reply::Fail(errno) => (0, -errno, 0),
        };
        let mut resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from the pointer, which points at
        // `resp`.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOENT) {
                return Ok(());
            }
            return Err(err);
        }
        Ok(())
    }

    /// Puts `socket` in the caller's fd table at `target`, replacing what was there (as
    /// `dup2` would), with `O_CLOEXEC` as the caller had it on the replaced fd.
    pub fn place_fd(
        &self,
        id: u64,
        socket: BorrowedFd<'_>,
        target: RawFd,
        cloexec: bool,
    ) -> io::Result<()> {
        let mut addfd = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: socket.as_raw_fd() as u32,
            newfd: target as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: NOTIF_ADDFD reads one seccomp_notif_addfd from the pointer, which points at
        // `addfd`; `srcfd` is an fd of ours, alive for the call.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
                &mut addfd as *mut libc::seccomp_notif_addfd,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const AUDIT_ARCH_OF_BUILD: u32 = AUDIT_ARCH;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH_OF_BUILD: u32 = 0;

/// Reads `len` bytes at `addr` in process (or thread) `tid`'s memory.
pub fn read_memory(tid: u32, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    use nix::sys::uio::{RemoteIoVec, process_vm_readv};
    let mut buf = vec![0u8; len];
    let pid = nix::unistd::Pid::from_raw(libc::pid_t::try_from(tid).map_err(io::Error::other)?);
    let remote = [RemoteIoVec {
        base: usize::try_from(addr).map_err(io::Error::other)?,
        len,
    }];
    let read = process_vm_readv(pid, &mut [io::IoSliceMut::new(&mut buf)], &remote)?;
    buf.truncate(read);
    Ok(buf)
}
