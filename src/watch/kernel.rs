//! The kernel's change notifications, as a stream of `Change`s for the watch thread.
//!
//! On Linux this is inotify itself (the `inotify` crate). notify's inotify backend always asks
//! for IN_OPEN, which wakes the watcher whenever any process reads any watched file (a
//! compiler reads them all on every build), and routes every `add_watch` through a round trip
//! to its own thread, which made startup on 10k directories take seconds. Elsewhere (macOS
//! FSEvents, BSD kqueue) notify is the right tool; Linux built with `--features portable` uses
//! it too (through notify's inotify backend), so that this half is tested here.
//!
//! - FSEvents watches a whole tree with one stream (notify restarts the stream for every path
//!   added), so on macOS each root is watched recursively, once, and what lies in pruned
//!   directories is dropped by the filter. notify runs it with no latency and no deferral.
//!   A rename arrives without saying which side it is: the path's existence decides. A
//!   "must scan subdirectories" (events were dropped) counts as "anything may have changed".
//! - kqueue needs an open descriptor per watched file and directory: the soft limit on open
//!   files is raised to the hard limit at start, and running out falls back to polling with a
//!   message that names the limit.
//! - Neither reports a writer closing a file: every change counts as complete.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What happened to a path, as far as `hot` cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Created (`writing`: by a process that may still be writing it), or moved in.
    Appeared { path: PathBuf, writing: bool },
    /// Written to (`writing`: by a writer that still has it open) or closed after writing.
    /// Only inotify tells the two apart (IN_MODIFY, IN_CLOSE_WRITE); other backends report
    /// every change as closed.
    Modified { path: PathBuf, writing: bool },
    /// Deleted, or moved away.
    Gone(PathBuf),
    /// The kernel dropped events: anything may have changed.
    Overflow,
}

#[cfg(linux_native)]
pub use self::linux::{Kernel, Waker};
#[cfg(not(linux_native))]
pub use self::other::{Kernel, Waker};

/// A kernel limit that adding a watch ran into, rather than a problem with the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// inotify: `fs.inotify.max_user_watches` (ENOSPC).
    InotifyWatches,
    /// inotify: `fs.inotify.max_user_instances` (EMFILE).
    InotifyInstances,
    /// kqueue: a descriptor per watched file, and none left (EMFILE).
    OpenFiles,
}

pub fn limit(e: &io::Error) -> Option<Limit> {
    match e.raw_os_error() {
        Some(libc::ENOSPC) if cfg!(target_os = "linux") => Some(Limit::InotifyWatches),
        Some(libc::EMFILE) if cfg!(target_os = "linux") => Some(Limit::InotifyInstances),
        Some(libc::EMFILE | libc::ENFILE) => Some(Limit::OpenFiles),
        _ => None,
    }
}

/// Raises the soft limit on open files to the hard limit: kqueue holds one per watched file.
#[cfg(not(linux_native))]
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        // macOS refuses more than OPEN_MAX for the soft limit, whatever the hard one says.
        let want = if cfg!(target_os = "macos") {
            hard.min(10_240)
        } else {
            hard
        };
        if want > soft {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

/// Errors that mean "nothing to watch here" rather than failure.
#[cfg(linux_native)]
fn vanished(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EACCES)
    )
}

#[cfg(linux_native)]
mod linux {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::os::fd::{AsFd, OwnedFd};

    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

    use super::*;

    /// Content and name changes only: no IN_OPEN / IN_ACCESS / IN_CLOSE_NOWRITE (reads), no
    /// IN_ATTRIB (touch, chmod).
    const MASK: WatchMask = WatchMask::CREATE
        .union(WatchMask::DELETE)
        .union(WatchMask::MODIFY)
        .union(WatchMask::CLOSE_WRITE)
        .union(WatchMask::MOVED_FROM)
        .union(WatchMask::MOVED_TO)
        .union(WatchMask::DELETE_SELF)
        .union(WatchMask::ONLYDIR)
        .union(WatchMask::DONT_FOLLOW)
        .union(WatchMask::EXCL_UNLINK);

    pub struct Kernel {
        inotify: Inotify,
        dirs: HashMap<WatchDescriptor, PathBuf>,
        /// Read end of the pipe whose write end is the `Waker`.
        stop: OwnedFd,
        buf: Vec<u8>,
    }

    /// Dropping it wakes the watch thread to end.
    pub struct Waker {
        _write: OwnedFd,
    }

    impl Kernel {
        pub fn new() -> io::Result<(Kernel, Waker)> {
            let inotify = Inotify::init()?;
            let (read, write) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
            let kernel = Kernel {
                inotify,
                dirs: HashMap::new(),
                stop: read,
                buf: vec![0; 64 << 10],
            };
            Ok((kernel, Waker { _write: write }))
        }

        /// Watches the entries of `dir` (not below). A directory that vanished meanwhile is
        /// not an error.
        pub fn add(&mut self, dir: &Path) -> io::Result<bool> {
            match self.inotify.watches().add(dir, MASK) {
                Ok(wd) => {
                    self.dirs.insert(wd, dir.to_path_buf());
                    Ok(true)
                }
                Err(e) if vanished(&e) => Ok(false),
                Err(e) => Err(e),
            }
        }

        /// Waits up to `timeout` (forever with `None`) and returns the changes read, or `None`
        /// once the Waker is dropped.
        pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Option<Vec<Change>>> {
            let timeout = match timeout {
                None => PollTimeout::NONE,
                Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
            };
            let (ready, stop) = {
                let mut fds = [
                    PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.stop.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => return Ok(Some(Vec::new())),
                    Err(e) => return Err(e.into()),
                }
                let ready = fds[0].revents().is_some_and(|r| !r.is_empty());
                let stop = fds[1].revents().is_some_and(|r| !r.is_empty());
                (ready, stop)
            };
            if stop {
                return Ok(None);
            }
            if !ready {
                return Ok(Some(Vec::new()));
            }
            let raw: Vec<(EventMask, WatchDescriptor, Option<OsString>)> =
                match self.inotify.read_events(&mut self.buf) {
                    Ok(events) => events
                        .map(|e| (e.mask, e.wd, e.name.map(|n| n.to_owned())))
                        .collect(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Vec::new(),
                    Err(e) => return Err(e),
                };
            let mut changes = Vec::with_capacity(raw.len());
            for (mask, wd, name) in raw {
                if mask.contains(EventMask::Q_OVERFLOW) {
                    changes.push(Change::Overflow);
                    continue;
                }
                if mask.contains(EventMask::IGNORED) {
                    self.dirs.remove(&wd);
                    continue;
                }
                let Some(dir) = self.dirs.get(&wd) else {
                    continue;
                };
                let path = match name {
                    Some(name) => dir.join(name),
                    None => dir.clone(),
                };
                if mask.contains(EventMask::CREATE) {
                    changes.push(Change::Appeared {
                        path,
                        writing: true,
                    });
                } else if mask.contains(EventMask::MOVED_TO) {
                    changes.push(Change::Appeared {
                        path,
                        writing: false,
                    });
                } else if mask
                    .intersects(EventMask::DELETE | EventMask::MOVED_FROM | EventMask::DELETE_SELF)
                {
                    changes.push(Change::Gone(path));
                } else if mask.contains(EventMask::MODIFY) {
                    changes.push(Change::Modified {
                        path,
                        writing: true,
                    });
                } else if mask.contains(EventMask::CLOSE_WRITE) {
                    changes.push(Change::Modified {
                        path,
                        writing: false,
                    });
                }
            }
            Ok(Some(changes))
        }
    }
}

#[cfg(not(linux_native))]
mod other {
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};

    use notify::event::{EventKind, ModifyKind, RenameMode};
    use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

    use super::*;

    type Msg = Option<notify::Result<notify::Event>>;

    pub struct Kernel {
        watcher: RecommendedWatcher,
        rx: Receiver<Msg>,
        /// The trees FSEvents watches whole (macOS).
        recursive: Vec<PathBuf>,
    }

    pub struct Waker {
        tx: Sender<Msg>,
    }

    impl Drop for Waker {
        fn drop(&mut self) {
            let _ = self.tx.send(None);
        }
    }

    impl Kernel {
        pub fn new() -> io::Result<(Kernel, Waker)> {
            let (tx, rx) = mpsc::channel::<Msg>();
            let notify_tx = tx.clone();
            let watcher = RecommendedWatcher::new(
                move |raw| {
                    let _ = notify_tx.send(Some(raw));
                },
                notify::Config::default(),
            )
            .map_err(to_io)?;
            super::raise_open_files_limit();
            Ok((
                Kernel {
                    watcher,
                    rx,
                    recursive: Vec::new(),
                },
                Waker { tx },
            ))
        }

        pub fn add(&mut self, dir: &Path) -> io::Result<bool> {
            // FSEvents: one recursive stream per tree (see the module's doc).
            let whole_tree = cfg!(target_os = "macos");
            if whole_tree && self.recursive.iter().any(|r| dir.starts_with(r)) {
                return Ok(true);
            }
            let mode = if whole_tree {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match self.watcher.watch(dir, mode) {
                Ok(()) => {
                    if whole_tree {
                        self.recursive.push(dir.to_path_buf());
                    }
                    Ok(true)
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => Ok(false),
                Err(e) => Err(to_io(e)),
            }
        }

        pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Option<Vec<Change>>> {
            let msg = match timeout {
                None => self.rx.recv().ok(),
                Some(t) => match self.rx.recv_timeout(t) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => return Ok(Some(Vec::new())),
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(Some(raw)) = msg else {
                return Ok(None);
            };
            let event = raw.map_err(to_io)?;
            if event.need_rescan() {
                return Ok(Some(vec![Change::Overflow]));
            }
            let appeared = |path| Change::Appeared {
                path,
                writing: false,
            };
            // A rename that does not say which side a path is on: whether it exists now does.
            let either = |path: PathBuf| {
                if std::fs::symlink_metadata(&path).is_ok() {
                    appeared(path)
                } else {
                    Change::Gone(path)
                }
            };
            let kind = event.kind;
            let changes = event
                .paths
                .into_iter()
                .enumerate()
                .filter_map(|(i, path)| match kind {
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                        Some(appeared(path))
                    }
                    // (from, to)
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => Some(if i == 0 {
                        Change::Gone(path)
                    } else {
                        appeared(path)
                    }),
                    EventKind::Modify(ModifyKind::Name(RenameMode::From))
                    | EventKind::Remove(_) => Some(Change::Gone(path)),
                    EventKind::Modify(ModifyKind::Name(_)) => Some(either(path)),
                    EventKind::Modify(ModifyKind::Metadata(_))
                    | EventKind::Access(_)
                    | EventKind::Other => None,
                    // Content changes, complete as far as this backend can tell.
                    EventKind::Modify(_) | EventKind::Any => Some(Change::Modified {
                        path,
                        writing: false,
                    }),
                })
                .collect();
            Ok(Some(changes))
        }
    }

    fn to_io(e: notify::Error) -> io::Error {
        match e.kind {
            notify::ErrorKind::Io(io) => io,
            notify::ErrorKind::MaxFilesWatch => io::Error::from_raw_os_error(libc::ENOSPC),
            other => io::Error::other(format!("{other:?}")),
        }
    }
}
