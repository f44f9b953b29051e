//! Telling the user what the session watches, and loading the config again when it changes.

use std::path::PathBuf;

use crate::config::{AppConfig, Route, Upstream};
use crate::supervise::Policy;
use crate::ui::{self, Message, millis};
use crate::watch::filter::Filter;
use crate::watch::{Mode, Watcher};

use super::Session;
use super::slot::Slot;

impl Session {
    /// The `watching` line of each app: addresses, paths, and how changes are noticed.
    pub(super) fn announce(&self) {
        let Some(watcher) = &self.watcher else {
            return;
        };
        if let Some(why) = &watcher.warning {
            self.reporter.warn(why.clone());
        }
        for slot in &self.slots {
            slot.reporter.report(&Message::Watching {
                addrs: slot.listeners.addrs(),
                paths: slot
                    .config
                    .watch
                    .paths
                    .iter()
                    .map(|p| crate::watch::relative(p, &self.root))
                    .collect(),
                dirs: watcher.dirs,
            });
            announce_proxy(slot);
        }
        if let Mode::Polling {
            files,
            tick,
            rotation,
        } = watcher.mode
        {
            self.reporter.note(format!(
                "polling {files} files: new, removed and recently edited files every {}, every \
                 file within {} (polling never uses more than 2 % of a core)",
                ui::human(millis(tick)),
                ui::human(millis(rotation))
            ));
        }
    }

    /// Loads the config file again. Each app whose settings changed (its own table, or the
    /// top-level keys) takes the new ones (sockets are kept unless `listen` changed) and its
    /// Supervisor the new policy; the others go on untouched. An invalid file is reported and
    /// everything stays as it is.
    pub(super) fn reload(&mut self) -> Option<(Vec<(usize, Policy)>, PathBuf)> {
        let text = std::fs::read(&self.loader.file).ok();
        if text == self.config_text {
            return None;
        }
        self.config_text = text;
        let keeping = "hot keeps the running configuration and apps";
        let mut loaded = match self.loader.load().and_then(|mut l| {
            self.loader.only(&mut l)?;
            Ok(l)
        }) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.reporter
                    .warn(format!("{e}\n{keeping}; fix the file to reload it"));
                return None;
            }
        };
        let names: Vec<Option<&String>> = self.slots.iter().map(|s| s.name.as_ref()).collect();
        let new_names: Vec<Option<&String>> = loaded.apps.iter().map(|a| a.name.as_ref()).collect();
        if names != new_names {
            self.reporter.warn(format!(
                "{}: apps added, removed or renamed take effect when hot restarts; {keeping}",
                self.loader.file.display()
            ));
            return None;
        }
        let changed: Vec<usize> = (0..self.slots.len())
            .filter(|&i| loaded.fingerprints.get(i) != self.fingerprints.get(i))
            .collect();
        for app in &loaded.apps {
            if let Err(e) = std::fs::create_dir_all(&app.config.tmp_dir) {
                self.reporter.warn(format!(
                    "cannot create {}: {e}; {keeping}",
                    app.config.tmp_dir.display()
                ));
                return None;
            }
        }
        let watched: Vec<_> = loaded
            .apps
            .iter()
            .map(|a| (&a.config.watch, a.config.tmp_dir.as_path()))
            .collect();
        let watcher =
            match Watcher::start(&watched, &self.root, &self.loader.file, self.events.clone()) {
                Ok(w) => w,
                Err(e) => {
                    self.reporter.warn(format!("{e}; {keeping}"));
                    return None;
                }
            };
        self.watcher = Some(watcher);
        let several = self.slots.len() > 1;
        let file = crate::watch::relative(&self.loader.file, &self.root);
        let mut policies = Vec::new();
        for (i, app) in loaded.apps.drain(..).enumerate() {
            if !changed.contains(&i) {
                continue;
            }
            let slot = &mut self.slots[i];
            if !take(slot, app, several, &self.root, &self.events) {
                continue;
            }
            slot.reporter
                .note(format!("{} changed: reloaded", file.display()));
            policies.push((i, slot.policy(self.purpose)));
        }
        self.fingerprints = loaded.fingerprints;
        self.announce();
        if policies.is_empty() {
            self.reporter.note(format!(
                "{} changed: reloaded; no app's settings changed, so nothing restarts",
                file.display()
            ));
            return None;
        }
        Some((policies, file))
    }
}

/// `slot` takes the settings of `app`, as far as they can change while hot runs; false if its
/// new `listen` cannot be bound (it keeps its settings then).
fn take(
    slot: &mut Slot,
    app: AppConfig,
    several: bool,
    root: &std::path::Path,
    events: &std::sync::mpsc::Sender<crate::event::Event>,
) -> bool {
    let config = app.config;
    let keeping = "hot keeps the running configuration and app";
    if config.route() != slot.route
        || config.reload != slot.live_reload
        || (slot.route != Route::Direct && config.listen != slot.config.listen)
    {
        slot.reporter.warn(format!(
            "changes to `listen` with the proxy, [proxy], [browser] and [run] app_addr take effect \
             when hot restarts; {keeping} for those"
        ));
    } else if config.listen != slot.config.listen {
        if let Err(e) = slot.listeners.rebind(&config.listen) {
            slot.reporter.warn(format!("{e}; {keeping}"));
            return false;
        }
        if let Some(proxy) = &mut slot.proxy {
            if let Err(e) = proxy.sockets_moved(&slot.listeners) {
                slot.reporter
                    .warn(format!("cannot serve the error page: {e}"));
            }
        }
    }
    if several {
        slot.filter = Some(Filter::new(&config.watch, root, &config.tmp_dir));
    }
    slot.config = config;
    slot.set_up_hold();
    slot.bind_notify_if_needed(events);
    true
}

/// The line that says where the proxy forwards to.
fn announce_proxy(slot: &Slot) {
    let Route::Proxy(upstream) = slot.route else {
        return;
    };
    let to = match upstream {
        Upstream::Private => match &slot.private {
            Some(private) => format!("the app on {}", private.addrs().join(", ")),
            None => "the app".into(),
        },
        Upstream::AppAddr(addr) => format!("the app's own port {addr}"),
    };
    let reload = if slot.live_reload {
        "; pages reload once the new app is ready"
    } else {
        ""
    };
    slot.reporter.note(format!(
        "proxying {} to {to}{reload}",
        slot.listeners.addrs().join(", ")
    ));
}
