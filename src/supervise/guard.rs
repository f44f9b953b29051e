//! The orphan guard: a tiny helper process that outlives `hot` only to clean up after it.
//!
//! Parent-death signals reach the app and the build (their leaders), but not the processes
//! they started in their groups. So `hot` tells a helper, over a pipe, which process groups
//! exist. When the pipe closes (`hot` exited, was killed with SIGKILL, or crashed), the helper kills
//! the groups still registered and exits. It sits in its own process group and ignores the
//! usual termination signals, so a Ctrl-C or `pkill hot` cannot take it down before it has
//! done its job.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::trampoline::self_exe;

const ARG: &str = "__hot_guard";

pub struct Guard {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Guard {
    pub fn spawn() -> std::io::Result<Guard> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(self_exe())
            .arg(ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take();
        Ok(Guard { child, pipe })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let _ = self.child.wait();
    }
}

/// If this process is the guard, runs it to the end.
pub fn run_if_requested() -> Option<ExitCode> {
    if std::env::args_os().nth(1).as_deref() != Some(ARG.as_ref()) {
        return None;
    }
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: setting a disposition to SIG_IGN; no handler code runs.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    let mut groups = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
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
    Some(ExitCode::SUCCESS)
}
