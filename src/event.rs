//! The facts that reach the app loop, from every edge, over one channel.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

use nix::sys::signal::Signal;

#[derive(Debug, Clone)]
pub enum Event {
    /// Watched files changed (paths relative to the project dir where possible). `open` are
    /// those of them that a writer still holds open (inotify only: other backends cannot tell,
    /// and report every file as closed); a path reported again without being open was closed.
    FilesChanged {
        paths: Vec<PathBuf>,
        open: Vec<PathBuf>,
    },
    /// The build process (and its group leader) exited.
    BuildFinished(BuildEnd),
    /// An app process exited.
    AppExited { app: AppId, outcome: Outcome },
    /// A stopping app closed its listening sockets: it accepts nothing more. Only Linux shows
    /// it (`supervise::release`); elsewhere the app's exit stands in for it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    AppReleased { app: AppId },
    /// An app is ready to serve (see `[run] ready`), and how that is known.
    AppReady { app: AppId, via: ReadyVia },
    /// A datagram on `NOTIFY_SOCKET` from process `sender` (the app or one of its children),
    /// where the OS tells (Linux); `None` where it does not.
    Notified {
        sender: Option<u32>,
        message: NotifyMessage,
    },
    /// `hot` received SIGINT, SIGTERM or SIGHUP.
    Signalled(Signal),
    /// The watcher hit a problem it could not recover from by itself.
    WatchFailed(String),
    /// A key pressed at the terminal.
    Key(Key),
    /// The answer to `Effect::CheckContents`: the paths whose content really changed, and
    /// whether every one of them is missing now; `fleeting`: paths that appeared since the last
    /// build and are gone again (a temp file renamed away): no change, even if an earlier check
    /// of this burst found them changed.
    ContentsChecked {
        changed: Vec<PathBuf>,
        all_missing: bool,
        fleeting: Vec<PathBuf>,
    },
    /// The config file was written (the app loop reloads it).
    ConfigChanged,
    /// The failure view asked to open this place in the developer's editor.
    OpenInEditor(crate::editor::Location),
    /// What hot learnt of a port the app binds itself (Linux: `listen::intercept`).
    #[cfg_attr(not(linux_native), allow(dead_code))]
    Port { app: AppId, fact: PortFact },
}

/// A port the app binds itself, as hot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(linux_native), allow(dead_code))]
pub enum PortFact {
    /// hot holds `addr` for the app: its first bind of it, or a later app's (`reused`).
    Held {
        addr: std::net::SocketAddr,
        reused: bool,
        /// It was one of `listen` (or behind the proxy, its private socket).
        pinned: bool,
    },
    /// hot takes connections on `addr` (`listen`) and the app does not accept them: it
    /// listens on `listens` itself.
    Unserved {
        addr: std::net::SocketAddr,
        listens: Vec<std::net::SocketAddr>,
    },
    /// The app's bind failed: another process listens there.
    InUse {
        addr: std::net::SocketAddr,
        holder: Option<String>,
    },
    /// No app binds it any more: hot let go of it.
    Released { addr: std::net::SocketAddr },
    /// This app's binds cannot be held, and why.
    Unavailable(String),
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildEnd {
    /// Which app's build: its place in the session (0 in a one-app session).
    pub slot: usize,
    pub outcome: Outcome,
    /// It failed because the app's running binary could not be overwritten ("text file busy").
    /// The process waiter cannot know; the app loop, which holds the build's output, fills it in.
    pub binary_busy: bool,
}

impl From<Outcome> for BuildEnd {
    fn from(outcome: Outcome) -> Self {
        BuildEnd {
            slot: 0,
            outcome,
            binary_busy: false,
        }
    }
}

/// Names one app process for the whole of its life: the Supervisor hands these out, so that
/// two processes alive at once (an overlap restart, two apps of a session) are never confused.
/// The high bits say which app of the session it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AppId(pub u64);

impl AppId {
    const SLOT_SHIFT: u32 = 40;

    /// The first id of the app at `slot`: the Supervisor counts up from there.
    pub fn base(slot: usize) -> AppId {
        AppId((slot as u64) << Self::SLOT_SHIFT)
    }

    /// Which app of the session the process belongs to.
    pub fn slot(self) -> usize {
        usize::try_from(self.0 >> Self::SLOT_SHIFT).unwrap_or(usize::MAX)
    }
}

/// How hot learnt that an app is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyVia {
    /// `ready = "none"`: started is ready.
    Started,
    /// It sent `READY=1`.
    Notify,
    /// Its socket accepted a probe connection.
    Tcp,
    /// It answered the HTTP probe.
    Http,
}

impl ReadyVia {
    pub fn describe(self) -> &'static str {
        match self {
            ReadyVia::Started => "started",
            ReadyVia::Notify => "READY=1",
            ReadyVia::Tcp => "accepting connections",
            ReadyVia::Http => "answering HTTP",
        }
    }
}

/// What a notify datagram said (the systemd `sd_notify` protocol: `KEY=VALUE` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyMessage {
    pub ready: bool,
    pub stopping: bool,
    pub status: Option<String>,
}

impl NotifyMessage {
    pub fn parse(datagram: &[u8]) -> NotifyMessage {
        let mut message = NotifyMessage::default();
        for line in String::from_utf8_lossy(datagram).lines() {
            match line.split_once('=') {
                Some(("READY", "1")) => message.ready = true,
                Some(("STOPPING", "1")) => message.stopping = true,
                Some(("STATUS", text)) => message.status = Some(text.to_owned()),
                _ => {}
            }
        }
        message
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `r`: rebuild and restart now (every app of the session).
    Rebuild,
    /// `1`–`9`: rebuild and restart the session's app of that number alone (0-based here).
    RebuildApp(usize),
    /// `c`: clear the screen.
    Clear,
    /// `q`: stop everything and exit 0.
    Quit,
    /// The prefix and a key that means nothing to hot (`[run] stdin = "app"`): show the keys.
    Help,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<Signal>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<ExitStatus> for Outcome {
    fn from(status: ExitStatus) -> Self {
        Outcome {
            code: status.code(),
            signal: status.signal().and_then(|s| Signal::try_from(s).ok()),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exited with code {code}"),
            (None, Some(sig)) => write!(f, "killed by {}", sig.as_str()),
            (None, None) => f.write_str("ended"),
        }
    }
}
