//! Content fingerprints, so a save that changes nothing (an editor's "save all", a formatter
//! that found nothing to do, `cp` of the same file) does not rebuild.
//!
//! Keys and values are 64-bit hashes (of the path, of the content): about 32 bytes per file, so
//! even 100k files cost a few MB. Files are fingerprinted at startup (up to a cap, in the watch
//! thread, after `watching` is announced) and whenever they change.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Files larger than this are always taken as changed: hashing them would cost more than a
/// build they might trigger needlessly.
const MAX_SIZE: u64 = 4 << 20;
/// How many files get a fingerprint at startup; the others get one on their first change.
const BASELINE_FILES: usize = 20_000;

#[derive(Debug, Default)]
pub struct Contents {
    known: HashMap<u64, u64>,
    buf: Vec<u8>,
}

impl Contents {
    /// Fingerprints `files`, skipping any modified since `since` (a change already on its way as
    /// an event must not become the baseline it is compared with).
    pub fn baseline(&mut self, files: &[PathBuf], since: SystemTime) {
        for path in files.iter().take(BASELINE_FILES) {
            let fresh = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < since);
            if fresh {
                if let Some(hash) = self.hash(path) {
                    self.known.insert(key(path), hash);
                }
            }
        }
    }

    /// Whether `path`'s content differs from the last time it was seen; records the new one.
    /// A removed, unreadable or large file counts as changed.
    pub fn changed(&mut self, path: &Path) -> bool {
        let key = key(path);
        match self.hash(path) {
            Some(hash) => self.known.insert(key, hash) != Some(hash),
            None => {
                self.known.remove(&key);
                true
            }
        }
    }

    fn hash(&mut self, path: &Path) -> Option<u64> {
        let file = std::fs::File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() > MAX_SIZE {
            return None;
        }
        self.buf.clear();
        file.take(MAX_SIZE + 1).read_to_end(&mut self.buf).ok()?;
        let mut h = DefaultHasher::new();
        self.buf.hash(&mut h);
        let hash = h.finish();
        // Do not keep a large buffer around between changes.
        if self.buf.capacity() > 256 << 10 {
            self.buf = Vec::new();
        }
        Some(hash)
    }
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
        let mut c = Contents::default();
        c.baseline(
            std::slice::from_ref(&file),
            SystemTime::now() + std::time::Duration::from_secs(1),
        );
        std::fs::write(&file, "one").expect("write");
        assert!(!c.changed(&file), "rewriting the same bytes is no change");
        std::fs::write(&file, "two").expect("write");
        assert!(c.changed(&file));
        assert!(!c.changed(&file));
        std::fs::remove_file(&file).expect("rm");
        assert!(c.changed(&file), "a removal is a change");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
