//! The app loop: the one place where the edges (watcher, signals, processes, sockets, output)
//! meet the decisions of the `Supervisor`.

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
use crate::config::{Config, FILE_NAME, Overrides, Ready, Route, Source, Upstream};
use crate::error::Error;
use crate::event::{AppId, Event, Key, ReadyVia};
use crate::listen::Listeners;
use crate::proxy::{self, Failure, Front, Proxy};
use crate::ready::{self, NotifySocket, ProbeTarget};
use crate::supervise::app::AppProcess;
use crate::supervise::guard::Guard;
use crate::supervise::{self, Effect, Policy, Restart, Supervisor};
use crate::ui::{self, Message, Reporter, keys, millis};
use crate::watch::contents::Check;
use crate::watch::{Mode, Watcher};

/// How long a cancelled build gets to clean up before SIGKILL.
const BUILD_CANCEL_GRACE: Duration = Duration::from_millis(1000);

/// What every mode needs first: the project directory, its settings, the sockets.
pub struct Prepared {
    pub root: PathBuf,
    pub config: Config,
    pub listeners: Listeners,
    /// How to load the config again, and which file to watch for that.
    pub loader: Loader,
}

/// Everything needed to load the settings again when the config file changes.
pub struct Loader {
    root: PathBuf,
    file_arg: Option<PathBuf>,
    overrides: Overrides,
    pub file: PathBuf,
}

impl Loader {
    /// Loads `file`, or `<root>/.hot.toml`, or, when there is neither, the defaults `hot init`
    /// would write for the detected project; then applies `HOT_*` variables and flags.
    pub fn load(&self) -> Result<(Config, Source), Error> {
        let (root, file, overrides) = (&self.root, self.file_arg.as_deref(), &self.overrides);
        let path = match file {
            Some(f) => root.join(f),
            None => root.join(FILE_NAME),
        };
        let (text, source) = match std::fs::read_to_string(&path) {
            Ok(text) => (text, Source::File(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if file.is_some() {
                    return Err(Error::Usage(format!(
                        "config file {} not found",
                        path.display()
                    )));
                }
                match crate::init::detect(root) {
                    Some(project) => (project.template(), Source::Detected(project.stack_name())),
                    None => {
                        return Err(Error::Usage(format!(
                            "no {FILE_NAME} in {} and no Go, Rust, Node, Python or Ruby project detected: \
                             run `hot init` to write a config to fill in (every key is documented in \
                             .hot.toml.example), or pass -c FILE",
                            root.display()
                        )));
                    }
                }
            }
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        let label = match &source {
            Source::File(p) => p.clone(),
            Source::Detected(stack) => PathBuf::from(format!("<built-in {stack} defaults>")),
        };
        let config = Config::from_toml(root, &label, &text, overrides)?;
        Ok((config, source))
    }
}

/// Moves to `-C DIR`, loads the settings (saying where they came from), creates the tmp dir and
/// binds the sockets.
pub fn prepare(cli: &Cli, reporter: &Reporter) -> Result<Prepared, Error> {
    let root = enter_dir(cli)?;
    let overrides = Overrides {
        keys: cli.key_overrides(),
        app_args: cli.app_args.clone(),
    };
    let loader = Loader {
        root: root.clone(),
        file_arg: cli.config.clone(),
        file: root.join(
            cli.config
                .as_deref()
                .unwrap_or(std::path::Path::new(FILE_NAME)),
        ),
        overrides,
    };
    let (config, source) = loader.load()?;
    if let Source::Detected(stack) = source {
        reporter.note(format!(
            "no {FILE_NAME}: using {stack} defaults; `hot init` writes them out"
        ));
    }
    // Before binding, so that `unix:./tmp/app.sock` works on a fresh checkout.
    std::fs::create_dir_all(&config.tmp_dir).map_err(|e| {
        Error::io(
            format!("cannot create the tmp dir {}", config.tmp_dir.display()),
            e,
        )
    })?;
    let listeners = Listeners::bind(&config.listen)?;
    Ok(Prepared {
        root,
        config,
        listeners,
        loader,
    })
}

/// Applies `-C DIR` and returns the (absolute) project directory.
pub fn enter_dir(cli: &Cli) -> Result<PathBuf, Error> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::Usage(format!("-C {}: {e}", dir.display())))?;
    }
    std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))
}

/// Runs a watch session until a signal or `q` ends it; returns the exit status.
pub fn run(cli: Cli) -> Result<u8, Error> {
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
    let watcher = Watcher::start(
        &config.watch,
        &root,
        &config.tmp_dir,
        &loader.file,
        events.clone(),
    )?;
    // Before `watching`, so a key pressed once hot says it is watching is never line-buffered.
    let keyboard = keys::listen(events.clone());
    let notify = match NotifySocket::bind(events.clone()) {
        Ok(socket) => Some(socket),
        Err(e) => {
            reporter.warn(format!(
                "cannot create the notify socket ({e}): apps cannot report READY=1"
            ));
            None
        }
    };
    let route = config.route();
    let (private, proxy) = http_side(&config, route, &listeners)?;
    let mut supervisor = Supervisor::new(policy(&config));
    let mut session = Session {
        route,
        private,
        proxy,
        notify,
        apps: Vec::new(),
        css_only_change: false,
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
    session.announce();
    if session.keyboard.is_some() {
        session.reporter.key_hint();
    }

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
                Applied::Exit(code) => return Ok(code),
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
        let event = match event {
            Some(event) => session.observe(&event).or(Some(event)),
            None => None,
        };
        effects = supervisor.step(event, Instant::now()).into();
    }
}

/// What the Supervisor needs to know of a config.
fn policy(config: &Config) -> Policy {
    Policy {
        debounce: config.watch.debounce,
        has_build: config.build.is_some(),
        has_app: config.run.is_some(),
        stop_timeout: config
            .run
            .as_ref()
            .map_or(Duration::ZERO, |r| r.stop_timeout),
        build_grace: BUILD_CANCEL_GRACE,
        restart: config.run.as_ref().map_or(Restart::Never, |r| r.restart),
        restart_mode: config
            .run
            .as_ref()
            .map(|r| r.restart_mode)
            .unwrap_or_default(),
    }
}

/// hot's HTTP side for this route: the private sockets the app gets instead of the public ones
/// (when proxied), and the proxy or error page server (when there is anything for it to do).
fn http_side(
    config: &Config,
    route: Route,
    public: &Listeners,
) -> Result<(Option<Listeners>, Option<Proxy>), Error> {
    let error_page = config.run.as_ref().is_some_and(|r| r.error_page);
    let copies = || {
        public
            .copies()
            .map_err(|e| Error::io("cannot copy the listening sockets", e))
    };
    let (private, fronts) = match route {
        Route::Direct if !error_page || public.is_empty() => return Ok((None, None)),
        // hot answers on the app's sockets only after a failure, on copies taken then.
        Route::Direct => (None, Vec::new()),
        Route::Proxy(Upstream::Private) => {
            let private = Listeners::bind_private(&config.listen)?;
            let fronts = copies()?
                .into_iter()
                .zip(private.tcp_addrs())
                .map(|(socket, addr)| Front {
                    socket,
                    target: addr,
                })
                .collect();
            (Some(private), fronts)
        }
        Route::Proxy(Upstream::AppAddr(addr)) => {
            let fronts = copies()?
                .into_iter()
                .map(|socket| Front {
                    socket,
                    target: Some(addr),
                })
                .collect();
            (None, fronts)
        }
    };
    let proxy = Proxy::start(fronts, config.reload, error_page)
        .map_err(|e| Error::io("cannot start hot's HTTP side", e))?;
    Ok((private, Some(proxy)))
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
/// the pipe. It is generous because the "text file busy" decision reads that output, and a busy
/// machine may schedule the readers late.
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

/// How hot learns that a started app is ready.
enum Awaited {
    /// Started is ready.
    Nothing,
    /// Its READY=1 on the notify socket.
    Notify,
    Probe(ProbeTarget),
}

/// The edges' state: the processes that exist right now, and the means to report.
struct Session {
    loader: Loader,
    /// The config file's bytes when last loaded, to ignore saves that change nothing.
    config_text: Option<Vec<u8>>,
    root: PathBuf,
    config: Config,
    listeners: Listeners,
    watcher: Watcher,
    reporter: Reporter,
    events: Sender<Event>,
    guard: Guard,
    build: Option<BuildJob>,
    /// The apps running now: one, or two during an overlap restart, plus any being stopped.
    apps: Vec<AppProcess>,
    /// How requests reach the app, fixed for the session.
    route: Route,
    /// The sockets the app gets when hot's proxy holds the public ones.
    private: Option<Listeners>,
    proxy: Option<Proxy>,
    notify: Option<NotifySocket>,
    /// The latest change touched only stylesheets: pages restyle instead of reloading.
    css_only_change: bool,
    /// `[browser] reload`, fixed for the session like `route`.
    live_reload: bool,
    /// Restores the terminal when the session ends.
    keyboard: Option<keys::KeyboardGuard>,
}

impl Session {
    /// The `watching` line: addresses, paths, and how changes are noticed.
    fn announce(&self) {
        if let Some(why) = &self.watcher.warning {
            self.reporter.warn(why.clone());
        }
        self.reporter.report(&Message::Watching {
            addrs: self.listeners.addrs(),
            paths: self
                .config
                .watch
                .paths
                .iter()
                .map(|p| crate::watch::relative(p, &self.root))
                .collect(),
            dirs: self.watcher.dirs,
        });
        if let Route::Proxy(upstream) = self.route {
            let to = match upstream {
                Upstream::Private => match &self.private {
                    Some(private) => format!("the app on {}", private.addrs().join(", ")),
                    None => "the app".into(),
                },
                Upstream::AppAddr(addr) => format!("the app's own port {addr}"),
            };
            let reload = if self.live_reload {
                "; pages reload once the new app is ready"
            } else {
                ""
            };
            self.reporter.note(format!(
                "proxying {} to {to}{reload}",
                self.listeners.addrs().join(", ")
            ));
        }
        if let Mode::Polling {
            files,
            tick,
            rotation,
        } = self.watcher.mode
        {
            self.reporter.note(format!(
                "polling {files} files: new, removed and recently edited files every {}, every \
                 file within {} (polling never uses more than 2 % of a core)",
                ui::human(millis(tick)),
                ui::human(millis(rotation))
            ));
        }
    }

    /// Loads the config file again. A valid one replaces the running config (sockets are kept
    /// unless `listen` changed) and goes to the Supervisor; an invalid one is reported and the
    /// running config and app stay as they are.
    fn reload(&mut self) -> Option<(Policy, PathBuf)> {
        let text = std::fs::read(&self.loader.file).ok();
        if text == self.config_text {
            return None;
        }
        self.config_text = text;
        let keeping = "hot keeps the running configuration and app";
        let (config, _) = match self.loader.load() {
            Ok(loaded) => loaded,
            Err(e) => {
                self.reporter
                    .warn(format!("{e}\n{keeping}; fix the file to reload it"));
                return None;
            }
        };
        if let Err(e) = std::fs::create_dir_all(&config.tmp_dir) {
            self.reporter.warn(format!(
                "cannot create {}: {e}; {keeping}",
                config.tmp_dir.display()
            ));
            return None;
        }
        let watcher = match Watcher::start(
            &config.watch,
            &self.root,
            &config.tmp_dir,
            &self.loader.file,
            self.events.clone(),
        ) {
            Ok(w) => w,
            Err(e) => {
                self.reporter.warn(format!("{e}; {keeping}"));
                return None;
            }
        };
        if config.route() != self.route
            || config.reload != self.live_reload
            || (self.route != Route::Direct && config.listen != self.config.listen)
        {
            self.reporter.warn(format!(
                "{}: changes to `listen` with the proxy, [browser] and [run] app_addr take effect \
                 when hot restarts; {keeping} for those",
                self.loader.file.display()
            ));
        } else if config.listen != self.config.listen {
            if let Err(e) = self.listeners.rebind(&config.listen) {
                self.reporter.warn(format!("{e}; {keeping}"));
                return None;
            }
            if let Some(proxy) = &mut self.proxy {
                if let Err(e) = proxy.sockets_moved(&self.listeners) {
                    self.reporter
                        .warn(format!("cannot serve the error page: {e}"));
                }
            }
        }
        self.watcher = watcher;
        self.config = config;
        let file = crate::watch::relative(&self.loader.file, &self.root);
        self.reporter
            .note(format!("{} changed: reloaded", file.display()));
        self.announce();
        Some((policy(&self.config), file))
    }

    /// Reports an event and retires the process it is about.
    ///
    /// A build that failed only because the app's running binary could not be overwritten
    /// ("text file busy") comes back as `BuildBlocked`, for the Supervisor to stop the app and
    /// build again.
    fn observe(&mut self, event: &Event) -> Option<Event> {
        match event {
            Event::BuildFinished(outcome) => {
                let job = self.build.take()?;
                self.retire(job.group);
                let ms = millis(job.started.elapsed());
                let failed_output = (!outcome.success() && !job.cancelled)
                    .then(|| job.output_tail(OUTPUT_DRAIN_CAP));
                if !self.apps.is_empty()
                    && failed_output
                        .as_deref()
                        .is_some_and(build::blocked_by_running_binary)
                {
                    self.reporter.warn(
                        "the build could not overwrite the running app's binary (text file busy): \
                         stopping the app and building again",
                    );
                    return Some(Event::BuildBlocked);
                }
                self.reporter.report(&if job.cancelled {
                    Message::BuildCancelled { ms }
                } else if outcome.success() {
                    Message::BuildOk { ms }
                } else {
                    Message::BuildFailed {
                        ms,
                        code: outcome.code,
                        signal: outcome.signal.map(Signal::as_str),
                    }
                });
                if let Some(proxy) = &self.proxy {
                    if outcome.success() {
                        proxy.build_ok();
                    } else if let Some(output) = failed_output {
                        let output = proxy::plain_text(&output);
                        proxy.build_failed(&output);
                        if self.apps.is_empty() {
                            self.show_failure(Failure {
                                headline: format!("the build failed ({outcome})"),
                                output,
                            });
                        }
                    }
                }
            }
            Event::AppExited { app, outcome } => {
                let at = self.apps.iter().position(|a| a.id == *app)?;
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
                    outcome,
                    app.started.elapsed(),
                ));
                if app.stopping.is_none() && self.apps.is_empty() {
                    self.show_failure(Failure {
                        headline: format!("the app {outcome}"),
                        output: String::new(),
                    });
                }
            }
            Event::AppReady { app, via } => self.ready(*app, *via),
            Event::Notified { sender, message } => {
                let app = self.app_of(*sender)?;
                if message.ready {
                    self.ready(app, ReadyVia::Notify);
                    return Some(Event::AppReady {
                        app,
                        via: ReadyVia::Notify,
                    });
                }
            }
            Event::WatchFailed(message) => self.reporter.warn(format!("watcher: {message}")),
            Event::Key(Key::Clear) => self.reporter.clear_screen(),
            Event::FilesChanged { .. }
            | Event::Signalled(_)
            | Event::Key(_)
            | Event::ConfigChanged
            | Event::ContentsChecked { .. }
            | Event::BuildBlocked => {}
        }
        None
    }

    /// What tells hot that an app started on `sockets` is ready.
    fn readiness(&self, ready: &Ready, sockets: &Listeners) -> Awaited {
        let own_port = match self.route {
            Route::Proxy(Upstream::AppAddr(addr)) => Some(addr),
            _ => None,
        };
        let target = match ready {
            Ready::Started => return Awaited::Nothing,
            Ready::Notify if self.notify.is_some() => return Awaited::Notify,
            Ready::Notify => {
                self.reporter.warn(
                    "[run] ready = \"notify\" but hot has no notify socket: counting the app as \
                     ready when it starts",
                );
                return Awaited::Nothing;
            }
            Ready::Http(path) => {
                own_port
                    .or_else(|| sockets.first_tcp())
                    .map(|addr| ProbeTarget::Http {
                        addr,
                        path: path.clone(),
                    })
            }
            Ready::Tcp => match own_port {
                Some(addr) => Some(ProbeTarget::Connect(addr)),
                None => sockets
                    .first_tcp_fd()
                    .map(|(addr, listener)| ProbeTarget::Accepted { addr, listener }),
            },
        };
        // The config refuses http/tcp readiness without a TCP address to probe.
        target.map_or(Awaited::Nothing, Awaited::Probe)
    }

    /// No app runs because of `failure`: HTTP clients get the 503 page.
    fn show_failure(&mut self, failure: Failure) {
        let Some(proxy) = &mut self.proxy else {
            return;
        };
        if let Err(e) = proxy.show_failure(failure, &self.listeners) {
            self.reporter
                .warn(format!("cannot serve the error page: {e}"));
        }
    }

    /// Reports that `app` is ready (once per way of knowing it); the first time, open pages
    /// reload.
    fn ready(&mut self, app: AppId, via: ReadyVia) {
        let Some(app) = self.apps.iter_mut().find(|a| a.id == app) else {
            return;
        };
        if app.ready.contains(&via) {
            return;
        }
        let first = app.ready.is_empty();
        app.ready.push(via);
        let ready = Message::Ready {
            pid: app.group.pid(),
            ms: millis(app.started.elapsed()),
            via,
        };
        // Pages are told before the event is printed: whoever acts on the `ready` line (a
        // script, a test opening /__hot/events) comes after the reload, never before it.
        if first {
            if let Some(proxy) = &self.proxy {
                proxy.app_ready(self.css_only_change);
            }
        }
        self.reporter.report(&ready);
    }

    /// The app that `sender` belongs to: its leader, or a process in its group.
    /// Without a sender (macOS, the BSDs): the newest app, which is the one being started
    /// (an old app that is retiring has said READY=1 long ago).
    fn app_of(&self, sender: Option<u32>) -> Option<AppId> {
        match sender {
            Some(pid) => self.apps.iter().find(|a| a.group.contains(pid)),
            None => self
                .apps
                .iter()
                .filter(|a| a.stopping.is_none())
                .max_by_key(|a| a.id),
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
            Effect::ReloadConfig => {
                if let Some((policy, file)) = self.reload() {
                    return Applied::Reconfigured(policy, file);
                }
            }
            Effect::CheckContents { paths } => {
                let mut changed = Vec::new();
                let mut all_missing = true;
                match self.watcher.contents.lock() {
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
                return Applied::Answer(Event::ContentsChecked {
                    changed,
                    all_missing,
                });
            }
            Effect::ReportChange { paths } => {
                self.css_only_change = !paths.is_empty()
                    && paths
                        .iter()
                        .all(|p| p.extension().is_some_and(|e| e == "css"));
                if self.config.ui.clear_on_rebuild {
                    self.reporter.clear_screen();
                }
                self.reporter.report(&Message::Change { paths });
            }
            Effect::StartBuild { changes } => {
                let Some(build) = &self.config.build else {
                    return Applied::Done;
                };
                match BuildJob::start(
                    build,
                    &self.config.root,
                    &changes,
                    self.reporter.terminal(),
                    self.events.clone(),
                ) {
                    Ok(job) => {
                        self.guard.add(job.group.pid());
                        self.reporter.report(&Message::BuildStart {
                            pid: job.group.pid(),
                        });
                        self.build = Some(job);
                    }
                    Err(e) => {
                        self.reporter
                            .warn(format!("cannot run the build command: {e}"));
                        let _ = self
                            .events
                            .send(Event::BuildFinished(crate::event::Outcome {
                                code: None,
                                signal: None,
                            }));
                    }
                }
            }
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
            Effect::StartApp { app } => self.start_app(app),
            Effect::StopApp { app, reason } => {
                let app = self.apps.iter_mut().find(|a| a.id == app);
                if let (Some(app), Some(run)) = (app, &self.config.run) {
                    self.reporter.report(&Message::Stop {
                        pid: app.group.pid(),
                        reason: reason.as_str(),
                    });
                    app.stop(run, reason);
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
            Effect::Exit(code) => return Applied::Exit(code),
        }
        Applied::Done
    }

    fn start_app(&mut self, id: AppId) {
        let Some(run) = &self.config.run else { return };
        if let Some(proxy) = &mut self.proxy {
            // Before the app gets the socket: hot must no longer be accepting on it.
            proxy.app_starting();
        }
        let none = Listeners::default();
        let sockets = match self.route {
            Route::Direct => &self.listeners,
            Route::Proxy(Upstream::Private) => self.private.as_ref().unwrap_or(&none),
            Route::Proxy(Upstream::AppAddr(_)) => &none,
        };
        if let Err(e) = sockets.reset() {
            self.reporter.warn(format!("listener: {e}"));
        }
        let notify = self.notify.as_ref().map(NotifySocket::path);
        match AppProcess::start(
            id,
            run,
            &self.config.root,
            sockets,
            notify,
            self.reporter.app_output(),
            self.events.clone(),
        ) {
            Ok(app) => {
                self.guard.add(app.group.pid());
                self.reporter.report(&Message::Start {
                    pid: app.group.pid(),
                });
                let awaited = self.readiness(&run.ready, sockets);
                let gone = std::sync::Arc::clone(&app.gone);
                self.apps.push(app);
                let started = Event::AppReady {
                    app: id,
                    via: ReadyVia::Started,
                };
                match awaited {
                    Awaited::Nothing => {
                        let _ = self.events.send(started);
                    }
                    Awaited::Notify => {}
                    Awaited::Probe(target) => {
                        if let Err(e) = ready::probe(target, id, gone, self.events.clone()) {
                            self.reporter
                                .warn(format!("cannot probe the app ({e}): counting it as ready"));
                            let _ = self.events.send(started);
                        }
                    }
                }
            }
            Err(e) => {
                self.reporter
                    .warn(format!("cannot start {}: {e}", run.program));
                let _ = self.events.send(supervise::start_failed(id));
            }
        }
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
        supervise::process::reap_adopted(&[self.guard.pid()]);
    }
}
