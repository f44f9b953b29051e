//! The one error type of `hot`, and the exit codes it maps to.
//!
//! A failed build or a crashing app is not an error of `hot`: those are shown and `hot` keeps
//! watching. Errors here are the reasons `hot` itself cannot go on.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit statuses, documented in `--help` and the README.
pub mod exit {
    /// A clean quit (`q`), or `--once` found the app ready.
    pub const OK: u8 = 0;
    /// `hot` itself failed at run time (the watcher or a spawn broke).
    pub const FAILURE: u8 = 1;
    /// `--once`: the build failed.
    pub const BUILD_FAILED: u8 = 1;
    /// `--once`: the app crashed or was not ready in time.
    pub const APP_FAILED: u8 = 3;
    /// Bad command line or configuration, or a listen address that cannot be bound.
    pub const USAGE: u8 = 2;
    /// Stopped by SIGHUP / SIGINT / SIGTERM: 128 + the signal number, as shells do.
    pub const SIGHUP: u8 = 129;
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration problem located in a file: `file:line:col: key: message`.
    #[error("{}:{line}:{column}: {}{message}", path.display(), key.as_deref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },

    /// A configuration problem that is not tied to a place in a file (flags, missing file).
    #[error("{0}")]
    Usage(String),

    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },

    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot watch {}: {message}", path.display())]
    Watch { path: PathBuf, message: String },
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Config { .. } | Error::Usage(_) | Error::Listen { .. } => exit::USAGE,
            Error::Io { .. } | Error::Watch { .. } => exit::FAILURE,
        })
    }
}
