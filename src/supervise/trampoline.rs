//! Starting the app so that `LISTEN_PID` is its own pid.
//!
//! `std::process::Command` cannot put the child's pid into the child's environment, and calling
//! `setenv` between fork and exec is unsound in a multi-threaded parent (it allocates and locks).
//! So the app is started through a trampoline: `hot` re-executes itself with a hidden first
//! argument; that fresh, single-threaded process sets `LISTEN_PID` to its own pid and `exec`s the
//! app, which keeps the pid. The cost is one extra `exec` of a small binary (about a millisecond);
//! the alternative, a hand-written fork/execve with a pre-built envp patched in the child, would
//! also mean re-implementing PATH lookup and child reaping that std already does well.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const ARG: &str = "__hot_exec";

/// A command that runs `program args...` through the trampoline.
pub fn command(program: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(self_exe());
    cmd.arg(ARG).arg(program).args(args);
    cmd
}

/// The path of the running `hot` binary, usable even if the file was replaced since.
pub fn self_exe() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("hot"))
    }
}

/// If this process is a trampoline, becomes the app (never returns on success).
///
/// Must run first in `main`, before any thread exists.
pub fn run_if_requested() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(ARG.as_ref()) {
        return None;
    }
    let Some(program) = args.next() else {
        eprintln!("hot: {ARG} needs a program");
        return Some(ExitCode::from(127));
    };
    let rest: Vec<OsString> = args.collect();
    if std::env::var_os("LISTEN_FDS").is_some() {
        // SAFETY: this runs at the top of main in a process that has started no thread, so no
        // other code can be reading the environment concurrently.
        unsafe { std::env::set_var("LISTEN_PID", std::process::id().to_string()) };
    }
    // Last before the exec: from here on, the app's binds go to hot first.
    #[cfg(linux_native)]
    crate::listen::intercept::enter_if_asked();
    // Rust's runtime ignores SIGPIPE; the app must start with the default disposition.
    // SAFETY: resetting a disposition to SIG_DFL in a single-threaded process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let err = Command::new(&program).args(&rest).exec();
    let name = program.to_string_lossy();
    let bare = !name.contains('/');
    if bare && err.kind() == std::io::ErrorKind::NotFound && Path::new(&program).is_file() {
        eprintln!(
            "hot: cannot run {name}: it is not on PATH, where a program named without a `/` is \
             looked up; ./{name} exists in the project: write [run] cmd = \"./{name}\""
        );
    } else {
        eprintln!(
            "hot: cannot run {name}: {err} (check [run] cmd in .hot.toml: a program with a `/` \
             is relative to the project directory, one without is looked up on PATH)"
        );
    }
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    };
    Some(ExitCode::from(code))
}
