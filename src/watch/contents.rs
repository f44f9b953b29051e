//! Content fingerprints, so a save that changes nothing (an editor's "save all", a formatter
//! that found nothing to do, `cp` of the same file) does not rebuild.
//!
//! Keys and values are 64-bit hashes (of the path, of the content): 16 bytes per file in the
//! map, so even 100k files cost about 2 MB. Every watched file gets a fingerprint: at startup
//! for as long as a short budget allows (so a small project is covered before `watching`), the
//! rest by a background pass right after. The app loop checks once a burst of changes is quiet,
//! so a file half-way through being written is never judged.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Files larger than this are always taken as changed: hashing them would cost more than a
/// build they might trigger needlessly.
const MAX_SIZE: u64 = 4 << 20;
/// A file modified this close to the start of watching may have been written after it: file
/// times come from the kernel's coarse clock, up to a tick (10 ms at HZ=100) behind. Such a
/// file does not become a baseline. (A file server whose clock is behind by more can still
/// make a save after startup look older; hot cannot tell.)
const CLOCK_SLACK: Duration = Duration::from_millis(10);
/// Marks of paths that appeared and no build took yet, kept at most (16 bytes each).
const MAX_FRESH: usize = 4096;

/// Shared by the watcher (which fills in the baseline) and the app loop (which checks).
pub type SharedContents = Arc<Mutex<Contents>>;

#[derive(Debug, Default)]
pub struct Contents {
    known: HashMap<u64, u64>,
    /// Paths the watcher saw appear since a build last took them, and whether each was there
    /// before (had a baseline). One that was not, and is gone again, came and went between two
    /// builds (`sed -i`'s or an editor's temp file, even if a check saw it in between): no
    /// change at all.
    fresh: HashMap<u64, bool>,
}

/// How a path compares with the last time it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Same,
    /// Different, unreadable, too large to compare, or never seen.
    Changed,
    /// Not there (any more).
    Gone,
    /// Appeared and vanished again since the last build.
    Fleeting,
}

impl Contents {
    /// Compares `path` with the last time it was seen, and records what it is now.
    pub fn check(&mut self, path: &Path) -> Check {
        let key = key(path);
        let file = match std::fs::File::open(path) {
            Ok(file) => Ok(file),
            // A dangling symlink is there: a new entry, not a vanished one.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(path).is_err() =>
            {
                // The mark stays: every app whose files these are checks the path, and each
                // must find it fleeting. A file that was there before it appeared is gone.
                self.known.remove(&key);
                return match self.fresh.get(&key) {
                    Some(false) => Check::Fleeting,
                    Some(true) | None => Check::Gone,
                };
            }
            Err(e) => Err(e),
        };
        match file.ok().and_then(|f| fingerprint_file(f, &mut Vec::new())) {
            Some(hash) if self.known.insert(key, hash) == Some(hash) => Check::Same,
            Some(_) => Check::Changed,
            None => {
                self.known.remove(&key);
                Check::Changed
            }
        }
    }
}

impl Contents {
    /// Notes that `path` appeared (was created or moved in).
    pub fn appeared(&mut self, path: &Path) {
        // Marks of temp files that vanished stay until here: a long session of `sed -i` saves
        // leaves one per save, so past a bound they are forgotten (at worst, one needless
        // build for a temp file whose two halves straddle the moment).
        if self.fresh.len() >= MAX_FRESH {
            self.fresh.clear();
        }
        let key = key(path);
        let existed = self.known.contains_key(&key);
        self.fresh.entry(key).or_insert(existed);
    }

    /// A build took these paths (relative to `root`): from now on their removal is a change.
    pub fn reported(&mut self, root: &Path, paths: &[PathBuf]) {
        for path in paths {
            self.fresh.remove(&key(&root.join(path)));
        }
    }
}

/// Records what `path` holds as its baseline, unless it already has one or may have changed
/// since `since` (a change already on its way as an event must not become the baseline it is
/// compared with). The file is read without holding the lock, and only counts if its stamp is
/// the same before and after the read.
pub fn baseline(shared: &SharedContents, path: &Path, since: SystemTime, buf: &mut Vec<u8>) {
    let key = key(path);
    if shared.lock().is_ok_and(|c| c.known.contains_key(&key)) {
        return;
    }
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    let Some(before) = stamp(path) else { return };
    if before.0 + CLOCK_SLACK >= since {
        return;
    }
    let Some(hash) = fingerprint(path, buf) else {
        return;
    };
    if stamp(path) != Some(before) {
        return;
    }
    if let Ok(mut contents) = shared.lock() {
        contents.known.entry(key).or_insert(hash);
    }
}

/// Fingerprints every file `files` yields that has none yet, on a thread of its own.
pub fn baseline_in_background(
    shared: SharedContents,
    since: SystemTime,
    files: impl Iterator<Item = PathBuf> + Send + 'static,
) {
    let _ = std::thread::Builder::new()
        .name("fingerprints".into())
        .spawn(move || {
            lower_this_threads_priority();
            let mut buf = Vec::new();
            for path in files {
                baseline(&shared, &path, since, &mut buf);
            }
        });
}

/// A one-off background job must not compete with the first build on a small machine: on Linux,
/// where priority is per thread, this thread yields to everything else (nice 10).
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = nix::unistd::gettid().as_raw();
        // SAFETY: setpriority takes plain integers; a failure leaves the priority as it was.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, tid.unsigned_abs(), 10);
        }
    }
}

fn fingerprint(path: &Path, buf: &mut Vec<u8>) -> Option<u64> {
    fingerprint_file(std::fs::File::open(path).ok()?, buf)
}

fn fingerprint_file(file: std::fs::File, buf: &mut Vec<u8>) -> Option<u64> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_SIZE {
        return None;
    }
    buf.clear();
    file.take(MAX_SIZE + 1).read_to_end(buf).ok()?;
    let mut h = DefaultHasher::new();
    buf.hash(&mut h);
    Some(h.finish())
}

fn key(path: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_not_a_change() {
        let dir = std::env::temp_dir().join(format!("hot-contents-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("a.go");
        std::fs::write(&file, "one").expect("write");
        let shared = SharedContents::default();
        baseline(
            &shared,
            &file,
            SystemTime::now() + Duration::from_secs(10),
            &mut Vec::new(),
        );
        let mut c = shared.lock().expect("lock");
        std::fs::write(&file, "one").expect("write");
        assert_eq!(
            c.check(&file),
            Check::Same,
            "rewriting the same bytes is no change"
        );
        std::fs::write(&file, "two").expect("write");
        assert_eq!(c.check(&file), Check::Changed);
        assert_eq!(c.check(&file), Check::Same);
        std::fs::remove_file(&file).expect("rm");
        assert_eq!(c.check(&file), Check::Gone, "a removal is a change");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_came_and_went_unchecked_is_no_change() {
        let dir = std::env::temp_dir().join(format!("hot-fleeting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (temp, kept, old) = (dir.join("sedAb12"), dir.join("new.go"), dir.join("old.go"));
        std::fs::write(&old, "old").expect("write");
        let shared = SharedContents::default();
        let far = SystemTime::now() + Duration::from_secs(10);
        baseline(&shared, &old, far, &mut Vec::new());
        let mut c = shared.lock().expect("lock");
        // sed -i: the temp file appears and is renamed away before anything is checked.
        c.appeared(&temp);
        assert_eq!(c.check(&temp), Check::Fleeting);
        assert_eq!(
            c.check(&temp),
            Check::Fleeting,
            "for every app that checks it"
        );
        // Seen by a check but gone before a build took it: still no change.
        std::fs::write(&kept, "new").expect("write");
        c.appeared(&kept);
        assert_eq!(c.check(&kept), Check::Changed);
        std::fs::remove_file(&kept).expect("rm");
        assert_eq!(c.check(&kept), Check::Fleeting);
        // A new file a build took, removed later, is a removal.
        std::fs::write(&kept, "new").expect("write");
        c.appeared(&kept);
        assert_eq!(c.check(&kept), Check::Changed);
        c.reported(Path::new("/"), std::slice::from_ref(&kept));
        std::fs::remove_file(&kept).expect("rm");
        assert_eq!(c.check(&kept), Check::Gone);
        // A file that was there before, replaced and removed unchecked, is gone.
        c.appeared(&old);
        std::fs::remove_file(&old).expect("rm");
        assert_eq!(c.check(&old), Check::Gone);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
