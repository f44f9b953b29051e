//! Stopping: grace then SIGKILL, the app's own children die with it, and nothing hot started
//! outlives hot, however it exits.

use crate::support::*;

fn app_with_child(run: &'static str) -> Project {
    Project::python_app(AppOpts {
        env: vec![("APP_SPAWN_CHILD", "1")],
        run,
        ..AppOpts::default()
    })
}

/// Starts hot, waits for the app, returns (hot, app pid, the app's child pid).
fn started(project: &Project) -> (Hot, u64, u64) {
    let mut hot = Hot::start(project, &[]);
    hot.wait("watching");
    let pid = hot.wait("start")["pid"].as_u64().expect("pid");
    let info = project.app_info(pid);
    let child = info["child"].as_u64().expect("child pid");
    assert!(!process_gone(child));
    (hot, pid, child)
}

#[test]
fn app_ignoring_sigterm_is_killed_after_stop_timeout_with_its_children() {
    let project = Project::python_app(AppOpts {
        env: vec![("APP_SPAWN_CHILD", "1"), ("APP_IGNORE_TERM", "1")],
        run: "stop_timeout_ms = 300",
        ..AppOpts::default()
    });
    let (mut hot, pid, child) = started(&project);
    project.write("src/version.txt", "2\n");
    hot.wait_for("stop", |e| e["pid"] == pid);
    let exit = hot.wait_for("exit", |e| e["pid"] == pid);
    assert_eq!(exit["signal"], "SIGKILL", "{exit}");
    assert!(exit["ms"].as_u64().expect("ms") >= 300);
    wait_until("the app's child to die with it", || process_gone(child));
    assert!(process_gone(pid));
    hot.wait("start");
}

#[test]
fn app_children_die_with_it_on_restart() {
    let project = app_with_child("");
    let (mut hot, pid, child) = started(&project);
    project.write("src/version.txt", "2\n");
    let exit = hot.wait_for("exit", |e| e["pid"] == pid);
    assert_eq!(
        exit["code"], 0,
        "the app stops gracefully on SIGTERM: {exit}"
    );
    wait_until("the old app's child to be gone", || process_gone(child));
    hot.wait("start");
}

fn exits_cleanly_on(signal: i32, code: i32) {
    let project = app_with_child("");
    let (mut hot, pid, child) = started(&project);
    hot.signal(signal);
    hot.wait_for("stop", |e| e["reason"] == "shutdown");
    let status = hot.wait_exit();
    assert_eq!(status.code(), Some(code), "{}", hot.transcript());
    assert!(process_gone(pid), "the app outlived hot");
    wait_until("the app's child to be gone", || process_gone(child));
    assert!(group_members(pid).is_empty());
}

#[test]
fn sigint_stops_everything_and_exits_130() {
    exits_cleanly_on(libc::SIGINT, 130);
}

#[test]
fn sigterm_stops_everything_and_exits_143() {
    exits_cleanly_on(libc::SIGTERM, 143);
}

#[test]
fn sighup_stops_everything_and_exits_129() {
    exits_cleanly_on(libc::SIGHUP, 129);
}

#[test]
fn kill_9_of_hot_leaves_no_process_behind() {
    let project = app_with_child("");
    let (mut hot, pid, child) = started(&project);
    hot.signal(libc::SIGKILL);
    hot.wait_exit();
    wait_until("the app to die with hot", || process_gone(pid));
    wait_until("the app's child to die with hot", || process_gone(child));
    wait_until("the app's group to be empty", || {
        group_members(pid).is_empty()
    });
}

#[test]
fn signal_during_a_build_stops_the_build() {
    let project = Project::python_app(AppOpts {
        build: "if grep -q slow src/version.txt; then sleep 60 & wait; fi; cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let app = hot.wait("start")["pid"].as_u64().expect("pid");
    project.write("src/version.txt", "slow\n");
    let build = hot.wait("build_start")["pid"].as_u64().expect("pid");
    wait_until("the build's sleep to start", || {
        group_members(build).len() >= 2
    });
    hot.signal(libc::SIGINT);
    assert_eq!(hot.wait_exit().code(), Some(130));
    wait_until("the build group to be gone", || {
        group_members(build).is_empty()
    });
    assert!(process_gone(app));
}

#[test]
fn kill_9_during_a_build_leaves_no_build_behind() {
    let project = Project::python_app(AppOpts {
        build: "if grep -q slow src/version.txt; then sleep 60 & wait; fi; cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    project.write("src/version.txt", "slow\n");
    let build = hot.wait("build_start")["pid"].as_u64().expect("pid");
    wait_until("the build's sleep to start", || {
        group_members(build).len() >= 2
    });
    hot.signal(libc::SIGKILL);
    hot.wait_exit();
    wait_until("the build group to be gone", || {
        group_members(build).is_empty()
    });
}

#[test]
#[cfg_attr(
    feature = "portable",
    ignore = "a Linux guarantee: macOS and the BSDs have no child subreaper (README: Platforms)"
)]
fn a_grandchild_that_escapes_with_setsid_dies_at_every_app_stop() {
    let project = Project::python_app(AppOpts {
        env: vec![("APP_ESCAPE", "1")],
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    let first = hot.wait("start")["pid"].as_u64().expect("pid");
    let escaped = project.app_info(first)["escaped"]
        .as_u64()
        .expect("escaped pid");
    assert!(!process_gone(escaped));
    // It really leaves the app's group (`setsid` runs a moment after its pid is known).
    wait_until("the grandchild to leave the app's group", || {
        !group_members(first).contains(&escaped)
    });

    project.write("src/version.txt", "2\n");
    hot.wait_for("exit", |e| e["pid"] == first);
    let second = hot.wait("start")["pid"].as_u64().expect("pid");
    wait_until("the escaped grandchild to be stopped with its app", || {
        process_gone(escaped)
    });
    let escaped_again = project.app_info(second)["escaped"]
        .as_u64()
        .expect("escaped pid");

    hot.signal(libc::SIGTERM);
    hot.wait_exit();
    wait_until("the second escapee to be gone when hot exits", || {
        process_gone(escaped_again)
    });
}
