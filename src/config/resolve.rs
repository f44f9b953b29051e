//! From the raw layers to `Config`: real types, compiled globs, and errors that point at the
//! offending value (its file, line and column, or the flag or variable that set it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use nix::sys::signal::Signal;
use toml::Spanned;

use crate::error::Error;
use crate::listen::{ListenAddr, ListenSpec};

use super::file::*;
use super::*;

/// Turns the raw file into `Config`, pointing at the offending value on error.
pub(super) struct Resolver<'a> {
    pub(super) root: &'a Path,
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    /// Keys set by a flag or variable, and which one: their errors name it, not the file.
    pub(super) origins: BTreeMap<String, String>,
    /// `apps.NAME.` while resolving one app of several, so that an error names the app.
    pub(super) prefix: String,
}

impl Resolver<'_> {
    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> Error {
        let root_key = key.split('[').next().unwrap_or(key);
        if let Some(origin) = self.origins.get(root_key) {
            return Error::Usage(format!("{origin}: {}", message.into()));
        }
        let (line, column) = line_col(self.text, span.start);
        Error::Config {
            path: self.path.to_path_buf(),
            line,
            column,
            key: Some(format!("{}{key}", self.prefix)),
            message: message.into(),
        }
    }

    pub(super) fn resolve(&self, file: ConfigFile, overrides: &Overrides) -> Result<Config, Error> {
        let root = self.root.to_path_buf();
        let mode = match &file.listen_mode {
            None => crate::listen::DEFAULT_UNIX_MODE,
            Some(m) => {
                let digits = m.get_ref().trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                        self.error(
                            m.span(),
                            "listen_mode",
                            format!(
                                "{:?}: expected octal permission bits like \"0600\" or \"0660\"",
                                m.get_ref()
                            ),
                        )
                    })?
            }
        };
        let listen: Vec<ListenSpec> = self
            .listen(file.listen)?
            .into_iter()
            .map(|s| s.with_mode(mode))
            .collect();

        let tmp_dir = match &file.build.tmp_dir {
            Some(t) if t.get_ref().trim().is_empty() => {
                return Err(self.error(t.span(), "build.tmp_dir", "must not be empty"));
            }
            Some(t) => root.join(t.get_ref()),
            None => root.join(DEFAULT_TMP_DIR),
        };

        let watch = self.watch(file.watch)?;

        let build = match file.build.cmd {
            Some(cmd) if cmd.get_ref().trim().is_empty() => {
                return Err(self.error(
                    cmd.span(),
                    "build.cmd",
                    "must not be empty (remove the key for no build step)",
                ));
            }
            Some(cmd) => Some(BuildConfig {
                cmd: cmd.into_inner(),
                env: file.build.env.unwrap_or_default(),
                color: file.build.color.unwrap_or(true)
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            }),
            None => None,
        };

        let reload = file.browser.reload.unwrap_or(false);
        // Live reload needs hot in front of the app.
        let proxy = file.proxy.enabled.unwrap_or(false) || reload;
        let app_port = match (file.proxy.app_port, file.browser.app_port) {
            (Some(p), Some(_)) => {
                return Err(self.error(
                    p.span(),
                    "proxy.app_port",
                    "set [proxy] app_port only ([browser] app_port is its old name)",
                ));
            }
            (Some(p), None) => Some((p, "proxy.app_port")),
            (None, Some(p)) => Some((p, "browser.app_port")),
            (None, None) => None,
        };
        let run = self.run(file.run, app_port, &overrides.app_args)?;
        if let Some(run) = &run {
            let proxied = proxy || run.app_addr.is_some();
            if proxied && listen.is_empty() {
                let why = if proxy {
                    "[proxy] enabled (or --proxy, --reload, [browser] reload)"
                } else {
                    "an app address ([proxy] app_port / [run] app_addr)"
                };
                return Err(Error::Usage(format!(
                    "{}: {why} needs a public address for hot's proxy: set listen = [\"127.0.0.1:8080\"] \
                     (browsers connect there; hot forwards to the app)",
                    self.path.display()
                )));
            }
        }
        if let Some(run) = &run {
            let probe = match run.ready {
                Ready::Http(_) => Some("http"),
                Ready::Tcp => Some("tcp"),
                Ready::Started | Ready::Notify => None,
            };
            let tcp = listen
                .iter()
                .any(|l| !matches!(l.addr, ListenAddr::Unix(_)));
            if let Some(probe) = probe.filter(|_| !tcp && !proxy && run.app_addr.is_none()) {
                return Err(Error::Usage(format!(
                    "{}: [run] ready = {probe:?} probes a TCP address, and there is none: add one \
                     to `listen` (or set [run] app_addr for an app on its own port), or use \
                     ready = \"notify\" or \"none\"",
                    self.path.display()
                )));
            }
        }
        if run.is_none() && build.is_none() {
            return Err(Error::Usage(format!(
                "{}: nothing to do: set [run] cmd (the server to restart) and usually [build] cmd",
                self.path.display()
            )));
        }
        if run.is_none() && !listen.is_empty() {
            return Err(Error::Usage(format!(
                "{}: `listen` is set but there is no [run] cmd to hand the sockets to",
                self.path.display()
            )));
        }

        let once = self.once(file.once)?;
        Ok(Config {
            root,
            listen,
            watch,
            tmp_dir,
            build,
            run,
            once,
            ui: UiConfig {
                clear_on_rebuild: file.ui.clear_on_rebuild.unwrap_or(false),
            },
            reload,
            proxy,
            editor: file.browser.editor.filter(|e| !e.trim().is_empty()),
            allowed_hosts: file.proxy.allowed_hosts.unwrap_or_default(),
        })
    }

    fn listen(&self, entries: Option<Vec<Spanned<ListenEntry>>>) -> Result<Vec<ListenSpec>, Error> {
        let mut specs = Vec::new();
        for (i, entry) in entries.unwrap_or_default().into_iter().enumerate() {
            let span = entry.span();
            let (addr, name) = match entry.into_inner() {
                ListenEntry::Addr(a) => (a, None),
                ListenEntry::Named(n) => (n.addr, n.name),
            };
            let key = format!("listen[{i}]");
            let parsed = ListenAddr::from_str(&addr)
                .map_err(|m| self.error(span.clone(), &key, format!("{addr:?}: {m}")))?;
            if let Some(name) = &name {
                if name.is_empty() || name.contains(':') || name.len() > 255 {
                    return Err(self.error(
                        span,
                        &format!("{key}.name"),
                        format!("{name:?}: a socket name must be 1-255 characters without ':' (it goes into LISTEN_FDNAMES)"),
                    ));
                }
            }
            specs.push(ListenSpec::new(parsed.in_dir(self.root), name, i));
        }
        Ok(specs)
    }

    fn watch(&self, w: WatchSection) -> Result<WatchConfig, Error> {
        let paths = match w.paths {
            None => vec![self.root.to_path_buf()],
            Some(ps) if ps.is_empty() => {
                return Err(Error::Usage(format!(
                    "{}: `watch.paths` is empty: list at least one directory (default [\".\"])",
                    self.path.display()
                )));
            }
            // A path that does not exist yet is not an error: the watcher says so and picks it
            // up once it appears (a generated directory, a checkout of another branch).
            Some(ps) => ps
                .into_iter()
                .map(|p| self.root.join(p.into_inner()))
                .collect(),
        };
        let include_ext = w
            .include_ext
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.trim_start_matches('.').to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        let include = match w.include {
            Some(globs) if !globs.is_empty() => Some(self.globs(&globs, "watch.include")?),
            _ => None,
        };
        let exclude = self.globs(&w.exclude.unwrap_or_default(), "watch.exclude")?;
        let exclude_regex = self.regexes(&w.exclude_regex.unwrap_or_default())?;
        let debounce = w
            .debounce_ms
            .map_or(DEFAULT_DEBOUNCE, Duration::from_millis);
        let backend = if w.poll.unwrap_or(false) {
            let interval = w
                .poll_interval_ms
                .map_or(DEFAULT_POLL_INTERVAL, Duration::from_millis)
                .max(Duration::from_millis(10));
            WatchBackend::Poll(interval)
        } else {
            WatchBackend::Native
        };
        Ok(WatchConfig {
            paths,
            include_ext,
            include,
            exclude,
            exclude_regex,
            gitignore: w.gitignore.unwrap_or(true),
            debounce,
            backend,
        })
    }

    fn regexes(&self, patterns: &[Spanned<String>]) -> Result<Option<regex::RegexSet>, Error> {
        for p in patterns {
            regex::Regex::new(p.get_ref()).map_err(|e| {
                let why = match e {
                    regex::Error::Syntax(text) => text
                        .lines()
                        .last()
                        .unwrap_or("invalid syntax")
                        .trim_start_matches("error: ")
                        .to_owned(),
                    other => other.to_string(),
                };
                self.error(
                    p.span(),
                    "watch.exclude_regex",
                    format!("bad regular expression {:?}: {why}", p.get_ref()),
                )
            })?;
        }
        if patterns.is_empty() {
            return Ok(None);
        }
        regex::RegexSet::new(patterns.iter().map(|p| p.get_ref()))
            .map(Some)
            .map_err(|e| {
                Error::Usage(format!(
                    "{}: `watch.exclude_regex`: {e}",
                    self.path.display()
                ))
            })
    }

    fn globs(&self, globs: &[Spanned<String>], key: &str) -> Result<GlobSet, Error> {
        let mut set = GlobSetBuilder::new();
        for g in globs {
            let pattern = g.get_ref().trim_start_matches("./");
            let glob = Glob::new(pattern).map_err(|e| {
                self.error(
                    g.span(),
                    key,
                    format!("bad glob {:?}: {}", g.get_ref(), e.kind()),
                )
            })?;
            set.add(glob);
        }
        set.build()
            .map_err(|e| Error::Usage(format!("{}: `{key}`: {e}", self.path.display())))
    }

    fn once(&self, o: OnceSection) -> Result<OnceConfig, Error> {
        let probe = match o.probe.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("http") => {
                let path = o
                    .probe_path
                    .map_or_else(|| "/".to_owned(), Spanned::into_inner);
                if !path.starts_with('/') {
                    return Err(Error::Usage(format!(
                        "{}: `once.probe_path` must start with '/', got {path:?}",
                        self.path.display()
                    )));
                }
                Probe::Http {
                    path,
                    expect: o.expect_status,
                }
            }
            Some("none") => Probe::None,
            Some(other) => {
                let span = o.probe.as_ref().map_or(0..0, Spanned::span);
                return Err(self.error(
                    span,
                    "once.probe",
                    format!("{other:?}: expected \"http\" or \"none\""),
                ));
            }
        };
        Ok(OnceConfig {
            probe,
            timeout: o
                .timeout_ms
                .map_or(DEFAULT_ONCE_TIMEOUT, Duration::from_millis),
            settle: o.settle_ms.map_or(DEFAULT_SETTLE, Duration::from_millis),
        })
    }

    fn run(
        &self,
        r: RunSection,
        app_port: Option<(Spanned<u16>, &'static str)>,
        app_args: &[String],
    ) -> Result<Option<RunConfig>, Error> {
        let Some(cmd) = r.cmd else {
            return Ok(None);
        };
        let words = shlex::split(cmd.get_ref()).ok_or_else(|| {
            self.error(
                cmd.span(),
                "run.cmd",
                "unbalanced quotes (the command is split like a shell would)",
            )
        })?;
        let Some((program, args)) = words.split_first() else {
            return Err(self.error(cmd.span(), "run.cmd", "must name a program to run"));
        };
        let stop_signal = match &r.stop_signal {
            Some(s) => parse_signal(s.get_ref()).ok_or_else(|| {
                self.error(
                    s.span(),
                    "run.stop_signal",
                    format!(
                        "{:?} is not a signal name like \"SIGTERM\" or \"SIGINT\"",
                        s.get_ref()
                    ),
                )
            })?,
            None => Signal::SIGTERM,
        };
        let restart = match r.restart.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("never") => Restart::Never,
            Some("on-failure") => Restart::OnFailure,
            Some("always") => Restart::Always,
            Some(other) => {
                let span = r.restart.as_ref().map_or(0..0, Spanned::span);
                return Err(self.error(
                    span,
                    "run.restart",
                    format!("{other:?}: expected \"never\", \"on-failure\" or \"always\""),
                ));
            }
        };
        let ready = match &r.ready {
            None => Ready::Started,
            Some(s) => {
                parse_ready(s.get_ref()).map_err(|m| self.error(s.span(), "run.ready", m))?
            }
        };
        let restart_mode = match r.restart_mode.as_ref().map(|m| (m.get_ref().as_str(), m)) {
            None | Some(("stop-then-start" | "stop-start", _)) => RestartMode::StopThenStart,
            Some(("drain", _)) => RestartMode::Drain,
            Some(("overlap", m)) => {
                if ready != Ready::Notify {
                    let span = r.ready.as_ref().map_or(m.span(), Spanned::span);
                    return Err(self.error(
                        span,
                        if r.ready.is_some() {
                            "run.ready"
                        } else {
                            "run.restart_mode"
                        },
                        "restart_mode = \"overlap\" needs ready = \"notify\": while both apps \
                         share the socket, an HTTP or TCP probe may be answered by the old app, so \
                         only the new app's own READY=1 says it is ready. Make the app send \
                         READY=1 to $NOTIFY_SOCKET and set [run] ready = \"notify\", or use \
                         restart_mode = \"stop-then-start\"",
                    ));
                }
                RestartMode::Overlap
            }
            Some((other, m)) => {
                return Err(self.error(
                    m.span(),
                    "run.restart_mode",
                    format!("{other:?}: expected \"stop-then-start\", \"drain\" or \"overlap\""),
                ));
            }
        };
        let kill_mode = match r.kill_mode.as_ref().map(|m| (m.get_ref().as_str(), m)) {
            None | Some(("mixed", _)) => KillMode::Mixed,
            Some(("group" | "control-group", _)) => KillMode::Group,
            Some((other, m)) => {
                return Err(self.error(
                    m.span(),
                    "run.kill_mode",
                    format!(
                        "{other:?}: expected \"mixed\" (the stop signal to the app's main \
                         process) or \"group\" (to every process of its group)"
                    ),
                ));
            }
        };
        let app_addr = match (&r.app_addr, &app_port) {
            (Some(a), Some((_, key))) => {
                return Err(self.error(
                    a.span(),
                    "run.app_addr",
                    format!(
                        "set either [run] app_addr or [{}] app_port, not both",
                        key.split('.').next().unwrap_or("proxy")
                    ),
                ));
            }
            (Some(a), None) => Some(parse_app_addr(a.get_ref()).map_err(|m| {
                self.error(a.span(), "run.app_addr", format!("{:?}: {m}", a.get_ref()))
            })?),
            (None, Some((p, key))) if *p.get_ref() == 0 => {
                return Err(self.error(
                    p.span(),
                    key,
                    "must be the port the app binds (1-65535), not 0",
                ));
            }
            (None, Some((p, _))) => Some(SocketAddr::from(([127, 0, 0, 1], *p.get_ref()))),
            (None, None) => None,
        };
        let port_env = match &r.port_env {
            Some(name) => {
                let text = name.get_ref();
                let valid = text
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(self.error(
                        name.span(),
                        "run.port_env",
                        format!(
                            "{text:?}: expected the name of an environment variable, such as \
                             \"PORT\""
                        ),
                    ));
                }
                Some(text.clone())
            }
            None => None,
        };
        let stdin = match r.stdin.as_ref().map(|s| (s.get_ref().as_str(), s)) {
            None | Some(("hot", _)) => Stdin::Hot,
            Some(("app", _)) => Stdin::App,
            Some((other, s)) => {
                return Err(self.error(
                    s.span(),
                    "run.stdin",
                    format!(
                        "{other:?}: expected \"hot\" (hot reads the keyboard for its keys) or                          \"app\" (the app gets the terminal, hot's keys follow Ctrl-T)"
                    ),
                ));
            }
        };
        if app_addr.is_some() && restart_mode == RestartMode::Overlap {
            let m = r.restart_mode.as_ref().map_or(0..0, Spanned::span);
            return Err(self.error(
                m,
                "run.restart_mode",
                "an app that binds its own port cannot overlap with its successor (the port is \
                 taken until the old one exits): take the socket from hot (fd 3) or use \
                 restart_mode = \"stop-then-start\"",
            ));
        }
        let mut args = args.to_vec();
        args.extend(app_args.iter().cloned());
        Ok(Some(RunConfig {
            ready,
            restart_mode,
            kill_mode,
            error_page: r.error_page.unwrap_or(true),
            app_addr,
            hold_ports: r.hold_ports.unwrap_or(true),
            port_env,
            stdin,
            program: program.clone(),
            args,
            env: r.env.unwrap_or_default(),
            stop_signal,
            stop_timeout: r
                .stop_timeout_ms
                .map_or(DEFAULT_STOP_TIMEOUT, Duration::from_millis),
            restart,
            env_files: r
                .env_files
                .unwrap_or_default()
                .into_iter()
                .map(|f| self.root.join(f.get_ref()))
                .collect(),
        }))
    }
}

/// `[run] ready`: "none", "notify", "tcp" or "http:/path".
fn parse_ready(s: &str) -> Result<Ready, String> {
    match s.trim() {
        "none" => Ok(Ready::Started),
        "notify" => Ok(Ready::Notify),
        "tcp" => Ok(Ready::Tcp),
        "http" => Ok(Ready::Http("/".into())),
        other => match other.strip_prefix("http:") {
            Some(path) if path.starts_with('/') => Ok(Ready::Http(path.to_owned())),
            _ => Err(format!(
                "{other:?}: expected \"none\", \"notify\", \"tcp\" or \"http:/path\" (like \"http:/healthz\")"
            )),
        },
    }
}

/// `[run] app_addr`: "127.0.0.1:8081", "localhost:8081" or ":8081" (this machine).
fn parse_app_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let s = s.trim();
    let full = match s.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => s.to_owned(),
    };
    let addr = full
        .to_socket_addrs()
        .map_err(|_| "expected HOST:PORT like \"127.0.0.1:8081\" or \":8081\"".to_owned())?
        .next()
        .ok_or_else(|| "the host name resolves to no address".to_owned())?;
    if addr.port() == 0 {
        return Err("needs the port the app binds, not 0".into());
    }
    Ok(addr)
}

/// Accepts "SIGTERM", "TERM", "sigterm" and "15".
pub fn parse_signal(s: &str) -> Option<Signal> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .ok()
        .filter(|s| *s != Signal::SIGKILL || name == "SIGKILL")
}
