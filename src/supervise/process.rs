//! Processes in their own process group: spawn, signal the group, reap on a thread.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::Sender;
use std::thread;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::event::{Event, Outcome};
use crate::listen::FIRST_APP_FD;

/// A process that leads its own process group; signals go to the whole group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup {
    leader: Pid,
}

impl ProcessGroup {
    pub fn pid(&self) -> u32 {
        self.leader.as_raw().unsigned_abs()
    }

    /// Signals every process of the group. A group that is already gone is not an error.
    pub fn signal(&self, signal: Signal) {
        match killpg(self.leader, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            // EPERM: a member changed its uid; nothing more hot can do about it.
            Err(_) => {}
        }
    }

    /// Signals the group's leader alone (the app's main process, which stops its workers its
    /// own way).
    pub fn signal_leader(&self, signal: Signal) {
        match nix::sys::signal::kill(self.leader, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(_) => {}
        }
    }

    pub fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }

    /// Whether process `pid` is the leader or a member of this group.
    pub fn contains(&self, pid: u32) -> bool {
        pid == self.pid()
            || i32::try_from(pid)
                .ok()
                .and_then(|p| nix::unistd::getpgid(Some(Pid::from_raw(p))).ok())
                .is_some_and(|g| g == self.leader)
    }
}

/// What a spawned process leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    /// A new process group, in hot's session.
    Group,
    /// A new session (and so a new group) whose controlling terminal is the process's stdin,
    /// a pseudo-terminal: the app's own terminal under `[run] stdin = "app"`.
    Session,
}

/// Spawns `cmd` as the leader of a new process group, places `fds` at 3, 4, ... in the child,
/// and reports its exit as `on_exit(outcome)` on `events`. Returns the group and the child's
/// stdout / stderr pipes, if the command asked for them.
///
/// Must be called from a thread that outlives the child: on Linux the child's parent-death
/// signal fires when the *thread* that forked it ends. The app loop's thread is that thread.
pub fn spawn(
    cmd: &mut Command,
    fds: Vec<RawFd>,
    leader: Leader,
    events: Sender<Event>,
    on_exit: impl FnOnce(Outcome) -> Event + Send + 'static,
) -> io::Result<(ProcessGroup, Vec<Box<dyn io::Read + Send>>)> {
    if leader == Leader::Group {
        cmd.process_group(0);
    }
    #[cfg(linux_native)]
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // calls are sound in a multi-threaded parent. It calls setsid, ioctl, prctl, getppid, dup2
    // and kill, all async-signal-safe system calls, and reads `fds`, which was allocated before
    // the fork; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if leader == Leader::Session {
                crate::sys::tty::become_session_leader_of_stdin()?;
            }
            #[cfg(linux_native)]
            {
                // Even `kill -9` of hot must not leave the app running.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // hot may have died before prctl took effect.
                if libc::getppid() != parent.as_raw() {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
            // hot's copies sit at fds >= 100, above 3 + fds.len(), so no dup2 here overwrites
            // a source fd still to be copied. dup2 clears CLOEXEC on the new fd.
            for (i, fd) in fds.iter().enumerate() {
                let target = FIRST_APP_FD + i as RawFd;
                if libc::dup2(*fd, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let mut pipes: Vec<Box<dyn io::Read + Send>> = Vec::new();
    if let Some(out) = child.stdout.take() {
        pipes.push(Box::new(out));
    }
    if let Some(err) = child.stderr.take() {
        pipes.push(Box::new(err));
    }
    let group = ProcessGroup {
        leader: Pid::from_raw(child.id() as i32),
    };
    thread::Builder::new()
        .name(format!("reap-{}", child.id()))
        .spawn(move || reap(child, events, on_exit))?;
    Ok((group, pipes))
}

fn reap(mut child: Child, events: Sender<Event>, on_exit: impl FnOnce(Outcome) -> Event) {
    let outcome = match child.wait() {
        Ok(status) => Outcome::from(status),
        Err(_) => Outcome {
            code: None,
            signal: None,
        },
    };
    let _ = events.send(on_exit(outcome));
}

/// Makes `hot` the reaper of orphans among its descendants (Linux), so that a process that
/// escaped its group with `setsid` and lost its parent is still `hot`'s to stop.
pub fn become_subreaper() {
    #[cfg(linux_native)]
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
}

/// After a group's leader exited: kills what is left of the group, then every process `hot`
/// adopted as subreaper (descendants that left the group with `setsid`), and reaps them, so the
/// next app finds the port free and nothing is orphaned. `keep` are `hot`'s own children.
pub fn clean_up_after(group: ProcessGroup, keep: &[u32]) {
    group.kill();
    #[cfg(linux_native)]
    {
        use std::time::{Duration, Instant};
        // Members of the group die asynchronously; their setsid'd children are adopted as they
        // do. Keep collecting until the group is gone (bounded: a process in uninterruptible
        // sleep may take longer, and the next pass will find it).
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            reap_adopted(keep);
            if killpg(group.leader, None) == Err(Errno::ESRCH) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        reap_adopted(keep);
    }
    #[cfg(not(linux_native))]
    let _ = keep;
}

/// Kills and reaps `hot`'s children that it did not start itself (adopted orphans).
#[cfg(linux_native)]
pub fn reap_adopted(keep: &[u32]) {
    for pid in children().into_iter().filter(|p| !keep.contains(p)) {
        let pid = Pid::from_raw(pid as i32);
        // Its own group too: a setsid'd daemon leads a group that may hold more processes.
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

/// The direct children of this process, from /proc/self/task/*/children.
#[cfg(linux_native)]
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[cfg(not(linux_native))]
pub fn reap_adopted(_keep: &[u32]) {}
