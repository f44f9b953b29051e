//! The live status line shown on a terminal while a build runs: a spinner, the elapsed time and
//! what triggered it. Every other line hot prints, and the build's output, goes through
//! `Terminal`, which first wipes the status line so nothing is drawn over.
//!
//! It also keeps hot's own lines whole: output forwarded from the build (and, with `--json`,
//! from the app) may stop mid-line, and a line of hot's printed then would be glued onto it.
//! `Terminal::line` ends such a partial line first, so every line hot prints starts at the
//! start of a line, and a `--json` reader can parse each event line on its own.
//!
//! While an app reads the terminal (`[run] stdin = "app"`), its output comes through here too
//! (`app_output`), relayed from its pseudo-terminal: the real terminal is then in raw mode, so
//! hot's newlines get their carriage return, and while the app draws a frame (`Drawn::framed`)
//! hot's output waits (`Relay`) and a failed build rings the bell.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);
/// The most of hot's output held back while an app draws: beyond it the oldest goes (a build
/// that prints without end must not grow hot without end), and hot says how much.
const MAX_HELD: usize = 1 << 20;

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
    /// hot's output is JSON events (`--json`): a program reads them, so they are never held
    /// back for an app's frame (they may land in it; the program reads lines, not the screen).
    events: bool,
    /// Set while hot relays an app's pseudo-terminal to the real one.
    relay: Option<Relay>,
}

/// The real terminal while an app reads it through hot.
#[derive(Debug, Default)]
struct Relay {
    /// stdout is the terminal (stderr's is `State::tty`): bytes written there in raw mode need
    /// "\r\n" for a newline, and are held while the app draws.
    stdout_tty: bool,
    /// The app draws a frame (see `Drawn::framed`): hot's output waits.
    framed: bool,
    /// The app's output stopped between sequences: a bell written now cannot split one.
    boundary: bool,
    bell_due: bool,
    held: VecDeque<Held>,
    held_bytes: usize,
    dropped: usize,
}

/// What the relay knows of an app's screen after a piece of its output.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    /// A full-screen frame, or a TUI drawing in place (keys read one by one, cursor hidden).
    pub framed: bool,
    pub boundary: bool,
    pub line_start: bool,
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
                events: false,
                relay: None,
            })),
        }
    }
}

impl Terminal {
    /// A terminal for hot's stderr, which may or may not be a tty; `events`: hot writes JSON
    /// events there for a program, which must never wait for an app's frame.
    pub fn new(tty: bool, events: bool) -> Terminal {
        let t = Terminal::default();
        if let Ok(mut state) = t.state.lock() {
            state.tty = tty;
            state.events = events;
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
        if state.hold(Stream::Stderr, line, true) {
            return;
        }
        state.line(line);
    }

    /// Writes forwarded output to stdout (the app's stdout, under `--json`).
    pub fn print_out(&self, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.hold(Stream::Stdout, bytes, false) {
            return;
        }
        state.print_out(bytes);
    }

    /// Writes bytes to stderr in place of the status line, which is redrawn on the next tick.
    pub fn print(&self, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.hold(Stream::Stderr, bytes, false) {
            return;
        }
        state.print(bytes);
    }

    /// From here on an app's pseudo-terminal is relayed to this one, which is in raw mode.
    pub fn relay_begin(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.relay = Some(Relay {
                stdout_tty: std::io::stdout().is_terminal(),
                boundary: true,
                ..Relay::default()
            });
        }
    }

    /// Writes a piece of the app's screen output as it is, and learns what it drew: hot's held
    /// output is written once the app no longer draws a frame.
    pub fn app_output(&self, bytes: &[u8], drawn: Drawn) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let state = &mut *state;
        let mut out = std::io::stdout().lock();
        if std::mem::take(&mut state.drawn) {
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        }
        let _ = out.write_all(bytes);
        state.stdout_at_line_start = drawn.line_start;
        if state.merged {
            state.at_line_start = drawn.line_start;
        }
        if let Some(relay) = &mut state.relay {
            relay.framed = drawn.framed;
            relay.boundary = drawn.boundary;
            if relay.framed && relay.boundary && std::mem::take(&mut relay.bell_due) {
                let _ = out.write_all(b"\x07");
            }
        }
        let _ = out.flush();
        drop(out);
        if !drawn.framed {
            state.release_held();
        }
    }

    /// The app's terminal closed: `restore` undoes what it left on (see `terminal::Screen`),
    /// and hot's held output is written.
    pub fn app_released(&self, restore: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !restore.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(restore);
            let _ = out.flush();
        }
        if let Some(relay) = &mut state.relay {
            relay.framed = false;
            relay.boundary = true;
            relay.bell_due = false;
        }
        state.release_held();
    }

    /// Rings the terminal's bell if hot's output is held back (a build failed while the app
    /// draws): never inside one of the app's escape sequences.
    pub fn alert(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(relay) = state.relay.as_mut().filter(|r| r.framed) {
            if relay.boundary {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            } else {
                relay.bell_due = true;
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
        if state.relay.as_ref().is_some_and(|r| r.framed) {
            return true;
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

impl State {
    fn line(&mut self, line: &[u8]) {
        let mut err = std::io::stderr().lock();
        if std::mem::take(&mut self.drawn) {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        if !self.at_line_start || (self.merged && !self.stdout_at_line_start) {
            let _ = err.write_all(self.newline(Stream::Stderr));
            self.stdout_at_line_start = true;
        }
        let _ = err.write_all(&self.with_carriage_returns(Stream::Stderr, line));
        let _ = err.flush();
        self.at_line_start = line.last() == Some(&b'\n');
    }

    fn print_out(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&self.with_carriage_returns(Stream::Stdout, bytes));
        let _ = out.flush();
        if let Some(last) = bytes.last() {
            self.stdout_at_line_start = *last == b'\n';
            if self.merged {
                self.at_line_start = self.stdout_at_line_start;
            }
        }
    }

    fn print(&mut self, bytes: &[u8]) {
        let mut err = std::io::stderr().lock();
        if std::mem::take(&mut self.drawn) {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        let _ = err.write_all(&self.with_carriage_returns(Stream::Stderr, bytes));
        let _ = err.flush();
        if let Some(last) = bytes.last() {
            self.at_line_start = *last == b'\n';
            if self.merged {
                self.stdout_at_line_start = self.at_line_start;
            }
        }
    }

    fn is_tty(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stderr => self.tty,
            Stream::Stdout => self.relay.as_ref().is_some_and(|r| r.stdout_tty),
        }
    }

    /// A newline for `stream`: the relayed terminal is in raw mode, where only "\r\n" starts
    /// a line at its start.
    fn newline(&self, stream: Stream) -> &'static [u8] {
        if self.relay.is_some() && self.is_tty(stream) {
            b"\r\n"
        } else {
            b"\n"
        }
    }

    /// `bytes` as they must be written to `stream`: newlines with their carriage return on a
    /// terminal in raw mode.
    fn with_carriage_returns<'a>(
        &self,
        stream: Stream,
        bytes: &'a [u8],
    ) -> std::borrow::Cow<'a, [u8]> {
        if self.newline(stream) == b"\n" || !bytes.contains(&b'\n') {
            return std::borrow::Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
        let mut previous = 0u8;
        for &b in bytes {
            if b == b'\n' && previous != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            previous = b;
        }
        std::borrow::Cow::Owned(out)
    }

    /// Keeps `bytes` for later if the app draws on the terminal they would go to; `whole_line`
    /// for one of hot's own lines. True if held.
    fn hold(&mut self, stream: Stream, bytes: &[u8], whole_line: bool) -> bool {
        let tty = self.is_tty(stream) && !self.events;
        let Some(relay) = self.relay.as_mut().filter(|r| r.framed && tty) else {
            return false;
        };
        relay.held_bytes += bytes.len();
        relay.held.push_back(if whole_line {
            Held::Line(bytes.to_vec())
        } else {
            Held::Forwarded(stream, bytes.to_vec())
        });
        while relay.held_bytes > MAX_HELD {
            let gone = match relay.held.pop_front() {
                Some(Held::Line(b) | Held::Forwarded(_, b)) => b.len(),
                None => break,
            };
            relay.held_bytes -= gone;
            relay.dropped += gone;
        }
        true
    }

    /// Writes what was held back, in order.
    fn release_held(&mut self) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        if relay.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut relay.held);
        let dropped = std::mem::take(&mut relay.dropped);
        relay.held_bytes = 0;
        if dropped > 0 {
            self.line(
                format!("hot: (while the app had the screen, {dropped} bytes of earlier output were dropped)\n")
                    .as_bytes(),
            );
        }
        for held in held {
            match held {
                Held::Line(bytes) => self.line(&bytes),
                Held::Forwarded(Stream::Stdout, bytes) => self.print_out(&bytes),
                Held::Forwarded(Stream::Stderr, bytes) => self.print(&bytes),
            }
        }
    }
}

/// Which of hot's standard streams forwarded output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Output held back while an app draws, by how it is to be written.
#[derive(Debug)]
enum Held {
    /// One of hot's own lines.
    Line(Vec<u8>),
    Forwarded(Stream, Vec<u8>),
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
