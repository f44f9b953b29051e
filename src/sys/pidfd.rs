//! pidfd_open(2) and pidfd_getfd(2): a copy of another process's file descriptor.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A stable handle on a process (not a thread): it cannot come to mean another process when
/// the pid is reused.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Opens process `pid`, which must be a thread group leader (`pidfd_open` refuses other
    /// threads before Linux 6.9).
    pub fn open(pid: u32) -> io::Result<PidFd> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; it touches no
        // memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a new fd (CLOEXEC, per pidfd_open) that nothing else owns.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// A copy in this process (CLOEXEC) of the process's fd `target`, sharing its open file
    /// description. Needs ptrace rights over it (hot is its ancestor, same user).
    pub fn get_fd(&self, target: RawFd) -> io::Result<OwnedFd> {
        // SAFETY: pidfd_getfd takes two fds and flags (0) and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.0.as_raw_fd(), target, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd, CLOEXEC by definition of pidfd_getfd, that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}
