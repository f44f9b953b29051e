//! The browser side's figures: what hot's proxy costs against talking to the app directly, and
//! the slowest request while a slow-starting app is swapped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BUILD, Running, Setup, free_port, get, ms, percentile, round, version_project};

/// Concurrent clients of the proxy load.
const CLIENTS: usize = 4;
/// The swapped app's own handler time.
const HANDLER_MS: u64 = 20;

/// `--browser-only`: these scenarios alone, printed as JSON.
pub fn only(quick: bool) {
    let Setup {
        root,
        hot_bin,
        work,
        app,
    } = Setup::new("hot-bench-browser");
    let (load, count) = if quick {
        (Duration::from_secs(1), 3)
    } else {
        (Duration::from_secs(5), 10)
    };
    let mut results = serde_json::Map::new();
    for (k, v) in proxy_overhead(&work, &hot_bin, &app, load)
        .into_iter()
        .chain(swaps(&work, &hot_bin, count))
    {
        println!("{k:<36} {v}");
        results.insert(k, v);
    }
    let out = root.join("target/bench-browser.json");
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    )
    .expect("write");
    println!("\nwritten: {}", out.display());
    let _ = std::fs::remove_dir_all(&work);
}

/// Requests/s and latency with `CLIENTS` clients (a fresh connection per request) straight to
/// the app on hot's socket, and through hot's proxy (`[browser] reload = true`).
pub fn proxy_overhead(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    duration: Duration,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (label, extra) in [("direct", ""), ("proxy", "[browser]\nreload = true\n")] {
        let dir = version_project(work, &format!("proxy-{label}"));
        let port = free_port();
        std::fs::write(
            dir.join(".hot.toml"),
            format!(
                "listen = [\"127.0.0.1:{port}\"]\n{extra}[watch]\npaths = [\"src\"]\n[build]\ncmd = {BUILD:?}\n[run]\ncmd = {:?}\n",
                app.display().to_string()
            ),
        )
        .expect("config");
        let running = Running::hot(&dir, hot_bin);
        running.wait("ready", Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(port).is_err() && Instant::now() < deadline {}
        let (latencies, failed) = load(port, duration);
        running.stop();
        let rps = latencies.len() as f64 / duration.as_secs_f64();
        out.push((format!("{label}_requests_per_s"), json!(rps.round())));
        out.push((
            format!("{label}_p50_ms"),
            json!(round(ms(percentile(latencies.clone(), 0.5)))),
        ));
        out.push((
            format!("{label}_p99_ms"),
            json!(round(ms(percentile(latencies, 0.99)))),
        ));
        out.push((format!("{label}_failed"), json!(failed)));
    }
    out
}

fn load(port: u16, duration: Duration) -> (Vec<Duration>, usize) {
    let until = Instant::now() + duration;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                while Instant::now() < until {
                    let t = Instant::now();
                    match get(port) {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => failed += 1,
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let mut all = (Vec::new(), 0);
    for c in clients {
        if let Ok((l, f)) = c.join() {
            all.0.extend(l);
            all.1 += f;
        }
    }
    all
}

/// tests/support/web.py, which starts in 0.5 s, answers in `HANDLER_MS` and says READY=1, swapped
/// `swaps` times under a continuous client: in overlap mode and in stop-then-start mode.
pub fn swaps(work: &Path, hot_bin: &Path, count: usize) -> Vec<(String, Value)> {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/web.py");
    let mut out = vec![("swap_handler_ms".to_owned(), json!(HANDLER_MS))];
    for (label, mode) in [("overlap", "overlap"), ("stop_start", "stop-then-start")] {
        let dir = version_project(work, &format!("swap-{mode}"));
        let port = free_port();
        std::fs::write(
            dir.join(".hot.toml"),
            format!(
                "listen = [\"127.0.0.1:{port}\"]\n[watch]\npaths = [\"src\"]\n[build]\ncmd = {BUILD:?}\n\
                 [run]\ncmd = \"python3 {}\"\nready = \"notify\"\nrestart_mode = \"{mode}\"\n\
                 env = {{ APP_NOTIFY = \"1\", APP_START_DELAY = \"0.5\", APP_HANDLER_MS = \"{HANDLER_MS}\" }}\n",
                web.display()
            ),
        )
        .expect("config");
        let running = Running::hot(&dir, hot_bin);
        running.wait("ready", Duration::from_secs(30));
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let (mut latencies, mut failed) = (Vec::new(), 0usize);
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
        // Where a stop-then-start swap's time goes: the old app's stop, the new one's start.
        let (mut stopping, mut starting) = (Duration::ZERO, Duration::ZERO);
        for v in 1..=count {
            thread::sleep(Duration::from_millis(300));
            std::fs::write(dir.join("src/version.txt"), v.to_string()).expect("save");
            let wait = |name| running.wait(name, Duration::from_secs(30));
            if mode == "overlap" {
                // The old app's exit ends the swap.
                wait("exit");
            } else if let (Some(stop), Some(exit), Some(ready)) =
                (wait("stop"), wait("exit"), wait("ready"))
            {
                stopping = stopping.max(exit - stop);
                starting = starting.max(ready - exit);
            }
        }
        if mode != "overlap" {
            out.push((
                format!("{label}_longest_stop_ms"),
                json!(round(ms(stopping))),
            ));
            out.push((
                format!("{label}_longest_start_to_ready_ms"),
                json!(round(ms(starting))),
            ));
        }
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let (latencies, failed) = client.join().unwrap_or_default();
        running.stop();
        out.push((format!("{label}_requests"), json!(latencies.len())));
        out.push((format!("{label}_failed"), json!(failed)));
        out.push((
            format!("{label}_p99_ms"),
            json!(round(ms(percentile(latencies.clone(), 0.99)))),
        ));
        out.push((
            format!("{label}_slowest_ms"),
            json!(round(ms(latencies
                .iter()
                .max()
                .copied()
                .unwrap_or_default()))),
        ));
    }
    out
}
