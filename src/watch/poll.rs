//! Polling, for filesystems that deliver no inotify events (network mounts, WSL's /mnt, VM
//! shares, some Docker volumes).
//!
//! Scanning a big tree in full every tick costs too much, and scanning it every few seconds is
//! too slow to feel live. So every tick looks first where changes are likely, then goes on
//! through the rest of the tree in rotation:
//! - every directory's own stamp: creating, deleting or renaming a file (which includes every
//!   atomic save) changes its directory's mtime, and such a directory is listed again;
//! - the working set: the files changed most recently, which is what the developer is editing;
//! - then the other files, from where the last tick stopped, for as long as the tick's CPU
//!   budget lasts (2 % of a core), counted in the thread's own CPU time, so that a busy machine
//!   (which stretches wall time, not CPU time) does not stretch the rotation.
//!
//! A file is checked with one `fstatat` relative to its directory, opened once per directory
//! visited, by a name kept as a C string: no allocation and no ignore rules per file. The rules
//! are applied only when a directory is listed.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{FileStat, Mode, fstatat};

use super::filter::Filter;
use crate::event::Event;

/// The share of one core polling may use.
const CPU_SHARE: f64 = 0.02;
/// How many recently changed files are looked at on every tick.
const WORKING_SET: usize = 64;
/// A directory is listed again on every tick until it has been listed this long after its last
/// change: a change within its mtime's granularity (coarse on some filesystems: a kernel tick,
/// or a second) of the previous listing leaves the mtime as it was.
const SETTLED: Duration = Duration::from_secs(2);
/// A full rotation is spread over at least this long: a small tree, which the budget would let
/// hot check in full on every tick, is checked at this pace instead.
const ROTATION_FLOOR: Duration = Duration::from_secs(1);
/// How many files are checked between two reads of the CPU clock.
const CLOCK_EVERY: usize = 32;

/// What identifies a file's content (or a directory's list of names) without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime_ns: i64,
    size: i64,
    ino: u64,
}

impl Stamp {
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of(st: &FileStat) -> Stamp {
        Stamp {
            mtime_ns: (st.st_mtime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec as i64),
            size: st.st_size as i64,
            ino: st.st_ino as u64,
        }
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    nix::sys::stat::stat(path).ok().map(|st| Stamp::of(&st))
}

/// Stats `name` in the directory open as `dir`, not following a symlink.
fn stamp_at(dir: &OwnedFd, name: &CStr) -> Option<Stamp> {
    fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| Stamp::of(&st))
}

fn open_dir(path: &Path) -> Option<OwnedFd> {
    open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Now on the clock file times are on.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

#[derive(Debug)]
struct File {
    name: Box<CStr>,
    stamp: Stamp,
}

/// A watched directory: its own stamp and its wanted files, sorted by name.
#[derive(Debug)]
struct Dir {
    stamp: Option<Stamp>,
    /// When it was last listed, as nanoseconds since the epoch (the mtime's clock).
    listed_ns: i64,
    files: Vec<File>,
}

impl Dir {
    /// Whether a change may have slipped past the last listing unseen (see `SETTLED`).
    fn settled(&self) -> bool {
        self.stamp
            .is_none_or(|s| s.mtime_ns.saturating_add(SETTLED.as_nanos() as i64) < self.listed_ns)
    }

    /// The index of the file named `name` (bytes, without the NUL).
    fn find(&self, name: &[u8]) -> Option<usize> {
        self.files
            .binary_search_by(|f| f.name.to_bytes().cmp(name))
            .ok()
    }
}

/// Where the rotation goes on: a directory and the index of its next file.
#[derive(Debug, Clone)]
struct Cursor {
    dir: PathBuf,
    file: usize,
}

pub struct Poller {
    roots: Vec<PathBuf>,
    filter: Filter,
    dirs: BTreeMap<PathBuf, Dir>,
    /// The most recently changed files, newest first.
    recent: VecDeque<PathBuf>,
    cursor: Option<Cursor>,
    interval: Duration,
    /// CPU time the last tick used, and the longest pause it calls for.
    last_cpu: Duration,
    /// How long the last full rotation took (or, before one completed, an estimate).
    rotation: Duration,
    rotation_started: Instant,
    config_file: PathBuf,
    config_stamp: Option<Stamp>,
}

impl Poller {
    /// Lists the tree once (so a change right after this returns is seen).
    pub fn new(
        roots: Vec<PathBuf>,
        filter: Filter,
        interval: Duration,
        config_file: PathBuf,
    ) -> Poller {
        let mut poller = Poller {
            roots,
            filter,
            dirs: BTreeMap::new(),
            recent: VecDeque::new(),
            cursor: None,
            interval,
            last_cpu: Duration::ZERO,
            rotation: Duration::ZERO,
            rotation_started: Instant::now(),
            config_stamp: stamp(&config_file),
            config_file,
        };
        let cpu = thread_cpu();
        for root in poller.roots.clone() {
            poller.add_root(&root, None);
        }
        // Until a rotation has completed: what a full listing cost, spread over the budget.
        let listing = thread_cpu().saturating_sub(cpu);
        poller.rotation = poller
            .interval
            .mul_f64((listing.as_secs_f64() / poller.budget().as_secs_f64()).max(1.0));
        poller.seed_working_set();
        poller
    }

    pub fn dirs(&self) -> usize {
        self.dirs.len()
    }

    pub fn files(&self) -> usize {
        self.dirs.values().map(|d| d.files.len()).sum()
    }

    /// The pause between ticks: the configured interval, longer only if the part of a tick
    /// that cannot be cut short (directories and working set) outgrows the budget.
    pub fn pause(&self) -> Duration {
        let floor = self
            .last_cpu
            .mul_f64((1.0 - CPU_SHARE) / CPU_SHARE)
            .min(Duration::from_secs(60));
        self.interval.max(floor)
    }

    /// How long it takes for every file to be checked once.
    pub fn rotation(&self) -> Duration {
        self.rotation.max(self.pause())
    }

    fn budget(&self) -> Duration {
        self.interval.mul_f64(CPU_SHARE)
    }

    /// The working set at start: the files modified most recently.
    fn seed_working_set(&mut self) {
        let mut newest: Vec<(i64, PathBuf)> = Vec::new();
        for (dir, d) in &self.dirs {
            for f in &d.files {
                newest.push((
                    f.stamp.mtime_ns,
                    dir.join(OsStr::from_bytes(f.name.to_bytes())),
                ));
            }
        }
        let keep = newest.len().min(WORKING_SET);
        if keep > 0 && keep < newest.len() {
            newest.select_nth_unstable_by(keep - 1, |a, b| b.0.cmp(&a.0));
            newest.truncate(keep);
        }
        newest.sort_by_key(|n| std::cmp::Reverse(n.0));
        self.recent = newest.into_iter().map(|(_, p)| p).collect();
    }

    pub fn spawn(
        mut self,
        events: Sender<Event>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<thread::JoinHandle<()>> {
        thread::Builder::new().name("poll".into()).spawn(move || {
            loop {
                thread::sleep(self.pause());
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let config_stamp = stamp(&self.config_file);
                if config_stamp != self.config_stamp {
                    self.config_stamp = config_stamp;
                    if events.send(Event::ConfigChanged).is_err() {
                        return;
                    }
                }
                let mut changed = self.tick();
                changed.retain(|p| *p != self.config_file);
                if !changed.is_empty() {
                    let root = self.filter.root().to_path_buf();
                    let paths = changed
                        .into_iter()
                        .map(|p| super::relative(&p, &root))
                        .collect();
                    // A scan cannot see who has a file open: every change counts as complete.
                    let open = Vec::new();
                    if events.send(Event::FilesChanged { paths, open }).is_err() {
                        return;
                    }
                }
            }
        })
    }

    /// One tick: directories, the working set, then the rotation while the budget lasts.
    /// Returns the files that appeared, changed or disappeared.
    fn tick(&mut self) -> Vec<PathBuf> {
        let cpu = thread_cpu();
        let mut changed = Vec::new();
        self.check_dirs(&mut changed);
        self.check_working_set(&mut changed);
        self.rotate(cpu, &mut changed);
        self.last_cpu = thread_cpu().saturating_sub(cpu);
        // A file watched on its own shares its directory's listing with its neighbours.
        changed.retain(|p| self.under_a_root(p));
        changed.sort();
        changed.dedup();
        for path in changed.iter().rev() {
            self.remember(path);
        }
        changed
    }

    /// Lists again every directory whose stamp changed (or changed lately); picks up roots
    /// that appeared.
    fn check_dirs(&mut self, changed: &mut Vec<PathBuf>) {
        for root in self.roots.clone() {
            let dir = if root.is_file() {
                root.parent()
            } else {
                Some(root.as_path())
            };
            if dir.is_some_and(|d| !self.dirs.contains_key(d) && d.is_dir()) {
                self.add_root(&root, Some(changed));
            }
        }
        let mut relist = Vec::new();
        for (path, dir) in &mut self.dirs {
            let now = stamp(path);
            if now != dir.stamp || !dir.settled() {
                dir.stamp = now;
                relist.push(path.clone());
            }
        }
        for path in relist {
            self.relist(&path, changed);
        }
    }

    fn check_working_set(&mut self, changed: &mut Vec<PathBuf>) {
        for path in &self.recent {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let Some(dir) = self.dirs.get_mut(parent) else {
                continue;
            };
            let Some(i) = dir.find(name.as_bytes()) else {
                continue;
            };
            // A file that is gone was seen by its directory's listing.
            if let Some(now) = stamp(path) {
                if now != dir.files[i].stamp {
                    dir.files[i].stamp = now;
                    changed.push(path.clone());
                }
            }
        }
    }

    /// Checks files in rotation, from the cursor on, until the tick's budget is spent or every
    /// file was checked once.
    fn rotate(&mut self, tick_cpu: Duration, changed: &mut Vec<PathBuf>) {
        let budget = self.budget();
        let files = self.files();
        let cap = (files as f64 * self.interval.as_secs_f64() / ROTATION_FLOOR.as_secs_f64())
            .ceil()
            .max(CLOCK_EVERY as f64) as usize;
        let start = self
            .cursor
            .take()
            .filter(|c| self.dirs.contains_key(&c.dir));
        let (first_dir, first_file) = match &start {
            Some(c) => (Some(c.dir.clone()), c.file),
            None => (None, 0),
        };
        let mut checked = 0usize;
        // Two passes at most: from the cursor to the end, then from the start to the cursor.
        for pass in 0..2 {
            let range: Box<dyn Iterator<Item = (&PathBuf, &mut Dir)>> = match (&first_dir, pass) {
                (Some(dir), 0) => Box::new(self.dirs.range_mut(dir.clone()..)),
                (None, 0) | (Some(_), 1) => Box::new(self.dirs.iter_mut()),
                _ => break,
            };
            for (path, dir) in range {
                let wrapped = pass == 1;
                let at_start = first_dir.as_ref() == Some(path);
                // On the second pass, stop where the first began.
                let end = if wrapped && at_start {
                    first_file.min(dir.files.len())
                } else {
                    dir.files.len()
                };
                let from = if !wrapped && at_start { first_file } else { 0 };
                if from >= end {
                    if wrapped && at_start {
                        break;
                    }
                    continue;
                }
                let Some(fd) = open_dir(path) else { continue };
                for i in from..end {
                    let file = &mut dir.files[i];
                    // Gone: its directory's listing reports it.
                    if let Some(now) = stamp_at(&fd, &file.name) {
                        if now != file.stamp {
                            file.stamp = now;
                            changed.push(path.join(OsStr::from_bytes(file.name.to_bytes())));
                        }
                    }
                    checked += 1;
                    if checked >= cap
                        || (checked % CLOCK_EVERY == 0
                            && thread_cpu().saturating_sub(tick_cpu) >= budget)
                    {
                        self.cursor = Some(Cursor {
                            dir: path.clone(),
                            file: i + 1,
                        });
                        return;
                    }
                }
                if wrapped && at_start {
                    break;
                }
            }
            if pass == 0 {
                // Reached the end of the tree: a rotation is complete.
                let now = Instant::now();
                self.rotation = now - self.rotation_started;
                self.rotation_started = now;
            }
        }
        // Everything was checked within the budget: start from the top next time.
        self.cursor = None;
    }

    /// Reads `path`'s entries again: new and removed files and directories are changes.
    fn relist(&mut self, path: &Path, changed: &mut Vec<PathBuf>) {
        let old = self
            .dirs
            .get_mut(path)
            .map(|d| std::mem::take(&mut d.files))
            .unwrap_or_default();
        let Some((files, subdirs)) = self.list(path, &old) else {
            // The directory is gone: so is everything below it.
            self.remove_tree(path, changed);
            return;
        };
        diff(path, &old, &files, changed);
        if let Some(dir) = self.dirs.get_mut(path) {
            dir.files = files;
            dir.listed_ns = now_ns();
        }
        // Subdirectories that appeared, and those that went.
        let known: Vec<PathBuf> = self
            .dirs
            .range::<Path, _>((std::ops::Bound::Excluded(path), std::ops::Bound::Unbounded))
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(path))
            .filter(|p| p.parent() == Some(path))
            .cloned()
            .collect();
        for sub in &known {
            if !subdirs.contains(sub) {
                self.remove_tree(sub, changed);
            }
        }
        for sub in subdirs {
            if !self.dirs.contains_key(&sub) && self.under_a_root(&sub) {
                self.add_tree(&sub, Some(changed));
            }
        }
    }

    /// Whether `path` is one of the watched trees (or in one).
    fn under_a_root(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| path.starts_with(r))
    }

    /// Adds a root: a directory and its tree, or, for a single file, its directory's listing
    /// (the changes of its other entries are dropped in `tick`).
    fn add_root(&mut self, root: &Path, changed: Option<&mut Vec<PathBuf>>) {
        match root.parent().filter(|_| root.is_file()) {
            Some(dir) => self.add_tree(dir, changed),
            None => self.add_tree(root, changed),
        }
    }

    /// Lists `dir`: its wanted files (stamped, sorted by name) and its unpruned subdirectories.
    /// A file of `known` (the last listing) that is still there under the same inode keeps its
    /// stamp: a listing only looks for names that came, went or were replaced (an atomic save),
    /// and costs no `stat` and no rule matching for the others; in-place edits are the
    /// rotation's and the working set's to find.
    fn list(&mut self, dir: &Path, known: &[File]) -> Option<(Vec<File>, Vec<PathBuf>)> {
        use std::os::unix::fs::DirEntryExt;
        let entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        if entries
            .iter()
            .any(|e| Filter::is_ignore_file(Path::new(&e.file_name())))
        {
            self.filter.learn_dir(dir);
        }
        let fd = open_dir(dir)?;
        let mut files = Vec::new();
        let mut subdirs = Vec::new();
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let path = entry.path();
                if !self.filter.prunes_dir(&path) {
                    subdirs.push(path);
                }
                continue;
            }
            let Ok(name) = CString::new(entry.file_name().as_bytes()) else {
                continue;
            };
            let same = known
                .binary_search_by(|f| (*f.name).cmp(&name))
                .ok()
                .map(|i| &known[i])
                .filter(|f| f.stamp.ino == entry.ino());
            if let Some(file) = same {
                files.push(File {
                    name: file.name.clone(),
                    stamp: file.stamp,
                });
            } else if self.filter.wants_file(&entry.path()) {
                if let Some(stamp) = stamp_at(&fd, &name) {
                    files.push(File {
                        name: name.into_boxed_c_str(),
                        stamp,
                    });
                }
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files.shrink_to_fit();
        Some((files, subdirs))
    }

    /// Adds `root` and every directory below it; their files are changes if `changed` is given.
    fn add_tree(&mut self, root: &Path, mut changed: Option<&mut Vec<PathBuf>>) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let dir_stamp = stamp(&dir);
            let listed_ns = now_ns();
            let Some((files, subdirs)) = self.list(&dir, &[]) else {
                continue;
            };
            if let Some(changed) = changed.as_deref_mut() {
                changed.extend(
                    files
                        .iter()
                        .map(|f| dir.join(OsStr::from_bytes(f.name.to_bytes()))),
                );
            }
            stack.extend(
                subdirs
                    .into_iter()
                    .filter(|s| !self.dirs.contains_key(s) && self.under_a_root(s)),
            );
            self.dirs.insert(
                dir,
                Dir {
                    stamp: dir_stamp,
                    listed_ns,
                    files,
                },
            );
        }
    }

    /// Forgets `root` and everything below it; its files are changes (they are gone).
    fn remove_tree(&mut self, root: &Path, changed: &mut Vec<PathBuf>) {
        let below: Vec<PathBuf> = self
            .dirs
            .range::<Path, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(root))
            .cloned()
            .collect();
        for dir in below {
            if let Some(d) = self.dirs.remove(&dir) {
                changed.extend(
                    d.files
                        .iter()
                        .map(|f| dir.join(OsStr::from_bytes(f.name.to_bytes()))),
                );
            }
        }
    }

    /// Puts `path` at the front of the working set.
    fn remember(&mut self, path: &Path) {
        if let Some(at) = self.recent.iter().position(|p| p == path) {
            self.recent.remove(at);
        }
        self.recent.push_front(path.to_path_buf());
        self.recent.truncate(WORKING_SET);
    }
}

/// The differences between two sorted file lists of `dir`, as paths.
fn diff(dir: &Path, old: &[File], new: &[File], changed: &mut Vec<PathBuf>) {
    let (mut i, mut j) = (0, 0);
    let path = |f: &File| dir.join(OsStr::from_bytes(f.name.to_bytes()));
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a.name == b.name => {
                if a.stamp != b.stamp {
                    changed.push(path(b));
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.name < b.name => {
                changed.push(path(a));
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                changed.push(path(b));
                j += 1;
            }
            (Some(a), None) => {
                changed.push(path(a));
                i += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{WatchBackend, WatchConfig};

    fn poller(dir: &Path) -> Poller {
        let config = WatchConfig {
            paths: vec![dir.to_path_buf()],
            include_ext: vec![],
            include: None,
            exclude: globset::GlobSet::empty(),
            exclude_regex: None,
            gitignore: false,
            debounce: Duration::ZERO,
            backend: WatchBackend::Poll(Duration::from_secs(1)),
        };
        let filter = Filter::new(&config, dir, &dir.join("tmp"));
        Poller::new(
            vec![dir.to_path_buf()],
            filter,
            Duration::from_secs(1),
            dir.join(".hot.toml"),
        )
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hot-poll-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        dir
    }

    /// Ticks until every file was checked once (a full rotation), collecting the changes.
    fn full_rotation(poller: &mut Poller) -> Vec<PathBuf> {
        let mut all = Vec::new();
        for _ in 0..1000 {
            all.extend(poller.tick());
            if poller.cursor.is_none() {
                break;
            }
        }
        all.sort();
        all.dedup();
        all
    }

    #[test]
    fn scans_find_new_changed_and_removed_files_but_not_pruned_ones() {
        let dir = fresh_dir("basic");
        std::fs::write(dir.join("src/a.go"), "a").expect("write");
        std::fs::write(dir.join("src/b.go"), "b").expect("write");
        let mut poller = poller(&dir);
        assert_eq!(poller.files(), 2);
        std::fs::write(dir.join("src/a.go"), "changed, longer").expect("write");
        std::fs::remove_file(dir.join("src/b.go")).expect("rm");
        std::fs::create_dir_all(dir.join("src/new")).expect("mkdir");
        std::fs::write(dir.join("src/new/c.go"), "c").expect("write");
        std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
        std::fs::write(dir.join("tmp/out"), "x").expect("write");
        assert_eq!(
            full_rotation(&mut poller),
            [
                dir.join("src/a.go"),
                dir.join("src/b.go"),
                dir.join("src/new/c.go")
            ]
        );
        assert!(full_rotation(&mut poller).is_empty());
        std::fs::remove_dir_all(dir.join("src/new")).expect("rm");
        assert_eq!(full_rotation(&mut poller), [dir.join("src/new/c.go")]);
        assert!(poller.pause() >= Duration::from_secs(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_in_place_edit_is_found_by_the_rotation_within_the_budget() {
        let dir = fresh_dir("rotation");
        for d in 0..20 {
            std::fs::create_dir_all(dir.join(format!("src/d{d}"))).expect("mkdir");
            for f in 0..100 {
                std::fs::write(dir.join(format!("src/d{d}/f{f}.go")), "x").expect("write");
            }
        }
        // Directories changed long ago: only the rotation (or the working set) can find an
        // in-place edit.
        let old = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
        for d in 0..20 {
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                &dir.join(format!("src/d{d}")),
                &old,
                &old,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .expect("utimensat");
        }
        let mut poller = poller(&dir);
        assert_eq!(poller.files(), 2000);
        let listed: Vec<PathBuf> = poller
            .dirs
            .iter()
            .filter(|(_, d)| !d.settled())
            .map(|(p, _)| p.clone())
            .collect();
        // The directories dated long ago are settled; the two made just now are new, unless
        // the machine was so slow that they settled too.
        assert!(
            listed.iter().all(|p| *p == dir || *p == dir.join("src")),
            "only the new directories are watched as new: {listed:?}"
        );
        // Not in the working set: the oldest file of all, rewritten in place (same inode, same
        // directory mtime) with a new size.
        let target = dir.join("src/d7/f42.go");
        poller.recent.retain(|p| *p != target);
        std::fs::write(&target, "longer").expect("write");
        assert_eq!(full_rotation(&mut poller), std::slice::from_ref(&target));
        assert_eq!(
            poller.recent.front(),
            Some(&target),
            "now in the working set"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_atomic_save_is_seen_at_the_next_tick() {
        let dir = fresh_dir("atomic");
        for f in 0..50 {
            std::fs::write(dir.join(format!("src/f{f}.go")), "x").expect("write");
        }
        let mut poller = poller(&dir);
        let target = dir.join("src/f3.go");
        std::fs::write(dir.join("src/.f3.go.tmp"), "y").expect("write");
        std::fs::rename(dir.join("src/.f3.go.tmp"), &target).expect("rename");
        // The budget may not reach f3 in rotation, but the directory's stamp changed.
        poller.cursor = Some(Cursor {
            dir: dir.join("src"),
            file: 49,
        });
        let changed = poller.tick();
        assert!(changed.contains(&target), "{changed:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
