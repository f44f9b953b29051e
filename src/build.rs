//! Running the build command: `sh -c CMD` in the project directory, in its own process group.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::Instant;

use nix::sys::signal::Signal;

use crate::config::BuildConfig;
use crate::event::Event;
use crate::supervise::process::{self, ProcessGroup};

/// Variables of the socket-activation protocol: they belong to the app alone.
pub const ACTIVATION_VARS: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// One run of the build command.
#[derive(Debug)]
pub struct BuildJob {
    pub group: ProcessGroup,
    pub started: Instant,
    /// Set once hot asked it to stop; its exit is then a cancellation, not a failure.
    pub cancelled: bool,
}

impl BuildJob {
    /// Starts the build. Changed paths reach it only through `HOT_CHANGED` (newline-separated),
    /// never spliced into the command line, so a file name cannot inject shell syntax.
    pub fn start(
        config: &BuildConfig,
        root: &std::path::Path,
        changes: &[PathBuf],
        events: Sender<Event>,
    ) -> io::Result<BuildJob> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&config.cmd)
            .current_dir(root)
            .stdin(Stdio::null());
        for var in ACTIVATION_VARS {
            cmd.env_remove(var);
        }
        let changed: Vec<String> = changes
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        cmd.env("HOT_CHANGED", changed.join("\n"));
        cmd.envs(&config.env);
        let group = process::spawn(&mut cmd, Vec::new(), events, Event::BuildFinished)?;
        Ok(BuildJob {
            group,
            started: Instant::now(),
            cancelled: false,
        })
    }

    /// Asks the build to stop with `signal`, so toolchains can remove their temp files.
    pub fn cancel(&mut self, signal: Signal) {
        self.cancelled = true;
        self.group.signal(signal);
    }
}
