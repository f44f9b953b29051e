//! hot's own output: short coloured lines for people, or one JSON object per line (`--json`).
//! Both go to stderr; the app's stdout and stderr are inherited untouched.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crossterm::style::{Color, Stylize};
use serde::Serialize;

/// Everything hot reports. The JSON form is `{"event": "<snake_case name>", ...fields}`.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Message {
    Watching {
        addrs: Vec<String>,
        paths: Vec<PathBuf>,
        dirs: usize,
    },
    Change {
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
    },
    BuildCancelled {
        ms: u64,
    },
    Start {
        pid: u32,
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
    Warning {
        message: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Text { color: bool },
    Json,
}

#[derive(Debug)]
pub struct Reporter {
    format: Format,
}

impl Reporter {
    pub fn new(json: bool) -> Reporter {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Reporter {
            format: if json {
                Format::Json
            } else {
                Format::Text { color }
            },
        }
    }

    pub fn report(&self, message: &Message) {
        let line = match self.format {
            Format::Json => serde_json::to_string(message).unwrap_or_default(),
            Format::Text { color } => {
                let (text, tint) = describe(message);
                if color {
                    format!("{} {}", "hot:".with(Color::DarkGrey), text.with(tint))
                } else {
                    format!("hot: {text}")
                }
            }
        };
        // One write per line, so lines from hot and the app never interleave mid-line.
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("{line}\n").as_bytes());
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.report(&Message::Warning {
            message: message.into(),
        });
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
        Message::BuildFailed { ms, code, signal } => {
            let how = match (code, signal) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => s.to_string(),
                _ => "no status".into(),
            };
            (
                format!(
                    "build failed ({how}) after {}; waiting for a change",
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
        Message::Warning { message } => (message.clone(), Color::Yellow),
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
    fn summaries() {
        assert_eq!(
            summarize(&["a.go".into(), "b.go".into(), "c.go".into()]),
            "a.go and 2 more"
        );
        assert_eq!(human(1234), "1.2 s");
    }
}
