//! The orphan guard: a tiny helper process that outlives `hot` only to clean up after it.
//!
//! Parent-death signals reach the app and the build (their leaders), but not the processes
//! they started in their groups. So `hot` tells a helper, over a pipe, which process groups
//! exist. When the pipe closes (`hot` exited, was killed with SIGKILL, or crashed), the helper kills
//! the groups still registered and exits. It sits in its own process group and ignores the
//! usual termination signals, so a Ctrl-C or `pkill hot` cannot take it down before it has
//! done its job. Learning of hot's death from the pipe's end works on every OS.
//!
//! The helper is a fork of `hot` taken before any thread exists, not a new program: it shares
//! hot's pages and touches few of its own (a re-executed binary cost 3 MB of resident memory for
//! a loop that reads a pipe). It is called `hot-guard` where the OS lets a process rename itself
//! (Linux: `ps -e`, `top`, `pgrep hot-guard`; FreeBSD: `ps`); `ps -f` still shows hot's command
//! line, as for any fork.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

pub struct Guard {
    pid: Pid,
    pipe: Option<File>,
}

impl Guard {
    /// Starts the guard. Must be called before `hot` starts any thread: the child of a fork
    /// may only do what is safe in a process whose other threads vanished mid-step, and a
    /// single-threaded parent leaves none.
    pub fn spawn() -> std::io::Result<Guard> {
        single_threaded()?;
        let (read, write) = nix::unistd::pipe()?;
        // SAFETY: hot has a single thread here (checked above where the OS can tell, and the
        // callers start the guard first thing), so the child may allocate and take locks like
        // any program; it never returns into hot's code (`become_guard` ends in `_exit`).
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(write);
                become_guard(read)
            }
            ForkResult::Parent { child } => {
                drop(read);
                let pipe = File::from(write);
                set_cloexec(&pipe);
                Ok(Guard {
                    pid: child,
                    pipe: Some(pipe),
                })
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// Records a process group to kill should `hot` die.
    pub fn add(&mut self, pgid: u32) {
        self.send(&format!("+{pgid}\n"));
    }

    pub fn remove(&mut self, pgid: u32) {
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&mut self, line: &str) {
        if let Some(pipe) = &mut self.pipe {
            if pipe.write_all(line.as_bytes()).is_err() {
                // The guard is gone; nothing else can take its place now.
                self.pipe = None;
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the pipe lets the guard kill whatever is still registered, then exit.
        self.pipe = None;
        let _ = waitpid(self.pid, None);
    }
}

/// The pipe's write end must not leak into the build or the app: one of them holding it open
/// would keep the guard from ever seeing hot's end.
fn set_cloexec(file: &File) {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let _ = fcntl(file, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
}

/// Errors unless this process has one thread (where the OS can tell).
fn single_threaded() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count)?;
        if threads > 1 {
            return Err(std::io::Error::other(format!(
                "the cleanup helper must start before any thread ({threads} are running)"
            )));
        }
    }
    Ok(())
}

/// The guard's whole life, in the forked child.
fn become_guard(pipe: OwnedFd) -> ! {
    // Its own group, so a Ctrl-C at the terminal (sent to hot's group) does not reach it.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: setting a disposition to SIG_IGN installs no handler code.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
    name_this_process();
    // Nothing of hot's but the pipe: not its stdio (a pipe to a log reader would stay open
    // after hot's end), not an inherited descriptor.
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors of this single-threaded child.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let pipe = keep_only(pipe);
    let mut groups = BTreeSet::new();
    for line in BufReader::new(File::from(pipe)).lines() {
        let Ok(line) = line else { break };
        let (op, pgid) = line.split_at(1.min(line.len()));
        if let Ok(pgid) = pgid.parse::<i32>() {
            match op {
                "+" => {
                    groups.insert(pgid);
                }
                "-" => {
                    groups.remove(&pgid);
                }
                _ => {}
            }
        }
    }
    // Whatever is still registered was not reaped by hot: a crash, SIGKILL, or a forced exit.
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    // SAFETY: _exit ends the child without running hot's exit handlers or flushing buffers
    // that belong to the parent.
    unsafe { libc::_exit(0) }
}

/// Closes every descriptor above stderr but `pipe` (which moves to fd 3), where the OS has a
/// call for it; elsewhere the guard only holds what hot held when it started.
fn keep_only(pipe: OwnedFd) -> OwnedFd {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::FromRawFd;
        let raw = pipe.as_raw_fd();
        // SAFETY: dup2 and close_range on this single-threaded child's own descriptors. The
        // original descriptor is forgotten, not closed twice: close_range closes it (unless it
        // already was fd 3), and fd 3 is then owned by the new OwnedFd alone.
        unsafe {
            if raw == 3 || libc::dup2(raw, 3) == 3 {
                std::mem::forget(pipe);
                // The raw system call: musl's libc (the static release build) has no wrapper.
                libc::syscall(libc::SYS_close_range, 4, libc::c_uint::MAX, 0);
                return OwnedFd::from_raw_fd(3);
            }
        }
    }
    pipe
}

/// `hot-guard` in `ps` and `top`, where a process can rename itself.
fn name_this_process() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_name(c"hot-guard");
    }
    #[cfg(target_os = "freebsd")]
    // SAFETY: a constant format string with no arguments.
    unsafe {
        libc::setproctitle(c"-hot-guard".as_ptr());
    }
}
