//! Bursts of changes: when one is over, and what it still owes.
//!
//! A burst is over when it has been quiet for the debounce window (longer for a storm, or when
//! its files vanished and may be coming back) and every file it wrote has been closed by its
//! writer. Its paths are then compared with what they held before (the content check); the
//! ones that really changed are "confirmed". A confirmed change stays owed until a build that
//! includes it has *completed*: cancelling that build hands its changes back to the next burst,
//! so no save is ever lost, whatever the debounce.
//!
//! Pure: the Supervisor clocks it and carries out what it asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A burst touching more paths than an editor's save does (the file, a backup, a swap file) is
/// a tool at work: `git checkout`, a formatter, a code generator. It can pause between files for
/// longer than an editor ever does, so it must stay quiet for `STORM_QUIET` before it counts as
/// done. A single save keeps the short window.
pub const EDITOR_SAVE_PATHS: usize = 8;
pub const STORM_QUIET: Duration = Duration::from_millis(100);
/// A save that renames the old file away before writing the new one leaves a moment with no file
/// at all; a change that is only missing files waits this long for them to come back.
pub const REAPPEAR_QUIET: Duration = Duration::from_millis(50);
/// The longest a burst waits for a writer to close a file it wrote. A log or a database held
/// open must not hold builds back for ever.
pub const WRITER_CAP: Duration = Duration::from_secs(3);

/// What a burst asks for once it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Build if the content check finds a change.
    Check,
    /// Build whatever the check finds: the burst carries changes of a build that was cancelled.
    Build,
    /// Build now, without waiting for quiet or checking (a key, a reloaded config).
    Now,
}

/// Whether the burst waited for its vanished files to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Not (yet) seen with every file missing.
    No,
    /// Every file was missing at the last check: waiting for them to come back.
    Waiting,
    /// Waited once; the next check is final.
    Waited,
}

/// Changes waiting for the burst to be over.
#[derive(Debug)]
pub struct Burst {
    /// Paths whose contents are still to be compared with what they were.
    unchecked: BTreeSet<PathBuf>,
    /// Paths known to have changed since the last completed build.
    confirmed: BTreeSet<PathBuf>,
    /// Files a writer still holds open, with when hot first saw them being written.
    writing: BTreeMap<PathBuf, Instant>,
    /// When the burst began, and when its latest change came.
    first: Instant,
    last: Instant,
    need: Need,
    missing: Missing,
}

impl Burst {
    pub fn new(now: Instant) -> Burst {
        Burst {
            unchecked: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            writing: BTreeMap::new(),
            first: now,
            last: now,
            need: Need::Check,
            missing: Missing::No,
        }
    }

    /// Files changed; `open` are those of them a writer has not closed yet. A path reported
    /// again without being open was closed (or renamed into place).
    pub fn changed(&mut self, paths: Vec<PathBuf>, open: &[PathBuf], now: Instant) {
        // A checkout can report 20k paths at once: look `open` up, do not scan it per path.
        let open: BTreeSet<&PathBuf> = open.iter().collect();
        for path in &paths {
            if open.contains(path) {
                self.writing.entry(path.clone()).or_insert(now);
            } else {
                self.writing.remove(path);
            }
        }
        self.unchecked.extend(paths);
        self.last = now;
    }

    /// A build was asked for: act at once, on these paths, whatever their contents.
    pub fn asked(&mut self, paths: Vec<PathBuf>, now: Instant) {
        self.confirmed.extend(paths);
        self.need = Need::Now;
        self.last = now;
    }

    /// A build for `changes` was cancelled before it completed: they are owed a build.
    pub fn owe(&mut self, changes: Vec<PathBuf>) {
        self.confirmed.extend(changes);
        self.need = self.need.max(Need::Build);
    }

    pub fn need(&self) -> Need {
        self.need
    }

    /// When the burst is over, if nothing else arrives.
    pub fn due(&self, debounce: Duration) -> Instant {
        if self.need == Need::Now {
            return self.last;
        }
        let paths = self.unchecked.len() + self.confirmed.len();
        // "." stands for "everything" (the kernel's event queue overflowed): a storm.
        let storm = paths > EDITOR_SAVE_PATHS
            || self.unchecked.contains(Path::new("."))
            || self.confirmed.contains(Path::new("."));
        // The longer a burst has lasted, the longer a pause in it may be: wait at least as long
        // as it has been going on (up to the storm window), so a writer that stalls briefly in
        // the middle of a burst does not split it. An editor's save lasts well under 1 ms.
        let lasted = (self.last - self.first).min(STORM_QUIET);
        let quiet = self.last
            + if storm {
                debounce.max(STORM_QUIET)
            } else if self.missing == Missing::Waiting {
                debounce.max(REAPPEAR_QUIET)
            } else {
                debounce.max(lasted)
            };
        // A file still open for writing holds the burst back until its writer closes it (that
        // close is a change of its own, which removes it here), or until the cap.
        match self.writing.values().min() {
            Some(since) => quiet.max(*since + WRITER_CAP),
            None => quiet,
        }
    }

    /// Stops waiting for writers (the burst is due): the files still open, if any.
    pub fn give_up_on_writers(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.writing).into_keys().collect()
    }

    /// The paths to compare now. A burst that waited for its missing files makes this check
    /// its final one.
    pub fn take_unchecked(&mut self) -> Vec<PathBuf> {
        if self.missing == Missing::Waiting {
            self.missing = Missing::Waited;
        }
        std::mem::take(&mut self.unchecked).into_iter().collect()
    }

    /// Whether new changes arrived that are not checked yet.
    pub fn has_unchecked(&self) -> bool {
        !self.unchecked.is_empty()
    }

    /// Paths that came and went since the last build (a temp file renamed away): an earlier
    /// check of this burst may have confirmed them, but they are no change.
    pub fn retract(&mut self, fleeting: &[PathBuf]) {
        for path in fleeting {
            self.confirmed.remove(path);
        }
    }

    /// The content check's answer: `changed` really changed. If every one of them is missing
    /// and nothing else is owed, this may be an atomic save half-way: returns false and waits
    /// (once) for them to come back.
    pub fn checked(&mut self, changed: Vec<PathBuf>, all_missing: bool, now: Instant) -> bool {
        if all_missing
            && !changed.is_empty()
            && self.missing == Missing::No
            && self.confirmed.is_empty()
            && self.need == Need::Check
        {
            self.missing = Missing::Waiting;
            self.unchecked.extend(changed);
            self.last = now;
            return false;
        }
        self.confirmed.extend(changed);
        true
    }

    /// Whether a build is due, once everything is checked.
    pub fn wants_build(&self) -> bool {
        self.need >= Need::Build || !self.confirmed.is_empty()
    }

    /// The changes to build for; everything still unchecked is included unjudged.
    pub fn into_changes(self) -> Vec<PathBuf> {
        let mut all = self.confirmed;
        all.extend(self.unchecked);
        all.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(2);

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn an_open_file_holds_the_burst_until_it_is_closed() {
        let t0 = Instant::now();
        let mut b = Burst::new(t0);
        b.changed(vec![p("a.go")], &[p("a.go")], t0);
        assert_eq!(b.due(DEBOUNCE), t0 + WRITER_CAP, "waits for the close");
        let t1 = t0 + Duration::from_millis(300);
        b.changed(vec![p("a.go")], &[], t1);
        assert_eq!(
            b.due(DEBOUNCE),
            t1 + DEBOUNCE.max(Duration::from_millis(100)),
            "closed: quiet as long as the burst lasted (capped at the storm window)"
        );
    }

    #[test]
    fn a_write_and_close_in_one_batch_keeps_the_short_window() {
        let t0 = Instant::now();
        let mut b = Burst::new(t0);
        b.changed(vec![p("a.go")], &[], t0);
        assert_eq!(b.due(DEBOUNCE), t0 + DEBOUNCE);
    }

    #[test]
    fn a_file_held_open_for_ever_is_given_up_on_at_the_cap() {
        let t0 = Instant::now();
        let mut b = Burst::new(t0);
        b.changed(vec![p("db.log")], &[p("db.log")], t0);
        // More writes to it do not push the cap out.
        b.changed(
            vec![p("db.log")],
            &[p("db.log")],
            t0 + Duration::from_secs(2),
        );
        assert_eq!(b.due(DEBOUNCE), t0 + WRITER_CAP);
        assert_eq!(b.give_up_on_writers(), [p("db.log")]);
        assert_eq!(
            b.due(DEBOUNCE),
            t0 + Duration::from_secs(2) + Duration::from_millis(100)
        );
    }

    #[test]
    fn owed_changes_build_even_if_the_check_finds_nothing() {
        let t0 = Instant::now();
        let mut b = Burst::new(t0);
        b.owe(vec![p("a.go")]);
        b.changed(vec![p("a.go")], &[], t0);
        assert_eq!(b.take_unchecked(), [p("a.go")]);
        // The late duplicate event: the content is what the cancelled build saw.
        assert!(b.checked(vec![], false, t0));
        assert!(b.wants_build());
        assert_eq!(b.into_changes(), [p("a.go")]);
    }

    #[test]
    fn missing_files_get_one_wait() {
        let t0 = Instant::now();
        let mut b = Burst::new(t0);
        b.changed(vec![p("a.go")], &[], t0);
        let paths = b.take_unchecked();
        assert!(!b.checked(paths, true, t0), "first time: wait");
        assert_eq!(b.due(DEBOUNCE), t0 + REAPPEAR_QUIET);
        let paths = b.take_unchecked();
        assert!(b.checked(paths, true, t0), "second time: final");
        assert!(b.wants_build());
    }
}
