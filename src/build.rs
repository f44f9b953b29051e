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
use crate::ui::status::Terminal;

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
        output: Option<&Terminal>,
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
        if output.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let (group, pipes) = process::spawn(&mut cmd, Vec::new(), events, Event::BuildFinished)?;
        if let Some(terminal) = output {
            // With a live status line, the build's output is printed below it rather than
            // over it.
            for pipe in pipes {
                let terminal = terminal.clone();
                std::thread::Builder::new()
                    .name("build-output".into())
                    .spawn(move || forward(pipe, &terminal))?;
            }
        }
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

fn forward(mut pipe: impl io::Read, terminal: &Terminal) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            return;
        }
        terminal.print(&buf[..n]);
    }
}
