//! `hot --once`, the CI smoke test: build, start the app on the sockets, wait until it is ready,
//! stop it, and say so with the exit status (0 ready, 1 build failed, 3 app failed).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::build::BuildJob;
use crate::cli::Cli;
use crate::config::{Config, Probe, Ready, Route, Upstream};
use crate::error::{Error, exit};
use crate::event::{AppId, Event, Outcome, ReadyVia};
use crate::listen::Listeners;
use crate::ready::{NotifySocket, http_status};
use crate::session::{Prepared, forward_signals, prepare};
use crate::supervise::app::AppProcess;
use crate::supervise::guard::Guard;
use crate::supervise::{self, StopReason};
use crate::ui::{Message, Reporter, human, millis};

/// One probe's wait for an answer; a slow app gets more probes, not a longer one.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
const BUILD_CANCEL_GRACE: Duration = Duration::from_millis(1000);

pub fn run(cli: Cli) -> Result<u8, Error> {
    // First, while hot is still single-threaded (the guard is a fork), and before any socket
    // is bound (the guard holds nothing of hot's).
    supervise::process::become_subreaper();
    let guard = Guard::spawn().map_err(|e| Error::io("cannot start hot's cleanup helper", e))?;
    let reporter = Reporter::new(cli.json);
    let Prepared {
        config, listeners, ..
    } = prepare(&cli, &reporter)?;
    let (events, inbox) = mpsc::channel();
    forward_signals(events.clone())?;
    let mut smoke = Smoke {
        reporter,
        config,
        listeners,
        events,
        inbox,
        guard,
        app_gone: false,
        notify: None,
    };
    Ok(smoke.run())
}

struct Smoke {
    reporter: Reporter,
    config: Config,
    listeners: Listeners,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    guard: Guard,
    /// The app exited (and was reported): nothing left to stop.
    app_gone: bool,
    /// With `[run] ready = "notify"`: where the app says READY=1.
    notify: Option<NotifySocket>,
}

impl Smoke {
    fn run(&mut self) -> u8 {
        let built = match self.build() {
            Ok(ms) => ms,
            Err(code) => return code,
        };
        let Some(run) = &self.config.run else {
            self.reporter.note(format!(
                "--once: built in {}; no [run] cmd to start",
                human(built.unwrap_or(0))
            ));
            return exit::OK;
        };
        if let Err(e) = self.listeners.reset() {
            self.reporter.warn(format!("listener: {e}"));
        }
        // An app that binds its own port gets no sockets; every other one takes them directly
        // (no proxy is needed for one request).
        let none = Listeners::default();
        let sockets = match self.config.route() {
            Route::Proxy(Upstream::AppAddr(_)) => &none,
            _ => &self.listeners,
        };
        self.notify = match run.ready {
            Ready::Notify => match NotifySocket::bind(self.events.clone()) {
                Ok(socket) => Some(socket),
                Err(e) => {
                    self.reporter.warn(format!(
                        "--once failed: cannot create the notify socket: {e}"
                    ));
                    return exit::FAILURE;
                }
            },
            _ => None,
        };
        let notify = self.notify.as_ref().map(NotifySocket::path);
        let mut app = match AppProcess::start(
            AppId(1),
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
                    .warn(format!("--once failed: cannot start {}: {e}", run.program));
                return exit::APP_FAILED;
            }
        };
        self.guard.add(app.group.pid());
        self.reporter.report(&Message::Start {
            pid: app.group.pid(),
        });

        let verdict = self.wait_ready(&app);
        let code = match verdict {
            Ok((ready_ms, via)) => {
                self.reporter.report(&Message::Ready {
                    pid: app.group.pid(),
                    ms: ready_ms,
                    via,
                });
                let built = built
                    .map(|ms| format!("built in {} · ", human(ms)))
                    .unwrap_or_default();
                self.reporter
                    .note(format!("--once ok: {built}ready in {}", human(ready_ms)));
                exit::OK
            }
            Err(Verdict::Failed(reason)) => {
                self.reporter.warn(format!("--once failed: {reason}"));
                exit::APP_FAILED
            }
            Err(Verdict::Signalled(code)) => code,
        };
        if let Some(outcome) = self.stop_app(&mut app) {
            self.report_exit(&app, outcome);
        }
        code
    }

    /// Runs the build: `Ok(Some(ms))`, `Ok(None)` when there is none, or the exit status.
    fn build(&mut self) -> Result<Option<u64>, u8> {
        let Some(build) = &self.config.build else {
            return Ok(None);
        };
        let job = match BuildJob::start(
            build,
            &self.config.root,
            &[],
            self.reporter.terminal(),
            self.events.clone(),
        ) {
            Ok(job) => job,
            Err(e) => {
                self.reporter
                    .warn(format!("--once failed: cannot run the build command: {e}"));
                return Err(exit::BUILD_FAILED);
            }
        };
        self.guard.add(job.group.pid());
        self.reporter.report(&Message::BuildStart {
            pid: job.group.pid(),
        });
        let mut kill_at = None;
        let mut interrupted = None;
        loop {
            let event = match kill_at {
                Some(at) => match self.inbox.recv_timeout(deadline_left(at)) {
                    Ok(e) => e,
                    Err(_) => {
                        job.group.kill();
                        kill_at = None;
                        continue;
                    }
                },
                None => match self.inbox.recv() {
                    Ok(e) => e,
                    Err(_) => return Err(exit::FAILURE),
                },
            };
            match event {
                Event::BuildFinished(outcome) => {
                    job.group.kill();
                    self.guard.remove(job.group.pid());
                    let ms = millis(job.started.elapsed());
                    if let Some(signal) = interrupted {
                        return Err(signal_code(signal));
                    }
                    if outcome.success() {
                        self.reporter.report(&Message::BuildOk { ms });
                        return Ok(Some(ms));
                    }
                    self.reporter.report(&Message::BuildFailed {
                        ms,
                        code: outcome.code,
                        signal: outcome.signal.map(Signal::as_str),
                    });
                    self.reporter
                        .warn(format!("--once failed: the build {outcome}"));
                    return Err(exit::BUILD_FAILED);
                }
                // Stop the build and end with the signal's status; a second signal forces it.
                Event::Signalled(signal) => {
                    if interrupted.is_some() {
                        job.group.kill();
                    } else {
                        job.group.signal(self.stop_signal());
                        kill_at = Some(Instant::now() + BUILD_CANCEL_GRACE);
                        interrupted = Some(signal);
                    }
                }
                _ => {}
            }
        }
    }

    fn wait_ready(&mut self, app: &AppProcess) -> Result<(u64, ReadyVia), Verdict> {
        let once = self.config.once.clone();
        let http_addr = match self.config.route() {
            Route::Proxy(Upstream::AppAddr(addr)) => Some(addr),
            _ => self.listeners.first_tcp(),
        };
        let started = app.started;
        if self.notify.is_some() {
            let deadline = started + once.timeout;
            return match self.check_inbox(app, deadline_left(deadline), false)? {
                Some(ms) => Ok((ms, ReadyVia::Notify)),
                None => Err(Verdict::Failed(format!(
                    "the app sent no READY=1 to $NOTIFY_SOCKET within {} ([run] ready = \"notify\")",
                    human(millis(once.timeout))
                ))),
            };
        }
        match (&once.probe, http_addr) {
            (Probe::Http { path, expect }, Some(addr)) => {
                let deadline = started + once.timeout;
                let mut last;
                loop {
                    if let Some(verdict) = self.check_inbox(app, Duration::ZERO, false)? {
                        return Ok((verdict, ReadyVia::Started));
                    }
                    match http_status(
                        addr,
                        path,
                        deadline_left(deadline).min(PROBE_TIMEOUT),
                        "hot --once",
                    ) {
                        Ok(status) if expect.map_or(status < 500, |e| status == e) => {
                            return Ok((millis(started.elapsed()), ReadyVia::Http));
                        }
                        Ok(status) => last = Some(format!("last answer: HTTP {status}")),
                        Err(e) => last = Some(format!("last attempt: {e}")),
                    }
                    if Instant::now() >= deadline {
                        let want = expect.map_or("HTTP answer below 500".to_owned(), |e| {
                            format!("HTTP {e} answer")
                        });
                        return Err(Verdict::Failed(format!(
                            "no {want} for GET {path} on {addr} within {} ({})",
                            human(millis(once.timeout)),
                            last.unwrap_or_default()
                        )));
                    }
                    if let Some(verdict) = self.check_inbox(app, PROBE_INTERVAL, false)? {
                        return Ok((verdict, ReadyVia::Started));
                    }
                }
            }
            _ => {
                // No HTTP probe: started = still running after settle_ms; without `listen`, an
                // app that finished with status 0 in that time (a one-shot job) also passes.
                let may_finish = self.listeners.is_empty();
                match self.check_inbox(app, once.settle, may_finish)? {
                    Some(ms) => Ok((ms, ReadyVia::Started)),
                    None => Ok((millis(started.elapsed()), ReadyVia::Started)),
                }
            }
        }
    }

    /// Waits up to `wait` for the app to exit or a signal. `Ok(Some(ms))` when an exit counts as
    /// success (`may_finish` and status 0).
    fn check_inbox(
        &mut self,
        app: &AppProcess,
        wait: Duration,
        may_finish: bool,
    ) -> Result<Option<u64>, Verdict> {
        let deadline = Instant::now() + wait;
        loop {
            let event = match self.inbox.recv_timeout(deadline_left(deadline)) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Verdict::Failed("lost track of the app".into()));
                }
            };
            match event {
                // Without a sender (macOS, the BSDs) it can only be the one app.
                Event::Notified { sender, message }
                    if message.ready && sender.is_none_or(|pid| app.group.contains(pid)) =>
                {
                    return Ok(Some(millis(app.started.elapsed())));
                }
                Event::AppExited { outcome, .. } => {
                    self.app_gone = true;
                    self.report_exit(app, outcome);
                    let ms = millis(app.started.elapsed());
                    if may_finish && outcome.success() {
                        return Ok(Some(ms));
                    }
                    return Err(Verdict::Failed(format!(
                        "the app {outcome} after {}",
                        human(ms)
                    )));
                }
                Event::Signalled(signal) => return Err(Verdict::Signalled(signal_code(signal))),
                _ => {}
            }
        }
    }

    /// Stops the app as a session would: stop signal, grace, SIGKILL. Returns how it ended.
    fn stop_app(&mut self, app: &mut AppProcess) -> Option<Outcome> {
        if self.app_gone {
            return None;
        }
        let run = self.config.run.as_ref()?;
        self.reporter.report(&Message::Stop {
            pid: app.group.pid(),
            reason: StopReason::Shutdown.as_str(),
        });
        app.stop(run, StopReason::Shutdown);
        let mut deadline = Instant::now() + run.stop_timeout;
        let mut killed = false;
        loop {
            match self.inbox.recv_timeout(deadline_left(deadline)) {
                Ok(Event::AppExited { outcome, .. }) => return Some(outcome),
                // Out of grace, or a second request to stop: SIGKILL, which cannot be ignored.
                Ok(Event::Signalled(_)) | Err(RecvTimeoutError::Timeout) if !killed => {
                    app.group.kill();
                    killed = true;
                    deadline = Instant::now() + run.stop_timeout.max(Duration::from_secs(5));
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    fn report_exit(&mut self, app: &AppProcess, outcome: Outcome) {
        supervise::process::clean_up_after(app.group, &[self.guard.pid()]);
        self.guard.remove(app.group.pid());
        self.reporter.report(&Message::exit(
            app.group.pid(),
            &outcome,
            app.started.elapsed(),
        ));
    }

    fn stop_signal(&self) -> Signal {
        self.config
            .run
            .as_ref()
            .map_or(Signal::SIGTERM, |r| r.stop_signal)
    }
}

/// Why the app was not found ready.
enum Verdict {
    Failed(String),
    /// hot was asked to stop: end with this status.
    Signalled(u8),
}

fn signal_code(signal: Signal) -> u8 {
    match signal {
        Signal::SIGHUP => exit::SIGHUP,
        Signal::SIGTERM => exit::SIGTERM,
        _ => exit::SIGINT,
    }
}

fn deadline_left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
