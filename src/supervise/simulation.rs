//! Deterministic simulation of the decision core: `Supervisor::step` driven by seeded random
//! schedules against a simulated world (FoundationDB's simulation testing, TigerBeetle's VOPR,
//! in miniature). The world carries out every effect the way the edges do, with processes that
//! are slow, fail, crash, never become ready or ignore SIGTERM, saves in one call, in two or held
//! open, keys, signals, config reloads and jumps of the clock; after every step it checks the
//! invariants below. A failing schedule prints its seed: `HOT_SIM_SEED=N cargo test simulation`
//! replays it alone; `HOT_SIM_SCHEDULES=N` runs more (the default is 10,000).
//!
//! Invariants, checked after every step:
//! 1. At most one build process is alive, and the core never starts one while it is.
//! 2. Never two apps serving one socket outside an overlap swap: with `stop-then-start` an app
//!    starts only once every other has exited; with `drain` once every other was told to stop
//!    and let go of its sockets (or exited); with `overlap` at most two are alive and not
//!    stopping, and a second only while the first serves.
//! 3. No process is left without an owner or a deadline: an app told to stop that has not
//!    exited, and a cancelled build, have a SIGKILL due within their grace (`next_deadline`).
//! 4. A stop is always followed by the app's exit or a kill: when the schedule ends, every app
//!    and build has exited.
//! 5. Every change whose content was confirmed is in a build that ran to its end, started after
//!    the change (or is superseded by a later one): checked when the world is quiet.
//! 6. `--once` always concludes, exactly once, and every session ends in `Exit` with nothing
//!    alive.
//! 7. The core never names an app that does not exist (stopping, killing an unknown id).

use std::collections::{BTreeMap, BinaryHeap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::*;
use crate::event::{BuildEnd, Key, Outcome};

/// A tiny deterministic generator (xorshift64*): the same seed, the same schedule.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppState {
    Running,
    /// Told to stop; must be killed by `kill_by` (its grace as it was then) unless it exits;
    /// `released`: it closed its listening sockets.
    Stopping {
        kill_by: Instant,
        released: bool,
    },
}

#[derive(Debug)]
struct SimApp {
    state: AppState,
    /// Will not exit on the stop signal (only SIGKILL ends it).
    stubborn: bool,
    /// SIGKILL was sent: it cannot outlive the session (which reaps it as it ends).
    killed: bool,
}

#[derive(Debug)]
struct SimBuild {
    started: Instant,
    /// Cancelled, to be killed by then (its grace as it was); it may ignore the signal.
    cancelled: Option<Instant>,
    stubborn: bool,
    killed: bool,
}

/// An event due at a time; the heap pops the earliest (ties in the order they were made).
#[derive(Debug)]
struct Due {
    at: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct World {
    seed: u64,
    rng: Rng,
    policy: Policy,
    now: Instant,
    queue: BinaryHeap<Due>,
    seq: u64,
    apps: BTreeMap<AppId, SimApp>,
    build: Option<SimBuild>,
    /// Quiet phase: no more input; apps started now behave.
    settling: bool,
    shutdown_asked: bool,
    concluded: u32,
    exited: Option<u8>,
    /// When each confirmed change was confirmed.
    confirmed: Vec<(Instant, PathBuf)>,
    /// Start times of builds that ran to their end.
    completed_builds: Vec<Instant>,
    /// What happened, for the report of a failing seed.
    log: Vec<String>,
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let restart_mode = match rng.below(3) {
            0 => RestartMode::StopThenStart,
            1 => RestartMode::Drain,
            _ => RestartMode::Overlap,
        };
        let ready = if restart_mode == RestartMode::Overlap || rng.chance(30) {
            ReadyVia::Notify
        } else if rng.chance(30) {
            ReadyVia::Http
        } else {
            ReadyVia::Started
        };
        let goal = if rng.chance(20) {
            Goal::Check {
                timeout: Duration::from_millis(500 + rng.below(3000)),
                may_finish: rng.chance(50),
            }
        } else {
            Goal::Serve
        };
        let has_build = rng.chance(85);
        let policy = Policy {
            goal,
            ready,
            debounce: Duration::from_millis(rng.below(50)),
            has_build,
            // A config with neither is refused before a session starts.
            has_app: !has_build || rng.chance(95),
            stop_timeout: Duration::from_millis(100 + rng.below(3000)),
            build_grace: Duration::from_millis(50 + rng.below(1000)),
            restart: match rng.below(3) {
                0 => Restart::Never,
                1 => Restart::OnFailure,
                _ => Restart::Always,
            },
            restart_mode,
        };
        World {
            seed,
            rng,
            policy,
            now: Instant::now(),
            queue: BinaryHeap::new(),
            seq: 0,
            apps: BTreeMap::new(),
            build: None,
            settling: false,
            shutdown_asked: false,
            concluded: 0,
            exited: None,
            confirmed: Vec::new(),
            completed_builds: Vec::new(),
            log: Vec::new(),
        }
    }

    fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().map(String::as_str).collect();
        panic!(
            "simulation seed {}: {what}\npolicy: {:?}\nreplay: HOT_SIM_SEED={} cargo test simulation\nlast steps:\n{}",
            self.seed,
            self.policy,
            self.seed,
            tail.join("\n")
        );
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.push(Due {
            at: self.now + after,
            seq: self.seq,
            event,
        });
    }

    /// Removes the scheduled events `drop` matches (an app killed: its planned exit is moot).
    fn unschedule(&mut self, drop: impl Fn(&Event) -> bool) {
        let kept: Vec<Due> = std::mem::take(&mut self.queue)
            .into_iter()
            .filter(|d| !drop(&d.event))
            .collect();
        self.queue = kept.into_iter().collect();
    }

    fn outcome(code: Option<i32>, signal: Option<Signal>) -> Outcome {
        Outcome { code, signal }
    }

    /// Carries out `effects`; answers that the edges give at once are fed back at once.
    fn apply(&mut self, s: &mut Supervisor, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            self.log.push(format!("  {:?} -> {effect:?}", self.now));
            if effect == Effect::ReloadConfig {
                // As the session does: the reconfigured Supervisor's effects go after the rest
                // of this step's.
                let policy = self.edited_policy();
                let more = s.reconfigure(policy, PathBuf::from(".hot.toml"), self.now);
                queue.extend(more);
                continue;
            }
            let answer = self.effect(effect);
            if let Some(answer) = answer {
                self.log.push(format!("{:?} answer {answer:?}", self.now));
                let more = s.step(Some(answer), self.now);
                queue.extend(more);
            }
        }
    }

    fn effect(&mut self, effect: Effect) -> Option<Event> {
        match effect {
            Effect::StartBuild { .. } => {
                if self.build.is_some() {
                    self.fail("a build started while another is alive (invariant 1)");
                }
                let stubborn = self.rng.chance(10);
                self.build = Some(SimBuild {
                    started: self.now,
                    cancelled: None,
                    stubborn,
                    killed: false,
                });
                let ok = self.settling || self.rng.chance(75);
                let busy = !ok && !self.apps.is_empty() && self.rng.chance(20);
                let end = BuildEnd {
                    slot: 0,
                    outcome: Self::outcome(Some(if ok { 0 } else { 2 }), None),
                    binary_busy: busy,
                };
                let took = self.rng.millis(1500);
                self.schedule(took, Event::BuildFinished(end));
                None
            }
            Effect::CancelBuild => {
                let Some(build) = &mut self.build else {
                    self.fail("CancelBuild with no build alive");
                };
                build.cancelled = Some(self.now + self.policy.build_grace);
                let stubborn = build.stubborn;
                self.unschedule(|e| matches!(e, Event::BuildFinished(_)));
                if !stubborn {
                    let grace = self.policy.build_grace;
                    let after = self.rng.millis(grace.as_millis() as u64 / 2);
                    let end = BuildEnd::from(Self::outcome(None, Some(Signal::SIGTERM)));
                    self.schedule(after, Event::BuildFinished(end));
                }
                None
            }
            Effect::KillBuild => {
                let Some(build) = &mut self.build else {
                    self.fail("KillBuild with no build alive");
                };
                build.killed = true;
                self.unschedule(|e| matches!(e, Event::BuildFinished(_)));
                let end = BuildEnd::from(Self::outcome(None, Some(Signal::SIGKILL)));
                self.schedule(Duration::ZERO, Event::BuildFinished(end));
                None
            }
            Effect::StartApp { app } => {
                self.check_start_allowed(app);
                let stubborn = self.rng.chance(15);
                self.apps.insert(
                    app,
                    SimApp {
                        state: AppState::Running,
                        stubborn,
                        killed: false,
                    },
                );
                let crashes = !self.settling && self.rng.chance(15);
                if crashes {
                    let code = if self.rng.chance(30) { 0 } else { 1 };
                    let after = self.rng.millis(2000);
                    let outcome = Self::outcome(Some(code), None);
                    self.schedule(after, Event::AppExited { app, outcome });
                }
                match self.policy.ready {
                    ReadyVia::Started => Some(Event::AppReady {
                        app,
                        via: ReadyVia::Started,
                    }),
                    via => {
                        if self.settling || self.rng.chance(85) {
                            let after = self.rng.millis(800);
                            self.schedule(after, Event::AppReady { app, via });
                        }
                        None
                    }
                }
            }
            Effect::StopApp { app, .. } => {
                let kill_by = self.now + self.policy.stop_timeout;
                let Some(sim) = self.apps.get_mut(&app) else {
                    self.fail(&format!(
                        "StopApp of {app:?}, which is not alive (invariant 7)"
                    ));
                };
                if let AppState::Running = sim.state {
                    sim.state = AppState::Stopping {
                        kill_by,
                        released: false,
                    };
                }
                if !sim.stubborn {
                    let grace = self.policy.stop_timeout.as_millis() as u64;
                    let after = self.rng.millis(grace * 8 / 10);
                    let outcome = Self::outcome(None, Some(Signal::SIGTERM));
                    self.unschedule(|e| matches!(e, Event::AppExited { app: a, .. } if *a == app));
                    self.schedule(after, Event::AppExited { app, outcome });
                }
                None
            }
            Effect::KillApp { app } => {
                let Some(sim) = self.apps.get_mut(&app) else {
                    self.fail(&format!(
                        "KillApp of {app:?}, which is not alive (invariant 7)"
                    ));
                };
                sim.killed = true;
                self.unschedule(|e| matches!(e, Event::AppExited { app: a, .. } if *a == app));
                let outcome = Self::outcome(None, Some(Signal::SIGKILL));
                self.schedule(Duration::ZERO, Event::AppExited { app, outcome });
                None
            }
            Effect::WatchRelease { app } => {
                if self.rng.chance(80) {
                    let after = self.rng.millis(300);
                    self.schedule(after, Event::AppReleased { app });
                }
                None
            }
            Effect::CheckContents { paths } => {
                let mut changed = Vec::new();
                for p in &paths {
                    if self.settling || self.rng.chance(85) {
                        changed.push(p.clone());
                    }
                }
                let all_missing = !self.settling && self.rng.chance(5);
                for p in &changed {
                    if !all_missing {
                        self.confirmed.push((self.now, p.clone()));
                    }
                }
                Some(Event::ContentsChecked {
                    changed,
                    all_missing,
                    fleeting: Vec::new(),
                })
            }
            Effect::ReloadConfig => None,
            Effect::Conclude(_) => {
                self.concluded += 1;
                if self.concluded > 1 {
                    self.fail("--once concluded twice (invariant 6)");
                }
                None
            }
            Effect::Exit(code) => {
                if self.exited.is_some() {
                    self.fail("Exit twice");
                }
                self.exited = Some(code);
                // A second Ctrl-C exits at once: what was sent SIGKILL is reaped as hot ends.
                let unkilled = self.apps.values().any(|a| !a.killed)
                    || self.build.as_ref().is_some_and(|b| !b.killed);
                if unkilled {
                    self.fail(&format!(
                        "Exit({code}) with processes alive: apps {:?}, build {:?} (invariant 6)",
                        self.apps.keys().collect::<Vec<_>>(),
                        self.build
                    ));
                }
                None
            }
            Effect::Note(_)
            | Effect::Warn(_)
            | Effect::ReportChange { .. }
            | Effect::Ready { .. }
            | Effect::ReloadPages
            | Effect::ShowFailure { .. }
            | Effect::ClearFailure => None,
        }
    }

    /// A valid edit of the config: other timings, the same shape.
    fn edited_policy(&mut self) -> Policy {
        self.policy = Policy {
            debounce: Duration::from_millis(self.rng.below(50)),
            stop_timeout: Duration::from_millis(100 + self.rng.below(3000)),
            build_grace: Duration::from_millis(50 + self.rng.below(1000)),
            ..self.policy
        };
        self.policy
    }

    /// Invariant 2, at the moment an app starts.
    fn check_start_allowed(&self, app: AppId) {
        if self.apps.contains_key(&app) {
            self.fail(&format!("{app:?} started twice"));
        }
        let running = self
            .apps
            .values()
            .filter(|a| a.state == AppState::Running)
            .count();
        match self.policy.restart_mode {
            RestartMode::StopThenStart => {
                if !self.apps.is_empty() {
                    self.fail("an app started before the old one exited (invariant 2)");
                }
            }
            RestartMode::Drain => {
                let clear = self
                    .apps
                    .values()
                    .all(|a| matches!(a.state, AppState::Stopping { released: true, .. }));
                if !clear {
                    self.fail("an app started while another still held the sockets (invariant 2)");
                }
            }
            RestartMode::Overlap => {
                if running > 1 {
                    self.fail("a third app started beside two serving (invariant 2)");
                }
            }
        }
    }

    /// Invariant 3: every stopping app and cancelled build that will not end by itself has a
    /// SIGKILL due within its grace.
    fn check_deadlines(&self, s: &Supervisor) {
        let deadline = s.next_deadline();
        let slack = Duration::from_millis(1);
        for (id, app) in &self.apps {
            if let AppState::Stopping { kill_by, .. } = app.state {
                let exits = self
                    .queue
                    .iter()
                    .any(|d| matches!(d.event, Event::AppExited { app, .. } if app == *id));
                if !exits {
                    let due = kill_by + slack;
                    if deadline.is_none_or(|d| d > due.max(self.now)) {
                        self.fail(&format!(
                            "{id:?} must be killed by {kill_by:?} and nothing will end it: next deadline {deadline:?} (invariant 3)"
                        ));
                    }
                }
            }
        }
        if let Some(SimBuild {
            cancelled: Some(at),
            ..
        }) = &self.build
        {
            let ends = self
                .queue
                .iter()
                .any(|d| matches!(d.event, Event::BuildFinished(_)));
            let due = *at + slack;
            if !ends && deadline.is_none_or(|d| d > due.max(self.now)) {
                self.fail("a cancelled build that ignores SIGTERM has no kill due (invariant 3)");
            }
        }
    }

    /// Feeds `event` to the Supervisor, keeping the world's books first. After `Exit` the
    /// session steps this Supervisor no more (what reaches it then is dropped).
    fn deliver(&mut self, s: &mut Supervisor, event: Event) {
        if self.exited.is_some() {
            return;
        }
        match &event {
            // What belongs to a process that is gone is not delivered.
            Event::AppExited { app, .. } if self.apps.remove(app).is_none() => return,
            Event::AppReleased { app } => match self.apps.get_mut(app) {
                Some(SimApp {
                    state: AppState::Stopping { released, .. },
                    ..
                }) => *released = true,
                _ => return,
            },
            Event::AppReady { app, .. } if !self.apps.contains_key(app) => return,
            Event::BuildFinished(end) => {
                let Some(build) = self.build.take() else {
                    return;
                };
                if build.cancelled.is_none() && end.outcome.signal.is_none() {
                    self.completed_builds.push(build.started);
                }
            }
            _ => {}
        }
        self.log.push(format!("{:?} event {event:?}", self.now));
        let effects = s.step(Some(event), self.now);
        self.apply(s, effects);
    }

    /// One input of a developer or of the OS.
    fn input(&mut self, s: &mut Supervisor) {
        if let Goal::Check { .. } = self.policy.goal {
            // `--once` watches nothing and reads no keys: only a signal can come.
            if !self.shutdown_asked && self.rng.chance(3) {
                self.shutdown_asked = true;
                self.deliver(s, Event::Signalled(Signal::SIGINT));
            }
            return;
        }
        let file = PathBuf::from(format!("src/f{}.go", self.rng.below(4)));
        let event = match self.rng.below(100) {
            0..=54 => Event::FilesChanged {
                paths: vec![file],
                open: Vec::new(),
            },
            55..=69 => {
                // A save in two calls, or held open: the close comes later.
                let after = self.rng.millis(400);
                self.schedule(
                    after,
                    Event::FilesChanged {
                        paths: vec![file.clone()],
                        open: Vec::new(),
                    },
                );
                Event::FilesChanged {
                    paths: vec![file.clone()],
                    open: vec![file],
                }
            }
            70..=74 => Event::FilesChanged {
                // A checkout: many files at once.
                paths: (0..12)
                    .map(|i| PathBuf::from(format!("src/g{i}.go")))
                    .collect(),
                open: Vec::new(),
            },
            75..=82 => Event::Key(Key::Rebuild),
            83..=86 => Event::ConfigChanged,
            87..=88 if !self.shutdown_asked => {
                self.shutdown_asked = true;
                if self.rng.chance(50) {
                    Event::Key(Key::Quit)
                } else {
                    Event::Signalled(Signal::SIGTERM)
                }
            }
            _ => Event::Key(Key::Clear),
        };
        self.deliver(s, event);
    }

    /// Moves time to the next thing that happens and lets it happen. `input`: whether the
    /// developer may act. False when nothing at all is left to happen.
    fn advance(&mut self, s: &mut Supervisor, input: bool) -> bool {
        let next_due = self.queue.peek().map(|d| d.at);
        let deadline = s.next_deadline().filter(|_| self.exited.is_none());
        let jump = if self.rng.chance(3) {
            // The laptop slept, or the machine is very busy.
            Duration::from_secs(5 + self.rng.below(40))
        } else {
            self.rng.millis(300)
        };
        let input_at = input.then(|| self.now + jump);
        let Some(at) = [next_due, deadline, input_at].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(at);
        if next_due == Some(at) {
            if let Some(due) = self.queue.pop() {
                self.deliver(s, due.event);
            }
        } else if deadline == Some(at) {
            self.log.push(format!("{:?} deadline", self.now));
            let effects = s.step(None, self.now);
            self.apply(s, effects);
        } else {
            self.input(s);
        }
        true
    }

    /// Runs without input until nothing is left to happen (or fails after too many steps).
    fn settle(&mut self, s: &mut Supervisor) {
        self.settling = true;
        for _ in 0..5000 {
            if self.exited.is_some() && self.queue.is_empty() {
                return;
            }
            if !self.advance(s, false) {
                return;
            }
            self.check_deadlines(s);
        }
        self.fail("the session never settled without input (a livelock)");
    }
}

fn run_schedule(seed: u64, steps: usize) {
    let mut world = World::new(seed);
    let mut s = Supervisor::new(world.policy);
    let effects = s.start(world.now);
    world.apply(&mut s, effects);
    for _ in 0..steps {
        if world.exited.is_some() {
            break;
        }
        world.advance(&mut s, true);
        world.check_deadlines(&s);
    }
    world.settle(&mut s);
    // Invariant 5: quiet now, so every confirmed change is in a build that ran to its end.
    let serving = world.policy.goal == Goal::Serve;
    if serving && world.policy.has_build && !world.shutdown_asked && world.exited.is_none() {
        if let Some((at, path)) = world.confirmed.last().cloned() {
            let built = world.completed_builds.iter().any(|start| *start >= at);
            if !built {
                world.fail(&format!(
                    "the change to {} confirmed at {at:?} is in no completed build (invariant 5)",
                    path.display()
                ));
            }
        }
    }
    // Invariants 4 and 6: asked to stop, every session ends with nothing alive.
    if world.exited.is_none() {
        world.shutdown_asked = true;
        world.log.push(format!("{:?} event Quit (end)", world.now));
        let effects = s.step(Some(Event::Key(Key::Quit)), world.now);
        world.apply(&mut s, effects);
        world.settle(&mut s);
    }
    if world.exited.is_none() {
        world.fail("the session never exited (invariant 6)");
    }
    let unkilled =
        world.apps.values().any(|a| !a.killed) || world.build.as_ref().is_some_and(|b| !b.killed);
    if unkilled {
        world.fail("processes outlived the session (invariant 4)");
    }
    if let Goal::Check { .. } = world.policy.goal {
        if world.concluded != 1 && !world.shutdown_asked {
            world.fail("--once ended without a verdict (invariant 6)");
        }
    }
}

/// Seeds that found bugs, kept as regression cases (each with what it found).
const REGRESSIONS: [(u64, &str); 1] = [(
    13,
    "a build blocked by the running binary was started again when the app exited, beside a \
     newer build still being cancelled",
)];

#[test]
fn the_schedules_that_found_bugs_pass() {
    for (seed, _found) in REGRESSIONS {
        run_schedule(seed, 80);
    }
}

#[test]
fn random_schedules_keep_every_invariant() {
    if let Ok(seed) = std::env::var("HOT_SIM_SEED") {
        let seed = seed.parse().expect("HOT_SIM_SEED is a number");
        run_schedule(seed, 80);
        return;
    }
    let schedules: u64 = std::env::var("HOT_SIM_SCHEDULES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    for seed in 0..schedules {
        run_schedule(seed, 80);
    }
}
