//! The command line. The doc comments are the `--help` text.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config;
use crate::error::Error;

/// `hot --version`: the version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HOT_COMMIT"), ")");

/// Rebuild and restart a web server on every save, holding its listening socket so that
/// no connection is ever refused while it restarts.
///
/// hot reads .hot.toml in the project directory (see .hot.toml.example; without one, in a Go,
/// Rust, Node or Python project, it uses what `hot init` would write). It binds the `listen`
/// addresses itself and hands them to every new app process as fds 3.. with LISTEN_FDS,
/// LISTEN_PID and LISTEN_FDNAMES (the systemd socket-activation protocol).
///
/// Every config key can be set on the command line, air-style: --build.cmd "go build -o tmp/app .",
/// --watch.debounce_ms 50, lists comma-separated (--watch.exclude vendor,testdata), maps as
/// K=V,K2=V2 (--run.env PORT=1). Precedence: defaults < .hot.toml < HOT_* variables
/// (HOT_BUILD_CMD, HOT_WATCH_DEBOUNCE_MS, ...) < flags.
///
/// Keys at a terminal: r rebuild and restart now, c clear the screen, q quit (after Ctrl-T when
/// the app reads the terminal: [run] stdin = "app").
///
/// Exit status: 0 clean quit, or --once succeeded; 1 build failed (--once) or hot itself
/// failed; 2 bad usage or configuration, or a listen address that cannot be bound; 3 the app
/// crashed or was not ready in time (--once); 129 / 130 / 143 stopped by SIGHUP / SIGINT / SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "hot", version = VERSION, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read the configuration from FILE instead of ./.hot.toml.
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Run as if hot had been started in DIR.
    #[arg(short = 'C', long = "dir", value_name = "DIR", global = true)]
    pub dir: Option<PathBuf>,

    /// Listen on ADDR instead of the configured `listen` list (repeatable):
    /// 127.0.0.1:8080, [::1]:8080, :8080 (all interfaces), unix:./tmp/app.sock.
    #[arg(long = "listen", value_name = "ADDR")]
    pub listen: Vec<String>,

    /// CI smoke test: build once, start the app, wait until it answers, stop it, and exit
    /// 0 (ready), 1 (build failed), 3 (app crashed or not ready in time) or 2 (bad config).
    #[arg(long)]
    pub once: bool,

    /// Put hot's proxy in front of the app: requests wait while it restarts, and safe requests
    /// that a stopping app closed unanswered are retried on the next one (same as
    /// `[proxy] enabled = true`).
    #[arg(long)]
    pub proxy: bool,

    /// Reload open browser pages once the new app is ready; implies --proxy (same as
    /// `[browser] reload = true`).
    #[arg(long)]
    pub reload: bool,

    /// Run only this app of the config's `[apps]` (repeatable).
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,

    /// Print hot's own events as one JSON object per line on stderr instead of text.
    #[arg(long)]
    pub json: bool,

    /// Arguments after `--` are appended to the app's command.
    #[arg(last = true, value_name = "APP_ARGS")]
    pub app_args: Vec<String>,

    /// `--section.key VALUE` flags, taken out before clap sees the rest.
    #[arg(skip)]
    pub keys: Vec<(String, String)>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a .hot.toml for the project in this directory (Go, Rust, Node, Python), or
    /// translate its .air.toml, and print the lines the app needs to take the socket.
    Init {
        /// Replace an existing .hot.toml.
        #[arg(long)]
        force: bool,
        /// Print the config instead of writing it.
        #[arg(long)]
        stdout: bool,
        /// Translate this air config (default: ./.air.toml when present).
        #[arg(long, value_name = "FILE")]
        from_air: Option<PathBuf>,
    },
}

impl Cli {
    /// Parses the process's arguments; `--help` and `--version` exit here, as clap does.
    pub fn from_env() -> Result<Cli, Error> {
        let (rest, keys) = take_key_flags(std::env::args_os())?;
        let mut cli = Cli::parse_from(rest);
        cli.keys = keys;
        Ok(cli)
    }

    /// The flags that set config keys, `--listen` included, in command-line order.
    pub fn key_overrides(&self) -> Vec<(String, String)> {
        let mut keys = self.keys.clone();
        if !self.listen.is_empty() {
            keys.push(("listen".to_owned(), self.listen.join(",")));
        }
        if self.proxy {
            keys.push(("proxy.enabled".to_owned(), "true".to_owned()));
        }
        if self.reload {
            keys.push(("browser.reload".to_owned(), "true".to_owned()));
        }
        keys
    }
}

/// A config key and the text given for it: `("build.cmd", "go build")`.
pub type KeyFlag = (String, String);

/// Splits `--section.key VALUE` / `--section.key=VALUE` out of the arguments (before `--`).
fn take_key_flags(
    args: impl IntoIterator<Item = OsString>,
) -> Result<(Vec<OsString>, Vec<KeyFlag>), Error> {
    let mut rest = Vec::new();
    let mut keys = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--"))
            .filter(|f| f.contains('.'))
        else {
            let end = arg == "--";
            rest.push(arg);
            if end {
                rest.extend(args);
                break;
            }
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => {
                let value = args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| Error::Usage(format!("--{flag} needs a value")))?;
                (flag.to_owned(), value)
            }
        };
        if !config::is_key(&key) {
            return Err(Error::Usage(format!(
                "unknown flag --{key}; config keys are: {}",
                config::key_names().collect::<Vec<_>>().join(", ")
            )));
        }
        keys.push((key, value));
    }
    Ok((rest, keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn app_args_after_double_dash() {
        let cli = Cli::parse_from(["hot", "--listen", ":0", "--", "--port", "x"]);
        assert_eq!(cli.listen, [":0"]);
        assert_eq!(cli.app_args, ["--port", "x"]);
    }

    #[test]
    fn dotted_flags_are_config_keys() {
        let (rest, keys) = take_key_flags(os(&[
            "hot",
            "--build.cmd",
            "go build",
            "--watch.debounce_ms=5",
            "--json",
            "--",
            "--a.b",
            "c",
        ]))
        .expect("parses");
        assert_eq!(rest, os(&["hot", "--json", "--", "--a.b", "c"]));
        assert_eq!(
            keys,
            [
                ("build.cmd".into(), "go build".into()),
                ("watch.debounce_ms".into(), "5".into())
            ]
        );
        assert!(take_key_flags(os(&["hot", "--build.cmdd", "x"])).is_err());
        assert!(take_key_flags(os(&["hot", "--build.cmd"])).is_err());
    }
}
