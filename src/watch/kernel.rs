//! The kernel's change notifications, as a stream of `Change`s for the watch thread.
//!
//! On Linux this is inotify itself (the `inotify` crate). notify's inotify backend always asks
//! for IN_OPEN, which wakes the watcher whenever any process reads any watched file (a
//! compiler reads them all on every build), and routes every `add_watch` through a round trip
//! to its own thread, which made startup on 10k directories take seconds. Elsewhere (macOS
//! FSEvents, BSD kqueue) notify is the right tool.

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

#[cfg(target_os = "linux")]
pub use self::linux::{Kernel, Waker};
#[cfg(not(target_os = "linux"))]
pub use self::other::{Kernel, Waker};

/// Whether an error from adding a watch is a kernel limit (ENOSPC: too many watches; EMFILE:
/// too many inotify instances) rather than a problem with the path.
pub fn limit(e: &io::Error) -> Option<&'static str> {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => Some("max_user_watches"),
        Some(libc::EMFILE) => Some("max_user_instances"),
        _ => None,
    }
}

/// Errors that mean "nothing to watch here" rather than failure.
fn vanished(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EACCES)
    )
}

#[cfg(target_os = "linux")]
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

#[cfg(not(target_os = "linux"))]
mod other {
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};

    use notify::event::{EventKind, ModifyKind, RenameMode};
    use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

    use super::*;

    type Msg = Option<notify::Result<notify::Event>>;

    pub struct Kernel {
        watcher: RecommendedWatcher,
        rx: Receiver<Msg>,
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
            Ok((Kernel { watcher, rx }, Waker { tx }))
        }

        pub fn add(&mut self, dir: &Path) -> io::Result<bool> {
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => Ok(true),
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
            let changes = event
                .paths
                .into_iter()
                .filter_map(|path| match event.kind {
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                        Some(Change::Appeared {
                            path,
                            writing: false,
                        })
                    }
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                        Some(Change::Gone(path))
                    }
                    EventKind::Modify(ModifyKind::Metadata(_))
                    | EventKind::Access(_)
                    | EventKind::Other => None,
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
