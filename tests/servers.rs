//! Real servers, taking hot's socket the standard way for their ecosystem, restarted under a
//! client making fresh connections without pause. Through `--proxy`, no request may fail in any
//! way (refused, reset, empty, cut short). The benchmark runs all nine servers in every mode
//! (`cargo run --release --example bench -- --servers-only`); these are the two whose runtime
//! is in CI: Node and puma.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::support::*;

/// `cmd` (a server answering `ok PID`) behind hot's proxy, restarted `restarts` times while two
/// clients keep asking; every answer must be whole.
fn restarts_through_the_proxy_fail_nothing(project: &Project, cmd: &str, restarts: u32) {
    project.write("src/version.txt", "0\n");
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:0\"]\n[watch]\npaths = [\"src\"]\n[build]\n\
             cmd = \"cp src/version.txt tmp/version.txt\"\n[run]\ncmd = {cmd:?}\n\
             ready = \"http:/\"\nstop_timeout_ms = 20000\n[proxy]\nenabled = true\n"
        ),
    );
    let mut hot = Hot::start(project, &["--proxy"]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let first = hot.wait("ready")["pid"].clone();
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let answered = Arc::new(Mutex::new(0usize));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (done, failures, answered, addr) = (
                done.clone(),
                failures.clone(),
                answered.clone(),
                addr.clone(),
            );
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    match get(&addr) {
                        Reply::Ok(body) if body.starts_with("ok ") && body.ends_with('\n') => {
                            *answered.lock().expect("lock") += 1;
                        }
                        other => failures.lock().expect("lock").push(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();
    let mut pid = first;
    for v in 1..=restarts {
        project.write("src/version.txt", &format!("{v}\n"));
        let start = hot.wait_for("start", |e| e["pid"] != pid);
        hot.wait_for("ready", |e| e["pid"] == start["pid"]);
        pid = start["pid"].clone();
    }
    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client");
    }
    let failures = failures.lock().expect("lock");
    let answered = *answered.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}\n{}",
        failures.len(),
        failures.len() + answered,
        &failures[..failures.len().min(5)],
        hot.transcript()
    );
    assert!(answered > 20, "only {answered} requests went through");
}

#[test]
fn node_restarts_through_the_proxy_without_a_failed_request() {
    if !have("node", "apt-get install nodejs") {
        return;
    }
    let project = Project::new();
    project.write(
        "server.js",
        include_str!("../examples/bench/servers/node.js"),
    );
    restarts_through_the_proxy_fail_nothing(&project, "node server.js", 3);
}

#[test]
fn puma_restarts_through_the_proxy_without_a_failed_request() {
    if !have("puma", "apt-get install puma") {
        return;
    }
    let project = Project::new();
    project.write(
        "config.ru",
        include_str!("../examples/bench/servers/config.ru"),
    );
    restarts_through_the_proxy_fail_nothing(
        &project,
        "puma --bind-to-activated-sockets only -t 2:4 config.ru",
        3,
    );
}
