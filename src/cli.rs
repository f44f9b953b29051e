//! The command line. The doc comments are the `--help` text.

use std::path::PathBuf;

use clap::Parser;

/// Rebuild and restart a web server on every save, holding its listening socket so that
/// no connection is ever refused while it restarts.
///
/// hot reads .hot.toml in the project directory (see .hot.toml.example), binds the `listen`
/// addresses itself and hands them to every new app process as fds 3.. with LISTEN_FDS,
/// LISTEN_PID and LISTEN_FDNAMES (the systemd socket-activation protocol).
///
/// Settings are layered: built-in defaults, then .hot.toml, then command-line flags.
///
/// Exit status: 0 clean quit; 1 hot itself failed; 2 bad usage, configuration or listen
/// address; 129 / 130 / 143 stopped by SIGHUP / SIGINT / SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "hot", version, max_term_width = 100)]
pub struct Cli {
    /// Read the configuration from FILE instead of ./.hot.toml.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run as if hot had been started in DIR.
    #[arg(short = 'C', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Listen on ADDR instead of the configured `listen` list (repeatable):
    /// 127.0.0.1:8080, [::1]:8080, :8080 (all interfaces), unix:./tmp/app.sock.
    #[arg(long = "listen", value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Print hot's own events as one JSON object per line on stderr instead of text.
    #[arg(long)]
    pub json: bool,

    /// Arguments after `--` are appended to the app's command.
    #[arg(last = true, value_name = "APP_ARGS")]
    pub app_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
}
