//! Telling the user what the session watches, and loading the config again when it changes.

use std::path::PathBuf;

use crate::config::{Route, Upstream};
use crate::supervise::Policy;
use crate::ui::{self, Message, millis};
use crate::watch::{Mode, Watcher};

use super::Session;

impl Session {
    /// The `watching` line: addresses, paths, and how changes are noticed.
    pub(super) fn announce(&self) {
        let Some(watcher) = &self.watcher else {
            return;
        };
        if let Some(why) = &watcher.warning {
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
            dirs: watcher.dirs,
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

    /// Loads the config file again. A valid one replaces the running config (sockets are kept
    /// unless `listen` changed) and goes to the Supervisor; an invalid one is reported and the
    /// running config and app stay as they are.
    pub(super) fn reload(&mut self) -> Option<(Policy, PathBuf)> {
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
        self.watcher = Some(watcher);
        self.config = config;
        self.bind_notify_if_needed();
        let file = crate::watch::relative(&self.loader.file, &self.root);
        self.reporter
            .note(format!("{} changed: reloaded", file.display()));
        self.announce();
        Some((self.policy(), file))
    }
}
