//! One app's life as the decision core sees it: which process serves, which one is on its way
//! in, which ones are on their way out. One `Life` per app; the edge holds processes, not state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::event::{AppId, ReadyVia};

/// First and longest wait before restarting an app that exited on its own.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// An app that ran this long before exiting is not crash-looping: start over from the first wait.
pub const HEALTHY_RUN: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Life {
    pub serving: Serving,
    /// `restart_mode = "overlap"`: the new app, started beside the serving one and not ready
    /// yet. It takes over when it is ready.
    pub successor: Option<AppId>,
    /// Apps being stopped because a successor took over, with when to SIGKILL them.
    pub retiring: Vec<(AppId, Option<Instant>)>,
    /// The next wait before starting an app that exited on its own.
    pub backoff: Duration,
    /// The last id handed out.
    last_id: AppId,
}

/// The serving slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// No app. `retry_at`: start one again then (it exited on its own and `restart` wants it).
    Down { retry_at: Option<Instant> },
    /// Running since `since`; `ready` says which ways of knowing it is ready have reported.
    Up {
        id: AppId,
        since: Instant,
        ready: ReadySet,
    },
    /// Signalled to stop; SIGKILL at `kill_at` unless it exits first; then `then`.
    Stopping {
        id: AppId,
        kill_at: Option<Instant>,
        then: AfterStop,
    },
}

/// What follows an app's stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStop {
    /// Nothing: hot is shutting down.
    Rest,
    /// Start the new build's app (a stop-then-start restart).
    Start,
    /// Build for these changes: the running binary blocked the last build ("text file busy").
    Build(Vec<PathBuf>),
}

/// The ways an app's readiness was reported so far, so that each is reported once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadySet(u8);

impl ReadySet {
    /// Adds `via`; whether it is new.
    pub fn insert(&mut self, via: ReadyVia) -> bool {
        let bit = 1 << via as u8;
        let new = self.0 & bit == 0;
        self.0 |= bit;
        new
    }
}

impl Life {
    /// The life of the app at `slot` of the session (its ids count from `AppId::base`).
    pub fn new(slot: usize) -> Life {
        Life {
            serving: Serving::Down { retry_at: None },
            successor: None,
            retiring: Vec::new(),
            backoff: BACKOFF_FIRST,
            last_id: AppId::base(slot),
        }
    }

    pub fn new_id(&mut self) -> AppId {
        self.last_id = AppId(self.last_id.0 + 1);
        self.last_id
    }

    /// The app in the serving slot, up or stopping.
    pub fn serving_id(&self) -> Option<AppId> {
        match self.serving {
            Serving::Up { id, .. } | Serving::Stopping { id, .. } => Some(id),
            Serving::Down { .. } => None,
        }
    }

    pub fn is_up(&self) -> bool {
        matches!(self.serving, Serving::Up { .. })
    }

    pub fn is_down(&self) -> bool {
        matches!(self.serving, Serving::Down { .. })
    }

    /// No process of this app is alive.
    pub fn is_over(&self) -> bool {
        self.is_down() && self.successor.is_none() && self.retiring.is_empty()
    }

    /// `id` serves from `now`, found ready in the ways of `ready` so far.
    pub fn up(&mut self, id: AppId, ready: ReadySet, now: Instant) {
        self.serving = Serving::Up {
            id,
            since: now,
            ready,
        };
    }

    /// The serving app exited on its own after running since `since`: the wait before the
    /// next start, growing while it keeps crashing.
    pub fn next_backoff(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY_RUN {
            self.backoff = BACKOFF_FIRST;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        wait
    }

    /// The earliest SIGKILL due, of the serving app and the retiring ones.
    pub fn next_kill(&self) -> Option<Instant> {
        let serving = match self.serving {
            Serving::Stopping { kill_at, .. } => kill_at,
            _ => None,
        };
        let retiring = self.retiring.iter().filter_map(|(_, at)| *at).min();
        serving.into_iter().chain(retiring).min()
    }

    pub fn retry_at(&self) -> Option<Instant> {
        match self.serving {
            Serving::Down { retry_at } => retry_at,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_of_being_ready_counts_once() {
        let mut set = ReadySet::default();
        assert!(set.insert(ReadyVia::Http));
        assert!(!set.insert(ReadyVia::Http));
        assert!(set.insert(ReadyVia::Notify));
    }

    #[test]
    fn a_crash_loop_backs_off_and_a_healthy_run_starts_over() {
        let mut life = Life::new(0);
        let waits: Vec<u128> = (0..11)
            .map(|_| life.next_backoff(Duration::ZERO).as_millis())
            .collect();
        assert_eq!(waits[..4], [100, 200, 400, 800]);
        assert_eq!(waits[10], 30_000);
        assert_eq!(life.next_backoff(HEALTHY_RUN), BACKOFF_FIRST);
    }
}
