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

pub mod contents;
pub mod filter;
mod kernel;
pub mod poll;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Duration;

use crate::config::{WatchBackend, WatchConfig};
use crate::error::Error;
use crate::event::Event;
pub use contents::SharedContents;
use filter::Filter;
use kernel::{Change, Kernel, Waker};
use poll::Poller;

/// The running watcher. Dropping it stops watching.
pub struct Watcher {
    stop: Stop,
    /// Why hot polls although inotify was asked for (a limit, a network filesystem), or that
    /// it is close to the inotify limit.
    pub warning: Option<String>,
    /// Fingerprints of the watched files, for the app loop's content checks.
    pub contents: SharedContents,
    /// Directories watched (or scanned, when polling).
    pub dirs: usize,
    pub mode: Mode,
}

/// How a Watcher's thread is told to end.
enum Stop {
    /// Dropping it wakes the thread.
    Native(#[allow(dead_code)] Waker),
    Polling(std::sync::Arc<std::sync::atomic::AtomicBool>),
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Stop::Polling(flag) = &self.stop {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Kernel notifications (inotify, FSEvents, kqueue).
    Native,
    /// Scans: `files` watched files; directories and recently changed files are looked at
    /// every `tick`, and every file once per `rotation`.
    Polling {
        files: usize,
        tick: Duration,
        rotation: Duration,
    },
}

impl Watcher {
    /// Watches `config.paths` and sends batches of relevant changes to `events`. Returns once
    /// every directory is watched, so any change after this call is seen.
    ///
    /// A change to `config_file` is reported as `Event::ConfigChanged`, never as a file change.
    pub fn start(
        apps: &[(&WatchConfig, &Path)],
        root: &Path,
        config_file: &Path,
        events: Sender<Event>,
    ) -> Result<Watcher, Error> {
        let config = &union(apps);
        let filter = Filter::union(apps, root);
        let contents = SharedContents::default();
        let since = std::time::SystemTime::now();
        let mut watcher = Watcher::watch(config, root, &filter, config_file, &contents, events)?;
        let missing: Vec<String> = config
            .paths
            .iter()
            .filter(|p| !p.exists())
            .map(|p| format!("{:?}", relative(p, root).display().to_string()))
            .collect();
        if !missing.is_empty() {
            let warning = format!(
                "`watch.paths`: {} {} not exist yet; watching for {} to appear",
                missing.join(", "),
                if missing.len() == 1 { "does" } else { "do" },
                if missing.len() == 1 { "it" } else { "them" },
            );
            watcher.warning = Some(match watcher.warning.take() {
                Some(other) => format!("{other}\n{warning}"),
                None => warning,
            });
        }
        // Every file gets its fingerprint: as many as fit in a short wait now (a small project:
        // all of them, before `watching`), the rest right after, in the background.
        let mut files = files(config.paths.clone(), filter, config.gitignore);
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        while started.elapsed() < SYNC_BASELINE {
            let Some(path) = files.next() else { break };
            contents::baseline(&contents, &path, since, &mut buf);
        }
        contents::baseline_in_background(contents.clone(), since, files);
        Ok(watcher)
    }

    fn watch(
        config: &WatchConfig,
        root: &Path,
        filter: &Filter,
        config_file: &Path,
        contents: &SharedContents,
        events: Sender<Event>,
    ) -> Result<Watcher, Error> {
        let poll_because = |why: String| (crate::config::DEFAULT_POLL_INTERVAL, Some(why));
        let (interval, why) = match config.backend {
            WatchBackend::Poll(interval) => (interval, None),
            WatchBackend::Native => {
                let silent = config
                    .paths
                    .iter()
                    .find_map(|p| silent_filesystem(p).map(|fs| (p, fs)));
                if let Some((path, fs)) = silent {
                    poll_because(format!(
                        "{} is on a {fs} filesystem, which reports no changes made from the other \
                         side: polling instead (set `[watch] poll = true` to say so and silence this)",
                        relative(path, root).display()
                    ))
                } else {
                    match Watcher::native(
                        config,
                        filter.clone(),
                        config_file,
                        contents.clone(),
                        events.clone(),
                    ) {
                        Ok(watcher) => return Ok(watcher),
                        Err(Native::Limit(why)) => poll_because(why),
                        Err(Native::Failed(e)) => return Err(e),
                    }
                }
            }
        };
        Watcher::poll(
            config,
            filter.clone(),
            interval,
            config_file,
            contents.clone(),
            events,
            why,
        )
    }

    fn poll(
        config: &WatchConfig,
        filter: Filter,
        interval: Duration,
        config_file: &Path,
        contents: SharedContents,
        events: Sender<Event>,
        fallback: Option<String>,
    ) -> Result<Watcher, Error> {
        let poller = Poller::new(
            config.paths.clone(),
            filter,
            interval,
            config_file.to_path_buf(),
        );
        let (dirs, files, tick, rotation) = (
            poller.dirs(),
            poller.files(),
            poller.pause(),
            poller.rotation(),
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        poller
            .spawn(events, stop.clone())
            .map_err(|e| Error::io("cannot start the polling thread", e))?;
        Ok(Watcher {
            stop: Stop::Polling(stop),
            dirs,
            mode: Mode::Polling {
                files,
                tick,
                rotation,
            },
            warning: fallback,
            contents,
        })
    }

    fn native(
        config: &WatchConfig,
        filter: Filter,
        config_file: &Path,
        contents: SharedContents,
        events: Sender<Event>,
    ) -> Result<Watcher, Native> {
        let root = filter.root().to_path_buf();
        let (kernel, waker) = Kernel::new().map_err(|e| Native::from_io(&root, e))?;
        let mut state = State {
            kernel,
            contents: contents.clone(),
            roots: config.paths.clone(),
            config_file: config_file.to_path_buf(),
            filter,
            gitignore: config.gitignore,
            dirs: 0,
        };
        for path in &config.paths {
            if path.is_dir() {
                state.watch_tree(path, None)?;
            } else if let Some(dir) = path.parent() {
                state
                    .kernel
                    .add(dir)
                    .map_err(|e| Native::from_io(path, e))?;
            }
        }
        // Best effort: the config file's directory, and each root's parent, so that a root
        // deleted and recreated is picked up again.
        for dir in config_file
            .parent()
            .into_iter()
            .chain(config.paths.iter().filter_map(|p| p.parent()))
        {
            let _ = state.kernel.add(dir);
        }
        let dirs = state.dirs;
        let advice = watch_budget(dirs);
        thread::Builder::new()
            .name("watch".into())
            .spawn(move || state.run(events))
            .map_err(|e| Native::Failed(Error::io("cannot start the watcher thread", e)))?;
        Ok(Watcher {
            stop: Stop::Native(waker),
            dirs,
            mode: Mode::Native,
            warning: advice,
            contents,
        })
    }
}

/// How long startup may spend fingerprinting files before `watching`; files not reached get
/// their fingerprint when first checked.
const SYNC_BASELINE: Duration = Duration::from_millis(20);

/// The longest hot waits for git to release `.git/index.lock` before building anyway.
const GIT_LOCK_CAP: Duration = Duration::from_secs(10);

/// What one drain of the notification queue found.
#[derive(Default)]
struct Batch {
    changed: BTreeSet<PathBuf>,
    /// Paths created within this batch.
    created: std::collections::HashSet<PathBuf>,
    /// Files a writer still holds open at the end of the batch.
    open: BTreeSet<PathBuf>,
    /// The kernel dropped events: anything may have changed.
    overflow: bool,
    /// The config file changed.
    config: bool,
}

struct State {
    kernel: Kernel,
    /// Told which reported paths appeared, so that a temp file gone again before a build took
    /// it (its creation and removal in two batches, or checked in between) is no change.
    contents: SharedContents,
    /// The configured roots; their parents are watched too, so a root that is deleted and
    /// recreated (`rm -rf src && git checkout src`) is picked up again.
    roots: Vec<PathBuf>,
    config_file: PathBuf,
    filter: Filter,
    gitignore: bool,
    dirs: usize,
}

impl State {
    fn run(mut self, events: Sender<Event>) {
        // Block for the first notification, then take whatever else is already queued, so a
        // storm becomes a few large batches rather than thousands of one-path messages.
        while let Ok(Some(first)) = self.kernel.wait(None) {
            let mut batch = Batch::default();
            self.apply_all(first, &mut batch, &events);
            loop {
                match self.kernel.wait(Some(Duration::ZERO)) {
                    Ok(Some(more)) if !more.is_empty() => self.apply_all(more, &mut batch, &events),
                    Ok(Some(_)) => break,
                    Ok(None) | Err(_) => return,
                }
            }
            // git holds .git/index.lock while it rewrites the tree: wait for it to finish (up to
            // a cap, in case a crashed git left the lock behind), so a checkout is one build.
            let lock = self.filter.root().join(".git/index.lock");
            let waited = std::time::Instant::now();
            while lock.exists() && waited.elapsed() < GIT_LOCK_CAP {
                match self.kernel.wait(Some(Duration::from_millis(10))) {
                    Ok(Some(more)) => self.apply_all(more, &mut batch, &events),
                    Ok(None) | Err(_) => return,
                }
            }
            if batch.config && events.send(Event::ConfigChanged).is_err() {
                return;
            }
            let (changed, open) = self.settle(batch);
            if changed.is_empty() {
                continue;
            }
            let root = self.filter.root().to_path_buf();
            let paths = changed.into_iter().map(|p| relative(&p, &root)).collect();
            let open = open.into_iter().map(|p| relative(&p, &root)).collect();
            if events.send(Event::FilesChanged { paths, open }).is_err() {
                return;
            }
        }
    }

    /// The batch's real changes, without files that came and went within it (an editor's or
    /// `sed -i`'s temp file); and which of them are still open for writing.
    fn settle(&mut self, batch: Batch) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let Batch {
            changed,
            created,
            overflow,
            open,
            ..
        } = batch;
        let mut out: Vec<PathBuf> = changed
            .into_iter()
            .filter(|p| !(created.contains(p) && std::fs::symlink_metadata(p).is_err()))
            .collect();
        if let Ok(mut contents) = self.contents.lock() {
            for path in out.iter().filter(|p| created.contains(*p)) {
                contents.appeared(path);
            }
        }
        let open = open
            .into_iter()
            .filter(|p| out.binary_search(p).is_ok())
            .collect();
        if overflow {
            out.push(self.filter.root().to_path_buf());
        }
        (out, open)
    }

    fn apply_all(&mut self, changes: Vec<Change>, batch: &mut Batch, events: &Sender<Event>) {
        for change in changes {
            self.apply(change, batch, events);
        }
    }

    fn apply(&mut self, change: Change, batch: &mut Batch, events: &Sender<Event>) {
        // `Some(writing)` for a path that appeared: whether its creator may still be writing.
        let (path, appeared, writing) = match change {
            // The kernel queue overflowed: something changed, exactly what is unknown.
            Change::Overflow => {
                batch.overflow = true;
                return;
            }
            Change::Appeared { path, writing } => (path, true, writing),
            Change::Modified { path, writing } => (path, false, writing),
            Change::Gone(path) => (path, false, false),
        };
        if path == self.config_file {
            batch.config = true;
            return;
        }
        if !self.roots.iter().any(|r| path.starts_with(r)) {
            return;
        }
        if Filter::is_ignore_file(&path) && self.gitignore {
            if let Some(dir) = path.parent() {
                self.filter.learn_dir(dir);
            }
        }
        // Symlinks are not followed (a link to a directory is just a changed entry), so a link
        // loop cannot make the walk go round.
        let meta = appeared
            .then(|| std::fs::symlink_metadata(&path).ok())
            .flatten();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            // A new directory (or a root that came back): watch it, and everything in it is new.
            if self.roots.contains(&path) || !self.filter.prunes_dir(&path) {
                let mut found = Vec::new();
                if let Err(e) = self.watch_tree(&path, Some(&mut found)) {
                    let _ = events.send(Event::WatchFailed(e.message()));
                }
                batch.changed.extend(found);
            }
        } else if self.filter.wants_file(&path) {
            // Only a regular file made by open(O_CREAT) gets closed by its writer: a symlink, a
            // hard link (a second name) or a file moved in is complete as it appears.
            let open = writing
                && (!appeared
                    || meta.is_some_and(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.is_file() && m.nlink() == 1
                    }));
            if open {
                batch.open.insert(path.clone());
            } else {
                batch.open.remove(&path);
            }
            if appeared {
                batch.created.insert(path.clone());
            }
            batch.changed.insert(path);
        }
    }

    /// Watches `dir` and every directory below it that is not pruned; collects the files it
    /// finds (into `files`, if given), and fingerprints them while the startup budget lasts.
    fn watch_tree(
        &mut self,
        dir: &Path,
        mut files: Option<&mut Vec<PathBuf>>,
    ) -> Result<(), Native> {
        for entry in walk(dir, self.filter.clone(), self.gitignore) {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                if self.gitignore {
                    self.filter.learn_dir(path);
                }
                match self.kernel.add(path) {
                    Ok(true) => self.dirs += 1,
                    Ok(false) => {}
                    Err(e) => return Err(Native::from_io(path, e)),
                }
            } else if let Some(files) = files.as_deref_mut() {
                if self.filter.wants_file(path) {
                    files.push(path.to_path_buf());
                }
            }
        }
        Ok(())
    }
}

/// One `[watch]` for the watcher of several apps: every app's paths (a path inside another
/// once), `.gitignore` rules if any app reads them, polling if any app polls (at the shortest
/// interval). Which files matter is the union filter's to say.
fn union(apps: &[(&WatchConfig, &Path)]) -> WatchConfig {
    let mut paths: Vec<PathBuf> = apps.iter().flat_map(|(c, _)| c.paths.clone()).collect();
    paths.sort();
    paths.dedup();
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
    let poll = apps
        .iter()
        .filter_map(|(c, _)| match c.backend {
            WatchBackend::Poll(interval) => Some(interval),
            WatchBackend::Native => None,
        })
        .min();
    WatchConfig {
        paths,
        include_ext: Vec::new(),
        include: None,
        exclude: globset::GlobSet::empty(),
        exclude_regex: None,
        gitignore: apps.iter().any(|(c, _)| c.gitignore),
        debounce: apps
            .iter()
            .map(|(c, _)| c.debounce)
            .min()
            .unwrap_or_default(),
        backend: poll.map_or(WatchBackend::Native, WatchBackend::Poll),
    }
}

/// Every file under `roots` that `filter` wants, walked lazily.
fn files(
    roots: Vec<PathBuf>,
    filter: Filter,
    gitignore: bool,
) -> impl Iterator<Item = PathBuf> + Send + 'static {
    roots.into_iter().flat_map(move |root| {
        let wants = filter.clone();
        walk(&root, filter.clone(), gitignore)
            .flatten()
            .filter(move |e| {
                e.file_type().is_some_and(|t| t.is_file()) && wants.wants_file(e.path())
            })
            .map(ignore::DirEntry::into_path)
    })
}

/// The tree below `root` as hot sees it: pruned directories (tmp dir, `.git`, excluded or,
/// with `gitignore`, ignored) are not entered, and symlinks are not followed, so a link loop
/// cannot make the walk go round.
fn walk(root: &Path, prune: Filter, gitignore: bool) -> ignore::Walk {
    ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .hidden(false)
        .git_ignore(gitignore)
        .git_exclude(gitignore)
        .ignore(gitignore)
        .parents(gitignore)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |e| {
            !(e.file_type().is_some_and(|t| t.is_dir()) && prune.prunes_dir(e.path()))
        })
        .build()
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

/// Why native watching could not start.
enum Native {
    /// A kernel limit: polling is the way out.
    Limit(String),
    Failed(Error),
}

impl Native {
    fn from_io(path: &Path, e: std::io::Error) -> Native {
        let inotify = |sysctl: &str, what: &str| {
            let current = std::fs::read_to_string(format!("/proc/sys/fs/inotify/{sysctl}"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|_| "?".into());
            format!(
                "{what} (fs.inotify.{sysctl} = {current}): polling instead. To watch with \
                 inotify, raise it: `sudo sysctl fs.inotify.{sysctl}=524288` (add the line \
                 fs.inotify.{sysctl}=524288 to /etc/sysctl.conf to keep it)"
            )
        };
        match kernel::limit(&e) {
            Some(kernel::Limit::InotifyWatches) => Native::Limit(inotify(
                "max_user_watches",
                "the inotify watch limit is reached",
            )),
            Some(kernel::Limit::InotifyInstances) => Native::Limit(inotify(
                "max_user_instances",
                "too many inotify instances are open",
            )),
            Some(kernel::Limit::OpenFiles) => Native::Limit(format!(
                "the watcher needs an open file per watched file and ran out ({e}): polling \
                 instead. To watch natively, raise the limit (`ulimit -n`, or on FreeBSD \
                 kern.maxfilesperproc) or exclude big directories"
            )),
            None => Native::Failed(Error::Watch {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    fn message(&self) -> String {
        match self {
            Native::Limit(why) => why.clone(),
            Native::Failed(e) => e.to_string(),
        }
    }
}

/// A warning when the watched directories use most of the user's inotify watches: the next
/// `npm install` or checkout may hit the limit.
fn watch_budget(dirs: usize) -> Option<String> {
    let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (dirs * 4 > max * 3).then(|| {
        format!(
            "watching {dirs} directories uses most of fs.inotify.max_user_watches = {max}; raise it \
             (`sudo sysctl fs.inotify.max_user_watches=524288`) or exclude big directories"
        )
    })
}

/// The kind of filesystem under `path` if it is one that sends no inotify events for changes
/// made elsewhere (network shares, WSL's /mnt, VM shares).
#[cfg(target_os = "linux")]
fn silent_filesystem(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills the zeroed struct for a valid NUL-terminated path.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    let magic = (buf.f_type as u64) & 0xFFFF_FFFF;
    match magic {
        0x6969 => Some("NFS"),
        0x517B | 0xFE53_4D42 | 0xFF53_4D42 => Some("SMB/CIFS"),
        0x0102_1997 => Some("9p (WSL /mnt or a VM share)"),
        0x6A65_6A63 => Some("virtiofs (a VM share)"),
        0x6573_5546 => Some("FUSE"),
        0x00C3_6400 => Some("Ceph"),
        0x5346_414F => Some("AFS"),
        _ => None,
    }
}

/// The same on macOS and FreeBSD, where `statfs` names the filesystem type.
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
fn silent_filesystem(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills the zeroed struct for a valid NUL-terminated path.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return None;
    }
    let name: Vec<u8> = buf
        .f_fstypename
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    match name.as_slice() {
        b"nfs" => Some("NFS"),
        b"smbfs" | b"cifs" => Some("SMB/CIFS"),
        b"afpfs" => Some("AFP"),
        b"webdav" => Some("WebDAV"),
        b"p9fs" | b"9p" => Some("9p (a VM share)"),
        b"virtiofs" => Some("virtiofs (a VM share)"),
        b"fusefs" | b"macfuse" | b"osxfuse" => Some("FUSE"),
        _ => None,
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
fn silent_filesystem(_path: &Path) -> Option<&'static str> {
    None
}
