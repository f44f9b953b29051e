//! The decisions: what to do next, as a pure function of `(state, event, now)`.
//!
//! The `Supervisor` never touches a process, a file or a clock. The app loop feeds it events and
//! the current time, carries out the `Effect`s it returns, and sleeps until `next_deadline`.
//! That keeps debounce, restart ordering, grace periods and `--once` verdicts testable without
//! processes or time.

pub mod app;
pub mod debounce;
pub mod guard;
pub mod life;
pub mod process;
pub mod release;
pub mod trampoline;

#[cfg(test)]
mod simulation;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use crate::config::Restart;
use crate::config::RestartMode;
use crate::error::exit;
use crate::event::{AppId, BuildEnd, Event, Key, Outcome, ReadyVia};
use debounce::{Burst, Need};
use life::{AfterStop, Life, ReadySet, Serving};

/// Timing and shape of the session: what the Supervisor needs from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub goal: Goal,
    /// The report that makes a started app count as ready (see `[run] ready`).
    pub ready: ReadyVia,
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

/// What the session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Keep the newest good build serving until asked to stop.
    Serve,
    /// `hot --once`: build, start the app, stop it as soon as it is ready, and conclude.
    Check {
        /// How long a started app has to become ready.
        timeout: Duration,
        /// An app that exits with status 0 before it is ready passes (a one-shot job without
        /// sockets).
        may_finish: bool,
    },
}

/// What `hot --once` concluded, and so its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Built; there is no app to start.
    Built,
    Ready {
        app: AppId,
        via: ReadyVia,
    },
    /// The app finished with status 0 before it was ready, which `may_finish` allows.
    Finished {
        app: AppId,
    },
    BuildFailed(Outcome),
    AppFailed {
        app: AppId,
        outcome: Outcome,
    },
    NotReady {
        app: AppId,
        within: Duration,
    },
}

impl Verdict {
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Built | Verdict::Ready { .. } | Verdict::Finished { .. } => exit::OK,
            Verdict::BuildFailed(_) => exit::BUILD_FAILED,
            Verdict::AppFailed { .. } | Verdict::NotReady { .. } => exit::APP_FAILED,
        }
    }
}

/// Why no app serves: what HTTP clients and open pages are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Build(Outcome),
    App(Outcome),
}

/// How long the config file must stay unchanged before it is reloaded: an editor may write it
/// in several steps, and half a file is not a config.
const CONFIG_QUIET: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell the user something the Supervisor decided.
    Note(String),
    /// The same, for something that went wrong.
    Warn(String),
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
    /// Send the stop signal to the app.
    StopApp {
        app: AppId,
        reason: StopReason,
    },
    KillApp {
        app: AppId,
    },
    /// Tell when the stopping `app` has closed its listening sockets (`restart_mode = "drain"`);
    /// answered by `AppReleased`, or never (then its exit does).
    WatchRelease {
        app: AppId,
    },
    /// Report that `app` is ready, known this way (once per way).
    Ready {
        app: AppId,
        via: ReadyVia,
    },
    /// A new app serves: open pages reload (before `Ready` is reported, so whoever acts on the
    /// report comes after the reload).
    ReloadPages,
    /// The build or the app failed: pages show it; with `app_down`, hot answers requests with
    /// it until an app serves again.
    ShowFailure {
        failure: Failure,
        app_down: bool,
    },
    /// A build succeeded: pages drop the failure they show.
    ClearFailure,
    /// `--once` reached its verdict (shutdown follows).
    Conclude(Verdict),
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

/// Whether `[run] restart` wants an app that ended with `outcome` started again.
fn restart_wanted(restart: Restart, outcome: &Outcome) -> bool {
    match restart {
        Restart::Never => false,
        Restart::OnFailure => !outcome.success(),
        Restart::Always => true,
    }
}

#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    /// Changes waiting for their burst to be over, and what they are owed.
    pending: Option<Burst>,
    /// A content check is out: act on its answer, not on the clock.
    checking: bool,
    build: BuildState,
    app: Life,
    /// The config file changed at this time; reload once it has been quiet a while.
    config_changed: Option<Instant>,
    /// Set once shutdown began: the exit status to end with.
    shutdown: Option<u8>,
    /// `Goal::Check`: the started app is not ready by then.
    check_by: Option<Instant>,
}

impl Supervisor {
    /// The Supervisor of a one-app session.
    #[cfg(test)]
    pub fn new(policy: Policy) -> Supervisor {
        Supervisor::for_slot(policy, 0)
    }

    /// The Supervisor of the app at `slot` of a session of several.
    pub fn for_slot(policy: Policy, slot: usize) -> Supervisor {
        Supervisor {
            policy,
            pending: None,
            checking: false,
            build: BuildState::Idle,
            app: Life::new(slot),
            config_changed: None,
            shutdown: None,
            check_by: None,
        }
    }

    /// The first effects of a session: build, or start the app straight away.
    pub fn start(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.policy.has_build {
            self.build = BuildState::Running {
                changes: Vec::new(),
            };
            effects.push(Effect::StartBuild {
                changes: Vec::new(),
            });
        } else {
            self.start_app(now, &mut effects);
            self.check_ended(&mut effects);
        }
        effects
    }

    /// The config was reloaded (`file`, relative to the project): rebuild and restart under
    /// `policy`.
    pub fn reconfigure(&mut self, policy: Policy, file: PathBuf, now: Instant) -> Vec<Effect> {
        if self.shutdown.is_some() {
            return Vec::new();
        }
        self.policy = Policy {
            goal: self.policy.goal,
            ..policy
        };
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
        let reload = self.config_changed.map(|t| t + CONFIG_QUIET);
        [
            quiet,
            build_kill,
            self.app.next_kill(),
            self.app.retry_at(),
            reload,
            self.check_by,
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
                && self.app.is_over()
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
                fleeting,
            } => {
                self.checking = false;
                if self.shutdown.is_some() {
                    return;
                }
                let Some(burst) = &mut self.pending else {
                    return;
                };
                // Changes that arrived while the check was out wait for their own quiet.
                burst.retract(&fleeting);
                if burst.checked(changed, all_missing, now) && !burst.has_unchecked() {
                    self.decide(now, effects);
                }
            }
            Event::ConfigChanged => {
                if self.shutdown.is_none() {
                    self.config_changed = Some(now);
                }
            }
            // The session handles these: clearing is the screen's, and one app's rebuild
            // reaches that app as `Rebuild`.
            Event::Key(Key::Clear | Key::RebuildApp(_) | Key::Help) => {}
            Event::BuildFinished(end) => self.on_build_end(end, now, effects),
            Event::AppReady { app, via } => self.on_ready(app, via, now, effects),
            Event::AppExited { app, outcome } => self.on_exit(app, outcome, now, effects),
            Event::AppReleased { app } => self.on_released(app, now, effects),
            Event::Signalled(signal) => self.on_signal(signal, now, effects),
            Event::WatchFailed(_)
            | Event::Notified { .. }
            | Event::OpenInEditor(_)
            | Event::Port { .. } => {}
        }
    }

    fn on_build_end(&mut self, end: BuildEnd, now: Instant, effects: &mut Vec<Effect>) {
        let was = std::mem::replace(&mut self.build, BuildState::Idle);
        // A cancelled build's changes are owed to the burst that cancelled it.
        let BuildState::Running { changes } = was else {
            return;
        };
        if self.shutdown.is_some() {
            return;
        }
        if end.outcome.success() {
            // A build that completed serves its changes even if newer ones wait to be checked:
            // the app it starts is newer than the one running.
            if self.serves() {
                effects.push(Effect::ClearFailure);
            }
            self.restart_app(now, effects);
            self.check_ended(effects);
            return;
        }
        if end.binary_busy {
            if let Serving::Up { id, .. } = self.app.serving {
                // The build needs the binary the app is running: stop it, then build again.
                effects.push(Effect::Warn(
                    "the build could not overwrite the running app's binary (text file busy): \
                     stopping the app and building again"
                        .into(),
                ));
                self.stop_serving(id, AfterStop::Build(changes), now, effects);
                return;
            }
        }
        if self.serves() {
            effects.push(Effect::ShowFailure {
                failure: Failure::Build(end.outcome),
                app_down: self.app.is_down() && self.app.successor.is_none(),
            });
        } else {
            self.conclude(Verdict::BuildFailed(end.outcome), now, effects);
        }
    }

    /// `app` reported ready `via` one way. Each way is reported once; only the way the policy
    /// waits for makes it count: a successor takes over, pages reload, `--once` concludes.
    fn on_ready(&mut self, app: AppId, via: ReadyVia, now: Instant, effects: &mut Vec<Effect>) {
        let counts = via == self.policy.ready;
        if self.app.successor == Some(app) {
            effects.push(Effect::Ready { app, via });
            if counts {
                let mut ready = ReadySet::default();
                ready.insert(via);
                if self.serves() {
                    effects.insert(effects.len() - 1, Effect::ReloadPages);
                }
                // After the report: the new app is ready, then the old one is stopped.
                self.promote(app, ready, now, effects);
            }
            return;
        }
        let Serving::Up { id, ready, .. } = &mut self.app.serving else {
            return;
        };
        if *id != app || !ready.insert(via) {
            return;
        }
        if counts && self.serves() {
            effects.push(Effect::ReloadPages);
        }
        effects.push(Effect::Ready { app, via });
        if counts && !self.serves() && self.shutdown.is_none() {
            self.conclude(Verdict::Ready { app, via }, now, effects);
        }
    }

    fn on_exit(&mut self, app: AppId, outcome: Outcome, now: Instant, effects: &mut Vec<Effect>) {
        if self.app.successor == Some(app) {
            self.app.successor = None;
            if self.shutdown.is_none() {
                effects.push(Effect::Note(format!(
                    "the new app {outcome} before it was ready; {}",
                    if self.app.is_up() {
                        "the old one keeps serving"
                    } else {
                        "waiting for a change"
                    }
                )));
            }
            return;
        }
        if let Some(at) = self.app.retiring.iter().position(|(id, _)| *id == app) {
            self.app.retiring.remove(at);
            return;
        }
        if self.app.serving_id() != Some(app) {
            return;
        }
        let was = std::mem::replace(&mut self.app.serving, Serving::Down { retry_at: None });
        match was {
            Serving::Stopping { then, .. } => {
                if self.shutdown.is_some() || self.app.successor.is_some() {
                    return;
                }
                match then {
                    // A build started (or is being cancelled) while the app was stopping: it
                    // is still alive, so these changes are owed to the next one instead of a
                    // second build running beside it (found by the simulation, seed 13).
                    AfterStop::Build(changes) if self.build != BuildState::Idle => {
                        self.burst(now).owe(changes);
                    }
                    AfterStop::Build(changes) => {
                        self.build = BuildState::Running {
                            changes: changes.clone(),
                        };
                        effects.push(Effect::StartBuild { changes });
                    }
                    AfterStop::Start => self.start_app(now, effects),
                    AfterStop::Rest => {}
                }
            }
            Serving::Up { since, .. } => {
                if self.shutdown.is_some() {
                    return;
                }
                if !self.serves() {
                    // Not concluded yet, so it was not ready.
                    let verdict = if self.policy_may_finish() && outcome.success() {
                        Verdict::Finished { app }
                    } else {
                        Verdict::AppFailed { app, outcome }
                    };
                    self.conclude(verdict, now, effects);
                    return;
                }
                if self.app.successor.is_none() {
                    effects.push(Effect::ShowFailure {
                        failure: Failure::App(outcome),
                        app_down: true,
                    });
                }
                if self.app.successor.is_some() {
                    // The successor is about to take over anyway.
                } else if restart_wanted(self.policy.restart, &outcome) {
                    let wait = self.app.next_backoff(now.saturating_duration_since(since));
                    self.app.serving = Serving::Down {
                        retry_at: Some(now + wait),
                    };
                    effects.push(Effect::Note(format!(
                        "starting the app again in {} ms",
                        wait.as_millis()
                    )));
                } else {
                    effects.push(Effect::Note(
                        "the app exited; waiting for a change (r restarts it now)".into(),
                    ));
                }
            }
            Serving::Down { .. } => {}
        }
    }

    /// The stopping `app` accepts nothing more: the next app need not wait for its exit. It
    /// finishes its requests among the retiring apps, with the grace it had.
    fn on_released(&mut self, app: AppId, now: Instant, effects: &mut Vec<Effect>) {
        if let Serving::Stopping {
            id,
            kill_at,
            then: AfterStop::Start,
        } = self.app.serving
        {
            if id == app && self.shutdown.is_none() {
                self.app.retiring.push((id, kill_at));
                self.app.serving = Serving::Down { retry_at: None };
                self.start_app(now, effects);
            }
        }
    }

    /// Whether the goal is to keep serving (not a `--once` check).
    fn serves(&self) -> bool {
        self.policy.goal == Goal::Serve
    }

    fn policy_may_finish(&self) -> bool {
        matches!(
            self.policy.goal,
            Goal::Check {
                may_finish: true,
                ..
            }
        )
    }

    /// `--once` has its verdict: say it, stop everything, exit with its status.
    fn conclude(&mut self, verdict: Verdict, now: Instant, effects: &mut Vec<Effect>) {
        self.check_by = None;
        let code = verdict.exit_code();
        effects.push(Effect::Conclude(verdict));
        self.on_stop_request(code, now, effects);
    }

    /// `--once` without an app to start: a good build is the verdict.
    fn check_ended(&mut self, effects: &mut Vec<Effect>) {
        if !self.serves() && !self.policy.has_app && self.shutdown.is_none() {
            effects.push(Effect::Conclude(Verdict::Built));
            self.shutdown = Some(exit::OK);
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
        if self.app.retry_at().is_some_and(|at| now >= at) {
            self.app.serving = Serving::Down { retry_at: None };
            if self.build == BuildState::Idle && self.shutdown.is_none() {
                self.start_app(now, effects);
            }
        }
        if let BuildState::Cancelling { kill_at: Some(at) } = self.build {
            if now >= at {
                self.build = BuildState::Cancelling { kill_at: None };
                effects.push(Effect::KillBuild);
            }
        }
        if let Serving::Stopping { id, kill_at, .. } = &mut self.app.serving {
            if kill_at.is_some_and(|at| now >= at) {
                *kill_at = None;
                effects.push(Effect::KillApp { app: *id });
            }
        }
        for (app, kill_at) in &mut self.app.retiring {
            if kill_at.is_some_and(|at| now >= at) {
                *kill_at = None;
                effects.push(Effect::KillApp { app: *app });
            }
        }
        if self.check_by.is_some_and(|at| now >= at) {
            if let (Goal::Check { timeout, .. }, Some(app)) =
                (self.policy.goal, self.app.serving_id())
            {
                self.conclude(
                    Verdict::NotReady {
                        app,
                        within: timeout,
                    },
                    now,
                    effects,
                );
            }
            self.check_by = None;
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
            self.restart_app(now, effects);
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
            if let Some(app) = self.app.serving_id() {
                effects.push(Effect::KillApp { app });
            }
            // The first request moved any successor here.
            for (app, _) in &self.app.retiring {
                effects.push(Effect::KillApp { app: *app });
            }
            effects.push(Effect::Exit(exit::SIGINT));
            return;
        }
        self.shutdown = Some(code);
        self.pending = None;
        self.check_by = None;
        if let Some(successor) = self.app.successor.take() {
            self.retire(successor, now, effects);
        }
        if matches!(self.build, BuildState::Running { .. }) {
            self.build = BuildState::Cancelling {
                kill_at: Some(now + self.policy.build_grace),
            };
            effects.push(Effect::CancelBuild);
        }
        match &mut self.app.serving {
            Serving::Up { id, .. } => {
                let id = *id;
                self.stop_serving(id, AfterStop::Rest, now, effects);
            }
            Serving::Stopping { then, .. } => *then = AfterStop::Rest,
            Serving::Down { retry_at } => *retry_at = None,
        }
    }

    /// Signals the serving app `id` to stop; `then` follows its exit.
    fn stop_serving(
        &mut self,
        id: AppId,
        then: AfterStop,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) {
        self.app.serving = Serving::Stopping {
            id,
            kill_at: Some(now + self.policy.stop_timeout),
            then,
        };
        effects.push(Effect::StopApp {
            app: id,
            reason: self.stop_reason(),
        });
    }

    fn stop_reason(&self) -> StopReason {
        if self.shutdown.is_some() {
            StopReason::Shutdown
        } else {
            StopReason::Restart
        }
    }

    /// Stops `app`, which no longer serves, with the usual grace.
    fn retire(&mut self, app: AppId, now: Instant, effects: &mut Vec<Effect>) {
        self.app
            .retiring
            .push((app, Some(now + self.policy.stop_timeout)));
        effects.push(Effect::StopApp {
            app,
            reason: self.stop_reason(),
        });
    }

    /// The successor is ready: it serves from now on, and the app it replaces is stopped.
    fn promote(
        &mut self,
        successor: AppId,
        ready: ReadySet,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) {
        self.app.successor = None;
        match self.app.serving {
            Serving::Up { id, .. } => self.retire(id, now, effects),
            Serving::Stopping { id, kill_at, .. } => self.app.retiring.push((id, kill_at)),
            Serving::Down { .. } => {}
        }
        self.app.up(successor, ready, now);
    }

    /// After a good build (or a change when there is no build): replace the app.
    fn restart_app(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if !self.policy.has_app {
            return;
        }
        match &mut self.app.serving {
            Serving::Down { .. } => self.start_app(now, effects),
            Serving::Up { .. } if self.policy.restart_mode == RestartMode::Overlap => {
                // A successor that is not ready yet runs the previous build: replace it too.
                if let Some(stale) = self.app.successor.take() {
                    self.retire(stale, now, effects);
                }
                let app = self.app.new_id();
                self.app.successor = Some(app);
                effects.push(Effect::StartApp { app });
            }
            Serving::Up { id, .. } => {
                let id = *id;
                self.stop_serving(id, AfterStop::Start, now, effects);
                if self.policy.restart_mode == RestartMode::Drain {
                    effects.push(Effect::WatchRelease { app: id });
                }
            }
            Serving::Stopping { then, .. } => *then = AfterStop::Start,
        }
    }

    fn start_app(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if !self.policy.has_app {
            return;
        }
        let app = self.app.new_id();
        self.app.up(app, ReadySet::default(), now);
        if let Goal::Check { timeout, .. } = self.policy.goal {
            self.check_by = Some(now + timeout);
        }
        effects.push(Effect::StartApp { app });
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
            goal: Goal::Serve,
            ready: ReadyVia::Started,
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
        Event::BuildFinished(BuildEnd::from(Outcome {
            code: Some(0),
            signal: None,
        }))
    }

    fn failed() -> Event {
        Event::BuildFinished(BuildEnd::from(Outcome {
            code: Some(1),
            signal: None,
        }))
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
                app: s.app.serving_id().unwrap_or_default(),
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
            .filter(|e| !is_for_pages(e))
            .collect()
    }

    fn without_pages(effects: Vec<Effect>) -> Vec<Effect> {
        effects.into_iter().filter(|e| !is_for_pages(e)).collect()
    }

    /// What pages and the ready report are told: checked by their own tests.
    fn is_for_pages(effect: &Effect) -> bool {
        matches!(
            effect,
            Effect::ClearFailure
                | Effect::ShowFailure { .. }
                | Effect::ReloadPages
                | Effect::Ready { .. }
        )
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
                    fleeting: Vec::new(),
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
            ready: ReadyVia::Notify,
            ..policy(true)
        });
        s.start(t0);
        assert!(matches!(
            without_pages(s.step(Some(ok()), t0))[..],
            [Effect::StartApp { .. }]
        ));
        let old = s.app.serving_id().expect("an app serves");
        // A change builds; the good build starts the successor and stops nobody yet.
        without_pages(s.step(Some(changed("a.go")), t0));
        tick(&mut s, t0 + DEBOUNCE);
        let new = match without_pages(s.step(Some(ok()), t0 + DEBOUNCE))[..] {
            [Effect::StartApp { app }] => app,
            ref other => panic!("expected the successor to start, got {other:?}"),
        };
        assert_ne!(new, old);
        assert_eq!(
            s.app.serving_id().expect("an app serves"),
            old,
            "the old app serves until the new one is ready"
        );
        // Its readiness swaps them.
        let ready = Event::AppReady {
            app: new,
            via: crate::event::ReadyVia::Notify,
        };
        assert_eq!(
            without_pages(s.step(Some(ready), t0 + DEBOUNCE)),
            [Effect::StopApp {
                app: old,
                reason: StopReason::Restart
            }]
        );
        assert_eq!(s.app.serving_id().expect("an app serves"), new);
        // The old one is killed if it overstays its grace; its exit changes nothing else.
        let late = t0 + DEBOUNCE + STOP;
        assert_eq!(s.next_deadline(), Some(late));
        assert_eq!(
            without_pages(s.step(None, late)),
            [Effect::KillApp { app: old }]
        );
        let gone = Event::AppExited {
            app: old,
            outcome: Outcome {
                code: None,
                signal: Some(Signal::SIGKILL),
            },
        };
        assert_eq!(without_pages(s.step(Some(gone), late)), []);
        assert!(s.app.is_up());
    }

    #[test]
    fn a_successor_that_dies_before_ready_leaves_the_old_app_serving() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            restart_mode: RestartMode::Overlap,
            ready: ReadyVia::Notify,
            ..policy(true)
        });
        s.start(t0);
        without_pages(s.step(Some(ok()), t0));
        let old = s.app.serving_id().expect("an app serves");
        without_pages(s.step(Some(changed("a.go")), t0));
        tick(&mut s, t0 + DEBOUNCE);
        let [Effect::StartApp { app: new }] = without_pages(s.step(Some(ok()), t0 + DEBOUNCE))[..]
        else {
            panic!("expected the successor to start");
        };
        let died = Event::AppExited {
            app: new,
            outcome: Outcome {
                code: Some(2),
                signal: None,
            },
        };
        match &without_pages(s.step(Some(died), t0 + DEBOUNCE))[..] {
            [Effect::Note(note)] => assert!(note.contains("old one keeps serving"), "{note}"),
            other => panic!("expected a note, got {other:?}"),
        }
        assert!(s.app.is_up());
        assert_eq!((s.app.serving_id(), s.app.successor), (Some(old), None));
        // Shutdown stops the old one and exits once it is gone.
        let effects = without_pages(s.step(Some(Event::Signalled(Signal::SIGTERM)), t0 + DEBOUNCE));
        assert_eq!(
            effects,
            [Effect::StopApp {
                app: old,
                reason: StopReason::Shutdown
            }]
        );
    }

    /// `sed -i` on a busy machine: its temp file is checked (changed) before it is renamed over
    /// the file; the next check finds it gone since it appeared. The build is for the file alone.
    #[test]
    fn a_temp_file_a_check_saw_and_that_vanished_is_no_change() {
        let t0 = Instant::now();
        let mut s = running(t0);
        step(&mut s, Some(changed("src/sedX1")), t0);
        step(&mut s, None, t0 + DEBOUNCE);
        let temp_seen = Event::ContentsChecked {
            changed: vec![PathBuf::from("src/sedX1")],
            all_missing: false,
            fleeting: Vec::new(),
        };
        // The rename arrives while the first check is out: the temp file gone, the file new.
        let rename = Event::FilesChanged {
            paths: vec![PathBuf::from("src/main.go"), PathBuf::from("src/sedX1")],
            open: vec![],
        };
        step(&mut s, Some(rename), t0 + DEBOUNCE);
        step(&mut s, Some(temp_seen), t0 + DEBOUNCE);
        let t1 = t0 + DEBOUNCE * 3;
        assert_eq!(
            step(&mut s, None, t1),
            [Effect::CheckContents {
                paths: vec![PathBuf::from("src/main.go"), PathBuf::from("src/sedX1")]
            }]
        );
        let renamed = Event::ContentsChecked {
            changed: vec![PathBuf::from("src/main.go")],
            all_missing: false,
            fleeting: vec![PathBuf::from("src/sedX1")],
        };
        let effects = step(&mut s, Some(renamed), t1);
        assert!(
            effects.contains(&Effect::ReportChange {
                paths: vec![PathBuf::from("src/main.go")]
            }),
            "{effects:?}"
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
            fleeting: Vec::new(),
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
            fleeting: Vec::new(),
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
            fleeting: Vec::new(),
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
                    fleeting: Vec::new(),
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
            .filter(|e| {
                !matches!(
                    e,
                    Effect::ReportChange { .. } | Effect::Note(_) | Effect::Warn(_)
                )
            })
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
            fleeting: Vec::new(),
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
        let killed = Event::BuildFinished(BuildEnd::from(Outcome {
            code: None,
            signal: Some(Signal::SIGKILL),
        }));
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
        let busy = Event::BuildFinished(BuildEnd {
            slot: 0,
            binary_busy: true,
            outcome: Outcome {
                code: Some(1),
                signal: None,
            },
        });
        step(&mut s, Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(
            acts(step(&mut s, Some(busy), t0 + DEBOUNCE)),
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

    fn check(has_build: bool, may_finish: bool) -> Supervisor {
        Supervisor::new(Policy {
            goal: Goal::Check {
                timeout: STOP * 10,
                may_finish,
            },
            ready: ReadyVia::Http,
            ..policy(has_build)
        })
    }

    fn code(c: i32) -> Outcome {
        Outcome {
            code: Some(c),
            signal: None,
        }
    }

    #[test]
    fn once_concludes_ready_on_the_awaited_report_only_then_stops_and_exits_zero() {
        let t0 = Instant::now();
        let mut s = check(true, false);
        assert_eq!(start(&mut s, t0), [Effect::StartBuild { changes: vec![] }]);
        let [Effect::StartApp { app }] = s.step(Some(ok()), t0)[..] else {
            panic!("expected the app to start");
        };
        // Another way of being ready is reported, but it is not what --once waits for.
        let notified = Event::AppReady {
            app,
            via: ReadyVia::Notify,
        };
        assert_eq!(
            s.step(Some(notified), t0),
            [Effect::Ready {
                app,
                via: ReadyVia::Notify
            }]
        );
        let answered = Event::AppReady {
            app,
            via: ReadyVia::Http,
        };
        assert_eq!(
            s.step(Some(answered), t0),
            [
                Effect::Ready {
                    app,
                    via: ReadyVia::Http
                },
                Effect::Conclude(Verdict::Ready {
                    app,
                    via: ReadyVia::Http
                }),
                Effect::StopApp {
                    app,
                    reason: StopReason::Shutdown
                },
            ]
        );
        let gone = Event::AppExited {
            app,
            outcome: code(0),
        };
        assert_eq!(s.step(Some(gone), t0), [Effect::Exit(exit::OK)]);
    }

    #[test]
    fn once_verdicts_for_a_failed_build_a_crash_and_no_answer() {
        let t0 = Instant::now();
        let mut s = check(true, false);
        s.start(t0);
        assert_eq!(
            s.step(Some(failed()), t0),
            [
                Effect::Conclude(Verdict::BuildFailed(code(1))),
                Effect::Exit(exit::BUILD_FAILED)
            ]
        );

        let mut s = check(true, false);
        s.start(t0);
        let [Effect::StartApp { app }] = s.step(Some(ok()), t0)[..] else {
            panic!("expected the app to start");
        };
        let crashed = Event::AppExited {
            app,
            outcome: code(1),
        };
        assert_eq!(
            s.step(Some(crashed), t0),
            [
                Effect::Conclude(Verdict::AppFailed {
                    app,
                    outcome: code(1)
                }),
                Effect::Exit(exit::APP_FAILED)
            ]
        );

        let mut s = check(true, false);
        s.start(t0);
        let [Effect::StartApp { app }] = s.step(Some(ok()), t0)[..] else {
            panic!("expected the app to start");
        };
        let by = t0 + STOP * 10;
        assert_eq!(s.next_deadline(), Some(by));
        assert_eq!(
            s.step(None, by),
            [
                Effect::Conclude(Verdict::NotReady {
                    app,
                    within: STOP * 10
                }),
                Effect::StopApp {
                    app,
                    reason: StopReason::Shutdown
                }
            ]
        );
        // It ignores the stop signal: SIGKILL after the usual grace, then the verdict's status.
        assert_eq!(s.step(None, by + STOP), [Effect::KillApp { app }]);
        let killed = Event::AppExited {
            app,
            outcome: Outcome {
                code: None,
                signal: Some(Signal::SIGKILL),
            },
        };
        assert_eq!(
            s.step(Some(killed), by + STOP),
            [Effect::Exit(exit::APP_FAILED)]
        );
    }

    #[test]
    fn once_without_sockets_passes_a_clean_exit_and_without_an_app_passes_the_build() {
        let t0 = Instant::now();
        let mut s = check(false, true);
        let [Effect::StartApp { app }] = s.start(t0)[..] else {
            panic!("expected the app to start");
        };
        let done = Event::AppExited {
            app,
            outcome: code(0),
        };
        assert_eq!(
            s.step(Some(done), t0),
            [
                Effect::Conclude(Verdict::Finished { app }),
                Effect::Exit(exit::OK)
            ]
        );

        let mut s = Supervisor::new(Policy {
            has_app: false,
            ..check(true, false).policy
        });
        s.start(t0);
        assert_eq!(
            s.step(Some(ok()), t0),
            [Effect::Conclude(Verdict::Built), Effect::Exit(exit::OK)]
        );
    }

    #[test]
    fn pages_reload_once_per_new_app_and_show_what_failed() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(policy(true));
        s.start(t0);
        let [Effect::ClearFailure, Effect::StartApp { app }] = s.step(Some(ok()), t0)[..] else {
            panic!("expected the app to start");
        };
        let started = Event::AppReady {
            app,
            via: ReadyVia::Started,
        };
        assert_eq!(
            s.step(Some(started), t0),
            [
                Effect::ReloadPages,
                Effect::Ready {
                    app,
                    via: ReadyVia::Started
                }
            ]
        );
        // The same report again is not news.
        let again = Event::AppReady {
            app,
            via: ReadyVia::Started,
        };
        assert_eq!(s.step(Some(again), t0), []);
        // A failed build while the app serves: pages show it, requests still reach the app.
        s.step(Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(
            s.step(Some(failed()), t0 + DEBOUNCE),
            [Effect::ShowFailure {
                failure: Failure::Build(code(1)),
                app_down: false
            }]
        );
        // The app crashes: hot answers for it.
        let crashed = Event::AppExited {
            app,
            outcome: code(2),
        };
        assert_eq!(
            without_notes(s.step(Some(crashed), t0 + DEBOUNCE)),
            [Effect::ShowFailure {
                failure: Failure::App(code(2)),
                app_down: true
            }]
        );
    }

    fn without_notes(effects: Vec<Effect>) -> Vec<Effect> {
        effects
            .into_iter()
            .filter(|e| !matches!(e, Effect::Note(_)))
            .collect()
    }

    #[test]
    fn drain_starts_the_next_app_once_the_old_one_let_go_of_its_sockets() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Policy {
            restart_mode: RestartMode::Drain,
            ..policy(true)
        });
        s.start(t0);
        let [_, Effect::StartApp { app: old }] = s.step(Some(ok()), t0)[..] else {
            panic!("expected the app to start");
        };
        s.step(Some(changed("a.go")), t0);
        tick(&mut s, t0 + DEBOUNCE);
        assert_eq!(
            without_pages(s.step(Some(ok()), t0 + DEBOUNCE)),
            [
                Effect::StopApp {
                    app: old,
                    reason: StopReason::Restart
                },
                Effect::WatchRelease { app: old }
            ]
        );
        let released = Event::AppReleased { app: old };
        let [Effect::StartApp { app: new }] = s.step(Some(released), t0 + DEBOUNCE)[..] else {
            panic!("expected the next app to start at once");
        };
        assert_ne!(new, old);
        // The old app keeps its grace to finish its requests, and its exit changes nothing.
        assert_eq!(
            s.step(None, t0 + DEBOUNCE + STOP),
            [Effect::KillApp { app: old }]
        );
        let gone = Event::AppExited {
            app: old,
            outcome: code(0),
        };
        assert_eq!(s.step(Some(gone), t0 + DEBOUNCE + STOP), []);
        assert_eq!(s.app.serving_id(), Some(new));
    }
}
