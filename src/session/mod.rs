//! The app loop: the one place where the edges (watcher, signals, processes, sockets, output)
//! meet the decisions of the `Supervisor`. The same loop runs a development session and
//! `hot --once`; only the Supervisor's goal and the edges that are switched on differ.

mod http;
mod load;
mod readiness;
mod reload;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::build::{self, BuildJob};
use crate::cli::Cli;
use crate::config::{Config, Ready, Route};
use crate::error::Error;
use crate::event::{AppId, BuildEnd, Event, Key, ReadyVia};
use crate::listen::Listeners;
use crate::proxy::{self, Proxy};
use crate::ready::{self, NotifySocket};
use crate::supervise::app::AppProcess;
use crate::supervise::guard::Guard;
use crate::supervise::{self, Effect, Failure, Goal, Policy, Restart, Supervisor, Verdict};
use crate::ui::{Message, Reporter, keys, millis};
use crate::watch::Watcher;
use crate::watch::contents::Check;

pub use load::{Loader, Prepared, enter_dir, prepare};
use readiness::Awaited;

/// How long a cancelled build gets to clean up before SIGKILL.
const BUILD_CANCEL_GRACE: Duration = Duration::from_millis(1000);

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Watch, rebuild, restart, until a signal or `q`.
    Develop,
    /// `hot --once`: build, start, wait until ready, stop, and say so in the exit status.
    SmokeTest,
}

/// How a session ended.
#[derive(Debug)]
pub struct Ended {
    pub code: u8,
    /// What `--once` concluded, with what the session knew then.
    pub conclusion: Option<(Verdict, Facts)>,
}

/// What the session knows beside a verdict, for `--once`'s summary.
#[derive(Debug, Default)]
pub struct Facts {
    /// How long the build took.
    pub built_ms: Option<u64>,
    /// How long the app had been running.
    pub app_ms: Option<u64>,
    /// What the app was not found to do in time ("no HTTP answer below 500 for GET / …").
    pub awaited: Option<String>,
    /// The readiness probe's last failed attempt.
    pub last_attempt: Option<String>,
}

/// Runs a session until its goal is reached or it is stopped.
pub fn run(cli: Cli, purpose: Purpose) -> Result<Ended, Error> {
    // First, while hot is still single-threaded (the guard is a fork), and before any socket
    // is bound (the guard holds nothing of hot's).
    supervise::process::become_subreaper();
    let guard = Guard::spawn().map_err(|e| Error::io("cannot start hot's cleanup helper", e))?;
    let reporter = Reporter::new(cli.json);
    let Prepared {
        root,
        config,
        listeners,
        loader,
    } = prepare(&cli, &reporter)?;

    let (events, inbox) = mpsc::channel();
    forward_signals(events.clone())?;
    let (watcher, keyboard) = match purpose {
        Purpose::Develop => {
            let watcher = Watcher::start(
                &config.watch,
                &root,
                &config.tmp_dir,
                &loader.file,
                events.clone(),
            )?;
            // Before `watching`, so a key pressed once hot says it is watching is never
            // line-buffered.
            (Some(watcher), keys::listen(events.clone()))
        }
        Purpose::SmokeTest => (None, None),
    };
    let route = config.route();
    let (private, proxy) = http::http_side(&config, route, &listeners, events.clone())?;
    let mut session = Session {
        purpose,
        route,
        private,
        no_sockets: Listeners::default(),
        proxy,
        notify: None,
        apps: Vec::new(),
        failed_output: None,
        last_build_ms: None,
        conclusion: None,
        css_only_change: false,
        last_change: None,
        editors: Vec::new(),
        live_reload: config.reload,
        config_text: std::fs::read(&loader.file).ok(),
        loader,
        root,
        config,
        listeners,
        watcher,
        reporter,
        events,
        guard,
        build: None,
        keyboard,
    };
    session.bind_notify_if_needed();
    if purpose == Purpose::Develop {
        session.announce();
        if session.keyboard.is_some() {
            session.reporter.key_hint();
        }
    }
    let mut supervisor = Supervisor::new(session.policy());

    let mut effects: VecDeque<Effect> = supervisor.start(Instant::now()).into();
    loop {
        while let Some(effect) = effects.pop_front() {
            match session.apply(effect) {
                Applied::Done => {}
                // Answered here, before any other event: nothing can slip in between a question
                // and its answer.
                Applied::Answer(event) => {
                    effects.extend(supervisor.step(Some(event), Instant::now()))
                }
                Applied::Reconfigured(policy, file) => {
                    effects.extend(supervisor.reconfigure(policy, file, Instant::now()));
                }
                Applied::Exit(code) => {
                    return Ok(Ended {
                        code,
                        conclusion: session.conclusion.take(),
                    });
                }
            }
        }
        let event = match supervisor.next_deadline() {
            Some(deadline) => {
                match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => unreachable_disconnect(),
                }
            }
            None => match inbox.recv() {
                Ok(event) => Some(event),
                Err(_) => unreachable_disconnect(),
            },
        };
        let event = event.and_then(|event| session.observe(event));
        effects = supervisor.step(event, Instant::now()).into();
    }
}

/// The session holds a sender, so the channel cannot disconnect while the loop runs.
fn unreachable_disconnect() -> Option<Event> {
    None
}

pub(crate) fn forward_signals(events: Sender<Event>) -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("cannot install signal handlers", e))?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for raw in signals.forever() {
                let Ok(signal) = Signal::try_from(raw) else {
                    continue;
                };
                if events.send(Event::Signalled(signal)).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("cannot start the signal thread", e))?;
    Ok(())
}

/// How long a failed build's output may take to be read to its end. The readers end as soon as
/// the pipe closes, at once in the common case; the cap is for a daemon the build left holding
/// the pipe. It is generous because the "text file busy" fact is read from that output, and a
/// busy machine may schedule the readers late.
const OUTPUT_DRAIN_CAP: Duration = Duration::from_secs(2);

/// What carrying out an effect led to.
enum Applied {
    Done,
    /// The effect was a question for the outside world; this is its answer, for the
    /// Supervisor.
    Answer(Event),
    /// The config was reloaded: the new policy, and the file (relative) as the trigger.
    Reconfigured(Policy, PathBuf),
    /// The session is over, with this exit status.
    Exit(u8),
}

/// The edges: the processes that exist right now, the sockets, and the means to report. What
/// to do with them is the Supervisor's to decide.
struct Session {
    purpose: Purpose,
    loader: Loader,
    /// The config file's bytes when last loaded, to ignore saves that change nothing.
    config_text: Option<Vec<u8>>,
    root: PathBuf,
    config: Config,
    listeners: Listeners,
    /// None under `--once`, which watches nothing.
    watcher: Option<Watcher>,
    reporter: Reporter,
    events: Sender<Event>,
    guard: Guard,
    build: Option<BuildJob>,
    /// The last failed build's output, for the failure view.
    failed_output: Option<String>,
    /// How long the last good build took, for the `--once` summary.
    last_build_ms: Option<u64>,
    /// What `--once` concluded.
    conclusion: Option<(Verdict, Facts)>,
    /// The app processes alive now: one, or two during an overlap restart, plus any being
    /// stopped.
    apps: Vec<AppProcess>,
    /// How requests reach the app, fixed for the session.
    route: Route,
    /// The sockets the app gets when hot's proxy holds the public ones.
    private: Option<Listeners>,
    /// What an app that binds its own port gets.
    no_sockets: Listeners,
    proxy: Option<Proxy>,
    /// Bound only while `[run] ready = "notify"`: an app that finds `NOTIFY_SOCKET` may act on
    /// it (puma warns without its sd_notify gem), so it is set only when hot listens.
    notify: Option<NotifySocket>,
    /// The latest change touched only stylesheets: pages restyle instead of reloading.
    css_only_change: bool,
    /// What the latest build was for ("src/main.rs changed"), for the failure view.
    last_change: Option<String>,
    /// Editors started from the failure view, until they exit (they are hot's processes too).
    editors: Vec<std::process::Child>,
    /// `[browser] reload`, fixed for the session like `route`.
    live_reload: bool,
    /// Restores the terminal when the session ends.
    keyboard: Option<keys::KeyboardGuard>,
}

impl Session {
    /// What the Supervisor needs to know of the config and of this session.
    fn policy(&self) -> Policy {
        let run = self.config.run.as_ref();
        let awaited = self.awaited(&self.listeners);
        let goal = match self.purpose {
            Purpose::Develop => Goal::Serve,
            Purpose::SmokeTest => Goal::Check {
                timeout: match awaited {
                    // Settling takes `settle`; the deadline is for an app that never answers.
                    Awaited::Settle(settle) => self.config.once.timeout.max(settle * 2),
                    _ => self.config.once.timeout,
                },
                may_finish: self.listeners.is_empty(),
            },
        };
        Policy {
            goal,
            ready: awaited.via(),
            debounce: self.config.watch.debounce,
            has_build: self.config.build.is_some(),
            has_app: run.is_some(),
            stop_timeout: run.map_or(Duration::ZERO, |r| r.stop_timeout),
            build_grace: BUILD_CANCEL_GRACE,
            restart: run.map_or(Restart::Never, |r| r.restart),
            restart_mode: run.map(|r| r.restart_mode).unwrap_or_default(),
        }
    }

    /// What tells hot that an app started on `sockets` is ready.
    fn awaited(&self, sockets: &Listeners) -> Awaited {
        readiness::plan(&self.config, self.purpose, self.notify.is_some(), sockets)
    }

    /// Binds the notify socket when the config waits for READY=1 and there is none yet.
    fn bind_notify_if_needed(&mut self) {
        let wanted = self
            .config
            .run
            .as_ref()
            .is_some_and(|r| r.ready == Ready::Notify);
        if !wanted || self.notify.is_some() {
            return;
        }
        match NotifySocket::bind(self.events.clone()) {
            Ok(socket) => self.notify = Some(socket),
            Err(e) => self.reporter.warn(format!(
                "cannot create the notify socket ({e}): [run] ready = \"notify\" cannot work, \
                 so the app counts as ready once it started"
            )),
        }
    }

    /// Reports an event, retires the process it is about, and passes on the fact for the
    /// Supervisor (filled in with what only the edge can see).
    fn observe(&mut self, event: Event) -> Option<Event> {
        match event {
            Event::BuildFinished(BuildEnd { outcome, .. }) => {
                let job = self.build.take()?;
                self.retire(job.group);
                let ms = millis(job.started.elapsed());
                let failed_output = (!outcome.success() && !job.cancelled)
                    .then(|| job.output_tail(OUTPUT_DRAIN_CAP));
                let binary_busy = !self.apps.is_empty()
                    && failed_output
                        .as_deref()
                        .is_some_and(build::blocked_by_running_binary);
                if !binary_busy {
                    self.reporter.report(&if job.cancelled {
                        Message::BuildCancelled { ms }
                    } else if outcome.success() {
                        self.last_build_ms = Some(ms);
                        Message::BuildOk { ms }
                    } else {
                        Message::BuildFailed {
                            ms,
                            code: outcome.code,
                            signal: outcome.signal.map(Signal::as_str),
                            first_error: failed_output.as_deref().and_then(|output| {
                                crate::editor::first_error(output, &self.config.root)
                                    .map(|at| at.to_string())
                            }),
                        }
                    });
                }
                self.failed_output = failed_output;
                return Some(Event::BuildFinished(BuildEnd {
                    outcome,
                    binary_busy,
                }));
            }
            Event::AppExited { app, outcome } => {
                if let Some(proxy) = &self.proxy {
                    proxy.app_gone(app.0);
                }
                if let Some(at) = self.apps.iter().position(|a| a.id == app) {
                    let app = self.apps.remove(at);
                    // Also whatever the app started that escaped its group, before the next app
                    // needs the port.
                    let keep: Vec<u32> = [
                        Some(self.guard.pid()),
                        self.build.as_ref().map(|b| b.group.pid()),
                    ]
                    .into_iter()
                    .flatten()
                    .chain(self.apps.iter().map(|a| a.group.pid()))
                    .collect();
                    supervise::process::clean_up_after(app.group, &keep);
                    self.guard.remove(app.group.pid());
                    self.reporter.report(&Message::exit(
                        app.group.pid(),
                        &outcome,
                        app.started.elapsed(),
                    ));
                }
            }
            Event::Notified { sender, message } => {
                let app = self.app_of(sender)?;
                return message.ready.then_some(Event::AppReady {
                    app,
                    via: ReadyVia::Notify,
                });
            }
            Event::OpenInEditor(ref location) => self.open_in_editor(location),
            Event::WatchFailed(ref message) => {
                self.reporter.warn(format!("watcher: {message}"));
            }
            Event::Key(Key::Clear) => self.reporter.clear_screen(),
            Event::FilesChanged { .. }
            | Event::AppReady { .. }
            | Event::AppReleased { .. }
            | Event::Signalled(_)
            | Event::Key(_)
            | Event::ConfigChanged
            | Event::ContentsChecked { .. } => {}
        }
        Some(event)
    }

    /// Opens `location` in the developer's editor: `[browser] editor`, else `$VISUAL`, else
    /// `$EDITOR`. The editor runs in a process group of its own, guarded like the app.
    fn open_in_editor(&mut self, location: &crate::editor::Location) {
        let guard = &mut self.guard;
        self.editors.retain_mut(|e| {
            let running = matches!(e.try_wait(), Ok(None));
            if !running {
                guard.remove(e.id());
            }
            running
        });
        let editor = self
            .config
            .editor
            .clone()
            .or_else(|| {
                std::env::var("VISUAL")
                    .ok()
                    .filter(|v| !v.trim().is_empty())
            })
            .or_else(|| {
                std::env::var("EDITOR")
                    .ok()
                    .filter(|v| !v.trim().is_empty())
            });
        let Some(editor) = editor else {
            self.reporter.warn(format!(
                "cannot open {location}: no editor; set [browser] editor (or $VISUAL / $EDITOR)"
            ));
            return;
        };
        let file = self.config.root.join(&location.path);
        let Some(words) = crate::editor::command(&editor, &file, location.line, location.column)
        else {
            self.reporter.warn(format!(
                "cannot open {location}: cannot parse the editor {editor:?}"
            ));
            return;
        };
        let mut cmd = std::process::Command::new(&words[0]);
        cmd.args(&words[1..])
            .current_dir(&self.config.root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        match cmd.spawn() {
            Ok(child) => {
                self.guard.add(child.id());
                self.reporter
                    .note(format!("opening {location} in {}", words[0]));
                self.editors.push(child);
            }
            Err(e) => self
                .reporter
                .warn(format!("cannot open {location}: {}: {e}", words[0])),
        }
    }

    /// The app that `sender` belongs to: its leader, or a process in its group.
    /// Without a sender (macOS, the BSDs): the newest app, which is the one being started
    /// (an old app that is retiring has said READY=1 long ago).
    fn app_of(&self, sender: Option<u32>) -> Option<AppId> {
        match sender {
            Some(pid) => self.apps.iter().find(|a| a.group.contains(pid)),
            None => self.apps.iter().max_by_key(|a| a.id),
        }
        .map(|a| a.id)
    }

    /// The leader exited: kill whatever it left in its group, and stop guarding it.
    fn retire(&mut self, group: supervise::process::ProcessGroup) {
        group.kill();
        self.guard.remove(group.pid());
    }

    /// Carries out one decision.
    fn apply(&mut self, effect: Effect) -> Applied {
        let stop_signal = self
            .config
            .run
            .as_ref()
            .map_or(Signal::SIGTERM, |r| r.stop_signal);
        match effect {
            Effect::Note(message) => self.reporter.note(message),
            Effect::Warn(message) => self.reporter.warn(message),
            Effect::ReloadConfig => {
                if let Some((policy, file)) = self.reload() {
                    return Applied::Reconfigured(policy, file);
                }
            }
            Effect::CheckContents { paths } => return Applied::Answer(self.check_contents(paths)),
            Effect::ReportChange { paths } => {
                self.last_change = (!paths.is_empty())
                    .then(|| format!("{} changed", crate::ui::summarize(&paths)));
                self.css_only_change = !paths.is_empty()
                    && paths
                        .iter()
                        .all(|p| p.extension().is_some_and(|e| e == "css"));
                if self.config.ui.clear_on_rebuild {
                    self.reporter.clear_screen();
                }
                self.reporter.report(&Message::Change { paths });
            }
            Effect::StartBuild { changes } => return self.start_build(&changes),
            Effect::CancelBuild => {
                if let Some(job) = &mut self.build {
                    job.cancel(stop_signal);
                }
            }
            Effect::KillBuild => {
                if let Some(job) = &self.build {
                    job.group.kill();
                }
            }
            Effect::StartApp { app } => return self.start_app(app),
            Effect::StopApp { app, reason } => {
                if let Some(proxy) = &self.proxy {
                    proxy.app_stopping(app.0);
                }
                let app = self.apps.iter_mut().find(|a| a.id == app);
                if let (Some(app), Some(run)) = (app, &self.config.run) {
                    self.reporter.report(&Message::Stop {
                        pid: app.group.pid(),
                        reason: reason.as_str(),
                    });
                    app.stop(run);
                }
            }
            Effect::KillApp { app } => {
                if let Some(app) = self.apps.iter().find(|a| a.id == app) {
                    if let Some(run) = &self.config.run {
                        self.reporter.warn(format!(
                            "app (pid {}) did not stop within {} ms of {}; sending SIGKILL",
                            app.group.pid(),
                            millis(run.stop_timeout),
                            run.stop_signal.as_str()
                        ));
                    }
                    app.group.kill();
                }
            }
            Effect::WatchRelease { app } => {
                if let Some(app) = self.apps.iter().find(|a| a.id == app) {
                    let inodes = self.app_sockets().inodes();
                    let gone = std::sync::Arc::clone(&app.gone);
                    if let Err(e) = supervise::release::watch(
                        app.id,
                        app.group,
                        inodes,
                        gone,
                        self.events.clone(),
                    ) {
                        self.reporter.warn(format!(
                            "cannot watch the app's sockets ({e}): the next app starts when it exits"
                        ));
                    }
                }
            }
            Effect::Ready { app, via } => {
                if let Some(app) = self.apps.iter().find(|a| a.id == app) {
                    self.reporter.report(&Message::Ready {
                        pid: app.group.pid(),
                        ms: millis(app.started.elapsed()),
                        via,
                    });
                }
            }
            Effect::ReloadPages => {
                if let Some(proxy) = &self.proxy {
                    proxy.app_ready(self.css_only_change);
                }
            }
            Effect::ShowFailure { failure, app_down } => self.show_failure(failure, app_down),
            Effect::ClearFailure => {
                if let Some(proxy) = &self.proxy {
                    proxy.build_ok();
                }
            }
            Effect::Conclude(verdict) => {
                let facts = self.facts(&verdict);
                self.conclusion = Some((verdict, facts));
            }
            Effect::Exit(code) => return Applied::Exit(code),
        }
        Applied::Done
    }

    /// Compares `paths` with the contents last seen.
    fn check_contents(&self, paths: Vec<PathBuf>) -> Event {
        let Some(watcher) = &self.watcher else {
            return Event::ContentsChecked {
                changed: paths,
                all_missing: false,
            };
        };
        let mut changed = Vec::new();
        let mut all_missing = true;
        match watcher.contents.lock() {
            Ok(mut contents) => {
                for path in paths {
                    match contents.check(&self.root.join(&path)) {
                        Check::Same => continue,
                        Check::Changed => all_missing = false,
                        Check::Gone => {}
                    }
                    changed.push(path);
                }
            }
            Err(_) => {
                changed = paths;
                all_missing = false;
            }
        }
        Event::ContentsChecked {
            changed,
            all_missing,
        }
    }

    fn start_build(&mut self, changes: &[PathBuf]) -> Applied {
        let Some(build) = &self.config.build else {
            return Applied::Done;
        };
        match BuildJob::start(
            build,
            &self.config.root,
            changes,
            self.reporter.terminal(),
            self.reporter.colour(),
            self.events.clone(),
        ) {
            Ok(job) => {
                self.guard.add(job.group.pid());
                self.reporter.report(&Message::BuildStart {
                    pid: job.group.pid(),
                });
                self.build = Some(job);
                Applied::Done
            }
            Err(e) => {
                self.reporter
                    .warn(format!("cannot run the build command: {e}"));
                Applied::Answer(Event::BuildFinished(
                    crate::event::Outcome {
                        code: None,
                        signal: None,
                    }
                    .into(),
                ))
            }
        }
    }

    /// Pages learn of `failure`; with `app_down`, hot answers requests with it.
    fn show_failure(&mut self, failure: Failure, app_down: bool) {
        let Some(proxy) = &mut self.proxy else {
            return;
        };
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, millis);
        let page = match failure {
            Failure::Build(outcome) => {
                let failure = proxy::Failure {
                    headline: format!("the build failed ({outcome})"),
                    after: self.last_change.clone(),
                    output: self.failed_output.take().unwrap_or_default(),
                    at_ms,
                };
                proxy.build_failed(&failure);
                failure
            }
            Failure::App(outcome) => proxy::Failure {
                headline: format!("the app {outcome}"),
                after: None,
                output: String::new(),
                at_ms,
            },
        };
        if app_down {
            if let Err(e) = proxy.show_failure(page, &self.listeners) {
                self.reporter
                    .warn(format!("cannot serve the error page: {e}"));
            }
        }
    }

    /// What the session knows about `verdict`'s app and build.
    fn facts(&self, verdict: &Verdict) -> Facts {
        let app = match verdict {
            Verdict::Ready { app, .. }
            | Verdict::Finished { app }
            | Verdict::AppFailed { app, .. }
            | Verdict::NotReady { app, .. } => self.apps.iter().find(|a| a.id == *app),
            Verdict::Built | Verdict::BuildFailed(_) => None,
        };
        Facts {
            built_ms: self.last_build_ms,
            app_ms: app.map(|a| millis(a.started.elapsed())),
            awaited: match verdict {
                Verdict::NotReady { within, .. } => {
                    Some(self.awaited(self.app_sockets()).describe(*within))
                }
                _ => None,
            },
            last_attempt: app.and_then(AppProcess::last_attempt),
        }
    }

    /// The sockets an app gets: the public ones, the proxy's private ones, or none (it binds
    /// its own port).
    fn app_sockets(&self) -> &Listeners {
        match (self.route, &self.private) {
            (Route::Direct, _) => &self.listeners,
            (Route::Proxy(_), Some(private)) => private,
            (Route::Proxy(_), None) => &self.no_sockets,
        }
    }

    fn start_app(&mut self, id: AppId) -> Applied {
        let Some(run) = &self.config.run else {
            return Applied::Done;
        };
        if let Some(proxy) = &mut self.proxy {
            // Before the app gets the socket: hot must no longer be accepting on it.
            proxy.app_starting();
        }
        let sockets = self.app_sockets();
        if let Err(e) = sockets.reset() {
            self.reporter.warn(format!("listener: {e}"));
        }
        let notify = self.notify.as_ref().map(NotifySocket::path);
        let app = match AppProcess::start(
            id,
            run,
            &self.config.root,
            sockets,
            notify,
            self.reporter.app_output(),
            self.events.clone(),
        ) {
            Ok(app) => app,
            Err(e) => {
                self.reporter
                    .warn(format!("cannot start {}: {e}", run.program));
                return Applied::Answer(supervise::start_failed(id));
            }
        };
        let awaited = self.awaited(sockets);
        self.guard.add(app.group.pid());
        self.reporter.report(&Message::Start {
            pid: app.group.pid(),
        });
        let gone = std::sync::Arc::clone(&app.gone);
        let last_attempt = std::sync::Arc::clone(&app.attempt);
        self.apps.push(app);
        let at_once = || {
            Applied::Answer(Event::AppReady {
                app: id,
                via: awaited.via(),
            })
        };
        match &awaited {
            Awaited::Nothing => return at_once(),
            Awaited::Notify => {}
            Awaited::Settle(settle) => {
                if let Err(e) = ready::settle(*settle, id, gone, self.events.clone()) {
                    self.reporter
                        .warn(format!("cannot time the app ({e}): counting it as ready"));
                    return at_once();
                }
            }
            Awaited::Probe(target) => {
                if let Err(e) =
                    ready::probe(target.clone(), id, gone, last_attempt, self.events.clone())
                {
                    self.reporter
                        .warn(format!("cannot probe the app ({e}): counting it as ready"));
                    return at_once();
                }
            }
        }
        Applied::Done
    }
}

impl Drop for Session {
    /// Nothing hot started outlives it, on every path out of the loop, panics included.
    fn drop(&mut self) {
        if let Some(job) = &self.build {
            job.group.kill();
        }
        for app in &self.apps {
            app.group.kill();
        }
        for editor in &mut self.editors {
            if let Ok(pgid) = i32::try_from(editor.id()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
            }
            let _ = editor.wait();
        }
        supervise::process::reap_adopted(&[self.guard.pid()]);
    }
}
