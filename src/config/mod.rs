//! Configuration: the raw `.hot.toml` as written (`ConfigFile`, all `Option` leaves) and the
//! resolved settings the rest of `hot` works with (`Config`: real types, compiled globs).
//!
//! Precedence, lowest first: built-in defaults → `.hot.toml` (or, without one, the detected
//! project's defaults) → `HOT_*` environment variables → command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::GlobSet;
use nix::sys::signal::Signal;

use crate::error::Error;
use crate::listen::ListenSpec;

pub const FILE_NAME: &str = ".hot.toml";

pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(2);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_millis(3000);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
pub const DEFAULT_TMP_DIR: &str = "tmp";
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_millis(30_000);
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(1000);

mod file;
mod keys;
mod resolve;

use file::{ConfigFile, line_col};
pub use file::{parse, toml_error};
use keys::{env_name, layer};
pub use keys::{env_overrides, is_key, key_names};
use resolve::Resolver;

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
    /// `[browser] reload`: reload open pages after every restart (through the proxy).
    pub reload: bool,
    /// `[proxy] enabled` (or `reload`): hot answers on `listen` and forwards to the app.
    pub proxy: bool,
    /// `[browser] editor`: the command that opens a file at a line (else `$VISUAL`, `$EDITOR`).
    pub editor: Option<String>,
    /// `[proxy] allowed_hosts`: names beside this machine's own that may reach hot's pages
    /// (`"all"`: any).
    pub allowed_hosts: Vec<String>,
}

impl RunConfig {
    /// This command with `var` set to `port`, in its environment and wherever `$var` or
    /// `${var}` appears in its arguments (`flask run --port $PORT`).
    pub fn with_port(&self, var: &str, port: u16) -> RunConfig {
        let port = port.to_string();
        let mut run = self.clone();
        run.env.insert(var.to_owned(), port.clone());
        let (plain, braced) = (format!("${var}"), format!("${{{var}}}"));
        for arg in &mut run.args {
            *arg = arg.replace(&braced, &port).replace(&plain, &port);
        }
        run
    }
}

impl Config {
    /// How browsers reach the app: straight through the held sockets, or through hot's proxy.
    pub fn route(&self) -> Route {
        match self.run.as_ref().and_then(|r| r.app_addr) {
            Some(addr) => Route::Proxy(Upstream::AppAddr(addr)),
            None if self.proxy => Route::Proxy(Upstream::Private),
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
    /// Stop the old app, and start the new one as soon as the old one closed its listening
    /// sockets (it accepts nothing more and drains what it has), not when it exits.
    Drain,
}

/// `[run] kill_mode`: who gets the stop signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KillMode {
    /// The app's main process only, which stops its workers its own way; SIGKILL to the whole
    /// group when `stop_timeout_ms` runs out (systemd's KillMode=mixed).
    #[default]
    Mixed,
    /// Every process of the app's group.
    Group,
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
    /// Ask the toolchain for colour (`[build] color`, off with `NO_COLOR`).
    pub color: bool,
}

#[derive(Debug, Clone)]
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
    pub kill_mode: KillMode,
    /// Answer HTTP requests with a 503 page while no app runs after a failure.
    pub error_page: bool,
    /// Where an app that binds its own port listens, for the proxy.
    pub app_addr: Option<SocketAddr>,
    /// Hold the ports the app binds itself across its restarts (Linux; `listen::intercept`).
    pub hold_ports: bool,
    /// `[run] port_env`: the variable through which the app learns its port (its stack's
    /// convention, `PORT`); hot sets it, and `$NAME` in `cmd`'s arguments, to the port the app
    /// should bind (see `Slot::app_port`).
    pub port_env: Option<String>,
    /// `[run] stdin`: who reads the terminal.
    pub stdin: Stdin,
}

/// `[run] stdin`: who reads what is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdin {
    /// hot, for its keys; the app's stdin is empty (/dev/null).
    #[default]
    Hot,
    /// The app: on a terminal it gets one of its own (a pseudo-terminal hot relays to), and
    /// hot's keys come after a prefix; otherwise hot's stdin is the app's.
    App,
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

impl Config {
    /// The settings of a file with one app (the first, for a file with `[apps]`).
    #[cfg(test)]
    pub fn from_toml(
        root: &Path,
        path: &Path,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Config, Error> {
        let apps = Config::apps_from_toml(root, path, text, overrides)?;
        apps.into_iter()
            .next()
            .map(|app| app.config)
            .ok_or_else(|| Error::Usage(format!("{}: no app", path.display())))
    }

    /// The settings of every app the file describes: one, or one per `[apps.NAME]` table,
    /// each the top-level keys overridden by its own. `HOT_*` variables and flags apply to
    /// every app.
    pub fn apps_from_toml(
        root: &Path,
        path: &Path,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Vec<AppConfig>, Error> {
        let mut file = parse(path, text)?;
        let Some(apps) = file.apps.take() else {
            let config = resolve(root, path, text, overrides, file, String::new())?;
            return Ok(vec![AppConfig { name: None, config }]);
        };
        if apps.is_empty() {
            return Err(Error::Usage(format!(
                "{}: [apps] has no app: add [apps.NAME] tables (one per server), or remove [apps]",
                path.display()
            )));
        }
        // In the order the file lists them (labels, colours and summaries follow it), not the
        // map's order by name.
        let mut apps: Vec<_> = apps.into_iter().collect();
        apps.sort_by_key(|(_, app)| app.span().start);
        let mut out = Vec::new();
        for (name, app) in apps {
            let span = app.span();
            let app = app.into_inner();
            let at = |message: String| {
                let (line, column) = line_col(text, span.start);
                Error::Config {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: Some(format!("apps.{name}")),
                    message,
                }
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(at(format!(
                    "{name:?} is not an app name: use letters, digits, `-` and `_`"
                )));
            }
            if app.apps.is_some() {
                return Err(at("an app cannot have [apps] of its own".into()));
            }
            let merged = file.clone().overlay(app);
            let config = resolve(root, path, text, overrides, merged, format!("apps.{name}."))?;
            out.push(AppConfig {
                name: Some(name),
                config,
            });
        }
        // Two apps cannot hold one address; say which, before the bind fails.
        for (i, a) in out.iter().enumerate() {
            for b in &out[i + 1..] {
                let shared = a.config.listen.iter().find(|l| {
                    !l.addr.is_any_port() && b.config.listen.iter().any(|m| m.addr == l.addr)
                });
                if let Some(l) = shared {
                    return Err(Error::Usage(format!(
                        "{}: apps.{} and apps.{} both listen on {}: give each app its own address",
                        path.display(),
                        a.name.as_deref().unwrap_or_default(),
                        b.name.as_deref().unwrap_or_default(),
                        l.addr
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// One app of the session.
#[derive(Debug)]
pub struct AppConfig {
    /// `[apps.NAME]`; `None` for a file without `[apps]` (a one-app session).
    pub name: Option<String>,
    pub config: Config,
}

/// `file` with the `HOT_*` variables and the flags laid over it, resolved.
fn resolve(
    root: &Path,
    path: &Path,
    text: &str,
    overrides: &Overrides,
    mut file: ConfigFile,
    prefix: String,
) -> Result<Config, Error> {
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
        prefix,
    }
    .resolve(file, overrides)
}

#[cfg(test)]
mod tests {
    use super::file::ConfigFile;
    use super::keys::{KEYS, Kind};
    use super::resolve::parse_signal;
    use super::*;
    use crate::listen::ListenAddr;

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
        // `[apps]` holds whole files, not a setting: no flag sets it.
        assert!(
            !upper_text.replace(", apps: None", "").contains("None"),
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
        let text = include_str!("../../.hot.toml.example");
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
        let example = include_str!("../../.hot.toml.example");
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

    /// The README's monorepo example loads as it says: three apps, the defaults shared, each
    /// app's own keys winning.
    #[test]
    fn the_readme_apps_example_loads() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Several apps in one repository")
            .nth(1)
            .expect("the section");
        let text = section
            .split("```toml\n")
            .nth(1)
            .and_then(|t| t.split("```").next())
            .expect("a toml block");
        let apps = Config::apps_from_toml(
            Path::new("/proj"),
            Path::new("/proj/.hot.toml"),
            text,
            &Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = apps.iter().filter_map(|a| a.name.as_deref()).collect();
        assert_eq!(names, ["api", "worker", "web"], "the file's order");
        let api = &apps[0].config;
        assert_eq!(
            api.watch.paths,
            [
                PathBuf::from("/proj/cmd/api"),
                PathBuf::from("/proj/internal")
            ]
        );
        assert_eq!(
            api.watch.include_ext,
            ["go", "html"],
            "the top-level default"
        );
        assert!(!api.proxy);
        let web = &apps[2].config;
        assert_eq!(web.watch.include_ext, ["js", "css", "html"], "its own");
        assert!(web.proxy);
        assert!(
            web.watch.exclude.is_match("node_modules/x"),
            "the top-level default"
        );
    }

    #[test]
    fn apps_need_a_table_each_and_a_good_name() {
        let load = |text: &str| {
            Config::apps_from_toml(
                Path::new("/proj"),
                Path::new("/proj/.hot.toml"),
                text,
                &Overrides::default(),
            )
        };
        let err = load("[apps]\n").expect_err("empty");
        assert!(err.to_string().contains("[apps] has no app"), "{err}");
        let err = load("[run]\ncmd = \"x\"\n[apps.\"my app\"]\n").expect_err("bad name");
        assert!(err.to_string().contains("not an app name"), "{err}");
        let err = load("[apps.a]\nrun.cmd = \"x\"\n[apps.a.apps.b]\n").expect_err("nested");
        assert!(err.to_string().contains("cannot have [apps]"), "{err}");
        let err =
            load("[apps.a]\nrun.cmd = \"x\"\nrun.ready = \"later\"\n").expect_err("bad value");
        assert!(err.to_string().contains("apps.a.run.ready"), "{err}");
    }
}
