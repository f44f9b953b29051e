//! hot's own output: short coloured lines for people, or one JSON object per line (`--json`).
//! Both go to stderr. In text mode the app's stdout and stderr are inherited untouched (it
//! keeps its terminal and its colours). With `--json` they come through hot, which forwards
//! them as they are but keeps every event on a line of its own: an app's partial line is ended
//! before an event is written (see `status::Terminal::line`).
//!
//! In text mode one rebuild is one line ("src/main.go changed · built in 1.2 s · restarted in
//! 9 ms"); the individual steps are JSON events only.

pub mod ansi;
pub mod keys;
pub mod status;

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::style::{Color, Stylize};
use serde::Serialize;

/// Everything hot reports. The JSON form is `{"event": "<snake_case name>", ...fields}`.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Message {
    Watching {
        addrs: Vec<String>,
        #[serde(serialize_with = "lossy_paths")]
        paths: Vec<PathBuf>,
        dirs: usize,
    },
    Change {
        #[serde(serialize_with = "lossy_paths")]
        paths: Vec<PathBuf>,
    },
    BuildStart {
        pid: u32,
    },
    BuildOk {
        ms: u64,
    },
    BuildFailed {
        ms: u64,
        code: Option<i32>,
        signal: Option<&'static str>,
        /// Where the first error points (`src/main.rs:12:5`), when it is a file of the project.
        #[serde(skip_serializing_if = "Option::is_none")]
        first_error: Option<String>,
    },
    BuildCancelled {
        ms: u64,
    },
    Start {
        pid: u32,
    },
    /// The app is ready to serve: `ms` since it started, and how hot knows.
    Ready {
        pid: u32,
        ms: u64,
        via: crate::event::ReadyVia,
    },
    Stop {
        pid: u32,
        reason: &'static str,
    },
    Exit {
        pid: u32,
        code: Option<i32>,
        signal: Option<&'static str>,
        ms: u64,
    },
    /// hot holds a port the app binds itself (`reused`: a restarted app got the socket back).
    PortHeld {
        addr: String,
        reused: bool,
    },
    /// The app's bind of `addr` failed: another process listens there.
    PortInUse {
        addr: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        holder: Option<String>,
    },
    /// hot takes connections on `addr` and the app does not accept them: it listens on
    /// `listens` itself. Clients of `addr` get a 503 that says so.
    PortUnserved {
        addr: String,
        listens: Vec<String>,
    },
    /// No app binds `addr` any more: hot let go of it.
    PortReleased {
        addr: String,
    },
    Warning {
        message: String,
    },
    /// Something the user should know that is not a problem.
    Note {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for people; coloured only on a terminal and unless NO_COLOR. Whether the live
    /// status line and screen clearing are allowed is the terminal's to say.
    Text {
        color: bool,
    },
    Json,
}

/// What the current rebuild cycle has done so far, for its one summary line.
#[derive(Debug, Default)]
struct Cycle {
    trigger: Option<String>,
    built_ms: Option<u64>,
    stop_at: Option<Instant>,
    /// The summary so far of an app that started and is not ready yet: printed, with the time
    /// to ready, once it is.
    starting: Option<(u32, String)>,
}

#[derive(Debug)]
pub struct Reporter {
    format: Format,
    terminal: status::Terminal,
    cycle: RefCell<Cycle>,
    /// In a session of several apps: which app this reporter speaks for.
    label: Option<Label>,
}

/// An app's name as its lines show it.
#[derive(Debug, Clone)]
struct Label {
    name: String,
    /// The name padded to the longest app name, so that every app's lines align.
    padded: String,
    tint: Color,
}

/// One colour per app, in the order the config file lists them.
const APP_TINTS: [Color; 6] = [
    Color::Cyan,
    Color::Magenta,
    Color::Yellow,
    Color::Green,
    Color::Blue,
    Color::Red,
];

impl Reporter {
    pub fn new(json: bool) -> Reporter {
        let tty =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Reporter {
            format: if json {
                Format::Json
            } else {
                Format::Text { color }
            },
            terminal: status::Terminal::new(tty, json),
            cycle: RefCell::new(Cycle::default()),
            label: None,
        }
    }

    /// A reporter for one app of the session, on the same terminal (so that no line of hot's is
    /// glued onto a partial line of any app's). In a session of several, `name` is the app's,
    /// the `index`th, of names at most `width` long: every line it prints, and every line of the
    /// app's output, names the app.
    pub fn for_app(&self, name: Option<(&str, usize, usize)>) -> Reporter {
        Reporter {
            format: self.format,
            terminal: self.terminal.clone(),
            cycle: RefCell::new(Cycle::default()),
            label: name.map(|(name, index, width)| Label {
                name: name.to_owned(),
                padded: format!("{name:<width$}"),
                tint: APP_TINTS[index % APP_TINTS.len()],
            }),
        }
    }

    /// Whose status line this reporter's builds show: its app's name, "" for a one-app session.
    fn key(&self) -> &str {
        self.label.as_ref().map_or("", |l| l.name.as_str())
    }

    /// The terminal hot's output goes to (an interactive app's is relayed to it too).
    pub fn terminal(&self) -> status::Terminal {
        self.terminal.clone()
    }

    /// How output hot passes on for this app is shown.
    pub fn sink(&self) -> status::Sink {
        let label = self.label.as_ref().map(|l| {
            let prefix = match self.format {
                Format::Text { color: true } => {
                    format!(
                        "{} {} ",
                        l.padded.as_str().with(l.tint),
                        "│".with(Color::DarkGrey)
                    )
                }
                _ => format!("{} │ ", l.padded),
            };
            std::sync::Arc::from(prefix)
        });
        status::Sink {
            terminal: self.terminal.clone(),
            colour: self.colour(),
            label,
        }
    }

    /// Whether the live status line is in use (a terminal, not --json): then the build's
    /// output is routed through `terminal()` so the line is never drawn over.
    pub fn live(&self) -> bool {
        matches!(self.format, Format::Text { .. }) && self.terminal.is_tty()
    }

    /// What becomes of the colours of output hot passes on: kept for a terminal, removed for
    /// `--json`, a file or a pipe, and with `NO_COLOR`.
    pub fn colour(&self) -> status::Colour {
        match self.format {
            Format::Text { color: true } => status::Colour::Keep,
            _ => status::Colour::Strip,
        }
    }

    /// Where the app's output goes through hot: with `--json`, so that no event line is ever
    /// glued onto a partial line of the app's, and in a session of several apps, so that each
    /// line names its app. Otherwise it is inherited: the app keeps the terminal.
    pub fn app_output(&self) -> Option<status::Sink> {
        (self.format == Format::Json || self.label.is_some()).then(|| status::Sink {
            // The app's own colours stay: it chose them for this terminal (or `--json` reader).
            colour: status::Colour::Keep,
            ..self.sink()
        })
    }

    pub fn report(&self, message: &Message) {
        if let Message::BuildFailed { .. } = message {
            // Heard even while an app draws on the terminal and this line waits.
            self.terminal.alert();
        }
        match self.format {
            Format::Json => {
                let mut line = serde_json::to_string(message).unwrap_or_default();
                if let Some(label) = &self.label {
                    // Right after `"event":"NAME"`, which stays first: readers pick event lines
                    // out by their `{"event"` start.
                    let at = line.find(',').unwrap_or(line.len().saturating_sub(1));
                    let name = serde_json::to_string(&label.name).unwrap_or_default();
                    line.insert_str(at, &format!(",\"app\":{name}"));
                }
                self.line(&line);
            }
            Format::Text { .. } => {
                if let Some((text, tint)) = self.text(message) {
                    self.report_line(&text, tint);
                }
            }
        }
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.report(&Message::Warning {
            message: message.into(),
        });
    }

    pub fn note(&self, message: impl Into<String>) {
        self.report(&Message::Note {
            message: message.into(),
        });
    }

    /// Clears the screen (only on a terminal in text mode).
    pub fn clear_screen(&self) {
        if self.live() {
            self.terminal.print(b"\x1b[2J\x1b[3J\x1b[H");
        }
    }

    /// The hint line shown at start when keys are read; `apps`: the names of a session's apps
    /// (none for a one-app session), which keys 1–9 rebuild one by one; `prefix`: the key
    /// before hot's keys when the app reads the terminal.
    pub fn key_hint(&self, apps: &[&str], prefix: Option<&str>) {
        if let Format::Text { color, .. } = self.format {
            let each: Vec<String> = apps
                .iter()
                .take(9)
                .enumerate()
                .map(|(i, name)| format!("{} {name}", i + 1))
                .collect();
            let mut hint = if each.is_empty() {
                "r rebuild · c clear · q quit".to_owned()
            } else {
                format!("r rebuild all · {} · c clear · q quit", each.join(" · "))
            };
            hint = match prefix {
                None => format!("keys: {hint}"),
                Some(prefix) => format!(
                    "the app reads the terminal; hot's keys follow {prefix}: {hint} · \
                     {prefix} twice types {prefix} · Ctrl-C twice stops hot"
                ),
            };
            if color {
                self.line(&format!(
                    "{} {}",
                    "hot:".with(Color::DarkGrey),
                    hint.with(Color::DarkGrey)
                ));
            } else {
                self.line(&format!("hot: {hint}"));
            }
        }
    }

    fn report_line(&self, text: &str, tint: Color) {
        if let Format::Text { color, .. } = self.format {
            let line = match (&self.label, color) {
                (None, true) => format!("{} {}", "hot:".with(Color::DarkGrey), text.with(tint)),
                (None, false) => format!("hot: {text}"),
                (Some(l), true) => format!(
                    "{} {} {}",
                    "hot:".with(Color::DarkGrey),
                    l.padded.as_str().with(l.tint),
                    text.with(tint)
                ),
                (Some(l), false) => format!("hot: {} {text}", l.padded),
            };
            self.line(&line);
        }
    }

    fn line(&self, line: &str) {
        // One write per line, so lines from hot and the app never interleave mid-line.
        self.terminal.line(format!("{line}\n").as_bytes());
    }

    /// The text-mode rendering: one line per cycle, so some steps print nothing.
    fn text(&self, message: &Message) -> Option<(String, Color)> {
        let mut cycle = self.cycle.borrow_mut();
        match message {
            Message::Change { paths } => {
                let trigger = if paths.is_empty() {
                    "rebuild requested".to_owned()
                } else {
                    format!("{} changed", summarize(paths))
                };
                *cycle = Cycle {
                    trigger: Some(trigger),
                    ..Cycle::default()
                };
                None
            }
            Message::BuildStart { .. } => {
                let what = cycle
                    .trigger
                    .clone()
                    .unwrap_or_else(|| "first build".into());
                if self.live() {
                    self.terminal.show(self.key(), format!("building · {what}"));
                    None
                } else {
                    Some((format!("{what} · building…"), Color::DarkGrey))
                }
            }
            Message::BuildOk { ms } => {
                self.terminal.clear(self.key());
                cycle.built_ms = Some(*ms);
                None
            }
            Message::BuildFailed { .. } | Message::BuildCancelled { .. } => {
                self.terminal.clear(self.key());
                *cycle = Cycle::default();
                Some(describe(message))
            }
            Message::Stop {
                reason: "restart", ..
            } => {
                cycle.stop_at = Some(Instant::now());
                None
            }
            Message::Exit { code: Some(0), .. } if cycle.stop_at.is_some() => None,
            Message::Start { pid } => {
                let mut parts: Vec<String> = cycle.trigger.take().into_iter().collect();
                if let Some(ms) = cycle.built_ms.take() {
                    parts.push(format!("built in {}", human(ms)));
                }
                match cycle.stop_at.take() {
                    Some(at) => parts.push(format!(
                        "restarted in {} (pid {pid})",
                        human(millis(at.elapsed()))
                    )),
                    None => parts.push(format!("app started (pid {pid})")),
                }
                cycle.starting = Some((*pid, parts.join(" · ")));
                None
            }
            Message::Ready { pid, ms, via } => match cycle.starting.take() {
                Some((started, summary)) if started == *pid => {
                    let line = match via {
                        crate::event::ReadyVia::Started => summary,
                        _ => format!("{summary} · ready in {}", human(*ms)),
                    };
                    Some((line, Color::Green))
                }
                other => {
                    cycle.starting = other;
                    Some(describe(message))
                }
            },
            Message::Exit { pid, .. } if cycle.starting.as_ref().is_some_and(|(p, _)| p == pid) => {
                // It never got ready: say what happened before how it ended.
                if let Some((_, summary)) = cycle.starting.take() {
                    drop(cycle);
                    self.report_line(&summary, Color::Green);
                }
                Some(describe(message))
            }
            // Every restart hands the ports back: news only the first time.
            Message::PortHeld { reused: true, .. } => None,
            _ => Some(describe(message)),
        }
    }
}

fn describe(message: &Message) -> (String, Color) {
    match message {
        Message::Watching { addrs, paths, dirs } => {
            let what = match paths.as_slice() {
                [one] => format!("{} ({dirs} dirs)", one.display()),
                many => format!("{} paths ({dirs} dirs)", many.len()),
            };
            if addrs.is_empty() {
                (format!("watching {what}"), Color::Cyan)
            } else {
                (
                    format!("listening on {} · watching {what}", addrs.join(", ")),
                    Color::Cyan,
                )
            }
        }
        Message::Change { paths } => (format!("{} changed", summarize(paths)), Color::Blue),
        Message::BuildStart { .. } => ("building…".into(), Color::DarkGrey),
        Message::BuildOk { ms } => (format!("built in {}", human(*ms)), Color::Green),
        Message::BuildFailed {
            ms,
            code,
            signal,
            first_error,
        } => {
            let how = match (code, signal) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => s.to_string(),
                _ => "no status".into(),
            };
            let at = first_error
                .as_ref()
                .map(|at| format!(" · first error at {at}"))
                .unwrap_or_default();
            (
                format!(
                    "build failed ({how}) after {}{at}; waiting for a change",
                    human(*ms)
                ),
                Color::Red,
            )
        }
        Message::BuildCancelled { ms } => (
            format!("build cancelled after {}: files changed", human(*ms)),
            Color::Yellow,
        ),
        Message::Start { pid } => (format!("app started (pid {pid})"), Color::Green),
        Message::Stop { pid, reason } => (
            format!("stopping app (pid {pid}) for {reason}"),
            Color::DarkGrey,
        ),
        Message::Exit {
            pid,
            code,
            signal,
            ms,
        } => {
            let how = match (code, signal) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(s)) => format!("killed by {s}"),
                _ => "ended".into(),
            };
            let tint = if *code == Some(0) {
                Color::DarkGrey
            } else {
                Color::Yellow
            };
            (format!("app (pid {pid}) {how} after {}", human(*ms)), tint)
        }
        Message::Ready { pid, ms, via } => (
            format!(
                "app (pid {pid}) ready after {} ({})",
                human(*ms),
                via.describe()
            ),
            Color::Green,
        ),
        Message::PortHeld { addr, .. } => (
            format!("the app listens on {addr}: hot holds it across restarts"),
            Color::DarkGrey,
        ),
        Message::PortInUse { addr, holder } => (
            format!(
                "the app cannot listen on {addr}: {} listens there already; stop it, or change \
                 the app's port",
                holder.as_deref().unwrap_or("another process")
            ),
            Color::Yellow,
        ),
        Message::PortUnserved { addr, listens } => (
            format!(
                "nothing accepts the connections hot takes on {addr}: the app listens on {} \
                 itself; clients of {addr} get a 503 saying so. Set `listen` in .hot.toml to \
                 the app's address (it is reloaded), or remove it",
                listens.join(", ")
            ),
            Color::Yellow,
        ),
        Message::PortReleased { addr } => (
            format!("{addr} closed: the app no longer listens there"),
            Color::DarkGrey,
        ),
        Message::Warning { message } => (message.clone(), Color::Yellow),
        Message::Note { message } => (message.clone(), Color::Cyan),
    }
}

/// Paths as JSON strings even when they are not valid UTF-8 (serde refuses those), with U+FFFD
/// for the bytes that are not.
fn lossy_paths<S: serde::Serializer>(paths: &[PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

impl Message {
    /// `exit` for the app `pid`, which ran for `ran`.
    pub fn exit(pid: u32, outcome: &crate::event::Outcome, ran: Duration) -> Message {
        Message::Exit {
            pid,
            code: outcome.code,
            signal: outcome.signal.map(nix::sys::signal::Signal::as_str),
            ms: millis(ran),
        }
    }
}

/// "src/main.go", "src/main.go and 2 more".
pub fn summarize(paths: &[PathBuf]) -> String {
    match paths {
        [] => "nothing".into(),
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
    }
}

pub fn human(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_pinned() {
        let line = serde_json::to_string(&Message::BuildOk { ms: 812 }).expect("json");
        assert_eq!(line, r#"{"event":"build_ok","ms":812}"#);
        let line = serde_json::to_string(&Message::Exit {
            pid: 7,
            code: None,
            signal: Some("SIGKILL"),
            ms: 3,
        })
        .expect("json");
        assert_eq!(
            line,
            r#"{"event":"exit","pid":7,"code":null,"signal":"SIGKILL","ms":3}"#
        );
    }

    #[test]
    fn non_utf8_paths_still_serialize() {
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"src/caf\xe9 file.go"));
        let line = serde_json::to_string(&Message::Change { paths: vec![odd] }).expect("json");
        assert_eq!(
            line,
            "{\"event\":\"change\",\"paths\":[\"src/caf\u{fffd} file.go\"]}"
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(
            summarize(&["a.go".into(), "b.go".into(), "c.go".into()]),
            "a.go and 2 more"
        );
        assert_eq!(human(1234), "1.2 s");
    }
}
