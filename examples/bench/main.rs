//! hot's benchmark: `cargo run --release --example bench` (add `-- --quick` for a smoke run,
//! `-- --hot-only` to skip the peers).
//!
//! Drives the release `hot` binary as a user would, on generated projects in a temp dir, and,
//! when they are on PATH, `watchexec` (50 ms and 0 ms debounce) and `systemfd` + `watchexec`
//! on the same scenarios. Prints a table and writes `target/bench.json`.
//!
//! Scenarios: save → new response (20 saves), restart under load (20 restarts), idle CPU and
//! peak RSS on 20k- and 100k-file trees, startup time on both trees, a storm of 2,000 and
//! 20,000 rewritten files, and polling CPU on the 100k tree; for hot alone, its proxy's
//! overhead (requests/s, p99) against talking to the app directly, and the slowest request while
//! a slow-starting app is swapped 10 times in overlap and in stop-then-start mode
//! (`-- --browser-only` runs just those). `-- --servers-only`: nine real servers (Go, Gin, axum,
//! actix-web, gunicorn, uvicorn, hypercorn, puma, Node) restarted under load in every mode,
//! each request counted by how it failed (see servers.rs). `-- --apps-only`: the cost of a
//! second and third app in one session (see apps.rs). `-- --terminal-only`: what relaying an
//! interactive app's terminal costs, output and keys (see terminal.rs).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod apps;
mod browser;
mod servers;
mod terminal;
mod watch;

const APP_SOURCE: &str = include_str!("app.rs");

/// Sizes of one run: the full benchmark, or `--quick` for a smoke test.
struct Plan {
    saves: usize,
    restarts: usize,
    idle: Duration,
    trees: Vec<(usize, usize)>,
    storms: Vec<usize>,
    /// How long each proxy load runs.
    load: Duration,
    /// App swaps under a continuous client.
    swaps: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                saves: 3,
                restarts: 3,
                idle: Duration::from_secs(1),
                trees: vec![(200, 20)],
                storms: vec![100],
                load: Duration::from_secs(1),
                swaps: 3,
            }
        } else {
            Plan {
                saves: 20,
                restarts: 20,
                idle: Duration::from_secs(10),
                trees: vec![(20_000, 2_000), (100_000, 10_000)],
                storms: vec![2_000, 20_000],
                load: Duration::from_secs(5),
                swaps: 10,
            }
        }
    }
}

/// A file watcher under test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Hot,
    Watchexec,
    WatchexecZero,
    SystemfdWatchexec,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Hot => "hot",
            Tool::Watchexec => "watchexec",
            Tool::WatchexecZero => "watchexec --debounce 0ms",
            Tool::SystemfdWatchexec => "systemfd + watchexec 0ms",
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--browser-only") {
        browser::only(quick);
        return;
    }
    if std::env::args().any(|a| a == "--apps-only") {
        apps::only();
        return;
    }
    if std::env::args().any(|a| a == "--terminal-only") {
        terminal::only();
        return;
    }
    if std::env::args().any(|a| a == "--servers-only") {
        servers::only();
        return;
    }
    let hot_only = std::env::args().any(|a| a == "--hot-only");
    let watch_only = std::env::args().any(|a| a == "--watch-only");
    let plan = Plan::new(quick);
    let Setup {
        root,
        hot_bin,
        work,
        app,
    } = Setup::new("hot-bench");

    let mut tools = vec![Tool::Hot];
    let have = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if hot_only {
        eprintln!("bench: --hot-only: measuring hot alone");
    } else if have("watchexec") {
        tools.extend([Tool::Watchexec, Tool::WatchexecZero]);
        if have("systemfd") {
            tools.push(Tool::SystemfdWatchexec);
        }
    } else {
        eprintln!(
            "bench: watchexec not on PATH: measuring hot alone (cargo install watchexec-cli systemfd)"
        );
    }

    let app_start = app_start_time(&work, &app, if quick { 5 } else { 20 });
    eprintln!(
        "bench: the app's own start (spawn → first answer): median {:.1} ms",
        ms(app_start)
    );
    let mut results: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
    let watch = watch::run(&work, &hot_bin, &app, quick, tools.len() > 1);
    for (k, v) in &watch {
        println!("{k:<40} {v}");
    }
    results.entry("hot").or_default().insert(
        "watch".into(),
        json!(watch.into_iter().collect::<BTreeMap<_, _>>()),
    );
    if watch_only {
        let out = root.join("target/bench-watch.json");
        let doc = json!({ "quick": quick, "results": results });
        std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default())
            .expect("write bench-watch.json");
        println!("\nwritten: {}", out.display());
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    for tool in &tools {
        let r = results.entry(tool.name()).or_default();
        eprintln!("bench: {} · save → response", tool.name());
        let (median, p90) = save_to_response(&work, &hot_bin, &app, *tool, plan.saves);
        r.insert("save_median_ms".into(), json!(round(ms(median))));
        r.insert("save_p90_ms".into(), json!(round(ms(p90))));
        r.insert(
            "save_overhead_median_ms".into(),
            json!(round(ms(median) - ms(app_start))),
        );
        eprintln!("bench: {} · restart under load", tool.name());
        let load = restart_under_load(&work, &hot_bin, &app, *tool, plan.restarts);
        for (k, v) in load {
            r.insert(k, v);
        }
        for &(files, dirs) in &plan.trees {
            eprintln!(
                "bench: {} · tree of {files} files: startup, idle, storm",
                tool.name()
            );
            let tree = tree_project(&work, &app, files, dirs);
            for (k, v) in tree_scenarios(&tree, &hot_bin, *tool, files, &plan, false) {
                r.insert(k, v);
            }
        }
        if *tool == Tool::Hot {
            eprintln!("bench: hot · proxy overhead");
            for (k, v) in browser::proxy_overhead(&work, &hot_bin, &app, plan.load) {
                r.insert(k, v);
            }
            eprintln!("bench: hot · overlap and stop-then-start swaps of a slow-starting app");
            for (k, v) in browser::swaps(&work, &hot_bin, plan.swaps) {
                r.insert(k, v);
            }
            let &(files, dirs) = plan.trees.last().expect("a tree");
            eprintln!("bench: hot · polling on {files} files");
            let tree = tree_project(&work, &app, files, dirs);
            for (k, v) in tree_scenarios(&tree, &hot_bin, *tool, files, &plan, true) {
                r.insert(k, v);
            }
        }
    }

    print_table(&results, &tools);
    let out = root.join("target/bench.json");
    let doc =
        json!({ "app_start_median_ms": round(ms(app_start)), "quick": quick, "results": results });
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default())
        .expect("write bench.json");
    println!("\nwritten: {}", out.display());
    let _ = std::fs::remove_dir_all(&work);
}

/// What every run needs: the release hot, a work dir, the bench app.
struct Setup {
    root: PathBuf,
    hot_bin: PathBuf,
    work: PathBuf,
    app: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new("cargo")
            .args(["build", "--release", "--bin", "hot"])
            .current_dir(&root)
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the release hot failed");
        let hot_bin = root.join("target/release/hot");
        let work = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).expect("work dir");
        let app = build_app(&work);
        Setup {
            root,
            hot_bin,
            work,
            app,
        }
    }
}

fn build_app(work: &Path) -> PathBuf {
    let src = work.join("app.rs");
    std::fs::write(&src, APP_SOURCE).expect("write app source");
    let bin = work.join("bench-app");
    let status = Command::new("rustc")
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("rustc");
    assert!(status.success(), "compiling the bench app failed");
    bin
}

/// Writes one scenario's `results` to `target/NAME`, says where, and removes its work dir.
fn finish(root: &Path, name: &str, results: &serde_json::Map<String, Value>, work: &Path) {
    let out = root.join("target").join(name);
    std::fs::write(
        &out,
        serde_json::to_string_pretty(results).unwrap_or_default(),
    )
    .expect("write");
    println!("\nwritten: {}", out.display());
    let _ = std::fs::remove_dir_all(work);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether `bin` is a command on PATH.
fn on_path(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `through / to`, to two decimals.
fn ratio(through: f64, to: f64) -> f64 {
    (through / to * 100.0).round() / 100.0
}

/// A client's figures under `prefix`: requests, failed, p50, p99 and the slowest, in ms.
fn latency_figures(prefix: &str, latencies: &[Duration], failed: usize) -> Vec<(String, Value)> {
    let at = |p| json!(round(ms(percentile(latencies.to_vec(), p))));
    vec![
        (format!("{prefix}_requests"), json!(latencies.len())),
        (format!("{prefix}_failed"), json!(failed)),
        (format!("{prefix}_p50_ms"), at(0.5)),
        (format!("{prefix}_p99_ms"), at(0.99)),
        (
            format!("{prefix}_max_ms"),
            json!(round(ms(latencies
                .iter()
                .max()
                .copied()
                .unwrap_or_default()))),
        ),
    ]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

/// One GET on a fresh connection: the body, or the kind of failure.
fn get(port: u16) -> Result<String, &'static str> {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err("refused"),
        Err(_) => return Err("other"),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return Err("reset");
    }
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) if buf.starts_with(b"HTTP/1.1 200") => {
            let text = String::from_utf8_lossy(&buf);
            Ok(text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
        }
        Ok(_) if buf.is_empty() => Err("reset"),
        Ok(_) => Err("other"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err("reset"),
        Err(_) => Err("other"),
    }
}

/// The app started directly: spawn → first answer, median of `n`.
fn app_start_time(work: &Path, app: &Path, n: usize) -> Duration {
    let dir = work.join("appstart");
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    std::fs::write(dir.join("tmp/version.txt"), "v").expect("write");
    let mut times = Vec::new();
    for _ in 0..n {
        let port = free_port();
        let t0 = Instant::now();
        let mut child = Command::new(app)
            .current_dir(&dir)
            .env("APP_PORT", port.to_string())
            .spawn()
            .expect("app");
        while get(port).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the app did not start"
            );
        }
        times.push(t0.elapsed());
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
    }
    percentile(times, 0.5)
}

/// A project with src/version.txt and a build that copies it for the app.
fn version_project(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    std::fs::write(dir.join("src/version.txt"), "0").expect("write");
    dir
}

const BUILD: &str =
    "echo s >> tmp/builds.log; cp src/version.txt tmp/version.txt && echo d >> tmp/builds.log";

/// A running tool, its hot events (if hot) and its pid.
struct Running {
    child: Child,
    events: Option<Receiver<(Instant, Value)>>,
    launched: Instant,
}

impl Running {
    fn start(
        tool: Tool,
        dir: &Path,
        hot_bin: &Path,
        app: &Path,
        port: u16,
        extra_hot: &str,
    ) -> Running {
        let launched = Instant::now();
        let mut cmd = match tool {
            Tool::Hot => {
                std::fs::write(
                    dir.join(".hot.toml"),
                    format!(
                        "listen = [\"127.0.0.1:{port}\"]\n{extra_hot}\n[build]\ncmd = {BUILD:?}\n[run]\ncmd = {:?}\n",
                        app.display().to_string()
                    ),
                )
                .expect("write config");
                let mut c = Command::new(hot_bin);
                c.arg("--json");
                c
            }
            Tool::Watchexec | Tool::WatchexecZero | Tool::SystemfdWatchexec => {
                let script = format!("{BUILD} && exec {}", app.display());
                // --shell=none: run `sh -c SCRIPT` as given; by default watchexec joins the
                // words into one line for another shell, which splits the script.
                let mut w = vec![
                    "watchexec".to_owned(),
                    "--shell=none".into(),
                    "-w".into(),
                    "src".into(),
                    "-r".into(),
                ];
                if tool != Tool::Watchexec {
                    w.extend(["--debounce".into(), "0ms".into()]);
                }
                w.extend(["--".into(), "sh".into(), "-c".into(), script]);
                let mut c = if tool == Tool::SystemfdWatchexec {
                    let mut c = Command::new("systemfd");
                    c.args(["--no-pid", "-s", &format!("http::127.0.0.1:{port}"), "--"])
                        .args(&w);
                    c
                } else {
                    let mut c = Command::new(&w[0]);
                    c.args(&w[1..]);
                    c
                };
                c.env("APP_PORT", port.to_string());
                c
            }
        };
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd.stderr(if tool == Tool::Hot {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        Running::spawn(cmd, launched)
    }

    /// `hot --json` in `dir`, on the .hot.toml already there.
    fn hot(dir: &Path, hot_bin: &Path) -> Running {
        let mut cmd = Command::new(hot_bin);
        cmd.arg("--json")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Running::spawn(cmd, Instant::now())
    }

    fn spawn(mut cmd: Command, launched: Instant) -> Running {
        let mut child = cmd.spawn().expect("start the tool");
        let events = child.stderr.take().map(|stderr| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if tx.send((Instant::now(), v)).is_err() {
                            return;
                        }
                    }
                }
            });
            rx
        });
        Running {
            child,
            events,
            launched,
        }
    }

    /// Waits for hot's next event named `name`.
    fn wait(&self, name: &str, timeout: Duration) -> Option<Instant> {
        let rx = self.events.as_ref()?;
        let deadline = Instant::now() + timeout;
        loop {
            let (at, ev) = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            if ev["event"] == name {
                return Some(at);
            }
        }
    }

    /// The next hot event, if one is waiting.
    fn try_event(&self) -> Option<(Instant, Value)> {
        self.events.as_ref()?.try_recv().ok()
    }

    /// The next hot event within `timeout`.
    fn next_event(&self, timeout: Duration) -> Option<(Instant, Value)> {
        self.events.as_ref()?.recv_timeout(timeout).ok()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_body(port: u16, want: &str, timeout: Duration) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if get(port).is_ok_and(|b| b == want) {
            return Some(Instant::now());
        }
    }
    None
}

fn save_to_response(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    tool: Tool,
    saves: usize,
) -> (Duration, Duration) {
    let dir = version_project(work, "save");
    let port = free_port();
    let running = Running::start(tool, &dir, hot_bin, app, port, "[watch]\npaths = [\"src\"]");
    wait_for_body(port, "0", Duration::from_secs(30)).expect("the app answers");
    let mut latencies = Vec::new();
    for i in 1..=saves {
        thread::sleep(Duration::from_millis(300));
        let want = i.to_string();
        let t0 = Instant::now();
        std::fs::write(dir.join("src/version.txt"), &want).expect("save");
        match wait_for_body(port, &want, Duration::from_secs(30)) {
            Some(at) => latencies.push(at - t0),
            None => eprintln!("bench: {} never served version {want}", tool.name()),
        }
    }
    running.stop();
    (
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.9),
    )
}

fn restart_under_load(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    tool: Tool,
    restarts: usize,
) -> Vec<(String, Value)> {
    let dir = version_project(work, "load");
    let port = free_port();
    let running = Running::start(tool, &dir, hot_bin, app, port, "[watch]\npaths = [\"src\"]");
    wait_for_body(port, "0", Duration::from_secs(30)).expect("the app answers");
    let done = Arc::new(AtomicBool::new(false));
    let latest = Arc::new(Mutex::new(String::new()));
    let client = {
        let (done, latest) = (done.clone(), latest.clone());
        thread::spawn(move || {
            let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
            let mut last_ok = Instant::now();
            let mut stall = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                match get(port) {
                    Ok(body) => {
                        *counts.entry("ok").or_default() += 1;
                        stall = stall.max(last_ok.elapsed());
                        last_ok = Instant::now();
                        if let Ok(mut l) = latest.lock() {
                            *l = body;
                        }
                    }
                    Err(kind) => *counts.entry(kind).or_default() += 1,
                }
            }
            (counts, stall)
        })
    };
    for i in 1..=restarts {
        let want = i.to_string();
        std::fs::write(dir.join("src/version.txt"), &want).expect("save");
        let deadline = Instant::now() + Duration::from_secs(30);
        while latest.lock().map(|l| *l != want).unwrap_or(true) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::SeqCst);
    let (counts, stall) = client.join().expect("client");
    running.stop();
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    vec![
        ("load_ok".into(), json!(n("ok"))),
        ("load_refused".into(), json!(n("refused"))),
        ("load_reset".into(), json!(n("reset"))),
        ("load_failed_other".into(), json!(n("other"))),
        ("load_longest_stall_ms".into(), json!(round(ms(stall)))),
    ]
}

/// A project whose src/ holds `files` files in `dirs` directories.
fn tree_project(work: &Path, _app: &Path, files: usize, dirs: usize) -> PathBuf {
    let dir = work.join(format!("tree-{files}"));
    if dir.join("src/version.txt").exists() {
        return dir;
    }
    let dir = version_project(work, &format!("tree-{files}"));
    let per_dir = files.div_ceil(dirs);
    for d in 0..dirs {
        let sub = dir.join(format!("src/d{:02}/d{d}", d % 50));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..per_dir {
            std::fs::write(sub.join(format!("f{f}.go")), "package x\n").expect("write");
        }
    }
    dir
}

fn tree_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "go") {
                out.push(e.path());
                if out.len() >= count {
                    return out;
                }
            }
        }
    }
    out
}

/// Waits until hot's one-off startup work is over: the background pass that fingerprints every
/// watched file (its thread is named "fingerprints") has ended. Idle means after that.
fn startup_work_done(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let busy = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "fingerprints")
            })
    };
    while busy() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, utime 14, stime 15 (1-based) → index 11, 12.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |t| {
        t.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| round(kb / 1024.0))
}

fn count_builds(dir: &Path) -> (usize, usize) {
    let log = std::fs::read_to_string(dir.join("tmp/builds.log")).unwrap_or_default();
    (
        log.lines().filter(|l| *l == "s").count(),
        log.lines().filter(|l| *l == "d").count(),
    )
}

/// Waits until the build log stops growing for `quiet`.
fn settle(dir: &Path, quiet: Duration, cap: Duration) {
    let start = Instant::now();
    let mut last = count_builds(dir);
    let mut since = Instant::now();
    while start.elapsed() < cap {
        thread::sleep(Duration::from_millis(50));
        let now = count_builds(dir);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

fn tree_scenarios(
    dir: &Path,
    hot_bin: &Path,
    tool: Tool,
    files: usize,
    plan: &Plan,
    poll: bool,
) -> Vec<(String, Value)> {
    let tag = if poll {
        format!("poll_{files}")
    } else {
        files.to_string()
    };
    let _ = std::fs::remove_file(dir.join("tmp/builds.log"));
    let port = free_port();
    let extra = if poll {
        "[watch]\npaths = [\"src\"]\npoll = true"
    } else {
        "[watch]\npaths = [\"src\"]"
    };
    let app = PathBuf::from("true");
    let running = Running::start(tool, dir, hot_bin, &app, port, extra);
    let mut out = Vec::new();
    if let Some(at) = running.wait("watching", Duration::from_secs(60)) {
        out.push((
            format!("startup_watching_ms_{tag}"),
            json!(round(ms(at - running.launched))),
        ));
    }
    let first_build = match running.wait("build_start", Duration::from_secs(60)) {
        Some(at) => Some(at),
        None => {
            let deadline = Instant::now() + Duration::from_secs(60);
            while count_builds(dir).0 == 0 && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            (count_builds(dir).0 > 0).then(Instant::now)
        }
    };
    if let Some(at) = first_build {
        out.push((
            format!("startup_build_ms_{tag}"),
            json!(round(ms(at - running.launched))),
        ));
    }
    settle(dir, Duration::from_secs(1), Duration::from_secs(30));
    if tool == Tool::Hot {
        startup_work_done(running.pid());
    }
    let cpu0 = cpu_seconds(running.pid());
    thread::sleep(plan.idle);
    let cpu = cpu_seconds(running.pid()) - cpu0;
    out.push((
        format!("idle_cpu_s_per_10s_{tag}"),
        json!(round(cpu * 10.0 / plan.idle.as_secs_f64() * 10.0) / 10.0),
    ));
    out.push((
        format!("idle_cpu_percent_{tag}"),
        json!(round(cpu / plan.idle.as_secs_f64() * 100.0)),
    ));
    out.push((
        format!("peak_rss_mb_{tag}"),
        json!(peak_rss_mb(running.pid())),
    ));
    if !poll {
        for &storm in plan.storms.iter().filter(|s| **s <= files) {
            let before = count_builds(dir);
            for path in tree_files(dir, storm) {
                let _ = std::fs::write(&path, "package y\n");
            }
            settle(dir, Duration::from_secs(2), Duration::from_secs(120));
            let after = count_builds(dir);
            out.push((
                format!("storm_{storm}_builds_started"),
                json!(after.0 - before.0),
            ));
            out.push((
                format!("storm_{storm}_builds_completed"),
                json!(after.1 - before.1),
            ));
        }
    }
    running.stop();
    out
}

fn print_table(results: &BTreeMap<&str, BTreeMap<String, Value>>, tools: &[Tool]) {
    let Some(hot) = results.get("hot") else {
        return;
    };
    let mut header = format!("{:<34} {:>10}", "metric", "hot");
    for t in tools.iter().skip(1) {
        header.push_str(&format!(" {:>26}", t.name()));
    }
    println!("\n{header}");
    for (key, value) in hot {
        let mut row = format!("{key:<34} {:>10}", value.to_string());
        for t in tools.iter().skip(1) {
            let peer = results.get(t.name()).and_then(|r| r.get(key));
            let cell = match (value.as_f64(), peer.and_then(Value::as_f64)) {
                (Some(h), Some(p)) if p != 0.0 => format!("{p} (hot/peer {:.2})", h / p),
                (_, Some(p)) => format!("{p}"),
                _ => "-".to_owned(),
            };
            row.push_str(&format!(" {cell:>26}"));
        }
        println!("{row}");
    }
}
