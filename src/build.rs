//! Running the build command: `sh -c CMD` in the project directory, in its own process group.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::config::BuildConfig;
use crate::event::{BuildEnd, Event};
use crate::listen::ACTIVATION_VARS;
use crate::supervise::process::{self, ProcessGroup};
use crate::ui::status::{Sink, Stream};

/// One run of the build command.
#[derive(Debug)]
pub struct BuildJob {
    pub group: ProcessGroup,
    pub started: Instant,
    /// Set once hot asked it to stop; its exit is then a cancellation, not a failure.
    pub cancelled: bool,
    output: Output,
}

/// The build's output: passed through to the terminal as it comes, its end kept to explain a
/// failure.
#[derive(Debug, Default)]
struct Output {
    tail: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// What the common toolchains read as "colour even into a pipe": cargo and rustc, Node tools
/// built on chalk / supports-color (tsc's `--pretty` output, eslint, vite, jest), and tools
/// that follow the CLICOLOR convention. A variable the user set stays as set.
pub const COLOUR_VARS: [(&str, &str); 3] = [
    ("CARGO_TERM_COLOR", "always"),
    ("FORCE_COLOR", "1"),
    ("CLICOLOR_FORCE", "1"),
];

/// How much of the build's output is kept.
const TAIL_BYTES: usize = 64 << 10;

impl BuildJob {
    /// Starts the build. Changed paths reach it only through `HOT_CHANGED` (newline-separated,
    /// cut at 64 KiB), never spliced into the command line, so a file name cannot inject shell
    /// syntax.
    pub fn start(
        config: &BuildConfig,
        root: &std::path::Path,
        changes: &[PathBuf],
        slot: usize,
        sink: &Sink,
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
        cmd.env("HOT_CHANGED", changed_list(changes));
        cmd.envs(&config.env);
        // Through hot rather than inherited: printed below the live status line instead of over
        // it, and its end kept to explain a failure. Compilers see a pipe, so the common ones
        // are asked for colour: hot shows it on a terminal and in the browser, and removes it
        // for every other reader (`colour`).
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if config.color {
            for (var, value) in COLOUR_VARS {
                if std::env::var_os(var).is_none() {
                    cmd.env(var, value);
                }
            }
        }
        let (group, pipes) = process::spawn(
            &mut cmd,
            Vec::new(),
            process::Leader::Group,
            events,
            move |outcome| {
                Event::BuildFinished(BuildEnd {
                    slot,
                    ..outcome.into()
                })
            },
        )?;
        let mut output = Output::default();
        for pipe in pipes {
            let (sink, tail) = (sink.clone(), output.tail.clone());
            output.readers.push(
                std::thread::Builder::new()
                    .name("build-output".into())
                    .spawn(move || {
                        sink.forward(pipe, Stream::Stderr, |chunk| keep_tail(&tail, chunk))
                    })?,
            );
        }
        Ok(BuildJob {
            group,
            started: Instant::now(),
            cancelled: false,
            output,
        })
    }

    /// The end of the build's output, once it is all read (or `wait` has passed: a daemon the
    /// build started may hold the pipe open).
    pub fn output_tail(&self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while self.output.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let tail = self
            .output
            .tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&tail).into_owned()
    }

    /// Asks the build to stop with `signal`, so toolchains can remove their temp files.
    pub fn cancel(&mut self, signal: Signal) {
        self.cancelled = true;
        self.group.signal(signal);
    }
}

/// Keeps the last `TAIL_BYTES` (or up to twice that) of the build's output.
fn keep_tail(tail: &Mutex<Vec<u8>>, chunk: &[u8]) {
    if let Ok(mut tail) = tail.lock() {
        tail.extend_from_slice(chunk);
        if tail.len() > 2 * TAIL_BYTES {
            let cut = tail.len() - TAIL_BYTES;
            tail.drain(..cut);
        }
    }
}

/// Changed paths for `HOT_CHANGED`, newline-separated: as many whole paths as fit in 64 KiB,
/// since Linux refuses a single environment string over 128 KiB (a `git checkout` of 20,000
/// files would otherwise make the build impossible to start).
fn changed_list(changes: &[PathBuf]) -> String {
    const MAX: usize = 64 << 10;
    let mut list = String::new();
    for path in changes {
        let path = path.to_string_lossy();
        if list.len() + path.len() + 1 > MAX {
            break;
        }
        if !list.is_empty() {
            list.push('\n');
        }
        list.push_str(&path);
    }
    list
}

/// Whether a failed build failed because the app's running binary could not be overwritten.
pub fn blocked_by_running_binary(output: &str) -> bool {
    output.contains("Text file busy") || output.contains("ETXTBSY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_list_fits_in_one_environment_string() {
        let many: Vec<PathBuf> = (0..20_000)
            .map(|i| PathBuf::from(format!("src/dir{i}/file{i}.go")))
            .collect();
        let list = changed_list(&many);
        assert!(list.len() <= 64 << 10);
        assert!(
            list.lines()
                .all(|l| l.starts_with("src/dir") && l.ends_with(".go")),
            "whole paths only"
        );
        assert_eq!(
            changed_list(&many[..2]),
            "src/dir0/file0.go\nsrc/dir1/file1.go"
        );
    }
}
