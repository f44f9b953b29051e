//! Faults of the app and the build: crash loops, binaries in use, floods of output, Ctrl-C at
//! awkward moments, and nothing of hot's leaking into the processes it starts.

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_build_blocked_by_the_running_binary_stops_the_app_and_builds_again() {
    let project = Project::new();
    project.write("src/main.txt", "1");
    project.write(
        ".hot.toml",
        "[watch]\npaths = [\"src\"]\n[build]\ncmd = \"cp /bin/sleep tmp/app\"\n[run]\ncmd = \"./tmp/app 1000\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let first = hot.wait("start")["pid"].as_u64().expect("pid");
    // The binary is busy only once the app runs it: `start` comes at spawn, before the exec.
    wait_until("the app to run tmp/app", || {
        std::fs::read_to_string(format!("/proc/{first}/comm")).is_ok_and(|c| c.trim() == "app")
    });
    project.write("src/main.txt", "2");
    let warning = hot.wait("warning");
    assert!(
        warning["message"]
            .as_str()
            .is_some_and(|m| m.contains("text file busy")),
        "{warning}"
    );
    hot.wait_for("exit", |e| e["pid"] == first);
    hot.wait("build_ok");
    let second = hot.wait("start")["pid"].as_u64().expect("pid");
    assert_ne!(first, second);
    assert_eq!(hot.count("build_failed"), 0, "{}", hot.transcript());
}

#[test]
fn a_crashing_app_is_not_restarted_in_a_tight_loop() {
    let project = Project::new();
    project.write("src/a.txt", "1");
    project.write(
        ".hot.toml",
        "[watch]\npaths = [\"src\"]\n[run]\ncmd = \"sh -c 'exit 3'\"\nrestart = \"on-failure\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let t0 = Instant::now();
    for _ in 0..5 {
        hot.wait_for("exit", |e| e["code"] == 3);
    }
    // Waits of 100, 200, 400, 800 ms between the five runs: at least 1.5 s in all.
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "restarted too fast: {:?}",
        t0.elapsed()
    );
    assert!(hot.count("start") <= 6, "{}", hot.transcript());

    // With the default, restart = "never": one run, then it waits for a change.
    let project = Project::new();
    project.write("src/a.txt", "1");
    project.write(
        ".hot.toml",
        "[watch]\npaths = [\"src\"]\n[run]\ncmd = \"sh -c 'exit 3'\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    hot.wait("exit");
    let note = hot.wait("note");
    assert!(
        note["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for a change")),
        "{note}"
    );
    project.write("src/a.txt", "2");
    hot.wait("change");
    hot.wait("exit");
    assert_eq!(hot.count("start"), 2);
}

#[test]
fn a_build_printing_100_mb_keeps_hot_responsive() {
    let project = Project::python_app(AppOpts {
        build: "if grep -q flood src/version.txt; then touch tmp/flooding; head -c 100000000 /dev/zero | tr '\\\\0' x; sleep 60; fi; cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    project.write("src/version.txt", "flood\n");
    hot.wait("build_start");
    // Once the build has read the file and is flooding, a change still cancels it and the next
    // build goes through.
    wait_until("the flood", || project.path("tmp/flooding").exists());
    project.write("src/version.txt", "7\n");
    hot.wait("build_cancelled");
    hot.wait("build_ok");
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "7");
}

#[test]
fn second_ctrl_c_during_the_stop_grace_kills_at_once_and_exits_130() {
    let project = Project::python_app(AppOpts {
        env: vec![("APP_IGNORE_TERM", "1"), ("APP_SPAWN_CHILD", "1")],
        run: "stop_timeout_ms = 60000",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let pid = hot.wait("start")["pid"].as_u64().expect("pid");
    let child = project.app_info(pid)["child"].as_u64().expect("child");
    hot.signal(libc::SIGINT);
    hot.wait_for("stop", |e| e["reason"] == "shutdown");
    let t0 = Instant::now();
    hot.signal(libc::SIGINT);
    assert_eq!(hot.wait_exit().code(), Some(130));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the second Ctrl-C did not force the exit"
    );
    wait_until("the app to be killed", || process_gone(pid));
    wait_until("the app's child to be killed", || process_gone(child));
}

/// The fds a process holds, from /proc.
fn fds_of(pid: u64) -> Vec<u32> {
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

/// The names of a process's environment variables, from /proc.
/// The names of `pid`'s environment variables. Waits for them: a process in the middle of
/// exec already has its new name but not yet its environment (the kernel sets the name first),
/// and /proc shows an empty one in between.
fn vars_of(pid: u64) -> Vec<String> {
    let read = || std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    wait_until("the process's environment to be set up", || {
        !read().is_empty()
    });
    read()
        .split(|b| *b == 0)
        .filter_map(|kv| {
            String::from_utf8_lossy(kv)
                .split_once('=')
                .map(|(k, _)| k.to_owned())
        })
        .collect()
}

#[test]
fn no_fd_and_no_variable_of_hot_leaks_into_the_app_or_the_build() {
    // hot is started with only 0, 1 and 2 open (see Hot::spawn), so every other fd the app or
    // the build holds would be one of hot's own.
    let project = Project::new();
    project.write("src/a.txt", "1");
    project.write(
        ".hot.toml",
        "listen = [\"127.0.0.1:0\"]\n[watch]\npaths = [\"src\"]\n[run]\ncmd = \"sleep 1000\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let app = hot.wait("start")["pid"].as_u64().expect("pid");
    wait_until("sleep to be exec'd", || {
        std::fs::read_to_string(format!("/proc/{app}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    // `sleep` opens and closes locale files as it starts: wait for its fds to settle. A leaked
    // fd never goes away, and this times out.
    wait_until("the app to hold exactly stdio and its socket", || {
        fds_of(app) == [0, 1, 2, 3]
    });
    let app_vars = vars_of(app);
    for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        assert!(app_vars.iter().any(|v| v == var), "the app lacks {var}");
    }
    let leaked: Vec<&String> = app_vars.iter().filter(|v| v.starts_with("HOT_")).collect();
    assert!(leaked.is_empty(), "the app got {leaked:?}");
    hot.signal(libc::SIGTERM);
    hot.wait_exit();

    project.write(".hot.toml", "listen = [\"127.0.0.1:0\"]\n[watch]\npaths = [\"src\"]\n[build]\ncmd = \"exec sleep 1000\"\n[run]\ncmd = \"true\"\n");
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let build = hot.wait("build_start")["pid"].as_u64().expect("pid");
    wait_until("sleep to be exec'd", || {
        std::fs::read_to_string(format!("/proc/{build}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    wait_until("the build to hold stdio only, no socket", || {
        fds_of(build) == [0, 1, 2]
    });
    let build_vars = vars_of(build);
    let listen: Vec<&String> = build_vars
        .iter()
        .filter(|v| v.starts_with("LISTEN_"))
        .collect();
    assert!(listen.is_empty(), "the build got {listen:?}");
    let own: Vec<&String> = build_vars
        .iter()
        .filter(|v| v.starts_with("HOT_"))
        .collect();
    assert_eq!(
        own,
        [&"HOT_CHANGED".to_owned()],
        "the build gets HOT_CHANGED only"
    );
}
