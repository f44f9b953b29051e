//! The decisions: what to do next, as a pure function of `(state, event, now)`.
//!
//! The `Supervisor` never touches a process, a file or a clock. The app loop feeds it events and
//! the current time, carries out the `Effect`s it returns, and sleeps until `next_deadline`.
//! That keeps debounce, restart ordering and grace periods testable without processes or time.

pub mod app;
pub mod debounce;
pub mod guard;
pub mod process;
pub mod trampoline;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use crate::config::Restart;
use crate::config::RestartMode;
use crate::error::exit;
use crate::event::{AppId, Event, Key, Outcome};
use debounce::{Burst, Need};

/// Timing and shape of the session: what the Supervisor needs from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub debounce: Duration,
    pub has_build: bool,
    pub has_app: bool,
    /// Grace between the stop signal and SIGKILL for the app.
    pub stop_timeout: Duration,
    /// Grace for a cancelled build: short, but enough for a toolchain to remove its temp files.
    pub build_grace: Duration,
    /// What to do when the app exits on its own.
    pub restart: Restart,
    /// How a new app replaces the running one.
    pub restart_mode: RestartMode,
}

/// Whether `[run] restart` wants an app that ended with `outcome` started again.
fn restart_wanted(restart: Restart, outcome: &Outcome) -> bool {
    match restart {
        Restart::Never => false,
        Restart::OnFailure => !outcome.success(),
        Restart::Always => true,
    }
}

/// How long the config file must stay unchanged before it is reloaded: an editor may write it
/// in several steps, and half a file is not a config.
const CONFIG_QUIET: Duration = Duration::from_millis(50);

/// First and longest wait before restarting an app that exited on its own.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// An app that ran this long before exiting is not crash-looping: start over from the first wait.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell the user something the Supervisor decided.
    Note(String),
    /// Load the config file again; a valid one comes back through `Supervisor::reconfigure`.
    ReloadConfig,
    /// Compare these paths' contents with what they were; answered by `ContentsChecked`.
    /// Done once the burst is quiet, so a file half-way through being written is never judged.
    CheckContents {
        paths: Vec<PathBuf>,
    },
    /// Tell the user which changes the next build or restart is for.
    ReportChange {
        paths: Vec<PathBuf>,
    },
    StartBuild {
        changes: Vec<PathBuf>,
    },
    /// Send the stop signal to the build's process group.
    CancelBuild,
    KillBuild,
    StartApp {
        app: AppId,
    },
    /// Send the stop signal to the app's process group.
    StopApp {
        app: AppId,
        reason: StopReason,
    },
    KillApp {
        app: AppId,
    },
    Exit(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Restart,
    Shutdown,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Restart => "restart",
            StopReason::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BuildState {
    Idle,
    /// Building for these changes (none: the first build, or one asked for).
    Running {
        changes: Vec<PathBuf>,
    },
    /// Signalled; SIGKILL at `kill_at` unless it exits first.
    Cancelling {
        kill_at: Option<Instant>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppState {
    Down,
    Up,
    Stopping { kill_at: Option<Instant> },
}

#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    /// Changes waiting for their burst to be over, and what they are owed.
    pending: Option<Burst>,
    build: BuildState,
    /// The app that serves (or, `Down`, none).
    app: AppState,
    /// Which app that is.
    app_id: AppId,
    /// The last id handed out.
    last_id: AppId,
    /// `restart_mode = "overlap"`: the new app, started beside the serving one and not ready
    /// yet. It takes over when it is ready.
    successor: Option<AppId>,
    /// Apps being stopped because a successor took over, with when to SIGKILL them.
    retiring: Vec<(AppId, Option<Instant>)>,
    /// Start the app as soon as the current one is down (a restart in progress).
    start_when_down: bool,
    /// Build for these changes as soon as the app is down (its binary blocked the build).
    build_when_down: Option<Vec<PathBuf>>,
    /// A content check is out: act on its answer, not on the clock.
    checking: bool,
    /// The config file changed at this time; reload once it has been quiet a while.
    config_changed: Option<Instant>,
    /// Set once shutdown began: the exit status to end with.
    shutdown: Option<u8>,
    /// When the current app was started.
    up_since: Option<Instant>,
    /// Start the app again at this time (after it exited on its own).
    retry_at: Option<Instant>,
    /// The next wait before such a restart.
    backoff: Duration,
}

impl Supervisor {
    pub fn new(policy: Policy) -> Supervisor {
        Supervisor {
            policy,
            pending: None,
            build: BuildState::Idle,
            app: AppState::Down,
            app_id: AppId::default(),
            last_id: AppId::default(),
            successor: None,
            retiring: Vec::new(),
            start_when_down: false,
            build_when_down: None,
            checking: false,
            config_changed: None,
            shutdown: None,
            up_since: None,
            retry_at: None,
            backoff: BACKOFF_FIRST,
        }
    }

    /// The first effects of a session: build, or start the app straight away.
    pub fn start(&mut self, now: Instant) -> Vec<Effect> {
        if self.policy.has_build {
            self.build = BuildState::Running {
                changes: Vec::new(),
            };
            vec![Effect::StartBuild {
                changes: Vec::new(),
            }]
        } else {
            self.start_app(now)
        }
    }

    /// The config was reloaded (`file`, relative to the project): rebuild and restart under
    /// `policy`.
    pub fn reconfigure(&mut self, policy: Policy, file: PathBuf, now: Instant) -> Vec<Effect> {
        if self.shutdown.is_some() {
            return Vec::new();
        }
        self.policy = policy;
        self.burst(now).asked(vec![file], now);
        self.step(None, now)
    }

    /// When `step` must be called again even if no event arrives.
    pub fn next_deadline(&self) -> Option<Instant> {
        let quiet = self
            .pending
            .as_ref()
            .filter(|_| self.may_settle())
            .map(|p| p.due(self.policy.debounce));
        let build_kill = match self.build {
            BuildState::Cancelling { kill_at } => kill_at,
            _ => None,
        };
        let app_kill = match self.app {
            AppState::Stopping { kill_at } => kill_at,
            _ => None,
        };
        let reload = self.config_changed.map(|t| t + CONFIG_QUIET);
        let retiring_kill = self.retiring.iter().filter_map(|(_, at)| *at).min();
        [
            quiet,
            build_kill,
            app_kill,
            self.retry_at,
            reload,
            retiring_kill,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles one event (or none, when a deadline passed) and returns what to do.
    pub fn step(&mut self, event: Option<Event>, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(event) = event {
            self.on_event(event, now, &mut effects);
        }
        self.on_time(now, &mut effects);
        if let Some(code) = self.shutdown {
            if self.build == BuildState::Idle
                && self.app == AppState::Down
                && self.successor.is_none()
                && self.retiring.is_empty()
                && !effects.contains(&Effect::Exit(code))
            {
                effects.push(Effect::Exit(code));
            }
        }
        effects
    }

    fn on_event(&mut self, event: Event, now: Instant, effects: &mut Vec<Effect>) {
        match event {
            Event::FilesChanged { paths, open } => {
                if self.shutdown.is_some() || paths.is_empty() {
                    return;
                }
                self.burst(now).changed(paths, &open, now);
            }
            Event::Key(Key::Rebuild) => {
                if self.shutdown.is_none() {
                    self.burst(now).asked(Vec::new(), now);
                }
            }
            Event::Key(Key::Quit) => self.on_stop_request(exit::OK, now, effects),
            Event::ContentsChecked {
                changed,
                all_missing,
            } => {
                self.checking = false;
                if self.shutdown.is_some() {
                    return;
                }
                let Some(burst) = &mut self.pending else {
                    return;
                };
                // Changes that arrived while the check was out wait for their own quiet.
                if burst.checked(changed, all_missing, now) && !burst.has_unchecked() {
                    self.decide(now, effects);
                }
            }
            Event::ConfigChanged => {
                if self.shutdown.is_none() {
                    self.config_changed = Some(now);
                }
            }
            Event::Key(Key::Clear) => {}
            Event::BuildFinished(outcome) => {
                // A build that completed serves its changes even if newer ones wait to be
                // checked: the app it starts is newer than the one running.
                let was = std::mem::replace(&mut self.build, BuildState::Idle);
                if matches!(was, BuildState::Running { .. })
                    && outcome.success()
                    && self.shutdown.is_none()
                {
                    effects.extend(self.restart_app(now));
                }
            }
            Event::BuildBlocked => {
                let was = std::mem::replace(&mut self.build, BuildState::Idle);
                if self.shutdown.is_none() && self.app == AppState::Up {
                    self.app = AppState::Stopping {
                        kill_at: Some(now + self.policy.stop_timeout),
                    };
                    self.build_when_down = Some(match was {
                        BuildState::Running { changes } => changes,
                        _ => Vec::new(),
                    });
                    effects.push(Effect::StopApp {
                        app: self.app_id,
                        reason: StopReason::Restart,
                    });
                }
            }
            Event::AppReady { app, .. } => {
                if self.successor == Some(app) {
                    self.promote(app, now, effects);
                }
            }
            Event::AppExited { app, outcome } => {
                if self.successor == Some(app) {
                    self.successor = None;
                    if self.shutdown.is_none() {
                        effects.push(Effect::Note(format!(
                            "the new app {outcome} before it was ready; {}",
                            if self.app == AppState::Up {
                                "the old one keeps serving"
                            } else {
                                "waiting for a change"
                            }
                        )));
                    }
                    return;
                }
                if let Some(at) = self.retiring.iter().position(|(id, _)| *id == app) {
                    self.retiring.remove(at);
                    return;
                }
                if app != self.app_id || self.app == AppState::Down {
                    return;
                }
                let was = std::mem::replace(&mut self.app, AppState::Down);
                if self.shutdown.is_some() || self.successor.is_some() {
                    // Shutting down, or a successor is about to take over anyway.
                    return;
                }
                if let Some(changes) = self.build_when_down.take() {
                    // The build needs the binary the app was running: build now, then start.
                    self.build = BuildState::Running {
                        changes: changes.clone(),
                    };
                    effects.push(Effect::StartBuild { changes });
                } else if std::mem::take(&mut self.start_when_down) {
                    effects.extend(self.start_app(now));
                } else if was == AppState::Up && restart_wanted(self.policy.restart, &outcome) {
                    let ran = self
                        .up_since
                        .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                    if ran >= HEALTHY_RUN {
                        self.backoff = BACKOFF_FIRST;
                    }
                    self.retry_at = Some(now + self.backoff);
                    effects.push(Effect::Note(format!(
                        "starting the app again in {} ms",
                        self.backoff.as_millis()
                    )));
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                } else if was == AppState::Up {
                    effects.push(Effect::Note(
                        "the app exited; waiting for a change (r restarts it now)".into(),
                    ));
                }
            }
            Event::Signalled(signal) => self.on_signal(signal, now, effects),
            Event::WatchFailed(_) | Event::Notified { .. } => {}
        }
    }

    /// The burst that changes join: the one under way, or a new one.
    fn burst(&mut self, now: Instant) -> &mut Burst {
        self.pending.get_or_insert_with(|| Burst::new(now))
    }

    /// Whether a due burst may be acted on now: not while a content check is out (its answer
    /// decides), nor while a cancelled build is still exiting.
    fn may_settle(&self) -> bool {
        !self.checking && !matches!(self.build, BuildState::Cancelling { .. })
    }

    /// The burst is over: check what it changed, or (everything checked) decide.
    fn settle(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        let Some(burst) = &mut self.pending else {
            return;
        };
        let open = burst.give_up_on_writers();
        if !open.is_empty() {
            let names: Vec<String> = open.iter().map(|p| p.display().to_string()).collect();
            effects.push(Effect::Note(format!(
                "{} still open for writing after {} s; building with what {} now (exclude it in \
                 [watch] if it is a log or a database)",
                names.join(", "),
                debounce::WRITER_CAP.as_secs(),
                if open.len() == 1 {
                    "it holds"
                } else {
                    "they hold"
                },
            )));
        }
        if burst.need() < Need::Now && burst.has_unchecked() {
            self.checking = true;
            effects.push(Effect::CheckContents {
                paths: burst.take_unchecked(),
            });
            return;
        }
        self.decide(now, effects);
    }

    /// Everything in the burst is checked: build for it, or first cancel a build that is now
    /// stale (its changes stay owed, so they are built once it is gone).
    fn decide(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        let Some(mut burst) = self.pending.take() else {
            return;
        };
        if !burst.wants_build() {
            return;
        }
        match &mut self.build {
            BuildState::Idle => self.act_on(burst.into_changes(), now, effects),
            BuildState::Running { changes } => {
                burst.owe(std::mem::take(changes));
                self.pending = Some(burst);
                self.build = BuildState::Cancelling {
                    kill_at: Some(now + self.policy.build_grace),
                };
                effects.push(Effect::CancelBuild);
            }
            BuildState::Cancelling { .. } => self.pending = Some(burst),
        }
    }

    fn on_time(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.config_changed.is_some_and(|t| now >= t + CONFIG_QUIET) {
            self.config_changed = None;
            effects.push(Effect::ReloadConfig);
        }
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            if self.app == AppState::Down
                && self.build == BuildState::Idle
                && self.shutdown.is_none()
            {
                effects.extend(self.start_app(now));
            }
        }
        if let BuildState::Cancelling { kill_at: Some(at) } = self.build {
            if now >= at {
                self.build = BuildState::Cancelling { kill_at: None };
                effects.push(Effect::KillBuild);
            }
        }
        if let AppState::Stopping { kill_at: Some(at) } = self.app {
            if now >= at {
                self.app = AppState::Stopping { kill_at: None };
                effects.push(Effect::KillApp { app: self.app_id });
            }
        }
        for (app, kill_at) in &mut self.retiring {
            if kill_at.is_some_and(|at| now >= at) {
                *kill_at = None;
                effects.push(Effect::KillApp { app: *app });
            }
        }
        let due = self
            .pending
            .as_ref()
            .is_some_and(|p| now >= p.due(self.policy.debounce));
        if due && self.may_settle() && self.shutdown.is_none() {
            self.settle(now, effects);
        }
    }

    /// Builds (or restarts the app) for `changes`.
    fn act_on(&mut self, changes: Vec<PathBuf>, now: Instant, effects: &mut Vec<Effect>) {
        effects.push(Effect::ReportChange {
            paths: changes.clone(),
        });
        if self.policy.has_build {
            self.build = BuildState::Running {
                changes: changes.clone(),
            };
            effects.push(Effect::StartBuild { changes });
        } else {
            effects.extend(self.restart_app(now));
        }
    }

    fn on_signal(&mut self, signal: Signal, now: Instant, effects: &mut Vec<Effect>) {
        let code = match signal {
            Signal::SIGHUP => exit::SIGHUP,
            Signal::SIGTERM => exit::SIGTERM,
            _ => exit::SIGINT,
        };
        self.on_stop_request(code, now, effects);
    }

    /// Stops everything, then exits with `code`; a second request forces it.
    fn on_stop_request(&mut self, code: u8, now: Instant, effects: &mut Vec<Effect>) {
        if self.shutdown.is_some() {
            // A second signal: no more grace for anyone.
            if self.build != BuildState::Idle {
                effects.push(Effect::KillBuild);
            }
            if self.app != AppState::Down {
                effects.push(Effect::KillApp { app: self.app_id });
            }
            // The first request moved any successor here.
            for (app, _) in &self.retiring {
                effects.push(Effect::KillApp { app: *app });
            }
            effects.push(Effect::Exit(exit::SIGINT));
            return;
        }
        self.shutdown = Some(code);
        self.pending = None;
        self.start_when_down = false;
        if let Some(successor) = self.successor.take() {
            self.retire(successor, now, effects);
        }
        if matches!(self.build, BuildState::Running { .. }) {
            self.build = BuildState::Cancelling {
                kill_at: Some(now + self.policy.build_grace),
            };
            effects.push(Effect::CancelBuild);
        }
        if self.app == AppState::Up {
            self.app = AppState::Stopping {
                kill_at: Some(now + self.policy.stop_timeout),
            };
            effects.push(Effect::StopApp {
                app: self.app_id,
                reason: StopReason::Shutdown,
            });
        }
    }

    /// Stops `app`, which no longer serves, with the usual grace.
    fn retire(&mut self, app: AppId, now: Instant, effects: &mut Vec<Effect>) {
        self.retiring
            .push((app, Some(now + self.policy.stop_timeout)));
        effects.push(Effect::StopApp {
            app,
            reason: if self.shutdown.is_some() {
                StopReason::Shutdown
            } else {
                StopReason::Restart
            },
        });
    }

    /// The successor is ready: it serves from now on, and the app it replaces is stopped.
    fn promote(&mut self, successor: AppId, now: Instant, effects: &mut Vec<Effect>) {
        self.successor = None;
        match self.app {
            AppState::Up => self.retire(self.app_id, now, effects),
            AppState::Stopping { kill_at } => self.retiring.push((self.app_id, kill_at)),
            AppState::Down => {}
        }
        self.app = AppState::Up;
        self.app_id = successor;
        self.up_since = Some(now);
        self.retry_at = None;
    }

    /// After a good build (or a change when there is no build): replace the app.
    fn restart_app(&mut self, now: Instant) -> Vec<Effect> {
        if !self.policy.has_app {
            return Vec::new();
        }
        match self.app {
            AppState::Down => self.start_app(now),
            AppState::Up if self.policy.restart_mode == RestartMode::Overlap => {
                let mut effects = Vec::new();
                // A successor that is not ready yet runs the previous build: replace it too.
                if let Some(stale) = self.successor.take() {
                    self.retire(stale, now, &mut effects);
                }
                let app = self.new_id();
                self.successor = Some(app);
                effects.push(Effect::StartApp { app });
                effects
            }
            AppState::Up => {
                self.app = AppState::Stopping {
                    kill_at: Some(now + self.policy.stop_timeout),
                };
                self.start_when_down = true;
                vec![Effect::StopApp {
                    app: self.app_id,
                    reason: StopReason::Restart,
                }]
            }
            AppState::Stopping { .. } => {
                self.start_when_down = true;
                Vec::new()
            }
        }
    }

    fn start_app(&mut self, now: Instant) -> Vec<Effect> {
        if !self.policy.has_app {
            return Vec::new();
        }
        self.app = AppState::Up;
        self.app_id = self.new_id();
        self.up_since = Some(now);
        self.retry_at = None;
        vec![Effect::StartApp { app: self.app_id }]
    }

    fn new_id(&mut self) -> AppId {
        self.last_id = AppId(self.last_id.0 + 1);
        self.last_id
    }
}

/// An app that could not be started counts as one that exited at once.
pub fn start_failed(app: AppId) -> Event {
    Event::AppExited {
        app,
        outcome: Outcome {
            code: None,
            signal: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::debounce::{REAPPEAR_QUIET, STORM_QUIET};
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(20);
    const STOP: Duration = Duration::from_secs(3);
    const GRACE: Duration = Duration::from_millis(500);

    fn policy(has_build: bool) -> Policy {
        Policy {
            debounce: DEBOUNCE,
            has_build,
            has_app: true,
            stop_timeout: STOP,
            build_grace: GRACE,
            restart: Restart::Never,
            restart_mode: RestartMode::StopThenStart,
        }
    }

    fn ok() -> Event {
        Event::BuildFinished(Outcome {
            code: Some(0),
            signal: None,
        })
    }

    fn failed() -> Event {
        Event::BuildFinished(Outcome {
            code: Some(1),
            signal: None,
        })
    }

    fn exited() -> Event {
        Event::AppExited {
            app: ANY,
            outcome: Outcome {
                code: Some(0),
                signal: None,
            },
        }
    }

    /// Stands for "the current app" in events and for any app in expected effects.
    const ANY: AppId = AppId(0);

    /// `s.step`, with `ANY` in the event meaning the current app and every app id in the
    /// effects shown as `ANY`.
    fn step(s: &mut Supervisor, event: Option<Event>, at: Instant) -> Vec<Effect> {
        let event = event.map(|e| match e {
            Event::AppExited { app: ANY, outcome } => Event::AppExited {
                app: s.app_id,
                outcome,
            },
            other => other,
        });
        anonymous(s.step(event, at))
    }

    fn start(s: &mut Supervisor, at: Instant) -> Vec<Effect> {
        anonymous(s.start(at))
    }

    fn anonymous(effects: Vec<Effect>) -> Vec<Effect> {
        effects
            .into_iter()
            .map(|e| match e {
                Effect::StartApp { .. } => Effect::StartApp { app: ANY },
                Effect::StopApp { reason, .. } => Effect::StopApp { app: ANY, reason },
                Effect::KillApp { .. } => Effect::KillApp { app: ANY },
                other => other,
            })
            .collect()
    }

    fn changed(p: &str) -> Event {
        Event::FilesChanged {
            paths: vec![PathBuf::from(p)],
            open: vec![],
        }
    }

    /// Steps to `at`, answering a content check (if one is asked) with "all of them changed".
    fn tick(s: &mut Supervisor, at: Instant) -> Vec<Effect> {
        let mut effects = step(s, None, at);
        if let Some(pos) = effects
            .iter()
            .position(|e| matches!(e, Effect::CheckContents { .. }))
        {
            let Effect::CheckContents { paths } = effects.remove(pos) else {
                unreachable!()
            };
            effects.extend(step(
                s,
                Some(Event::ContentsChecked {
                    changed: paths,
                    all_missing: false,
                }),
                at,
            ));
        }
        effects
    }

    #[test]
    fn overlap_starts_the_new_app_beside_the_old_and_stops_the_old_once_ready() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            restart_mode: RestartMode::Overlap,
            ..policy(true)
        });
        s.start(t0);
        assert!(matches!(
            s.step(Some(ok()), t0)[..],
            [Effect::StartApp { .. }]
        ));
        let old = s.app_id;
        // A change builds; the good build starts the successor and stops nobody yet.
        s.step(Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        let new = match s.step(Some(ok()), t0 + DEBOUNCE)[..] {
            [Effect::StartApp { app }] => app,
            ref other => panic!("expected the successor to start, got {other:?}"),
        };
        assert_ne!(new, old);
        assert_eq!(
            s.app_id, old,
            "the old app serves until the new one is ready"
        );
        // Its readiness swaps them.
        let ready = Event::AppReady {
            app: new,
            via: crate::event::ReadyVia::Notify,
        };
        assert_eq!(
            s.step(Some(ready), t0 + DEBOUNCE),
            [Effect::StopApp {
                app: old,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(s.app_id, new);
        // The old one is killed if it overstays its grace; its exit changes nothing else.
        let late = t0 + DEBOUNCE + STOP;
        assert_eq!(s.next_deadline(), Some(late));
        assert_eq!(s.step(None, late), [Effect::KillApp { app: old }]);
        let gone = Event::AppExited {
            app: old,
            outcome: Outcome {
                code: None,
                signal: Some(Signal::SIGKILL),
            },
        };
        assert_eq!(s.step(Some(gone), late), []);
        assert_eq!(s.app, AppState::Up);
    }

    #[test]
    fn a_successor_that_dies_before_ready_leaves_the_old_app_serving() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            restart_mode: RestartMode::Overlap,
            ..policy(true)
        });
        s.start(t0);
        s.step(Some(ok()), t0);
        let old = s.app_id;
        s.step(Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        let [Effect::StartApp { app: new }] = s.step(Some(ok()), t0 + DEBOUNCE)[..] else {
            panic!("expected the successor to start");
        };
        let died = Event::AppExited {
            app: new,
            outcome: Outcome {
                code: Some(2),
                signal: None,
            },
        };
        match &s.step(Some(died), t0 + DEBOUNCE)[..] {
            [Effect::Note(note)] => assert!(note.contains("old one keeps serving"), "{note}"),
            other => panic!("expected a note, got {other:?}"),
        }
        assert_eq!((s.app, s.app_id, s.successor), (AppState::Up, old, None));
        // Shutdown stops the old one and exits once it is gone.
        let effects = s.step(Some(Event::Signalled(Signal::SIGTERM)), t0 + DEBOUNCE);
        assert_eq!(
            effects,
            [Effect::StopApp {
                app: old,
                reason: StopReason::Shutdown
            }]
        );
    }

    #[test]
    fn a_file_that_vanished_gets_time_to_come_back_before_building() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let main = vec![PathBuf::from("main.go")];
        step(&mut s, Some(changed("main.go")), t0);
        assert_eq!(
            step(&mut s, None, t0 + DEBOUNCE),
            [Effect::CheckContents {
                paths: main.clone()
            }]
        );
        let gone = Event::ContentsChecked {
            changed: main.clone(),
            all_missing: true,
        };
        assert_eq!(step(&mut s, Some(gone), t0 + DEBOUNCE), []);
        assert_eq!(s.next_deadline(), Some(t0 + DEBOUNCE + REAPPEAR_QUIET));
        // It comes back (the atomic save's second half): one build, with the new file.
        let t1 = t0 + DEBOUNCE * 2;
        step(&mut s, Some(changed("main.go")), t1);
        assert_eq!(
            step(&mut s, None, t1 + REAPPEAR_QUIET),
            [Effect::CheckContents {
                paths: main.clone()
            }]
        );
        let back = Event::ContentsChecked {
            changed: main.clone(),
            all_missing: false,
        };
        assert!(matches!(
            acts(step(&mut s, Some(back), t1 + REAPPEAR_QUIET)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
        // A real deletion builds after the one wait.
        step(&mut s, Some(ok()), t1 + REAPPEAR_QUIET);
        step(&mut s, Some(exited()), t1 + REAPPEAR_QUIET);
        let t2 = t1 + Duration::from_secs(1);
        step(&mut s, Some(changed("main.go")), t2);
        step(&mut s, None, t2 + DEBOUNCE);
        let gone = || Event::ContentsChecked {
            changed: main.clone(),
            all_missing: true,
        };
        assert_eq!(step(&mut s, Some(gone()), t2 + DEBOUNCE), []);
        assert_eq!(
            step(&mut s, None, t2 + DEBOUNCE + REAPPEAR_QUIET),
            [Effect::CheckContents {
                paths: main.clone()
            }]
        );
        assert!(matches!(
            acts(step(&mut s, Some(gone()), t2 + DEBOUNCE + REAPPEAR_QUIET)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
    }

    #[test]
    fn config_changes_reload_once_quiet() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(step(&mut s, Some(Event::ConfigChanged), t0), []);
        assert_eq!(
            step(
                &mut s,
                Some(Event::ConfigChanged),
                t0 + Duration::from_millis(10)
            ),
            []
        );
        let due = t0 + Duration::from_millis(10) + CONFIG_QUIET;
        assert_eq!(s.next_deadline(), Some(due));
        assert_eq!(step(&mut s, None, due), [Effect::ReloadConfig]);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn changes_whose_content_is_the_same_do_nothing() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        assert_eq!(
            step(&mut s, None, t0 + DEBOUNCE),
            [Effect::CheckContents {
                paths: vec![PathBuf::from("a.go")]
            }]
        );
        assert_eq!(
            s.next_deadline(),
            None,
            "waiting for the check, not for time"
        );
        assert_eq!(
            step(
                &mut s,
                Some(Event::ContentsChecked {
                    changed: vec![],
                    all_missing: false,
                }),
                t0 + DEBOUNCE
            ),
            []
        );
        // A real change afterwards still builds.
        step(&mut s, Some(changed("a.go")), t0 + DEBOUNCE);
        assert!(matches!(
            acts(tick(&mut s, t0 + DEBOUNCE * 2)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
    }

    /// The effects that act, without the reports for the user.
    fn acts(effects: Vec<Effect>) -> Vec<Effect> {
        effects
            .into_iter()
            .filter(|e| !matches!(e, Effect::ReportChange { .. } | Effect::Note(_)))
            .collect()
    }

    /// A supervisor whose first build succeeded and whose app is up.
    fn running(t0: Instant) -> Supervisor {
        let mut s = Supervisor::new(policy(true));
        assert_eq!(start(&mut s, t0), [Effect::StartBuild { changes: vec![] }]);
        assert_eq!(
            step(&mut s, Some(ok()), t0),
            [Effect::StartApp { app: ANY }]
        );
        s
    }

    #[test]
    fn changes_coalesce_until_quiet() {
        let t0 = Instant::now();
        let mut s = running(t0);
        // An editor's save: the file, its backup, the swap file, a few ms apart.
        for i in 0..5u64 {
            let at = t0 + Duration::from_millis(i * 3);
            assert_eq!(step(&mut s, Some(changed(&format!("f{i}"))), at), []);
        }
        let last = t0 + Duration::from_millis(12);
        assert_eq!(s.next_deadline(), Some(last + DEBOUNCE));
        assert_eq!(tick(&mut s, last + DEBOUNCE - Duration::from_millis(1)), []);
        match tick(&mut s, last + DEBOUNCE).as_slice() {
            [
                Effect::ReportChange { paths },
                Effect::StartBuild { changes },
            ] => {
                assert_eq!(changes.len(), 5);
                assert_eq!(paths, changes);
            }
            other => panic!("expected one build, got {other:?}"),
        }
    }

    #[test]
    fn a_burst_that_lasted_waits_as_long_for_its_end() {
        let t0 = Instant::now();
        let mut s = running(t0);
        // Three files over 60 ms, then a pause: the pause must be as long as the burst so far.
        for (i, ms) in [0u64, 30, 60].iter().enumerate() {
            step(
                &mut s,
                Some(changed(&format!("f{i}"))),
                t0 + Duration::from_millis(*ms),
            );
        }
        let last = t0 + Duration::from_millis(60);
        assert_eq!(s.next_deadline(), Some(last + Duration::from_millis(60)));
        assert_eq!(tick(&mut s, last + DEBOUNCE), []);
    }

    #[test]
    fn a_storm_waits_longer_for_quiet_than_a_save() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let many: Vec<PathBuf> = (0..50).map(|i| PathBuf::from(format!("f{i}"))).collect();
        step(
            &mut s,
            Some(Event::FilesChanged {
                paths: many,
                open: vec![],
            }),
            t0,
        );
        assert_eq!(s.next_deadline(), Some(t0 + STORM_QUIET));
        assert_eq!(tick(&mut s, t0 + DEBOUNCE), []);
        assert!(matches!(
            acts(tick(&mut s, t0 + STORM_QUIET)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
    }

    #[test]
    fn good_build_stops_old_app_then_starts_new_one() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        assert!(matches!(
            acts(tick(&mut s, t0 + DEBOUNCE)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            step(&mut s, Some(ok()), t1),
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(s.next_deadline(), Some(t1 + STOP));
        assert_eq!(
            step(&mut s, Some(exited()), t1),
            [Effect::StartApp { app: ANY }]
        );
    }

    #[test]
    fn failed_build_keeps_the_old_app() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(step(&mut s, Some(failed()), t0 + DEBOUNCE), []);
        // The next change tries again.
        step(&mut s, Some(changed("a.go")), t0 + DEBOUNCE * 2);
        assert!(matches!(
            acts(tick(&mut s, t0 + DEBOUNCE * 3)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
    }

    fn checked(paths: &[&str]) -> Event {
        Event::ContentsChecked {
            changed: paths.iter().map(PathBuf::from).collect(),
            all_missing: false,
        }
    }

    fn paths(paths: &[&str]) -> Vec<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn a_real_change_during_a_build_cancels_it_and_both_are_built_once_it_is_gone() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            step(&mut s, Some(changed("b.go")), t1),
            [],
            "nothing is cancelled before the change is known to be real"
        );
        let t2 = t1 + DEBOUNCE;
        assert_eq!(
            step(&mut s, None, t2),
            [Effect::CheckContents {
                paths: paths(&["b.go"])
            }]
        );
        assert_eq!(
            step(&mut s, Some(checked(&["b.go"])), t2),
            [Effect::CancelBuild]
        );
        // No new build while the cancelled one is still exiting.
        assert_eq!(s.next_deadline(), Some(t2 + GRACE));
        assert_eq!(tick(&mut s, t2 + GRACE), [Effect::KillBuild]);
        // The cancelled build's exit is not a success and does not restart the app; the next
        // build is for both changes, because the cancelled one never completed a.go's.
        let killed = Event::BuildFinished(Outcome {
            code: None,
            signal: Some(Signal::SIGKILL),
        });
        match acts(step(&mut s, Some(killed), t2 + GRACE)).as_slice() {
            [Effect::StartBuild { changes }] => assert_eq!(changes, &paths(&["a.go", "b.go"])),
            other => panic!("expected a fresh build, got {other:?}"),
        }
    }

    #[test]
    fn a_duplicate_event_during_a_build_lets_it_finish() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        step(&mut s, Some(changed("a.go")), t0 + DEBOUNCE);
        assert_eq!(
            step(&mut s, None, t0 + DEBOUNCE * 2),
            [Effect::CheckContents {
                paths: paths(&["a.go"])
            }]
        );
        assert_eq!(step(&mut s, Some(checked(&[])), t0 + DEBOUNCE * 2), []);
        assert_eq!(
            step(&mut s, Some(ok()), t0 + DEBOUNCE * 3),
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Restart
            }]
        );
    }

    /// The lost save: a change cancels a build, and a late event for the same file then finds
    /// its content unchanged (the first check already saw it). The change is still built.
    #[test]
    fn a_cancelled_build_is_owed_even_when_the_next_check_finds_nothing() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        step(&mut s, Some(changed("b.go")), t0 + DEBOUNCE);
        assert_eq!(tick(&mut s, t0 + DEBOUNCE * 2), [Effect::CancelBuild]);
        // A duplicate event while the cancelled build exits, then the exit.
        step(&mut s, Some(changed("b.go")), t0 + DEBOUNCE * 2);
        assert_eq!(
            step(&mut s, Some(failed()), t0 + DEBOUNCE * 3),
            [Effect::CheckContents {
                paths: paths(&["b.go"])
            }]
        );
        match acts(step(&mut s, Some(checked(&[])), t0 + DEBOUNCE * 3)).as_slice() {
            [Effect::StartBuild { changes }] => assert_eq!(changes, &paths(&["a.go", "b.go"])),
            other => panic!("the owed build must run, got {other:?}"),
        }
    }

    /// The same at debounce 0, with the first build of the session: it is owed too.
    #[test]
    fn a_cancelled_first_build_is_built_again_at_debounce_zero() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            debounce: Duration::ZERO,
            ..policy(true)
        });
        start(&mut s, t0);
        assert_eq!(
            step(&mut s, Some(changed("a.go")), t0),
            [Effect::CheckContents {
                paths: paths(&["a.go"])
            }]
        );
        assert_eq!(
            step(&mut s, Some(checked(&["a.go"])), t0),
            [Effect::CancelBuild]
        );
        step(&mut s, Some(changed("a.go")), t0);
        step(&mut s, Some(failed()), t0);
        match acts(step(&mut s, Some(checked(&[])), t0)).as_slice() {
            [Effect::StartBuild { changes }] => assert_eq!(changes, &paths(&["a.go"])),
            other => panic!("the owed build must run, got {other:?}"),
        }
    }

    #[test]
    fn a_file_being_written_is_built_once_its_writer_closes_it() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let half = Event::FilesChanged {
            paths: paths(&["a.go"]),
            open: paths(&["a.go"]),
        };
        assert_eq!(step(&mut s, Some(half), t0), []);
        assert_eq!(s.next_deadline(), Some(t0 + debounce::WRITER_CAP));
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(tick(&mut s, t1), [], "the writer paused; still open");
        step(&mut s, Some(changed("a.go")), t1);
        let due = s.next_deadline().expect("due once closed");
        assert!(due < t1 + Duration::from_millis(200), "{:?}", due - t1);
        match acts(tick(&mut s, due)).as_slice() {
            [Effect::StartBuild { changes }] => assert_eq!(changes, &paths(&["a.go"])),
            other => panic!("one build, got {other:?}"),
        }
    }

    #[test]
    fn a_file_held_open_past_the_cap_builds_once_and_says_which() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let open = Event::FilesChanged {
            paths: paths(&["app.log"]),
            open: paths(&["app.log"]),
        };
        step(&mut s, Some(open), t0);
        let cap = t0 + debounce::WRITER_CAP;
        let effects = tick(&mut s, cap);
        assert!(
            effects.iter().any(
                |e| matches!(e, Effect::Note(n) if n.contains("app.log still open for writing"))
            ),
            "{effects:?}"
        );
        assert!(matches!(
            acts(effects).as_slice(),
            [Effect::StartBuild { .. }]
        ));
    }

    #[test]
    fn app_that_will_not_stop_is_killed_after_the_timeout() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        step(&mut s, Some(ok()), t0 + DEBOUNCE);
        assert_eq!(
            tick(&mut s, t0 + DEBOUNCE + STOP),
            [Effect::KillApp { app: ANY }]
        );
        assert_eq!(s.next_deadline(), None);
        assert_eq!(
            step(&mut s, Some(exited()), t0 + DEBOUNCE + STOP),
            [Effect::StartApp { app: ANY }]
        );
    }

    #[test]
    fn crashed_app_waits_for_a_change() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(acts(step(&mut s, Some(exited()), t0)), []);
        assert_eq!(
            s.next_deadline(),
            None,
            "no restart is scheduled by default"
        );
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(
            step(&mut s, Some(ok()), t0 + DEBOUNCE),
            [Effect::StartApp { app: ANY }]
        );
    }

    #[test]
    fn crash_loop_restarts_with_exponential_backoff() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            restart: Restart::OnFailure,
            ..policy(true)
        });
        start(&mut s, t0);
        step(&mut s, Some(ok()), t0);
        let crashed = || Event::AppExited {
            app: ANY,
            outcome: Outcome {
                code: Some(1),
                signal: None,
            },
        };
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            acts(step(&mut s, Some(crashed()), now));
            let at = s.next_deadline().expect("a restart is scheduled");
            waits.push(at - now);
            assert_eq!(tick(&mut s, at - Duration::from_millis(1)), []);
            assert_eq!(tick(&mut s, at), [Effect::StartApp { app: ANY }]);
            now = at;
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600]);
        // A clean exit is not a failure: no restart.
        assert_eq!(acts(step(&mut s, Some(exited()), now)), []);
        assert_eq!(s.next_deadline(), None);
        // After a long healthy run, the backoff starts over.
        step(&mut s, Some(changed("a.go")), now);
        tick(&mut s, now + DEBOUNCE);
        step(&mut s, Some(ok()), now + DEBOUNCE);
        let later = now + Duration::from_secs(60);
        acts(step(&mut s, Some(crashed()), later));
        assert_eq!(s.next_deadline(), Some(later + Duration::from_millis(100)));
    }

    #[test]
    fn a_build_blocked_by_the_running_binary_stops_the_app_then_builds_then_starts() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(
            step(&mut s, Some(Event::BuildBlocked), t0 + DEBOUNCE),
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(
            step(&mut s, Some(exited()), t0 + DEBOUNCE),
            [Effect::StartBuild {
                changes: paths(&["a.go"])
            }]
        );
        assert_eq!(
            step(&mut s, Some(ok()), t0 + DEBOUNCE),
            [Effect::StartApp { app: ANY }]
        );
    }

    #[test]
    fn without_a_build_a_change_restarts_the_app() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(policy(false));
        assert_eq!(start(&mut s, t0), [Effect::StartApp { app: ANY }]);
        step(&mut s, Some(changed("app.py")), t0);
        assert_eq!(
            acts(tick(&mut s, t0 + DEBOUNCE)),
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(
            step(&mut s, Some(exited()), t0 + DEBOUNCE),
            [Effect::StartApp { app: ANY }]
        );
    }

    #[test]
    fn signal_stops_everything_then_exits_with_its_code() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        let effects = step(
            &mut s,
            Some(Event::Signalled(Signal::SIGTERM)),
            t0 + DEBOUNCE,
        );
        assert_eq!(
            effects,
            [
                Effect::CancelBuild,
                Effect::StopApp {
                    app: ANY,
                    reason: StopReason::Shutdown
                }
            ]
        );
        assert_eq!(step(&mut s, Some(failed()), t0 + DEBOUNCE), []);
        assert_eq!(
            step(&mut s, Some(exited()), t0 + DEBOUNCE),
            [Effect::Exit(exit::SIGTERM)]
        );
    }

    #[test]
    fn changes_after_a_signal_are_ignored_and_a_second_signal_forces() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(Event::Signalled(Signal::SIGINT)), t0);
        assert_eq!(step(&mut s, Some(changed("a.go")), t0), []);
        assert_eq!(tick(&mut s, t0 + DEBOUNCE), []);
        assert_eq!(
            step(&mut s, Some(Event::Signalled(Signal::SIGINT)), t0),
            [Effect::KillApp { app: ANY }, Effect::Exit(exit::SIGINT)]
        );
    }

    #[test]
    fn rebuild_key_builds_at_once_and_quit_key_exits_zero() {
        let t0 = Instant::now();
        let mut s = running(t0);
        match step(&mut s, Some(Event::Key(Key::Rebuild)), t0).as_slice() {
            [
                Effect::ReportChange { paths },
                Effect::StartBuild { changes },
            ] => {
                assert!(paths.is_empty() && changes.is_empty());
            }
            other => panic!("expected an immediate build, got {other:?}"),
        }
        assert_eq!(
            step(&mut s, Some(Event::Key(Key::Rebuild)), t0),
            [Effect::CancelBuild]
        );
        assert!(matches!(
            acts(step(&mut s, Some(failed()), t0)).as_slice(),
            [Effect::StartBuild { .. }]
        ));
        assert_eq!(
            step(&mut s, Some(ok()), t0),
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(
            step(&mut s, Some(exited()), t0),
            [Effect::StartApp { app: ANY }]
        );
        let effects = step(&mut s, Some(Event::Key(Key::Quit)), t0);
        assert_eq!(
            effects,
            [Effect::StopApp {
                app: ANY,
                reason: StopReason::Shutdown
            }]
        );
        assert_eq!(step(&mut s, Some(exited()), t0), [Effect::Exit(exit::OK)]);
    }

    #[test]
    fn signal_with_nothing_running_exits_at_once() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(exited()), t0);
        assert_eq!(
            step(&mut s, Some(Event::Signalled(Signal::SIGHUP)), t0),
            [Effect::Exit(exit::SIGHUP)]
        );
    }
}
