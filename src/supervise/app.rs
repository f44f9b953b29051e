//! The app: the user's server, started through the trampoline with the held sockets.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::{KillMode, RunConfig};
use crate::event::{AppId, Event};
use crate::listen::hold::BindKey;
use crate::listen::{ACTIVATION_VARS, Listeners, PortHold};
use crate::ui::status::{Sink, Stream};
use std::os::fd::OwnedFd;

use super::process::{self, ProcessGroup};
use super::trampoline;

/// What holding an app's own ports needs at its start: the ports held so far, and the sockets
/// a bind of hot's `listen` ports gets (those sockets themselves, or behind hot's proxy, the
/// proxy's private ones).
#[derive(Debug)]
#[cfg_attr(not(linux_native), allow(dead_code))]
pub struct Hold<'a> {
    pub ports: &'a PortHold,
    pub pinned: Vec<(BindKey, OwnedFd)>,
}

/// What the app reads (`[run] stdin`).
#[derive(Debug)]
pub enum AppInput {
    /// Nothing (/dev/null): hot reads the keyboard.
    Nothing,
    /// hot's own stdin, not a terminal (a pipe, a file): the app reads it, and its end.
    Inherited,
    /// A pseudo-terminal's slave (`terminal::Console`): the app's stdin, stdout, stderr and
    /// controlling terminal.
    Terminal(OwnedFd),
}

#[derive(Debug)]
pub struct AppProcess {
    pub id: AppId,
    pub group: ProcessGroup,
    /// Set when it exits, for the threads probing it.
    pub gone: Arc<AtomicBool>,
    pub started: Instant,
    /// The readiness probe's last failed attempt.
    pub attempt: Arc<Mutex<Option<String>>>,
}

impl AppProcess {
    /// Starts the app `id` with `listeners` as fds 3.. and `notify` as its `NOTIFY_SOCKET`,
    /// reading `input`. Its output goes through `output` if given (unless it has a terminal of
    /// its own), else straight to hot's stdout and stderr. With `hold`, the ports it binds
    /// itself are held across restarts.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: AppId,
        run: &RunConfig,
        root: &Path,
        listeners: &Listeners,
        notify: Option<&Path>,
        input: AppInput,
        output: Option<&Sink>,
        hold: Option<Hold>,
        events: Sender<Event>,
    ) -> io::Result<AppProcess> {
        let mut cmd: Command = trampoline::command(&run.program, &run.args);
        cmd.current_dir(root);
        let leader = match input {
            AppInput::Nothing => {
                cmd.stdin(Stdio::null());
                process::Leader::Group
            }
            AppInput::Inherited => {
                cmd.stdin(Stdio::inherit());
                process::Leader::Group
            }
            AppInput::Terminal(slave) => {
                cmd.stdin(Stdio::from(slave.try_clone()?))
                    .stdout(Stdio::from(slave.try_clone()?))
                    .stderr(Stdio::from(slave));
                process::Leader::Session
            }
        };
        let output = output.filter(|_| leader == process::Leader::Group);
        if output.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        for var in ACTIVATION_VARS {
            cmd.env_remove(var);
        }
        // env_files first, so that `env` wins; a file that cannot be read is an error the user
        // sees at once rather than a silently missing variable.
        for file in &run.env_files {
            cmd.envs(read_env_file(file)?);
        }
        cmd.envs(&run.env);
        if !listeners.is_empty() {
            cmd.envs(listeners.env());
        }
        match notify {
            Some(path) => cmd.env("NOTIFY_SOCKET", path),
            None => cmd.env_remove("NOTIFY_SOCKET"),
        };
        #[cfg_attr(not(linux_native), allow(unused_mut))]
        let mut fds = listeners.raw_fds();
        #[cfg(linux_native)]
        let pending = match hold {
            Some(hold) => Some(hold.ports.prepare(hold.pinned, &mut cmd, &mut fds)?),
            None => None,
        };
        #[cfg(not(linux_native))]
        let _ = hold;
        let gone = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&gone);
        let (group, pipes) =
            process::spawn(&mut cmd, fds, leader, events.clone(), move |outcome| {
                flag.store(true, Ordering::Relaxed);
                Event::AppExited { app: id, outcome }
            })?;
        #[cfg(linux_native)]
        if let Some(pending) = pending {
            pending.serve(id, events)?;
        }
        if let Some(sink) = output {
            // stdout first, then stderr (see `process::spawn`). The threads end when the app
            // and whatever it started have closed the pipes.
            for (pipe, stream) in pipes.into_iter().zip([Stream::Stdout, Stream::Stderr]) {
                let sink = sink.clone();
                std::thread::Builder::new()
                    .name("app-output".into())
                    .spawn(move || sink.forward(pipe, stream, |_| {}))?;
            }
        }
        Ok(AppProcess {
            id,
            gone,
            group,
            started: Instant::now(),
            attempt: Arc::default(),
        })
    }

    pub fn stop(&self, run: &RunConfig) {
        match run.kill_mode {
            KillMode::Mixed => self.group.signal_leader(run.stop_signal),
            KillMode::Group => self.group.signal(run.stop_signal),
        }
    }

    pub fn last_attempt(&self) -> Option<String> {
        self.attempt.lock().ok().and_then(|last| last.clone())
    }
}

/// The variables of a dotenv file, read the way the ecosystem's dotenv libraries do (quotes,
/// escapes, multi-line values, `export`, `${VAR}`). A line that cannot be parsed is an error
/// naming the file and the line, not a variable silently missing.
pub fn read_env_file(file: &Path) -> io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| io::Error::new(e.kind(), format!("env file {}: {e}", file.display())))?;
    parse_env(&text).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("env file {}: {why}", file.display()),
        )
    })
}

fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| {
            item.map_err(|e| match e {
                dotenvy::Error::LineParse(line, _) => {
                    let first = line.lines().next().unwrap_or_default();
                    let number = text
                        .lines()
                        .position(|l| l == first)
                        .map_or_else(String::new, |n| format!("line {}: ", n + 1));
                    format!("{number}cannot parse `{}`", first.trim())
                }
                other => other.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_parse_like_dotenv() {
        let vars = parse_env(
            "# c\nexport A=1\nB=\"two words\"\nC='x'\nD=\"line one\nline two\"\nE=\"escaped\\nnewline\"\n\n",
        )
        .expect("valid");
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "line one\nline two".into()),
                ("E".into(), "escaped\nnewline".into()),
            ]
        );
        let err = parse_env("A=1\nthis is not a variable\n").expect_err("bad line");
        assert_eq!(err, "line 2: cannot parse `this is not a variable`");
    }
}
