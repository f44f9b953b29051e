//! What a second and a third app cost: one hot running 1, 2 and 3 apps over one 20k-file tree
//! (idle CPU and memory of hot's processes), and whether changes to one app slow the answers of
//! another (its latency while the first is rebuilt and restarted ten times, against quiet).
//!
//! `--apps-only`: this alone, printed and written to target/bench-apps.json.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::watch::{hot_processes, rollup_kb, status_kb};
use super::{
    Running, Setup, cpu_seconds, finish, free_port, get, latency_figures, round, startup_work_done,
};

const FILES: usize = 20_000;
const DIRS: usize = 200;
const IDLE: Duration = Duration::from_secs(5);
const CHANGES: usize = 10;

pub fn only() {
    let Setup {
        root,
        hot_bin,
        work,
        app,
    } = Setup::new("hot-bench-apps");
    let dir = tree(&work);
    let mut results = serde_json::Map::new();
    for n in 1..=3 {
        for (k, v) in idle(&dir, &hot_bin, &app, n) {
            println!("{k:<40} {v}");
            results.insert(k, v);
        }
    }
    for (k, v) in neighbours(&dir, &hot_bin, &app) {
        println!("{k:<40} {v}");
        results.insert(k, v);
    }
    finish(&root, "bench-apps.json", &results, &work);
}

/// A 20k-file shared library and three apps' own directories.
fn tree(work: &Path) -> PathBuf {
    let dir = work.join("monorepo");
    let per_dir = FILES.div_ceil(DIRS);
    for d in 0..DIRS {
        let sub = dir.join(format!("lib/d{:02}/d{d}", d % 50));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..per_dir {
            std::fs::write(sub.join(format!("f{f}.go")), "package x\n").expect("write");
        }
    }
    for i in 1..=3 {
        std::fs::create_dir_all(dir.join(format!("app{i}"))).expect("mkdir");
        std::fs::write(dir.join(format!("app{i}/version.txt")), "1\n").expect("write");
    }
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    dir
}

/// hot with `n` apps, each watching its own directory and the shared library; the ports.
fn start(dir: &Path, hot_bin: &Path, app: &Path, n: usize) -> (Running, Vec<u16>) {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut config = format!("[run]\ncmd = {:?}\n", app.display().to_string());
    for (i, port) in ports.iter().enumerate() {
        let i = i + 1;
        config.push_str(&format!(
            "\n[apps.app{i}]\nlisten = [\"127.0.0.1:{port}\"]\nwatch.paths = [\"app{i}\", \"lib\"]\n\
             build.cmd = \"cp app{i}/version.txt tmp/app{i}.txt\"\n\
             run.env = {{ APP_VERSION_FILE = \"tmp/app{i}.txt\" }}\n"
        ));
    }
    std::fs::write(dir.join(".hot.toml"), config).expect("config");
    let running = Running::hot(dir, hot_bin);
    for _ in 0..n {
        running.wait("ready", Duration::from_secs(120));
    }
    startup_work_done(running.pid());
    (running, ports)
}

fn idle(dir: &Path, hot_bin: &Path, app: &Path, n: usize) -> Vec<(String, Value)> {
    let (running, _ports) = start(dir, hot_bin, app, n);
    let before = cpu_seconds(running.pid());
    thread::sleep(IDLE);
    let cpu = (cpu_seconds(running.pid()) - before) / IDLE.as_secs_f64() * 100.0;
    let pids = hot_processes(running.pid(), hot_bin);
    let rss: f64 = pids.iter().map(|p| status_kb(*p, "VmRSS:")).sum();
    let pss: f64 = pids.iter().map(|p| rollup_kb(*p, "Pss:")).sum();
    running.stop();
    vec![
        (format!("apps_{n}_idle_cpu_percent"), json!(round(cpu))),
        (format!("apps_{n}_rss_sum_mb"), json!(round(rss / 1024.0))),
        (format!("apps_{n}_pss_sum_mb"), json!(round(pss / 1024.0))),
    ]
}

/// Three apps; a client on app2 while app1's own file changes ten times.
fn neighbours(dir: &Path, hot_bin: &Path, app: &Path) -> Vec<(String, Value)> {
    let (running, ports) = start(dir, hot_bin, app, 3);
    let sample = |changes: bool| -> (Vec<Duration>, usize) {
        let stop = Arc::new(AtomicBool::new(false));
        let port = ports[1];
        let client = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match get(port) {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => failed += 1,
                    }
                }
                (latencies, failed)
            })
        };
        if changes {
            for v in 2..2 + CHANGES {
                let _ = std::fs::write(dir.join("app1/version.txt"), format!("{v}\n"));
                // The new app1 answering is the end of the change.
                let deadline = Instant::now() + Duration::from_secs(30);
                while get(ports[0]).is_ok_and(|b| b.trim() != v.to_string())
                    && Instant::now() < deadline
                {}
            }
        } else {
            thread::sleep(Duration::from_secs(3));
        }
        stop.store(true, Ordering::Relaxed);
        client.join().unwrap_or_default()
    };
    let (quiet, quiet_failed) = sample(false);
    let (busy, busy_failed) = sample(true);
    running.stop();
    let mut out = Vec::new();
    for (label, latencies, failed) in [
        ("quiet", quiet, quiet_failed),
        ("app1_changing", busy, busy_failed),
    ] {
        out.extend(latency_figures(
            &format!("app2_{label}"),
            &latencies,
            failed,
        ));
    }
    out
}
