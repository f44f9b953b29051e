//! The app loop: the one place where the edges (watcher, signals, processes, sockets, output)
//! meet the decisions of the Supervisors, one per app. The same loop runs a development
//! session and `hot --once`, for one app or several; only the Supervisors' goal and the edges
//! that are switched on differ.

mod http;
mod load;
mod readiness;
mod reload;
mod slot;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::Instant;

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::Cli;
use crate::config::Stdin;
use crate::error::Error;
use crate::event::{Event, Key, ReadyVia};
use crate::supervise::guard::Guard;
use crate::supervise::{self, Effect, Policy, Supervisor, Verdict};
use crate::terminal::Console;
use crate::ui::{Reporter, keys};
use crate::watch::Watcher;
use crate::watch::contents::Check;
use crate::watch::filter::Filter;

pub use load::{Loader, Prepared, PreparedApp, enter_dir, prepare};
use slot::Slot;

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
    /// The worst of the apps' statuses.
    pub code: u8,
    /// What `--once` concluded for each app (its name in a session of several), with what the
    /// session knew then.
    pub conclusions: Vec<(Option<String>, Verdict, Facts)>,
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
    let (Prepared { root, apps, loader }, fingerprints) = prepare(&cli, &reporter)?;

    let (events, inbox) = mpsc::channel();
    forward_signals(events.clone())?;
    let several = apps.len() > 1;
    let width = apps
        .iter()
        .filter_map(|a| a.name.as_deref().map(str::len))
        .max()
        .unwrap_or(0);
    let mut slots = Vec::new();
    for (
        index,
        PreparedApp {
            name,
            config,
            listeners,
        },
    ) in apps.into_iter().enumerate()
    {
        let app_reporter = reporter.for_app(
            name.as_deref()
                .filter(|_| several)
                .map(|name| (name, index, width)),
        );
        let filter = several.then(|| Filter::new(&config.watch, &root, &config.tmp_dir));
        slots.push(Slot::new(
            index,
            name,
            config,
            listeners,
            app_reporter,
            filter,
            &events,
        )?);
    }
    let interactive = interactive_app(&slots, &loader.file)?;
    // Before `watching`, so a key pressed once hot says it is watching is never line-buffered.
    let console = match interactive {
        Some(_) => Console::open(events.clone(), reporter.terminal())
            .map_err(|e| Error::io("cannot relay the terminal to the app", e))?,
        None => None,
    };
    let (watcher, keyboard) = match purpose {
        Purpose::Develop => {
            let watched: Vec<_> = slots
                .iter()
                .map(|s| (&s.config.watch, s.config.tmp_dir.as_path()))
                .collect();
            let watcher = Watcher::start(&watched, &root, &loader.file, events.clone())?;
            let keyboard = match interactive {
                Some(_) => None,
                None => keys::listen(events.clone()),
            };
            (Some(watcher), keyboard)
        }
        Purpose::SmokeTest => (None, None),
    };
    let mut session = Session {
        purpose,
        config_text: std::fs::read(&loader.file).ok(),
        fingerprints,
        loader,
        root,
        watcher,
        reporter,
        events,
        guard,
        keyboard,
        console,
        editors: Vec::new(),
        confirmed: vec![Default::default(); slots.len()],
        slots,
    };
    if purpose == Purpose::Develop {
        session.announce();
        if session.keyboard.is_some() || session.console.is_some() {
            session.hint_keys();
        }
    }
    let mut supervisors: Vec<Supervisor> = session
        .slots
        .iter()
        .map(|s| Supervisor::for_slot(s.policy(purpose), s.index))
        .collect();
    // The status each app ended with, once it has.
    let mut ended: Vec<Option<u8>> = vec![None; supervisors.len()];

    let now = Instant::now();
    let mut effects: VecDeque<(usize, Effect)> = supervisors
        .iter_mut()
        .enumerate()
        .flat_map(|(i, s)| s.start(now).into_iter().map(move |e| (i, e)))
        .collect();
    loop {
        while let Some((i, effect)) = effects.pop_front() {
            let now = Instant::now();
            match session.apply(i, effect) {
                Applied::Done => {}
                // Answered here, before any other event: nothing can slip in between a question
                // and its answer.
                Applied::Answer(event) => {
                    let answer = supervisors[i].step(Some(event), now);
                    effects.extend(answer.into_iter().map(|e| (i, e)));
                }
                Applied::Reconfigured(changed, file) => {
                    for (j, policy) in changed {
                        let more = supervisors[j].reconfigure(policy, file.clone(), now);
                        effects.extend(more.into_iter().map(|e| (j, e)));
                    }
                }
                Applied::Exit(code) => {
                    ended[i] = Some(code);
                    if ended.iter().all(Option::is_some) {
                        return Ok(session.end(&ended));
                    }
                }
            }
        }
        let deadline = supervisors
            .iter()
            .zip(&ended)
            .filter(|(_, e)| e.is_none())
            .filter_map(|(s, _)| s.next_deadline())
            .min();
        let event = match deadline {
            Some(deadline) => {
                match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
            None => inbox.recv().ok(),
        };
        let routed = event.map(|e| session.route(e)).unwrap_or_default();
        let now = Instant::now();
        for (i, supervisor) in supervisors.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            let mut mine = routed.iter().filter(|(j, _)| *j == i).peekable();
            if mine.peek().is_none() {
                effects.extend(supervisor.step(None, now).into_iter().map(|e| (i, e)));
            }
            for (_, event) in mine {
                let more = supervisor.step(Some(event.clone()), now);
                effects.extend(more.into_iter().map(|e| (i, e)));
            }
        }
    }
}

/// The app of the session that reads the terminal (`[run] stdin = "app"`), if any: at most
/// one can.
fn interactive_app(slots: &[Slot], file: &std::path::Path) -> Result<Option<usize>, Error> {
    let readers: Vec<&Slot> = slots
        .iter()
        .filter(|s| s.config.run.as_ref().is_some_and(|r| r.stdin == Stdin::App))
        .collect();
    match readers.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.index)),
        [first, second, ..] => Err(Error::Usage(format!(
            "{}: apps {} and {} both set [run] stdin = \"app\": there is one terminal, so one app \
             can read it; set it for one of them only",
            file.display(),
            first.name.as_deref().unwrap_or("?"),
            second.name.as_deref().unwrap_or("?"),
        ))),
    }
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

/// What carrying out an effect led to.
enum Applied {
    Done,
    /// The effect was a question for the outside world; this is its answer, for the
    /// Supervisor.
    Answer(Event),
    /// The config was reloaded: the new policy of every app whose settings changed, and the
    /// file (relative) as the trigger.
    Reconfigured(Vec<(usize, Policy)>, PathBuf),
    /// This app is done, with this exit status.
    Exit(u8),
}

/// The edges shared by every app: the watcher, the keyboard, the config file, the guard, and
/// the means to report; and each app's own (`Slot`).
struct Session {
    purpose: Purpose,
    loader: Loader,
    /// The config file's bytes when last loaded, to ignore saves that change nothing.
    config_text: Option<Vec<u8>>,
    /// Per app, the TOML it was loaded from: a reload restarts only the apps whose changed.
    fingerprints: Vec<String>,
    root: PathBuf,
    /// None under `--once`, which watches nothing.
    watcher: Option<Watcher>,
    reporter: Reporter,
    events: Sender<Event>,
    guard: Guard,
    /// Restores the terminal when the session ends.
    keyboard: Option<keys::KeyboardGuard>,
    /// The real terminal, relayed to the app that reads it (`[run] stdin = "app"`).
    console: Option<Console>,
    /// Editors started from the failure view, until they exit (they are hot's processes too).
    editors: Vec<std::process::Child>,
    slots: Vec<Slot>,
    /// Per app, changed files another app's content check already confirmed (the check takes
    /// the new contents as the baseline, so this app's own check would find them unchanged).
    confirmed: Vec<std::collections::HashSet<PathBuf>>,
}

impl Session {
    /// Which app (or apps) an event is for, after the edge has taken note of it: a change goes
    /// to every app whose files it touches, a signal or a key to all, a process's end to its
    /// app.
    fn route(&mut self, event: Event) -> Vec<(usize, Event)> {
        let all = |event: &Event| -> Vec<(usize, Event)> {
            (0..self.slots.len()).map(|i| (i, event.clone())).collect()
        };
        match event {
            Event::FilesChanged { paths, open } => self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let paths = slot.own(&self.root, &paths);
                    (!paths.is_empty()).then(|| {
                        let open = open.iter().filter(|p| paths.contains(p)).cloned().collect();
                        (i, Event::FilesChanged { paths, open })
                    })
                })
                .collect(),
            Event::BuildFinished(end) => {
                let Some(slot) = self.slots.get_mut(end.slot) else {
                    return Vec::new();
                };
                slot.build_ended(end, &mut self.guard)
                    .map(|e| vec![(end.slot, e)])
                    .unwrap_or_default()
            }
            Event::AppExited { app, outcome } => {
                if let Some(console) = &self.console {
                    console.exited(app);
                }
                let keep = self.keep();
                if let Some(slot) = self.slots.get_mut(app.slot()) {
                    slot.app_exited(app, &outcome, &mut self.guard, &keep);
                }
                vec![(app.slot(), Event::AppExited { app, outcome })]
            }
            Event::AppReleased { app } => {
                if let Some(slot) = self.slots.get(app.slot()) {
                    slot.app_released(app);
                }
                vec![(app.slot(), event)]
            }
            Event::AppReady { app, .. } => vec![(app.slot(), event)],
            Event::Port { app, fact } => {
                if let Some(slot) = self.slots.get_mut(app.slot()) {
                    slot.port_fact(fact);
                }
                Vec::new()
            }
            Event::Notified { sender, message } => {
                if !message.ready {
                    return Vec::new();
                }
                // Without a sender, the newest app of all (the one being started).
                let found = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.app_of(sender).map(|app| (i, app)))
                    .max_by_key(|(_, app)| *app);
                found
                    .map(|(i, app)| {
                        vec![(
                            i,
                            Event::AppReady {
                                app,
                                via: ReadyVia::Notify,
                            },
                        )]
                    })
                    .unwrap_or_default()
            }
            // The file is the session's: one app reloads it for all.
            Event::ConfigChanged => vec![(0, Event::ConfigChanged)],
            Event::OpenInEditor(ref location) => {
                self.open_in_editor(location);
                Vec::new()
            }
            Event::WatchFailed(ref message) => {
                self.reporter.warn(format!("watcher: {message}"));
                Vec::new()
            }
            Event::Key(Key::Clear) => {
                self.reporter.clear_screen();
                Vec::new()
            }
            Event::Key(Key::Help) => {
                self.reporter.terminal().alert();
                self.hint_keys();
                Vec::new()
            }
            // Apps are numbered from 1 in the file's order, as the hint at start says.
            Event::Key(Key::RebuildApp(i)) if i < self.slots.len() && self.slots.len() > 1 => {
                vec![(i, Event::Key(Key::Rebuild))]
            }
            // A one-app session has no numbered apps; in a session of several, say which keys are.
            Event::Key(Key::RebuildApp(i)) => {
                let apps = self.slots.len();
                if apps > 1 {
                    self.reporter.warn(format!(
                        "key {}: no such app; 1–{} rebuild the apps in the order of .hot.toml",
                        i + 1,
                        apps.min(9)
                    ));
                }
                Vec::new()
            }
            Event::Signalled(_) | Event::Key(_) => all(&event),
            Event::ContentsChecked { .. } => Vec::new(),
        }
    }

    /// The line that says which keys hot reads (and, when an app reads the terminal, after
    /// which prefix).
    fn hint_keys(&self) {
        let names: Vec<&str> = self
            .slots
            .iter()
            .filter_map(|s| s.name.as_deref())
            .collect();
        let prefix = self.console.as_ref().map(|_| keys::PREFIX_NAME);
        self.reporter.key_hint(&names, prefix);
    }

    /// Every process hot leads that must survive the cleanup after one app's exit.
    fn keep(&self) -> Vec<u32> {
        std::iter::once(self.guard.pid())
            .chain(self.slots.iter().flat_map(Slot::pids))
            .chain(self.editors.iter().map(std::process::Child::id))
            .collect()
    }

    /// Carries out one decision of app `i`'s Supervisor.
    fn apply(&mut self, i: usize, effect: Effect) -> Applied {
        let purpose = self.purpose;
        let slot = &mut self.slots[i];
        match effect {
            Effect::Note(message) => slot.reporter.note(message),
            Effect::Warn(message) => slot.reporter.warn(message),
            Effect::ReloadConfig => {
                if let Some((changed, file)) = self.reload() {
                    return Applied::Reconfigured(changed, file);
                }
            }
            Effect::CheckContents { paths } => {
                return Applied::Answer(self.check_contents(i, paths));
            }
            Effect::ReportChange { paths } => {
                if let Some(watcher) = &self.watcher {
                    if let Ok(mut contents) = watcher.contents.lock() {
                        contents.reported(&self.root, &paths);
                    }
                }
                slot.report_change(paths);
            }
            Effect::StartBuild { changes } => {
                if let Err(failed) = slot.start_build(&changes, &mut self.guard, &self.events) {
                    return Applied::Answer(failed);
                }
            }
            Effect::CancelBuild => slot.cancel_build(),
            Effect::KillBuild => slot.kill_build(),
            Effect::StartApp { app } => {
                if let Some(fact) = slot.start_app(
                    app,
                    purpose,
                    &mut self.guard,
                    &self.events,
                    self.console.as_ref(),
                ) {
                    return Applied::Answer(fact);
                }
            }
            Effect::StopApp { app, reason } => slot.stop_app(app, reason),
            Effect::KillApp { app } => slot.kill_app(app),
            Effect::WatchRelease { app } => slot.watch_release(app, &self.events),
            Effect::Ready { app, via } => slot.report_ready(app, via),
            Effect::ReloadPages => slot.reload_pages(),
            Effect::ShowFailure { failure, app_down } => slot.show_failure(failure, app_down),
            Effect::ClearFailure => slot.clear_failure(),
            Effect::Conclude(verdict) => slot.conclude(verdict, purpose),
            Effect::Exit(code) => return Applied::Exit(code),
        }
        Applied::Done
    }

    /// Compares `paths`, changed files of app `i`, with the contents last seen.
    fn check_contents(&mut self, i: usize, paths: Vec<PathBuf>) -> Event {
        let Some(watcher) = &self.watcher else {
            return Event::ContentsChecked {
                changed: paths,
                all_missing: false,
                fleeting: Vec::new(),
            };
        };
        let mut changed = Vec::new();
        let mut fleeting = Vec::new();
        let mut all_missing = true;
        match watcher.contents.lock() {
            Ok(mut contents) => {
                for path in paths {
                    if self.confirmed[i].remove(&path) {
                        all_missing = false;
                        changed.push(path);
                        continue;
                    }
                    match contents.check(&self.root.join(&path)) {
                        Check::Same => continue,
                        Check::Fleeting => {
                            fleeting.push(path);
                            continue;
                        }
                        Check::Changed => all_missing = false,
                        Check::Gone => {}
                    }
                    // The other apps this file is also for learn it from here.
                    for (j, slot) in self.slots.iter().enumerate() {
                        if j != i && !slot.own(&self.root, std::slice::from_ref(&path)).is_empty() {
                            self.confirmed[j].insert(path.clone());
                        }
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
            fleeting,
        }
    }

    /// Every app is done: the worst status (a signal's, else an app failure's over a build
    /// failure's), and what `--once` concluded.
    fn end(&mut self, ended: &[Option<u8>]) -> Ended {
        let code = ended.iter().flatten().copied().max().unwrap_or(0);
        let conclusions = self
            .slots
            .iter_mut()
            .filter_map(|s| {
                s.conclusion
                    .take()
                    .map(|(verdict, facts)| (s.name.clone(), verdict, facts))
            })
            .collect();
        Ended { code, conclusions }
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
            .slots
            .iter()
            .find_map(|s| s.config.editor.clone())
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
        let file = self.root.join(&location.path);
        let Some(words) = crate::editor::command(&editor, &file, location.line, location.column)
        else {
            self.reporter.warn(format!(
                "cannot open {location}: cannot parse the editor {editor:?}"
            ));
            return;
        };
        let mut cmd = std::process::Command::new(&words[0]);
        cmd.args(&words[1..])
            .current_dir(&self.root)
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
}

impl Drop for Session {
    /// Nothing hot started outlives it, on every path out of the loop, panics included.
    fn drop(&mut self) {
        for slot in &self.slots {
            slot.kill_all();
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
