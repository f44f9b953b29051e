//! Configuration: the raw `.hot.toml` as written (`ConfigFile`, all `Option` leaves) and the
//! resolved settings the rest of `hot` works with (`Config`: real types, compiled globs).
//!
//! Precedence, lowest first: built-in defaults → `.hot.toml` (or, without one, the detected
//! project's defaults) → `HOT_*` environment variables → command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use nix::sys::signal::Signal;
use serde::Deserialize;
use toml::Spanned;

use crate::error::Error;
use crate::listen::{ListenAddr, ListenSpec};

pub const FILE_NAME: &str = ".hot.toml";

pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(2);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_millis(3000);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
pub const DEFAULT_TMP_DIR: &str = "tmp";
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_millis(30_000);
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(1000);

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<Vec<Spanned<ListenEntry>>>,
    pub listen_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub watch: WatchSection,
    #[serde(default)]
    pub build: BuildSection,
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub once: OnceSection,
    #[serde(default)]
    pub ui: UiSection,
    #[serde(default)]
    pub browser: BrowserSection,
}

#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "an address string like \"127.0.0.1:8080\" or a table like { addr = \"127.0.0.1:8080\", name = \"web\" }"
)]
pub enum ListenEntry {
    Addr(String),
    Named(NamedListen),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedListen {
    pub addr: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSection {
    pub paths: Option<Vec<Spanned<String>>>,
    pub include_ext: Option<Vec<String>>,
    pub include: Option<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<Spanned<String>>>,
    pub exclude_regex: Option<Vec<Spanned<String>>>,
    pub gitignore: Option<bool>,
    pub debounce_ms: Option<u64>,
    pub poll: Option<bool>,
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    pub cmd: Option<Spanned<String>>,
    pub tmp_dir: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub cmd: Option<Spanned<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<Spanned<String>>,
    pub stop_timeout_ms: Option<u64>,
    pub env_files: Option<Vec<Spanned<String>>>,
    pub restart: Option<Spanned<String>>,
    pub ready: Option<Spanned<String>>,
    pub restart_mode: Option<Spanned<String>>,
    pub error_page: Option<bool>,
    pub app_addr: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnceSection {
    pub probe: Option<Spanned<String>>,
    pub probe_path: Option<Spanned<String>>,
    pub timeout_ms: Option<u64>,
    pub expect_status: Option<u16>,
    pub settle_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSection {
    pub clear_on_rebuild: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSection {
    pub reload: Option<bool>,
    pub app_port: Option<Spanned<u16>>,
}

// ---------------------------------------------------------------------------------------------
// Resolved settings.

#[derive(Debug)]
pub struct Config {
    /// Absolute project directory; relative paths in the config are relative to it.
    pub root: PathBuf,
    pub listen: Vec<ListenSpec>,
    pub watch: WatchConfig,
    pub tmp_dir: PathBuf,
    pub build: Option<BuildConfig>,
    pub run: Option<RunConfig>,
    pub once: OnceConfig,
    pub ui: UiConfig,
    /// `[browser] reload`: proxy HTTP and reload open pages after every restart.
    pub reload: bool,
}

impl Config {
    /// How browsers reach the app: straight through the held sockets, or through hot's proxy.
    pub fn route(&self) -> Route {
        match self.run.as_ref().and_then(|r| r.app_addr) {
            Some(addr) => Route::Proxy(Upstream::AppAddr(addr)),
            None if self.reload => Route::Proxy(Upstream::Private),
            None => Route::Direct,
        }
    }
}

/// Whether `hot` sits between clients and the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The app gets the `listen` sockets itself; hot only answers on them (the error page)
    /// while no app is running after a failure.
    Direct,
    /// hot accepts on the `listen` sockets and forwards every request.
    Proxy(Upstream),
}

/// Where the proxy forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Private sockets hot binds on 127.0.0.1 and hands to the app as fds 3.. instead of the
    /// public ones: the app restarts behind them, so no connection is ever refused.
    Private,
    /// An app that binds its own port (`[run] app_addr`, `[browser] app_port`): connects are
    /// retried while it restarts.
    AppAddr(SocketAddr),
}

/// `[run] ready`: when a started app counts as ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// As soon as it started (a notify-speaking app still reports READY=1).
    Started,
    /// It sent `READY=1` to `NOTIFY_SOCKET`.
    Notify,
    /// It accepts TCP connections.
    Tcp,
    /// A GET of this path is answered with a status below 500.
    Http(String),
}

/// `[run] restart_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartMode {
    /// Stop the old app, then start the new one (connections wait in the backlog meanwhile).
    #[default]
    StopThenStart,
    /// Start the new app beside the old one on the same sockets; stop the old one once the new
    /// one is ready.
    Overlap,
}

/// How `hot --once` decides the app is ready.
#[derive(Debug, Clone)]
pub struct OnceConfig {
    pub probe: Probe,
    pub timeout: Duration,
    /// For apps without an HTTP probe: ready = still running after this long.
    pub settle: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// GET `path` through the first TCP socket; ready on `expect` or, if unset, any status < 500.
    Http { path: String, expect: Option<u16> },
    /// Ready = still running after `settle`.
    None,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct UiConfig {
    pub clear_on_rebuild: bool,
}

#[derive(Debug)]
pub struct WatchConfig {
    /// Absolute roots to watch.
    pub paths: Vec<PathBuf>,
    /// Extensions without the dot; empty means any.
    pub include_ext: Vec<String>,
    pub include: Option<GlobSet>,
    pub exclude: GlobSet,
    /// Regular expressions matched against the path relative to the project (air's
    /// `exclude_regex`, e.g. `_test\.go$`); `None` when there are none.
    pub exclude_regex: Option<regex::RegexSet>,
    pub gitignore: bool,
    pub debounce: Duration,
    pub backend: WatchBackend,
}

/// `[run] restart`: whether an app that exits on its own is started again (with exponential
/// backoff, so a crash loop does not spin) or waits for the next change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    #[default]
    Never,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchBackend {
    /// inotify / kqueue / FSEvents.
    Native,
    Poll(Duration),
}

#[derive(Debug)]
pub struct BuildConfig {
    /// Run with `sh -c` in the project directory.
    pub cmd: String,
    pub env: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct RunConfig {
    pub program: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    /// dotenv files read before every start (KEY=VALUE lines), below `env`.
    pub env_files: Vec<PathBuf>,
    pub restart: Restart,
    pub ready: Ready,
    pub restart_mode: RestartMode,
    /// Answer HTTP requests with a 503 page while no app runs after a failure.
    pub error_page: bool,
    /// Where an app that binds its own port listens, for the proxy.
    pub app_addr: Option<SocketAddr>,
}

/// What the environment and the command line set on top of the file.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--section.key VALUE` flags (and `--listen`), in order; later ones win.
    pub keys: Vec<(String, String)>,
    pub app_args: Vec<String>,
}

/// Where the settings came from, for the line hot prints at start.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// No .hot.toml: the defaults `hot init` would write for this kind of project.
    Detected(&'static str),
}

/// The type of a config key, to turn a flag's text into a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated on the command line.
    List,
    /// `K=V,K2=V2` on the command line.
    Map,
}

/// Every key that can be set from the command line (`--build.cmd`) or the environment
/// (`HOT_BUILD_CMD`).
const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::List),
    ("listen_mode", Kind::Str),
    ("watch.paths", Kind::List),
    ("watch.include_ext", Kind::List),
    ("watch.include", Kind::List),
    ("watch.exclude", Kind::List),
    ("watch.exclude_regex", Kind::List),
    ("watch.gitignore", Kind::Bool),
    ("watch.debounce_ms", Kind::Int),
    ("watch.poll", Kind::Bool),
    ("watch.poll_interval_ms", Kind::Int),
    ("build.cmd", Kind::Str),
    ("build.tmp_dir", Kind::Str),
    ("build.env", Kind::Map),
    ("run.cmd", Kind::Str),
    ("run.env", Kind::Map),
    ("run.env_files", Kind::List),
    ("run.stop_signal", Kind::Str),
    ("run.stop_timeout_ms", Kind::Int),
    ("run.restart", Kind::Str),
    ("once.probe", Kind::Str),
    ("once.probe_path", Kind::Str),
    ("once.timeout_ms", Kind::Int),
    ("once.expect_status", Kind::Int),
    ("once.settle_ms", Kind::Int),
    ("run.ready", Kind::Str),
    ("run.restart_mode", Kind::Str),
    ("run.error_page", Kind::Bool),
    ("run.app_addr", Kind::Str),
    ("ui.clear_on_rebuild", Kind::Bool),
    ("browser.reload", Kind::Bool),
    ("browser.app_port", Kind::Int),
];

/// Whether `key` ("build.cmd") is a key flags and the environment can set.
pub fn is_key(key: &str) -> bool {
    KEYS.iter().any(|(k, _)| *k == key)
}

pub fn key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

/// `HOT_BUILD_CMD` for `build.cmd`.
fn env_name(key: &str) -> String {
    format!("HOT_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads the `HOT_*` variables that name config keys.
pub fn env_overrides() -> Vec<(String, String)> {
    KEYS.iter()
        .filter_map(|(key, _)| {
            std::env::var(env_name(key))
                .ok()
                .map(|v| (key.to_string(), v))
        })
        .collect()
}

/// One key set from outside the file, as a one-key ConfigFile layer.
fn layer(key: &str, raw: &str, origin: &str) -> Result<ConfigFile, Error> {
    let kind = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{origin}: unknown key `{key}` (keys: {})",
                key_names().collect::<Vec<_>>().join(", ")
            ))
        })?;
    let bad = |what: &str| Error::Usage(format!("{origin}: expected {what}, got {raw:?}"));
    let list = || {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_owned()))
    };
    let value = match kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Int => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?),
        Kind::Bool => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
        Kind::List => toml::Value::Array(list().collect()),
        Kind::Map => {
            let mut table = toml::Table::new();
            for pair in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| bad("KEY=VALUE pairs separated by commas"))?;
                table.insert(k.trim().to_owned(), toml::Value::String(v.to_owned()));
            }
            toml::Value::Table(table)
        }
    };
    let mut doc = toml::Table::new();
    match key.split_once('.') {
        Some((section, leaf)) => {
            let mut inner = toml::Table::new();
            inner.insert(leaf.to_owned(), value);
            doc.insert(section.to_owned(), toml::Value::Table(inner));
        }
        None => {
            doc.insert(key.to_owned(), value);
        }
    }
    let text = toml::to_string(&doc).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
    parse(Path::new(origin), &text).map_err(|e| match e {
        Error::Config { message, .. } => Error::Usage(format!("{origin} {raw:?}: {message}")),
        other => other,
    })
}

impl ConfigFile {
    /// This layer with every key that `top` sets replaced by `top`'s value.
    fn overlay(self, top: ConfigFile) -> ConfigFile {
        ConfigFile {
            listen: top.listen.or(self.listen),
            listen_mode: top.listen_mode.or(self.listen_mode),
            watch: WatchSection {
                paths: top.watch.paths.or(self.watch.paths),
                include_ext: top.watch.include_ext.or(self.watch.include_ext),
                include: top.watch.include.or(self.watch.include),
                exclude: top.watch.exclude.or(self.watch.exclude),
                exclude_regex: top.watch.exclude_regex.or(self.watch.exclude_regex),
                gitignore: top.watch.gitignore.or(self.watch.gitignore),
                debounce_ms: top.watch.debounce_ms.or(self.watch.debounce_ms),
                poll: top.watch.poll.or(self.watch.poll),
                poll_interval_ms: top.watch.poll_interval_ms.or(self.watch.poll_interval_ms),
            },
            build: BuildSection {
                cmd: top.build.cmd.or(self.build.cmd),
                tmp_dir: top.build.tmp_dir.or(self.build.tmp_dir),
                env: top.build.env.or(self.build.env),
            },
            run: RunSection {
                cmd: top.run.cmd.or(self.run.cmd),
                env: top.run.env.or(self.run.env),
                stop_signal: top.run.stop_signal.or(self.run.stop_signal),
                stop_timeout_ms: top.run.stop_timeout_ms.or(self.run.stop_timeout_ms),
                env_files: top.run.env_files.or(self.run.env_files),
                restart: top.run.restart.or(self.run.restart),
                ready: top.run.ready.or(self.run.ready),
                restart_mode: top.run.restart_mode.or(self.run.restart_mode),
                error_page: top.run.error_page.or(self.run.error_page),
                app_addr: top.run.app_addr.or(self.run.app_addr),
            },
            once: OnceSection {
                probe: top.once.probe.or(self.once.probe),
                probe_path: top.once.probe_path.or(self.once.probe_path),
                timeout_ms: top.once.timeout_ms.or(self.once.timeout_ms),
                expect_status: top.once.expect_status.or(self.once.expect_status),
                settle_ms: top.once.settle_ms.or(self.once.settle_ms),
            },
            ui: UiSection {
                clear_on_rebuild: top.ui.clear_on_rebuild.or(self.ui.clear_on_rebuild),
            },
            browser: BrowserSection {
                reload: top.browser.reload.or(self.browser.reload),
                app_port: top.browser.app_port.or(self.browser.app_port),
            },
        }
    }
}

impl Config {
    pub fn from_toml(
        root: &Path,
        path: &Path,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Config, Error> {
        let mut file = parse(path, text)?;
        let mut origins = BTreeMap::new();
        let env = env_overrides();
        let flags = overrides
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), format!("--{k}")));
        for (key, raw, origin) in env
            .into_iter()
            .map(|(k, v)| {
                let origin = env_name(&k);
                (k, v, origin)
            })
            .chain(flags)
        {
            file = file.overlay(layer(&key, &raw, &origin)?);
            origins.insert(key, origin);
        }
        Resolver {
            root,
            path,
            text,
            origins,
        }
        .resolve(file, overrides)
    }
}

/// A TOML syntax error, located in its file.
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    Error::Config {
        path: path.to_path_buf(),
        line,
        column,
        key: None,
        message: e.message().trim_end().to_owned(),
    }
}

/// Parses the TOML, reporting the failing key and its line and column.
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, Error> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(path, text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner.span().map_or((1, 1), |s| line_col(text, s.start));
        Error::Config {
            path: path.to_path_buf(),
            line,
            column,
            key: (key != "." && !key.is_empty()).then_some(key),
            message: inner.message().trim_end().to_owned(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Turns the raw file into `Config`, pointing at the offending value on error.
struct Resolver<'a> {
    root: &'a Path,
    path: &'a Path,
    text: &'a str,
    /// Keys set by a flag or variable, and which one: their errors name it, not the file.
    origins: BTreeMap<String, String>,
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
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    fn resolve(&self, file: ConfigFile, overrides: &Overrides) -> Result<Config, Error> {
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
            }),
            None => None,
        };

        let reload = file.browser.reload.unwrap_or(false);
        let app_port = file.browser.app_port;
        let run = self.run(file.run, app_port, &overrides.app_args)?;
        if let Some(run) = &run {
            let proxied = reload || run.app_addr.is_some();
            if proxied && listen.is_empty() {
                let why = if reload {
                    "[browser] reload"
                } else {
                    "an app address ([run] app_addr / [browser] app_port)"
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
            if let Some(probe) = probe.filter(|_| !tcp && !reload && run.app_addr.is_none()) {
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
        app_port: Option<Spanned<u16>>,
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
                    format!("{other:?}: expected \"stop-then-start\" or \"overlap\""),
                ));
            }
        };
        let app_addr = match (&r.app_addr, &app_port) {
            (Some(a), Some(_)) => {
                return Err(self.error(
                    a.span(),
                    "run.app_addr",
                    "set either [run] app_addr or [browser] app_port, not both",
                ));
            }
            (Some(a), None) => Some(parse_app_addr(a.get_ref()).map_err(|m| {
                self.error(a.span(), "run.app_addr", format!("{:?}: {m}", a.get_ref()))
            })?),
            (None, Some(p)) if *p.get_ref() == 0 => {
                return Err(self.error(
                    p.span(),
                    "browser.app_port",
                    "must be the port the app binds (1-65535), not 0",
                ));
            }
            (None, Some(p)) => Some(SocketAddr::from(([127, 0, 0, 1], *p.get_ref()))),
            (None, None) => None,
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
            error_page: r.error_page.unwrap_or(true),
            app_addr,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Error> {
        Config::from_toml(
            Path::new("/proj"),
            Path::new("/proj/.hot.toml"),
            text,
            &Overrides::default(),
        )
    }

    fn config_error(text: &str) -> (usize, usize, Option<String>, String) {
        match load(text) {
            Err(Error::Config {
                line,
                column,
                key,
                message,
                ..
            }) => (line, column, key, message),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    /// The KEYS table (flags, `HOT_*`) and the overlay are written by hand: a file setting every
    /// key of the table must leave no setting unset (a field missing from KEYS) and parse (a
    /// KEYS entry that is no field), and the overlay must take every key from the upper layer
    /// when both set it, and from whichever layer sets it otherwise.
    #[test]
    fn keys_table_and_overlay_cover_every_setting() {
        let file = |variant: usize| {
            let mut sections: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (key, kind) in KEYS {
                let (section, name) = key.split_once('.').unwrap_or(("", key));
                let value = match kind {
                    Kind::Str => format!("\"x{variant}\""),
                    Kind::Int => variant.to_string(),
                    Kind::Bool => (variant % 2 == 0).to_string(),
                    Kind::List => format!("[\"x{variant}\"]"),
                    Kind::Map => format!("{{ K = \"v{variant}\" }}"),
                };
                sections
                    .entry(section)
                    .or_default()
                    .push(format!("{name} = {value}"));
            }
            let mut text = sections.remove("").unwrap_or_default().join("\n");
            for (section, lines) in &sections {
                text.push_str(&format!("\n[{section}]\n{}\n", lines.join("\n")));
            }
            parse(Path::new(".hot.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
        };
        let (lower, upper) = (|| file(1), || file(2));
        let upper_text = format!("{:?}", upper());
        assert!(
            !upper_text.contains("None"),
            "a setting KEYS does not list:\n{upper_text}"
        );
        assert_eq!(
            format!("{:?}", lower().overlay(upper())),
            upper_text,
            "the overlay keeps a lower layer's key over the upper one's"
        );
        assert_eq!(
            format!("{:?}", ConfigFile::default().overlay(upper())),
            upper_text,
            "the overlay drops a key of the upper layer"
        );
        assert_eq!(
            format!("{:?}", upper().overlay(ConfigFile::default())),
            upper_text,
            "the overlay drops a key of the lower layer"
        );
    }

    #[test]
    fn exclude_regex_matches_relative_paths_and_bad_ones_name_the_line() {
        let c =
            load("[run]\ncmd = \"x\"\n[watch]\nexclude_regex = [\"_templ\\\\.go$\", \"^gen/\"]\n")
                .expect("valid");
        let set = c.watch.exclude_regex.expect("regexes");
        assert!(set.is_match("views/home_templ.go"));
        assert!(set.is_match("gen/api.go"));
        assert!(!set.is_match("views/home.templ"));
        let (line, _, key, message) =
            config_error("[run]\ncmd = \"x\"\n[watch]\nexclude_regex = [\"ok\", \"a(b\"]\n");
        assert_eq!(line, 4);
        assert_eq!(key.as_deref(), Some("watch.exclude_regex"));
        assert!(
            message.contains("bad regular expression \"a(b\""),
            "{message}"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = load("[run]\ncmd = \"./tmp/app --port 1\"\n").expect("valid");
        let run = c.run.expect("run");
        assert_eq!(run.program, "./tmp/app");
        assert_eq!(run.args, ["--port", "1"]);
        assert_eq!(run.stop_signal, Signal::SIGTERM);
        assert_eq!(run.stop_timeout, DEFAULT_STOP_TIMEOUT);
        assert_eq!(c.watch.debounce, DEFAULT_DEBOUNCE);
        assert_eq!(c.tmp_dir, Path::new("/proj/tmp"));
        assert!(c.watch.gitignore);
        assert!(c.listen.is_empty());
        assert!(c.build.is_none());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let (line, column, key, message) =
            config_error("[run]\ncmd = \"x\"\n[build]\ncmdd = \"go build\"\n");
        assert_eq!((line, column), (4, 1));
        assert_eq!(key.as_deref(), Some("build.cmdd"));
        assert!(message.contains("unknown field `cmdd`"), "{message}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let (line, column, key, message) =
            config_error("[run]\ncmd = \"x\"\n[watch]\ndebounce_ms = \"fast\"\n");
        assert_eq!((line, column), (4, 15));
        assert_eq!(key.as_deref(), Some("watch.debounce_ms"));
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn bad_glob_points_at_the_glob() {
        let (line, _, key, message) =
            config_error("[run]\ncmd = \"x\"\n[watch]\nexclude = [\"ok/**\", \"a[b\"]\n");
        assert_eq!(line, 4);
        assert_eq!(key.as_deref(), Some("watch.exclude"));
        assert!(message.contains("a[b"), "{message}");
    }

    #[test]
    fn bad_address_points_at_the_entry() {
        let (line, column, key, message) =
            config_error("listen = [\"127.0.0.1:8080\", \"nope\"]\n[run]\ncmd = \"x\"\n");
        assert_eq!((line, column), (1, 29));
        assert_eq!(key.as_deref(), Some("listen[1]"));
        assert!(message.contains("nope"), "{message}");
    }

    #[test]
    fn bad_signal_and_syntax_errors() {
        let (_, _, key, _) = config_error("[run]\ncmd = \"x\"\nstop_signal = \"SIGFOO\"\n");
        assert_eq!(key.as_deref(), Some("run.stop_signal"));
        let (line, _, _, _) = config_error("[run]\ncmd = \"x\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn named_listen_entries() {
        let c = load("listen = [{ addr = \"127.0.0.1:0\", name = \"web\" }, \"unix:tmp/a.sock\"]\n[run]\ncmd = \"x\"\n")
            .expect("valid");
        assert_eq!(c.listen[0].name, "web");
        assert_eq!(
            c.listen[1].addr,
            ListenAddr::Unix(PathBuf::from("/proj/tmp/a.sock"))
        );
        let (_, _, key, _) = config_error(
            "listen = [{ addr = \"127.0.0.1:0\", name = \"a:b\" }]\n[run]\ncmd = \"x\"\n",
        );
        assert_eq!(key.as_deref(), Some("listen[0].name"));
    }

    #[test]
    fn probing_readiness_needs_a_tcp_address() {
        let err =
            load("listen = [\"unix:tmp/a.sock\"]\n[run]\ncmd = \"x\"\nready = \"http:/health\"\n")
                .expect_err("no TCP address to probe");
        assert!(
            matches!(&err, Error::Usage(m) if m.contains("ready = \"http\"") && m.contains("listen")),
            "{err:?}"
        );
        load("listen = [\"127.0.0.1:0\"]\n[run]\ncmd = \"x\"\nready = \"tcp\"\n").expect("valid");
    }

    #[test]
    fn signals_parse_in_common_spellings() {
        assert_eq!(parse_signal("SIGINT"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("1"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }

    #[test]
    fn example_file_parses_and_documents_every_key() {
        let text = include_str!("../.hot.toml.example");
        let c = Config::from_toml(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            Path::new(".hot.toml.example"),
            text,
            &Overrides::default(),
        );
        let c = c.expect(".hot.toml.example must be a valid config");
        assert!(c.run.is_some());
        // Every key a flag can set is a key of the file: all must be documented, in their section.
        for key in key_names() {
            let (section, leaf) = key.split_once('.').unwrap_or(("", key));
            let in_section = match text.find(&format!("\n[{section}]\n")) {
                _ if section.is_empty() => text.split("\n[").next().unwrap_or(""),
                Some(at) => text[at + 1..].split("\n[").next().unwrap_or(""),
                None => panic!("section [{section}] is missing from .hot.toml.example"),
            };
            assert!(
                in_section.contains(&format!("\n{leaf} ="))
                    || in_section.contains(&format!("# {leaf} =")),
                "`{key}` is not documented in .hot.toml.example"
            );
        }
    }

    /// Fuzz-style: truncated, spliced and randomly mutated configs never panic the loader;
    /// every failure is a config or usage error (exit status 2).
    #[test]
    fn random_and_truncated_toml_never_panics() {
        let example = include_str!("../.hot.toml.example");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: Vec<char> =
            "[]{}=\"',.#\n :0123456789abcdefghijklmnopqrstuvwxyz_-\\\u{e9}\u{1F600}\t"
                .chars()
                .collect();
        let mut cases: Vec<String> = (0..example.len())
            .step_by(7)
            .map(|n| {
                let cut = (0..=n)
                    .rev()
                    .find(|i| example.is_char_boundary(*i))
                    .unwrap_or(0);
                example[..cut].to_owned()
            })
            .collect();
        for _ in 0..3000 {
            let mut text: Vec<char> = example.chars().collect();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 => text.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    _ if at < text.len() => text[at] = alphabet[(next() as usize) % alphabet.len()],
                    _ => {}
                }
            }
            cases.push(text.into_iter().collect());
        }
        for _ in 0..500 {
            let len = (next() % 200) as usize;
            cases.push(
                (0..len)
                    .map(|_| alphabet[(next() as usize) % alphabet.len()])
                    .collect(),
            );
        }
        for text in &cases {
            match Config::from_toml(root, Path::new(".hot.toml"), text, &Overrides::default()) {
                Ok(_) | Err(Error::Config { .. }) | Err(Error::Usage(_)) => {}
                Err(other) => panic!("unexpected error kind {other:?} for:\n{text}"),
            }
        }
    }
}
