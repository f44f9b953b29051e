//! `hot`: rebuild and restart a web server on every save, holding its listening socket.

mod build;
mod cli;
mod config;
mod editor;
mod error;
mod event;
mod init;
mod listen;
mod once;
#[cfg(test)]
mod properties;
mod proxy;
mod ready;
mod session;
mod supervise;
mod sys;
mod terminal;
mod ui;
mod watch;

use std::process::ExitCode;

fn main() -> ExitCode {
    // hot re-executes itself to start each app; that role must run before anything else.
    if let Some(code) = supervise::trampoline::run_if_requested() {
        return code;
    }
    match cli::Cli::from_env().and_then(run) {
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

fn run(cli: cli::Cli) -> Result<u8, error::Error> {
    match &cli.command {
        Some(cli::Command::Init {
            force,
            stdout,
            from_air,
        }) => {
            let root = session::enter_dir(&cli)?;
            let request = init::InitRequest {
                force: *force,
                stdout: *stdout,
                from_air: from_air.clone(),
            };
            init::run(&root, &request)
        }
        None if cli.once => once::run(cli),
        None => session::run(cli, session::Purpose::Develop).map(|ended| ended.code),
    }
}
