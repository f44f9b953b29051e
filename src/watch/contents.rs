//! Content fingerprints, so a save that changes nothing (an editor's "save all", a formatter
//! that found nothing to do, `cp` of the same file) does not rebuild.
//!
//! Keys and values are 64-bit hashes (of the path, of the content): about 32 bytes per file, so
//! even 100k files cost a few MB. Files are fingerprinted at startup (up to a cap, partly
//! before `watching` is announced, the rest in the watch thread) and whenever they are checked.
//! The app loop checks once a burst of changes is quiet, so a file half-way through being
//! written is never judged.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Files larger than this are always taken as changed: hashing them would cost more than a
/// build they might trigger needlessly.
const MAX_SIZE: u64 = 4 << 20;
/// How many files get a fingerprint at startup; the others get one when first checked.
const BASELINE_FILES: usize = 20_000;

/// Shared by the watcher (which fills in the baseline) and the app loop (which checks).
pub type SharedContents = Arc<Mutex<Contents>>;

#[derive(Debug, Default)]
pub struct Contents {
    known: HashMap<u64, u64>,
}

/// How a path compares with the last time it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Same,
    /// Different, unreadable, too large to compare, or never seen.
    Changed,
    /// Not there (any more).
    Gone,
}

impl Contents {
    /// Compares `path` with the last time it was seen, and records what it is now.
    pub fn check(&mut self, path: &Path) -> Check {
        let key = key(path);
        let file = match std::fs::File::open(path) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.known.remove(&key);
                return Check::Gone;
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

/// Fingerprints `files`, skipping any modified since `since` (a change already on its way as
/// an event must not become the baseline it is compared with). Stops after `budget`; returns
/// how many files it went through. Files are read without holding the lock.
pub fn baseline(
    shared: &SharedContents,
    files: &[PathBuf],
    since: SystemTime,
    budget: Duration,
) -> usize {
    let started = Instant::now();
    let mut buf = Vec::new();
    for (done, path) in files.iter().enumerate().take(BASELINE_FILES) {
        if started.elapsed() >= budget {
            return done;
        }
        let old_enough = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < since);
        if !old_enough {
            continue;
        }
        if let Some(hash) = fingerprint(path, &mut buf) {
            if let Ok(mut contents) = shared.lock() {
                contents.known.entry(key(path)).or_insert(hash);
            }
        }
    }
    files.len()
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
            std::slice::from_ref(&file),
            SystemTime::now() + Duration::from_secs(1),
            Duration::MAX,
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
}
