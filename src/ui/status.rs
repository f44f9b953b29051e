//! The live status line shown on a terminal while a build runs: a spinner, the elapsed time and
//! what triggered it. Every other line hot prints, and the build's output, goes through
//! `Terminal`, which first wipes the status line so nothing is drawn over.
//!
//! It also keeps hot's own lines whole: output forwarded from the build (and, with `--json`,
//! from the app) may stop mid-line, and a line of hot's printed then would be glued onto it.
//! `Terminal::line` ends such a partial line first, so every line hot prints starts at the
//! start of a line, and a `--json` reader can parse each event line on its own.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

/// One build in progress: whose (an app's name, "" in a one-app session) and what it says.
#[derive(Debug)]
struct Status {
    key: String,
    started: Instant,
    what: String,
}

#[derive(Debug)]
struct State {
    /// The builds in progress, in the order they began: apps of a session build at the same
    /// time, and the line shows each until its own build ends.
    status: Vec<Status>,
    /// A spinner thread is running (it ends once no status is left).
    spinning: bool,
    /// Whether the status line is on screen now.
    drawn: bool,
    /// Whether the cursor is at the start of a line: the status line is only drawn there, so
    /// it never splits a line of build output that arrives in pieces.
    at_line_start: bool,
    /// The same for stdout, where the app's forwarded stdout goes.
    stdout_at_line_start: bool,
    /// stdout and stderr are one file (a terminal, `2>&1`, an IDE's run panel): a partial line
    /// on either is a partial line for both.
    merged: bool,
    tty: bool,
}

/// Output to the terminal, shared by hot's lines, the build's output and the spinner.
#[derive(Debug, Clone)]
pub struct Terminal {
    state: Arc<Mutex<State>>,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal {
            state: Arc::new(Mutex::new(State {
                status: Vec::new(),
                spinning: false,
                drawn: false,
                at_line_start: true,
                stdout_at_line_start: true,
                merged: false,
                tty: false,
            })),
        }
    }
}

impl Terminal {
    /// A terminal for hot's stderr, which may or may not be a tty.
    pub fn new(tty: bool) -> Terminal {
        let t = Terminal::default();
        if let Ok(mut state) = t.state.lock() {
            state.tty = tty;
            state.merged = same_file(&std::io::stdout(), &std::io::stderr());
        }
        t
    }

    pub fn is_tty(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.tty)
    }

    /// Writes one of hot's own lines (`line` ends with a newline) to stderr, at the start of
    /// a line: a partial line forwarded before it is ended first.
    pub fn line(&self, line: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        if std::mem::take(&mut state.drawn) {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        if !state.at_line_start || (state.merged && !state.stdout_at_line_start) {
            let _ = err.write_all(b"\n");
            state.stdout_at_line_start = true;
        }
        let _ = err.write_all(line);
        let _ = err.flush();
        state.at_line_start = line.last() == Some(&b'\n');
    }

    /// Writes forwarded output to stdout (the app's stdout, under `--json`).
    pub fn print_out(&self, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
        if let Some(last) = bytes.last() {
            state.stdout_at_line_start = *last == b'\n';
            if state.merged {
                state.at_line_start = state.stdout_at_line_start;
            }
        }
    }

    /// Writes bytes to stderr in place of the status line, which is redrawn on the next tick.
    pub fn print(&self, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        if std::mem::take(&mut state.drawn) {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        let _ = err.write_all(bytes);
        let _ = err.flush();
        if let Some(last) = bytes.last() {
            state.at_line_start = *last == b'\n';
            if state.merged {
                state.stdout_at_line_start = state.at_line_start;
            }
        }
    }

    /// Shows "⠋ building · src/main.go changed · 1.2 s" until `clear(key)`; `key` names whose
    /// build it is (an app's name, or "" in a one-app session), and replaces an earlier status
    /// of the same key.
    pub fn show(&self, key: &str, what: String) {
        let start_spinner = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            state.status.retain(|s| s.key != key);
            state.status.push(Status {
                key: key.to_owned(),
                started: Instant::now(),
                what,
            });
            !std::mem::replace(&mut state.spinning, true)
        };
        if start_spinner {
            let terminal = self.clone();
            let spawned = thread::Builder::new().name("status".into()).spawn(move || {
                let mut frame = 0;
                while terminal.draw(FRAMES[frame % FRAMES.len()]) {
                    frame += 1;
                    thread::sleep(TICK);
                }
            });
            if spawned.is_err() {
                // No spinner then (the builds' lines still print); the next status tries again.
                if let Ok(mut state) = self.state.lock() {
                    state.spinning = false;
                }
            }
        }
    }

    /// Removes `key`'s status; the line goes once no build is left.
    pub fn clear(&self, key: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.status.retain(|s| s.key != key);
        if state.status.is_empty() && std::mem::take(&mut state.drawn) {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[2K");
            let _ = err.flush();
        }
    }

    /// Draws the builds in progress; false (and the spinner stops) once there are none.
    fn draw(&self, frame: char) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if state.status.is_empty() {
            state.spinning = false;
            return false;
        }
        let parts: Vec<String> = state
            .status
            .iter()
            .map(|status| {
                let secs = status.started.elapsed().as_secs_f64();
                match status.key.as_str() {
                    "" => format!("{} · {secs:.1} s", status.what),
                    key => format!("{key}: {} · {secs:.1} s", status.what),
                }
            })
            .collect();
        // A line wider than the terminal would wrap, and clearing it would then leave its
        // first part on screen. (A terminal of no known size, 0 columns, is not cut.)
        let width = match crossterm::terminal::size() {
            Ok((columns, _)) if columns > 1 => usize::from(columns) - 1,
            _ => usize::MAX,
        };
        let line: String = format!("{frame} {}", parts.join("  │  "))
            .chars()
            .take(width)
            .collect();
        if state.at_line_start {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(format!("\r\x1b[2K{line}").as_bytes());
            let _ = err.flush();
            state.drawn = true;
        }
        true
    }
}

/// Which of hot's standard streams forwarded output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How output passed through hot (the build's, and the app's when it is piped) is shown: on
/// which terminal, with or without its colours, and, in a session of several apps, with each
/// line labelled with the app's name.
#[derive(Debug, Clone)]
pub struct Sink {
    pub terminal: Terminal,
    pub colour: Colour,
    /// Put before every line (already padded and coloured): `api │ `.
    pub label: Option<Arc<str>>,
}

/// The longest partial line a labelled sink holds back waiting for its end.
const MAX_HELD_LINE: usize = 16 << 10;

impl Sink {
    /// Copies a child's output from `pipe` to `stream` as it comes (unlabelled: partial lines
    /// included), handing every chunk to `also` too (a build keeps its tail); ends with the
    /// pipe.
    pub fn forward(
        &self,
        mut pipe: impl std::io::Read,
        stream: Stream,
        mut also: impl FnMut(&[u8]),
    ) {
        let mut stripper = (self.colour == Colour::Strip).then(super::ansi::Stripper::default);
        let mut held: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            also(&buf[..n]);
            let shown = match &mut stripper {
                Some(stripper) => std::borrow::Cow::Owned(stripper.strip(&buf[..n])),
                None => std::borrow::Cow::Borrowed(&buf[..n]),
            };
            match &self.label {
                None => self.write(stream, &shown),
                Some(label) => {
                    // Whole lines only, each with its label: lines of two apps never mix.
                    held.extend_from_slice(&shown);
                    let end = match held.iter().rposition(|b| *b == b'\n') {
                        Some(at) => at + 1,
                        None if held.len() > MAX_HELD_LINE => held.len(),
                        None => continue,
                    };
                    let lines: Vec<u8> = held.drain(..end).collect();
                    self.write(stream, &labelled(label, &lines));
                }
            }
        }
        if let (Some(label), false) = (&self.label, held.is_empty()) {
            held.push(b'\n');
            self.write(stream, &labelled(label, &held));
        }
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        match stream {
            Stream::Stdout => self.terminal.print_out(bytes),
            Stream::Stderr => self.terminal.print(bytes),
        }
    }
}

/// `lines` (ending with a newline) with `label` before each.
fn labelled(label: &str, lines: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() + 16 * label.len());
    for line in lines.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

/// What becomes of the colours in output passed through hot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Passed on as they are (a terminal shows them).
    Keep,
    /// Removed (a log file, a pipe, an IDE's run panel, `--json`).
    Strip,
}

/// Whether two open files are the same file (device and inode): then what is written to one
/// shows up between what is written to the other.
fn same_file(a: &impl std::os::fd::AsFd, b: &impl std::os::fd::AsFd) -> bool {
    match (
        nix::sys::stat::fstat(a.as_fd()),
        nix::sys::stat::fstat(b.as_fd()),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}
