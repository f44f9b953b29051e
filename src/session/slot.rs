//! One app of the session, as the edges see it: its settings, sockets, processes and pages.
//! It carries out its Supervisor's effects and turns its processes' ends into facts; what to
//! do next is the Supervisor's to decide.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::build::{self, BuildJob};
use crate::config::{Config, Ready, Route, Stdin, Upstream};
use crate::error::Error;
use crate::event::{AppId, BuildEnd, Event, PortFact};
use crate::listen::hold::BindKey;
use crate::listen::{Listeners, PortHold};
use crate::proxy::{self, Proxy};
use crate::ready::{self, NotifySocket};
use crate::supervise::app::{AppInput, AppProcess, Hold};
use crate::supervise::guard::Guard;
use crate::supervise::{self, Failure, Goal, Policy, Restart, Verdict};
use crate::terminal::Console;
use crate::ui::{Message, Reporter, millis};
use crate::watch::filter::Filter;
use std::os::fd::OwnedFd;

use super::readiness::{self, Awaited};
use super::{Facts, Purpose, http};

/// How long a cancelled build gets to clean up before SIGKILL.
const BUILD_CANCEL_GRACE: Duration = Duration::from_millis(1000);

/// How long a failed build's output may take to be read to its end. The readers end as soon as
/// the pipe closes, at once in the common case; the cap is for a daemon the build left holding
/// the pipe. It is generous because the "text file busy" fact is read from that output, and a
/// busy machine may schedule the readers late.
const OUTPUT_DRAIN_CAP: Duration = Duration::from_secs(2);

pub(super) struct Slot {
    /// Its place in the session: the high bits of its `AppId`s, its builds' `BuildEnd::slot`.
    pub index: usize,
    /// `[apps.NAME]`; `None` in a one-app session.
    pub name: Option<String>,
    pub config: Config,
    pub listeners: Listeners,
    /// Speaks for this app (its lines name it in a session of several).
    pub reporter: Reporter,
    /// Which changed files are this app's (a session of several; one app takes them all).
    pub filter: Option<Filter>,
    pub build: Option<BuildJob>,
    /// The app processes alive now: one, or two during an overlap restart, plus any being
    /// stopped.
    pub apps: Vec<AppProcess>,
    /// How requests reach the app, fixed for the session.
    pub route: Route,
    /// The sockets the app gets when hot's proxy holds the public ones.
    pub private: Option<Listeners>,
    /// What an app that binds its own port gets.
    no_sockets: Listeners,
    pub proxy: Option<Proxy>,
    /// Bound only while `[run] ready = "notify"`: an app that finds `NOTIFY_SOCKET` may act on
    /// it (puma warns without its sd_notify gem), so it is set only when hot listens.
    pub notify: Option<NotifySocket>,
    /// `[browser] reload`, fixed for the session like `route`.
    pub live_reload: bool,
    /// The last failed build's output, for the failure view.
    failed_output: Option<String>,
    /// How long the last good build took, for the `--once` summary.
    last_build_ms: Option<u64>,
    /// The latest change touched only stylesheets: pages restyle instead of reloading.
    css_only_change: bool,
    /// What the latest build was for ("src/main.rs changed"), for the failure view.
    last_change: Option<String>,
    /// What `--once` concluded for this app.
    pub conclusion: Option<(Verdict, Facts)>,
    /// The ports the app binds itself, held across its restarts (`[run] hold_ports`, Linux).
    hold: Option<PortHold>,
    /// Why they cannot be held, once said.
    hold_unavailable_told: bool,
    /// hot answers a `listen` socket that the running app does not serve (`show_unserved`).
    unserved: bool,
    /// The private port an app that learns its port from `[run] port_env` binds behind the
    /// proxy, where hot cannot hold the ports it binds (see `convention_route`).
    convention_port: Option<u16>,
}

/// How requests reach the app. Behind the proxy, an app that binds its own port and learns it
/// from `[run] port_env` gets, where hot holds the ports apps bind (Linux), the `listen` port,
/// whose bind is given the proxy's private socket; elsewhere a free port of its own, which the
/// proxy forwards to (as with `[proxy] app_port`): no port is shared, so nothing collides.
fn convention_route(config: &Config) -> Result<(Route, Option<u16>), Error> {
    let route = config.route();
    let Some(run) = &config.run else {
        return Ok((route, None));
    };
    let holding = run.hold_ports && PortHold::unavailable().is_none();
    if route != Route::Proxy(Upstream::Private) || run.port_env.is_none() || holding {
        return Ok((route, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::io("cannot find a free port for the app", e))?
        .port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Ok((Route::Proxy(Upstream::AppAddr(addr)), Some(port)))
}

impl Slot {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        name: Option<String>,
        config: Config,
        listeners: Listeners,
        reporter: Reporter,
        filter: Option<Filter>,
        events: &Sender<Event>,
    ) -> Result<Slot, Error> {
        let (route, convention_port) = convention_route(&config)?;
        let (private, proxy) = http::http_side(&config, route, &listeners, events.clone())?;
        let mut slot = Slot {
            index,
            name,
            live_reload: config.reload,
            config,
            listeners,
            reporter,
            filter,
            build: None,
            apps: Vec::new(),
            route,
            private,
            no_sockets: Listeners::default(),
            proxy,
            notify: None,
            failed_output: None,
            last_build_ms: None,
            css_only_change: false,
            last_change: None,
            conclusion: None,
            hold: None,
            hold_unavailable_told: false,
            unserved: false,
            convention_port,
        };
        slot.set_up_hold();
        slot.bind_notify_if_needed(events);
        Ok(slot)
    }

    /// Holds the ports the app binds itself when `[run] hold_ports` asks for it and the OS can;
    /// otherwise says why not, once, when it matters: an app without `listen` binds its own
    /// port, which then refuses connections while it restarts.
    pub(super) fn set_up_hold(&mut self) {
        let wanted = self.config.run.as_ref().is_some_and(|r| r.hold_ports);
        let why_not = match (wanted, PortHold::unavailable()) {
            (true, None) => {
                if self.hold.is_none() {
                    self.hold = Some(PortHold::default());
                }
                return;
            }
            (true, Some(why)) => Some(why),
            (false, _) => None,
        };
        self.hold = None;
        if self.hold_unavailable_told {
            return;
        }
        let behind_proxy = self.route == Route::Proxy(Upstream::Private);
        if let (Some(port), Some(var)) = (
            self.convention_port,
            self.config.run.as_ref().and_then(|r| r.port_env.as_ref()),
        ) {
            let why = why_not.unwrap_or_else(|| "[run] hold_ports = false".into());
            let seen = crate::init::detect(&self.config.root)
                .map(|p| p.port.1)
                .filter(|at| at.contains(':'))
                .map(|at| format!(" (its port is written at {at})"))
                .unwrap_or_default();
            self.hold_unavailable_told = true;
            self.reporter.note(format!(
                "the ports the app binds itself are not held ({why}): it gets {var}={port}, and \
                 hot's proxy answers on {} for it. An app that ignores {var} and binds that port \
                 itself fails with \"address already in use\"{seen}: make it read {var}",
                self.listeners.addrs().join(", ")
            ));
            return;
        }
        let message = match (behind_proxy, why_not) {
            // The app gets the proxy's private socket as fd 3; its own bind of the public
            // port would collide with hot's.
            (true, why) => format!(
                "the app's own bind of {} is not given hot's socket ({}): an app that binds \
                 that port itself fails with \"address already in use\"; take fd 3 (see the \
                 README), or run the app on another port and set [proxy] app_port to it",
                self.listeners.addrs().join(", "),
                why.as_deref().unwrap_or("[run] hold_ports = false")
            ),
            (false, Some(why)) if self.listeners.is_empty() => format!(
                "the ports the app binds itself are not held across restarts: {why}; \
                 connections to them are refused while it restarts (take fd 3: see the README)"
            ),
            _ => return,
        };
        self.hold_unavailable_told = true;
        self.reporter.note(message);
    }

    /// The port an app that learns it from `[run] port_env` should bind: its private one
    /// behind the proxy where hot cannot hold binds, else the first `listen` port.
    fn app_port(&self) -> Option<u16> {
        self.convention_port
            .or_else(|| self.listeners.first_tcp().map(|a| a.port()))
    }

    /// Clients of `addr` wait for an app that listens on `listens` instead: they get a 503 that
    /// says so (hot answers on `addr` until the next start), rather than waiting for ever.
    fn show_unserved(&mut self, addr: std::net::SocketAddr, listens: &[std::net::SocketAddr]) {
        let Some(proxy) = &mut self.proxy else {
            return;
        };
        let theirs: Vec<String> = listens.iter().map(ToString::to_string).collect();
        let public = self.listeners.addrs().join(", ");
        let failure = proxy::Failure {
            headline: format!(
                "the app does not serve {public}: it listens on {} itself",
                theirs.join(", ")
            ),
            after: None,
            output: format!(
                "hot takes the connections of {public} (`listen` in .hot.toml) and hands the socket \
                 to the app ({addr}), but the app binds its own port and never accepts there.\n\
                 Set listen = [\"{}\"] in .hot.toml (hot reloads it), or make the app take fd 3.\n",
                theirs.first().map_or("127.0.0.1:PORT", String::as_str)
            ),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, millis),
        };
        match proxy.show_failure(failure, &self.listeners) {
            Ok(()) => self.unserved = true,
            Err(e) => self
                .reporter
                .warn(format!("cannot serve the error page: {e}")),
        }
    }

    /// What an app's bind of one of `listen`'s ports gets: the socket itself, or behind hot's
    /// proxy the private socket the proxy forwards to (so the proxy answers on the port the
    /// app asked for, and can send a request again when a stopping app drops it).
    fn pinned_for_hold(&self) -> std::io::Result<Vec<(BindKey, OwnedFd)>> {
        let public = self.listeners.keyed_copies()?;
        match (self.route, &self.private) {
            (Route::Direct, _) => Ok(public),
            (Route::Proxy(_), Some(private)) => {
                let private = private.keyed_copies()?;
                Ok(public
                    .into_iter()
                    .zip(private)
                    .map(|((key, _), (_, socket))| (key, socket))
                    .collect())
            }
            (Route::Proxy(_), None) => Ok(Vec::new()),
        }
    }

    /// A fact about a port the app binds itself, for the user.
    pub fn port_fact(&mut self, fact: PortFact) {
        let message = match fact {
            PortFact::Held {
                addr,
                reused,
                pinned,
            } => {
                if pinned && self.unserved {
                    // The app binds hot's port after all (it started late, as under a
                    // debugger that waits for its client): it serves there now.
                    self.unserved = false;
                    if let Some(proxy) = &mut self.proxy {
                        proxy.app_starting();
                    }
                }
                Message::PortHeld {
                    addr: addr.to_string(),
                    reused,
                }
            }
            PortFact::Unserved { addr, listens } => {
                self.show_unserved(addr, &listens);
                Message::PortUnserved {
                    // What the user knows hot by: `listen` (behind the proxy, `addr` is the
                    // proxy's private socket).
                    addr: self.listeners.addrs().join(", "),
                    listens: listens.iter().map(ToString::to_string).collect(),
                }
            }
            PortFact::InUse { addr, holder } => Message::PortInUse {
                addr: addr.to_string(),
                holder,
            },
            PortFact::Released { addr } => Message::PortReleased {
                addr: addr.to_string(),
            },
            PortFact::Unavailable(why) => {
                if self.hold_unavailable_told {
                    return;
                }
                self.hold_unavailable_told = true;
                Message::Note {
                    message: format!(
                        "the ports the app binds itself are not held across restarts: {why}"
                    ),
                }
            }
        };
        self.reporter.report(&message);
    }

    /// What the Supervisor needs to know of the config and of this session.
    pub fn policy(&self, purpose: Purpose) -> Policy {
        let run = self.config.run.as_ref();
        let awaited = self.awaited(purpose, &self.listeners);
        let goal = match purpose {
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
    pub fn awaited(&self, purpose: Purpose, sockets: &Listeners) -> Awaited {
        readiness::plan(&self.config, purpose, self.notify.is_some(), sockets)
    }

    /// Binds the notify socket when the config waits for READY=1 and there is none yet.
    pub fn bind_notify_if_needed(&mut self, events: &Sender<Event>) {
        let wanted = self
            .config
            .run
            .as_ref()
            .is_some_and(|r| r.ready == Ready::Notify);
        if !wanted || self.notify.is_some() {
            return;
        }
        match NotifySocket::bind(events.clone()) {
            Ok(socket) => self.notify = Some(socket),
            Err(e) => self.reporter.warn(format!(
                "cannot create the notify socket ({e}): [run] ready = \"notify\" cannot work, \
                 so the app counts as ready once it started"
            )),
        }
    }

    /// The paths of `paths` (relative to `root`) that are this app's.
    pub fn own(&self, root: &std::path::Path, paths: &[PathBuf]) -> Vec<PathBuf> {
        match &self.filter {
            None => paths.to_vec(),
            Some(filter) => paths
                .iter()
                .filter(|p| filter.wants_file(&root.join(p)))
                .cloned()
                .collect(),
        }
    }

    /// The pids this app's processes lead (the build's and the apps').
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.build
            .iter()
            .map(|b| b.group.pid())
            .chain(self.apps.iter().map(|a| a.group.pid()))
    }

    /// The build ended: reports it, stops guarding it, and fills in what only the edge can
    /// see (whether the running binary blocked it).
    pub fn build_ended(&mut self, end: BuildEnd, guard: &mut Guard) -> Option<Event> {
        let BuildEnd { outcome, .. } = end;
        let job = self.build.take()?;
        job.group.kill();
        guard.remove(job.group.pid());
        let ms = millis(job.started.elapsed());
        let failed_output =
            (!outcome.success() && !job.cancelled).then(|| job.output_tail(OUTPUT_DRAIN_CAP));
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
                        let plain = crate::ui::ansi::strip(output);
                        crate::editor::first_error(&plain, &self.config.root)
                            .map(|at| at.to_string())
                    }),
                }
            });
        }
        self.failed_output = failed_output;
        Some(Event::BuildFinished(BuildEnd { binary_busy, ..end }))
    }

    /// The stopping app `app` let go of its listening sockets.
    pub fn app_released(&self, app: AppId) {
        if let Some(proxy) = &self.proxy {
            proxy.app_released(app.0);
        }
    }

    /// App `app` exited: reports it and removes whatever it left, except `keep`.
    pub fn app_exited(
        &mut self,
        app: AppId,
        outcome: &crate::event::Outcome,
        guard: &mut Guard,
        keep: &[u32],
    ) {
        if let Some(proxy) = &self.proxy {
            proxy.app_gone(app.0);
        }
        let Some(at) = self.apps.iter().position(|a| a.id == app) else {
            return;
        };
        let app = self.apps.remove(at);
        // Also whatever the app started that escaped its group, before the next app needs the
        // port.
        supervise::process::clean_up_after(app.group, keep);
        guard.remove(app.group.pid());
        self.reporter.report(&Message::exit(
            app.group.pid(),
            outcome,
            app.started.elapsed(),
        ));
    }

    /// The app that `sender` belongs to: its leader, or a process in its group. Without a
    /// sender (macOS, the BSDs): the newest app, which is the one being started (an old app
    /// that is retiring has said READY=1 long ago).
    pub fn app_of(&self, sender: Option<u32>) -> Option<AppId> {
        match sender {
            Some(pid) => self.apps.iter().find(|a| a.group.contains(pid)),
            None => self.apps.iter().max_by_key(|a| a.id),
        }
        .map(|a| a.id)
    }

    pub fn report_change(&mut self, paths: Vec<PathBuf>) {
        self.last_change =
            (!paths.is_empty()).then(|| format!("{} changed", crate::ui::summarize(&paths)));
        self.css_only_change = !paths.is_empty()
            && paths
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "css"));
        if self.config.ui.clear_on_rebuild {
            self.reporter.clear_screen();
        }
        self.reporter.report(&Message::Change { paths });
    }

    /// Starts the build; `Err` is the fact for the Supervisor when it cannot even start.
    pub fn start_build(
        &mut self,
        changes: &[PathBuf],
        guard: &mut Guard,
        events: &Sender<Event>,
    ) -> Result<(), Event> {
        let Some(build) = &self.config.build else {
            return Ok(());
        };
        match BuildJob::start(
            build,
            &self.config.root,
            changes,
            self.index,
            &self.reporter.sink(),
            events.clone(),
        ) {
            Ok(job) => {
                guard.add(job.group.pid());
                self.reporter.report(&Message::BuildStart {
                    pid: job.group.pid(),
                });
                self.build = Some(job);
                Ok(())
            }
            Err(e) => {
                self.reporter
                    .warn(format!("cannot run the build command: {e}"));
                Err(Event::BuildFinished(BuildEnd {
                    slot: self.index,
                    ..crate::event::Outcome {
                        code: None,
                        signal: None,
                    }
                    .into()
                }))
            }
        }
    }

    pub fn cancel_build(&mut self) {
        let signal = self.stop_signal();
        if let Some(job) = &mut self.build {
            job.cancel(signal);
        }
    }

    pub fn kill_build(&self) {
        if let Some(job) = &self.build {
            job.group.kill();
        }
    }

    fn stop_signal(&self) -> Signal {
        self.config
            .run
            .as_ref()
            .map_or(Signal::SIGTERM, |r| r.stop_signal)
    }

    pub fn stop_app(&mut self, app: AppId, reason: supervise::StopReason) {
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

    pub fn kill_app(&self, app: AppId) {
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

    /// Watches the stopping `app` for the moment it lets go of its sockets.
    pub fn watch_release(&self, app: AppId, events: &Sender<Event>) {
        let Some(app) = self.apps.iter().find(|a| a.id == app) else {
            return;
        };
        let inodes = self.app_sockets().inodes();
        let gone = std::sync::Arc::clone(&app.gone);
        if let Err(e) = supervise::release::watch(app.id, app.group, inodes, gone, events.clone()) {
            self.reporter.warn(format!(
                "cannot watch the app's sockets ({e}): the next app starts when it exits"
            ));
        }
    }

    pub fn report_ready(&self, app: AppId, via: crate::event::ReadyVia) {
        if let Some(app) = self.apps.iter().find(|a| a.id == app) {
            self.reporter.report(&Message::Ready {
                pid: app.group.pid(),
                ms: millis(app.started.elapsed()),
                via,
            });
        }
    }

    pub fn reload_pages(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.app_ready(self.css_only_change);
        }
    }

    pub fn clear_failure(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.build_ok();
        }
    }

    /// Pages learn of `failure`; with `app_down`, hot answers requests with it.
    pub fn show_failure(&mut self, failure: Failure, app_down: bool) {
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

    /// `--once` concluded: keeps the verdict with what the session knows now.
    pub fn conclude(&mut self, verdict: Verdict, purpose: Purpose) {
        let app = match &verdict {
            Verdict::Ready { app, .. }
            | Verdict::Finished { app }
            | Verdict::AppFailed { app, .. }
            | Verdict::NotReady { app, .. } => self.apps.iter().find(|a| a.id == *app),
            Verdict::Built | Verdict::BuildFailed(_) => None,
        };
        let facts = Facts {
            built_ms: self.last_build_ms,
            app_ms: app.map(|a| millis(a.started.elapsed())),
            awaited: match &verdict {
                Verdict::NotReady { within, .. } => {
                    Some(self.awaited(purpose, self.app_sockets()).describe(*within))
                }
                _ => None,
            },
            last_attempt: app.and_then(AppProcess::last_attempt),
        };
        self.conclusion = Some((verdict, facts));
    }

    /// The sockets an app gets: the public ones, the proxy's private ones, or none (it binds
    /// its own port).
    pub fn app_sockets(&self) -> &Listeners {
        match (self.route, &self.private) {
            (Route::Direct, _) => &self.listeners,
            (Route::Proxy(_), Some(private)) => private,
            (Route::Proxy(_), None) => &self.no_sockets,
        }
    }

    /// Starts app `id`; `Some` is a fact for the Supervisor at once (it could not start, or it
    /// counts as ready as it starts).
    pub fn start_app(
        &mut self,
        id: AppId,
        purpose: Purpose,
        guard: &mut Guard,
        events: &Sender<Event>,
        console: Option<&Console>,
    ) -> Option<Event> {
        let Some(run) = &self.config.run else {
            return None;
        };
        if let Some(proxy) = &mut self.proxy {
            // Before the app gets the socket: hot must no longer be accepting on it.
            proxy.app_starting();
        }
        self.unserved = false;
        let sockets = self.app_sockets();
        if let Err(e) = sockets.reset() {
            self.reporter.warn(format!("listener: {e}"));
        }
        let notify = self.notify.as_ref().map(NotifySocket::path);
        let with_port;
        let run = match (&run.port_env, self.app_port()) {
            (Some(var), Some(port)) => {
                with_port = run.with_port(var, port);
                &with_port
            }
            _ => run,
        };
        let hold = match &self.hold {
            Some(ports) => match self.pinned_for_hold() {
                Ok(pinned) => Some(Hold { ports, pinned }),
                Err(e) => {
                    self.reporter
                        .warn(format!("cannot hold the app's ports this time: {e}"));
                    None
                }
            },
            None => None,
        };
        let (input, pty) = match (run.stdin, console) {
            (Stdin::Hot, _) => (AppInput::Nothing, None),
            // The terminal is hot's (the setting came with a reload): an app in the background
            // reading it would be stopped by SIGTTIN.
            (Stdin::App, None) if std::io::stdin().is_terminal() => {
                self.reporter.warn(
                    "[run] stdin = \"app\" takes effect when hot starts again: the terminal is \
                     hot's until then",
                );
                (AppInput::Nothing, None)
            }
            (Stdin::App, None) => (AppInput::Inherited, None),
            (Stdin::App, Some(console)) => match console.open_pty() {
                Ok(pty) => (AppInput::Terminal(pty.slave), Some(pty.master)),
                Err(e) => {
                    self.reporter.warn(format!(
                        "cannot give {} a terminal ({e}): it reads nothing this time",
                        run.program
                    ));
                    (AppInput::Nothing, None)
                }
            },
        };
        let app = match AppProcess::start(
            id,
            run,
            &self.config.root,
            sockets,
            notify,
            input,
            self.reporter.app_output().as_ref(),
            hold,
            events.clone(),
        ) {
            Ok(app) => app,
            Err(e) => {
                self.reporter
                    .warn(format!("cannot start {}: {e}", run.program));
                return Some(supervise::start_failed(id));
            }
        };
        if let (Some(master), Some(console)) = (pty, console) {
            if let Err(e) = console.attach(id, master) {
                self.reporter
                    .warn(format!("cannot relay the app's terminal: {e}"));
            }
        }
        let awaited = self.awaited(purpose, sockets);
        guard.add(app.group.pid());
        self.reporter.report(&Message::Start {
            pid: app.group.pid(),
        });
        let gone = std::sync::Arc::clone(&app.gone);
        let last_attempt = std::sync::Arc::clone(&app.attempt);
        self.apps.push(app);
        let at_once = Event::AppReady {
            app: id,
            via: awaited.via(),
        };
        match &awaited {
            Awaited::Nothing => return Some(at_once),
            Awaited::Notify => {}
            Awaited::Settle(settle) => {
                if let Err(e) = ready::settle(*settle, id, gone, events.clone()) {
                    self.reporter
                        .warn(format!("cannot time the app ({e}): counting it as ready"));
                    return Some(at_once);
                }
            }
            Awaited::Probe(target) => {
                if let Err(e) = ready::probe(target.clone(), id, gone, last_attempt, events.clone())
                {
                    self.reporter
                        .warn(format!("cannot probe the app ({e}): counting it as ready"));
                    return Some(at_once);
                }
            }
        }
        None
    }

    /// Kills everything of this app that is still running (the session is ending).
    pub fn kill_all(&self) {
        if let Some(job) = &self.build {
            job.group.kill();
        }
        for app in &self.apps {
            app.group.kill();
        }
    }
}
