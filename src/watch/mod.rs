//! Watching: turns filesystem notifications into `Event::FilesChanged` batches.
//!
//! Every directory that is not pruned (tmp dir, `.git`, excluded or gitignored) gets its own
//! non-recursive watch, so ignored trees such as `target/` or `node_modules/` cost no watches and
//! no wake-ups. New directories are watched as they appear, and files already inside them
//! (a `git checkout` creates a directory and its files at once) count as changed.
//!
//! Debouncing is not done here: the Supervisor owns the quiet window, so a burst that spans
//! several batches still becomes one build. (notify-debouncer-full times each path separately
//! and would release the first files of a long `git checkout` while later ones still arrive.)

mod contents;
pub mod filter;
pub mod poll;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use notify::event::{EventKind, MetadataKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::config::{WatchBackend, WatchConfig};
use crate::error::Error;
use crate::event::Event;
use contents::Contents;
use filter::Filter;
use poll::Poller;

type Raw = notify::Result<notify::Event>;

/// What the watch thread receives: a notification, or `None` when the Watcher is dropped.
type Msg = Option<Raw>;

/// The running watcher. Dropping it stops watching.
pub struct Watcher {
    stop: Stop,
    /// Directories watched (or scanned, when polling).
    pub dirs: usize,
    pub mode: Mode,
}

/// How a Watcher's thread is told to end.
enum Stop {
    Native(Sender<Msg>),
    Polling(std::sync::Arc<std::sync::atomic::AtomicBool>),
}

impl Drop for Watcher {
    fn drop(&mut self) {
        match &self.stop {
            Stop::Native(tx) => {
                let _ = tx.send(None);
            }
            Stop::Polling(flag) => flag.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Kernel notifications (inotify, FSEvents, kqueue).
    Native,
    /// Scans: `files` watched files, a scan took `scan`, then a `pause`.
    Polling {
        files: usize,
        scan: Duration,
        pause: Duration,
    },
}

impl Watcher {
    /// Watches `config.paths` and sends batches of relevant changes to `events`. Returns once
    /// every directory is watched, so any change after this call is seen.
    ///
    /// A change to `config_file` is reported as `Event::ConfigChanged`, never as a file change.
    pub fn start(
        config: &WatchConfig,
        root: &Path,
        tmp_dir: &Path,
        config_file: &Path,
        events: Sender<Event>,
    ) -> Result<Watcher, Error> {
        let filter = Filter::new(config, root, tmp_dir);
        if let WatchBackend::Poll(interval) = config.backend {
            let poller = Poller::new(
                config.paths.clone(),
                filter,
                interval,
                config_file.to_path_buf(),
            );
            let (dirs, files, scan, pause) = (
                poller.dirs(),
                poller.files(),
                poller.last_scan(),
                poller.pause(),
            );
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            poller
                .spawn(events, stop.clone())
                .map_err(|e| Error::io("cannot start the polling thread", e))?;
            return Ok(Watcher {
                stop: Stop::Polling(stop),
                dirs,
                mode: Mode::Polling { files, scan, pause },
            });
        }
        let (raw_tx, raw_rx) = mpsc::channel::<Msg>();
        let notify_tx = raw_tx.clone();
        let handler = move |raw: Raw| {
            let _ = notify_tx.send(Some(raw));
        };
        let backend = RecommendedWatcher::new(handler, notify::Config::default())
            .map_err(|e| watch_error(root, e))?;
        let mut state = State {
            backend,
            roots: config.paths.clone(),
            config_file: config_file.to_path_buf(),
            contents: Contents::default(),
            initial_files: Vec::new(),
            started: std::time::SystemTime::now(),
            filter,
            gitignore: config.gitignore,
            dirs: 0,
        };
        for path in &config.paths {
            if path.is_dir() {
                let mut files = Vec::new();
                state.watch_tree(path, &mut files)?;
                state.initial_files.extend(files);
            } else {
                state
                    .backend
                    .watch(path, RecursiveMode::NonRecursive)
                    .map_err(|e| watch_error(path, e))?;
            }
        }
        if let Some(dir) = config_file.parent() {
            let _ = state.backend.watch(dir, RecursiveMode::NonRecursive);
        }
        for parent in config.paths.iter().filter_map(|p| p.parent()) {
            // Best effort: without it, only a recreated root goes unnoticed.
            let _ = state.backend.watch(parent, RecursiveMode::NonRecursive);
        }
        let dirs = state.dirs;
        thread::Builder::new()
            .name("watch".into())
            .spawn(move || state.run(raw_rx, events))
            .map_err(|e| Error::io("cannot start the watcher thread", e))?;
        Ok(Watcher {
            stop: Stop::Native(raw_tx),
            dirs,
            mode: Mode::Native,
        })
    }
}

/// The longest hot waits for git to release `.git/index.lock` before building anyway.
const GIT_LOCK_CAP: Duration = Duration::from_secs(10);

/// What one drain of the notification queue found.
#[derive(Default)]
struct Batch {
    changed: BTreeSet<PathBuf>,
    /// Paths created within this batch.
    created: std::collections::HashSet<PathBuf>,
    /// The kernel dropped events: anything may have changed.
    overflow: bool,
    /// The config file changed.
    config: bool,
}

struct State {
    backend: RecommendedWatcher,
    /// The configured roots; their parents are watched too, so a root that is deleted and
    /// recreated (`rm -rf src && git checkout src`) is picked up again.
    roots: Vec<PathBuf>,
    config_file: PathBuf,
    contents: Contents,
    /// Files seen at startup, fingerprinted once the watch thread runs.
    initial_files: Vec<PathBuf>,
    started: std::time::SystemTime,
    filter: Filter,
    gitignore: bool,
    dirs: usize,
}

impl State {
    fn run(mut self, raw: Receiver<Msg>, events: Sender<Event>) {
        // Changes made meanwhile wait in `raw`; files modified after startup are left out of the
        // baseline so those changes are not mistaken for the old content.
        let files = std::mem::take(&mut self.initial_files);
        self.contents.baseline(&files, self.started);
        drop(files);
        // Block for the first notification, then take whatever else is already queued, so a
        // storm becomes a few large batches rather than thousands of one-path messages.
        while let Ok(Some(first)) = raw.recv() {
            let mut batch = Batch::default();
            self.handle(first, &mut batch, &events);
            while let Ok(next) = raw.try_recv() {
                let Some(next) = next else { return };
                self.handle(next, &mut batch, &events);
            }
            // git holds .git/index.lock while it rewrites the tree: wait for it to finish (up to
            // a cap, in case a crashed git left the lock behind), so a checkout is one build.
            let lock = self.filter.root().join(".git/index.lock");
            let waited = std::time::Instant::now();
            while lock.exists() && waited.elapsed() < GIT_LOCK_CAP {
                match raw.recv_timeout(Duration::from_millis(10)) {
                    Ok(Some(next)) => self.handle(next, &mut batch, &events),
                    Ok(None) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            if batch.config && events.send(Event::ConfigChanged).is_err() {
                return;
            }
            let changed = self.settle(batch);
            if changed.is_empty() {
                continue;
            }
            let root = self.filter.root().to_path_buf();
            let paths = changed.into_iter().map(|p| relative(&p, &root)).collect();
            if events.send(Event::FilesChanged(paths)).is_err() {
                return;
            }
        }
    }

    /// The batch's real changes: without files that came and went within it (an editor's or
    /// `sed -i`'s temp file) and without files whose content is what it was.
    fn settle(&mut self, batch: Batch) -> Vec<PathBuf> {
        let Batch {
            changed,
            created,
            overflow,
            ..
        } = batch;
        let mut out: Vec<PathBuf> = changed
            .into_iter()
            .filter(|p| !(created.contains(p) && std::fs::symlink_metadata(p).is_err()))
            .filter(|p| self.contents.changed(p))
            .collect();
        if overflow {
            out.push(self.filter.root().to_path_buf());
        }
        out
    }

    fn handle(&mut self, raw: Raw, batch: &mut Batch, events: &Sender<Event>) {
        let event = match raw {
            Ok(event) => event,
            Err(e) => {
                let _ = events.send(Event::WatchFailed(e.to_string()));
                return;
            }
        };
        if event.need_rescan() {
            // The kernel queue overflowed: something changed, exactly what is unknown.
            batch.overflow = true;
            return;
        }
        let relevant = match event.kind {
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
            EventKind::Modify(ModifyKind::Metadata(kind)) => kind == MetadataKind::WriteTime,
            EventKind::Modify(_) => true,
            EventKind::Access(_) | EventKind::Other => false,
        };
        if !relevant {
            return;
        }
        let appeared = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
        );
        for path in event.paths {
            if path == self.config_file {
                batch.config = true;
                continue;
            }
            if !self.roots.iter().any(|r| path.starts_with(r)) {
                continue;
            }
            if self.roots.contains(&path)
                && appeared
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            {
                // A root came back: watch it again, and everything in it is new.
                let mut found = Vec::new();
                if let Err(e) = self.watch_tree(&path, &mut found) {
                    let _ = events.send(Event::WatchFailed(e.to_string()));
                }
                batch.changed.extend(found);
                continue;
            }
            if Filter::is_ignore_file(&path) && self.gitignore {
                if let Some(dir) = path.parent() {
                    self.filter.learn_dir(dir);
                }
            }
            // Symlinks are not followed (a link to a directory is just a changed entry), so a
            // link loop cannot make the walk go round.
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if appeared && is_dir {
                if !self.filter.prunes_dir(&path) {
                    let mut found = Vec::new();
                    if let Err(e) = self.watch_tree(&path, &mut found) {
                        let _ = events.send(Event::WatchFailed(e.to_string()));
                    }
                    batch.changed.extend(found);
                }
            } else if self.filter.wants_file(&path) {
                if matches!(event.kind, EventKind::Create(_)) {
                    batch.created.insert(path.clone());
                }
                batch.changed.insert(path);
            }
        }
    }

    /// Watches `dir` and every directory below it that is not pruned; collects the files seen.
    fn watch_tree(&mut self, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
        let prune = self.filter.clone();
        let walker = ignore::WalkBuilder::new(dir)
            .standard_filters(false)
            .hidden(false)
            .git_ignore(self.gitignore)
            .git_exclude(self.gitignore)
            .ignore(self.gitignore)
            .parents(self.gitignore)
            .require_git(false)
            .follow_links(false)
            .filter_entry(move |e| {
                !(e.file_type().is_some_and(|t| t.is_dir()) && prune.prunes_dir(e.path()))
            })
            .build();
        for entry in walker {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                if self.gitignore {
                    self.filter.learn_dir(path);
                }
                match self.backend.watch(path, RecursiveMode::NonRecursive) {
                    Ok(()) => self.dirs += 1,
                    // Gone between listing and watching: nothing to watch.
                    Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
                    Err(e) => return Err(watch_error(path, e)),
                }
            } else if self.filter.wants_file(path) {
                files.push(path.to_path_buf());
            }
        }
        Ok(())
    }
}

/// A path as the user sees it: relative to the project, "." for the project itself (which also
/// stands for "anything may have changed" after an event-queue overflow).
pub fn relative(path: &Path, root: &Path) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

fn watch_error(path: &Path, e: notify::Error) -> Error {
    let message = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => "the inotify watch limit is reached; raise it with \
             `sudo sysctl fs.inotify.max_user_watches=524288` (add it to /etc/sysctl.conf to keep it), \
             or set `[watch] poll = true`"
            .to_owned(),
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::EMFILE) => "too many inotify instances; raise \
             `sudo sysctl fs.inotify.max_user_instances=1024`, or set `[watch] poll = true`"
            .to_owned(),
        _ => e.to_string(),
    };
    Error::Watch {
        path: path.to_path_buf(),
        message,
    }
}
