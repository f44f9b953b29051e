//! `hot`: rebuild and restart a web server on every save, holding its listening socket.

mod build;
mod cli;
mod config;
mod error;
mod event;
mod listen;
mod session;
mod supervise;
mod ui;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // hot re-executes itself for two helper roles; both must run before anything else.
    if let Some(code) = supervise::trampoline::run_if_requested() {
        return code;
    }
    if let Some(code) = supervise::guard::run_if_requested() {
        return code;
    }
    let cli = cli::Cli::parse();
    match session::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("hot: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            err.exit_code()
        }
    }
}
