//! Polling, for filesystems that deliver no inotify events (network mounts, WSL's /mnt, some
//! Docker volumes).
//!
//! Each scan lists every watched directory and stats the files the filter wants, and compares
//! with the previous scan. The pause between scans adapts to the tree: at least the configured
//! interval, and at least 49 times the last scan's duration, so polling never takes more than
//! 2 % of a core however large the tree is.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use super::contents::{self, SharedContents};
use super::filter::Filter;
use crate::event::Event;

/// Pause between scans, as a multiple of how long a scan took: 49 → at most 2 % busy.
const IDLE_PER_BUSY: u32 = 49;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime_ns: i64,
    size: u64,
    ino: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            size: meta.size(),
            ino: meta.ino(),
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp::of(&m))
}

/// One scan's view: the files of each directory.
type Snapshot = HashMap<PathBuf, HashMap<OsString, Stamp>>;

pub struct Poller {
    roots: Vec<PathBuf>,
    filter: Filter,
    snapshot: Snapshot,
    interval: Duration,
    last_scan: Duration,
    contents: SharedContents,
    config_file: PathBuf,
    config_stamp: Option<Stamp>,
}

impl Poller {
    /// Takes the first snapshot (so a change right after this returns is seen).
    pub fn new(
        roots: Vec<PathBuf>,
        filter: Filter,
        interval: Duration,
        config_file: PathBuf,
        contents: SharedContents,
    ) -> Poller {
        let mut poller = Poller {
            roots,
            filter,
            snapshot: Snapshot::new(),
            interval,
            last_scan: Duration::ZERO,
            contents,
            config_stamp: stamp(&config_file),
            config_file,
        };
        let started = std::time::SystemTime::now();
        poller.scan();
        let files: Vec<PathBuf> = poller
            .snapshot
            .iter()
            .flat_map(|(dir, files)| files.keys().map(move |name| dir.join(name)))
            .collect();
        contents::baseline(&poller.contents, &files, started, Duration::MAX);
        poller
    }

    pub fn dirs(&self) -> usize {
        self.snapshot.len()
    }

    pub fn files(&self) -> usize {
        self.snapshot.values().map(HashMap::len).sum()
    }

    pub fn last_scan(&self) -> Duration {
        self.last_scan
    }

    /// The pause after the last scan.
    pub fn pause(&self) -> Duration {
        self.interval.max(self.last_scan * IDLE_PER_BUSY)
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
                let mut changed = self.scan();
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

    /// Rescans everything; returns the files that appeared, changed or disappeared.
    fn scan(&mut self) -> Vec<PathBuf> {
        let started = Instant::now();
        let mut next = Snapshot::with_capacity(self.snapshot.len());
        let mut stack: Vec<PathBuf> = self.roots.clone();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let entries: Vec<_> = entries.flatten().collect();
            if entries.iter().any(|e| Filter::is_ignore_file(&e.path())) {
                self.filter.learn_dir(&dir);
            }
            let mut files = HashMap::new();
            for entry in entries {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    if !self.filter.prunes_dir(&path) {
                        stack.push(path);
                    }
                } else if self.filter.wants_file(&path) {
                    if let Ok(meta) = entry.metadata() {
                        files.insert(entry.file_name(), Stamp::of(&meta));
                    }
                }
            }
            next.insert(dir, files);
        }
        let mut changed = Vec::new();
        if !self.snapshot.is_empty() {
            for (dir, files) in &next {
                let before = self.snapshot.get(dir);
                for (name, stamp) in files {
                    if before.and_then(|b| b.get(name)) != Some(stamp) {
                        changed.push(dir.join(name));
                    }
                }
            }
            for (dir, files) in &self.snapshot {
                let after = next.get(dir);
                for name in files.keys() {
                    if after.is_none_or(|a| !a.contains_key(name)) {
                        changed.push(dir.join(name));
                    }
                }
            }
        }
        self.snapshot = next;
        self.last_scan = started.elapsed();
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{WatchBackend, WatchConfig};

    #[test]
    fn scans_find_new_changed_and_removed_files_but_not_pruned_ones() {
        let dir = std::env::temp_dir().join(format!("hot-poll-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(dir.join("src/a.go"), "a").expect("write");
        std::fs::write(dir.join("src/b.go"), "b").expect("write");
        let config = WatchConfig {
            paths: vec![dir.clone()],
            include_ext: vec![],
            include: None,
            exclude: globset::GlobSet::empty(),
            gitignore: false,
            debounce: Duration::ZERO,
            backend: WatchBackend::Poll(Duration::from_secs(1)),
        };
        let filter = Filter::new(&config, &dir, &dir.join("tmp"));
        let mut poller = Poller::new(
            vec![dir.clone()],
            filter,
            Duration::from_secs(1),
            dir.join(".hot.toml"),
            SharedContents::default(),
        );
        assert_eq!(poller.files(), 2);
        std::fs::write(dir.join("src/a.go"), "changed, longer").expect("write");
        std::fs::remove_file(dir.join("src/b.go")).expect("rm");
        std::fs::create_dir_all(dir.join("src/new")).expect("mkdir");
        std::fs::write(dir.join("src/new/c.go"), "c").expect("write");
        std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
        std::fs::write(dir.join("tmp/out"), "x").expect("write");
        let mut changed = poller.scan();
        changed.sort();
        assert_eq!(
            changed,
            [
                dir.join("src/a.go"),
                dir.join("src/b.go"),
                dir.join("src/new/c.go")
            ]
        );
        assert!(poller.scan().is_empty());
        assert!(poller.pause() >= Duration::from_secs(1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
