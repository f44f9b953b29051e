//! Edit → build → restart, and no connection refused while it happens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::support::*;

#[test]
fn edit_rebuilds_and_serves_the_new_version() {
    let project = Project::python_app(AppOpts::default());
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("build_ok");
    hot.wait("start");
    assert_eq!(version_of(&get_until(&addr, |_| true)), "1");

    project.write("src/version.txt", "2\n");
    let change = hot.wait("change");
    assert_eq!(change["paths"], serde_json::json!(["src/version.txt"]));
    hot.wait("build_ok");
    let stop = hot.wait_for("stop", |e| e["reason"] == "restart");
    hot.wait_for("exit", |e| e["pid"] == stop["pid"]);
    hot.wait("start");
    assert_eq!(version_of(&get_until(&addr, |b| version_of(b) == "2")), "2");
}

#[test]
fn failed_build_keeps_the_old_app_serving_and_a_fix_restarts() {
    let project = Project::python_app(AppOpts {
        build: "grep -qx ok src/status && cp src/version.txt tmp/version.txt",
        ..AppOpts::default()
    });
    project.write("src/status", "ok\n");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("start");

    project.write("src/version.txt", "2\n");
    project.write("src/status", "broken\n");
    let failed = hot.wait("build_failed");
    assert_eq!(failed["code"], 1);
    // The old app was never stopped and still answers.
    assert_eq!(version_of(&get_until(&addr, |_| true)), "1");
    assert_eq!(hot.count("stop"), 0, "a failed build must not stop the app");

    project.write("src/status", "ok\n");
    hot.wait("build_ok");
    hot.wait_for("exit", |e| e["pid"] == first["pid"]);
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "2");
}

#[test]
fn no_connection_refused_or_reset_across_ten_restarts() {
    let project = Project::python_app(AppOpts::default());
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "1");

    let done = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(Mutex::new(Vec::<Reply>::new()));
    let client = {
        let (done, replies, addr) = (done.clone(), replies.clone(), addr.clone());
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let reply = get(&addr);
                replies.lock().expect("lock").push(reply);
            }
        })
    };
    let latest = || match replies.lock().expect("lock").last() {
        Some(Reply::Ok(body)) => version_of(body),
        _ => String::new(),
    };
    for version in 2..=11 {
        project.write("src/version.txt", &format!("{version}\n"));
        wait_until(&format!("the client to see version {version}"), || {
            latest() == version.to_string()
        });
    }
    done.store(true, Ordering::SeqCst);
    client.join().expect("client thread");

    let replies = replies.lock().expect("lock");
    let failures: Vec<&Reply> = replies
        .iter()
        .filter(|r| !matches!(r, Reply::Ok(_)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        replies.len(),
        &failures[..failures.len().min(5)]
    );
    let versions: Vec<u32> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Ok(body) => version_of(body).parse().ok(),
            _ => None,
        })
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "versions went backwards"
    );
    for v in 1..=11 {
        assert!(versions.contains(&v), "version {v} was never served");
    }
    assert!(hot.count("start") >= 11);
    eprintln!(
        "{} requests across 10 restarts, all answered",
        replies.len()
    );
}

#[test]
fn drain_starts_the_next_app_while_the_old_one_finishes_its_requests() {
    // The old app closes its sockets at once on SIGTERM, then takes 8 s to exit.
    let project = Project::python_app(AppOpts {
        env: vec![("APP_DRAIN_MS", "8000")],
        run: "restart_mode = \"drain\"\nstop_timeout_ms = 30000",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let old = hot.wait("start")["pid"].clone();
    // Serving, so its SIGTERM handler is in place.
    get_until(&addr, |_| true);
    project.write("src/version.txt", "2\n");
    hot.wait_for("stop", |e| e["pid"] == old);
    let new = hot.wait("start")["pid"].clone();
    assert_ne!(new, old);
    let events = hot.events();
    let at = |name: &str, pid: &serde_json::Value| {
        events
            .iter()
            .position(|e| e["event"] == name && &e["pid"] == pid)
    };
    assert!(
        at("exit", &old).is_none_or(|exit| at("start", &new).is_some_and(|start| start < exit)),
        "the next app waited for the old one's exit:\n{}",
        hot.transcript()
    );
    assert_eq!(version_of(&get_until(&addr, |b| version_of(b) == "2")), "2");
}

#[test]
fn kill_mode_mixed_signals_the_main_process_and_group_signals_every_process() {
    for (run, child_after_drain) in [
        // The main process alone gets SIGTERM: its child runs on (until hot kills what is
        // left once the main process exited).
        ("kill_mode = \"mixed\"\nstop_timeout_ms = 20000", "None"),
        ("kill_mode = \"group\"\nstop_timeout_ms = 20000", "-15"),
    ] {
        let project = Project::python_app(AppOpts {
            env: vec![("APP_SPAWN_CHILD", "1"), ("APP_DRAIN_MS", "3000")],
            run,
            ..AppOpts::default()
        });
        let mut hot = Hot::start(&project, &[]);
        hot.wait("watching");
        let pid = hot.wait("start")["pid"].as_u64().expect("pid");
        let child = project.app_info(pid)["child"].as_u64().expect("child");
        hot.signal(libc::SIGTERM);
        assert_eq!(hot.wait_exit().code(), Some(143), "{}", hot.transcript());
        let seen = std::fs::read_to_string(project.path(&format!("tmp/info/{pid}.child")))
            .unwrap_or_else(|e| panic!("{run}: {e}\n{}", hot.transcript()));
        assert_eq!(seen.trim(), child_after_drain, "{run}");
        assert!(process_gone(child), "{run}: the child outlived hot");
    }
}
