//! Terminal ioctls: a terminal's window size, and taking a terminal as the controlling terminal
//! of a new session.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

pub use nix::pty::Winsize;

/// The window size of the terminal `fd`; None for a terminal that does not know it (a serial
/// line, some containers' consoles report 0 × 0).
pub fn window_size(fd: BorrowedFd) -> Option<Winsize> {
    let mut size = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which is valid for the call.
    let got = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &raw mut size) };
    (got == 0 && size.ws_row > 0 && size.ws_col > 0).then_some(size)
}

/// Sets the window size of the terminal `fd` (a pseudo-terminal's master: the kernel then
/// sends SIGWINCH to the foreground group of its slave).
pub fn set_window_size(fd: BorrowedFd, size: &Winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which is valid for the call.
    let set = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, std::ptr::from_ref(size)) };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// In a child between fork and exec: starts a new session (so the process leads a new group
/// too) and makes its stdin, a terminal, that session's controlling terminal. Only
/// async-signal-safe system calls.
pub fn become_session_leader_of_stdin() -> io::Result<()> {
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe system calls that take plain
    // integers and touch no memory of the process.
    unsafe {
        if libc::setsid() < 0 {
            return Err(io::Error::last_os_error());
        }
        // The argument is a plain int (0: never steal a terminal another session holds); the
        // request's type differs between libcs, hence the cast.
        #[allow(clippy::cast_lossless, clippy::useless_conversion)]
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY as _, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
