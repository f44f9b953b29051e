//! The app: the user's server, started through the trampoline with the held sockets.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::Instant;

use crate::build::ACTIVATION_VARS;
use crate::config::RunConfig;
use crate::event::Event;
use crate::listen::Listeners;

use super::StopReason;
use super::process::{self, ProcessGroup};
use super::trampoline;

#[derive(Debug)]
pub struct AppProcess {
    pub group: ProcessGroup,
    pub started: Instant,
    /// Why hot is stopping it, once it is.
    pub stopping: Option<StopReason>,
}

impl AppProcess {
    pub fn start(
        run: &RunConfig,
        root: &Path,
        listeners: &Listeners,
        events: Sender<Event>,
    ) -> io::Result<AppProcess> {
        let mut cmd: Command = trampoline::command(&run.program, &run.args);
        cmd.current_dir(root).stdin(Stdio::null());
        for var in ACTIVATION_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(&run.env);
        if !listeners.is_empty() {
            cmd.envs(listeners.env());
        }
        let group = process::spawn(&mut cmd, listeners.raw_fds(), events, Event::AppExited)?;
        Ok(AppProcess {
            group,
            started: Instant::now(),
            stopping: None,
        })
    }

    pub fn stop(&mut self, run: &RunConfig, reason: StopReason) {
        self.stopping = Some(reason);
        self.group.signal(run.stop_signal);
    }
}
