//! What hot sees, how soon, and at what cost (`-- --watch-only` runs just these):
//! - polling a 20k-file tree: save → change event for the three kinds of edit (a recently edited
//!   file, an atomic save of a file never touched, an in-place edit of a file never touched), and
//!   the poll thread's idle CPU;
//! - memory of everything hot runs (hot and its guard: RSS and PSS summed) at 20k and 100k files;
//! - a real `go build`: save → first response from the new build, hot against watchexec (and
//!   systemfd + watchexec) in the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Running, free_port, get, ms, percentile, round, tree_project};

/// A Go server with nothing but the standard library: takes fd 3 from hot (or a systemfd), or
/// binds `APP_PORT`; answers with the version compiled in; drains on SIGTERM.
const GO_MAIN: &str = r#"package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var l net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") != "" {
		l, err = net.FileListener(os.NewFile(3, "listener"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:"+os.Getenv("APP_PORT"))
	}
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, Version) })
	srv := &http.Server{Handler: mux}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		srv.Shutdown(context.Background())
	}()
	srv.Serve(l)
}
"#;

fn go_version_file(v: &str) -> String {
    format!("package main\n\nconst Version = \"{v}\"\n")
}

/// Runs every measurement of this module; `tools` are the peers on PATH.
pub fn run(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    quick: bool,
    peers: bool,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    // First, before the big trees are written (their writeback would slow the builds), and in
    // two rounds of opposite order, so no tool always goes first.
    if Command::new("go").arg("version").output().is_ok() {
        let saves = if quick { 2 } else { 7 };
        let mut tools = vec![GoTool::Hot];
        if peers {
            tools.extend([GoTool::Watchexec, GoTool::SystemfdWatchexec]);
        }
        let mut all: Vec<Vec<Duration>> = vec![Vec::new(); tools.len()];
        for round in 0..2 {
            let order: Vec<usize> = if round == 0 {
                (0..tools.len()).collect()
            } else {
                (0..tools.len()).rev().collect()
            };
            for i in order {
                eprintln!("bench: {} · go build: save → new response", tools[i].name());
                all[i].extend(go_save(work, hot_bin, tools[i], saves));
            }
        }
        for (tool, all) in tools.iter().zip(all) {
            out.push((
                format!("go_save_median_ms_{}", tool.key()),
                json!(round(ms(percentile(all.clone(), 0.5)))),
            ));
            out.push((
                format!("go_save_p90_ms_{}", tool.key()),
                json!(round(ms(percentile(all.clone(), 0.9)))),
            ));
            out.push((format!("go_save_count_{}", tool.key()), json!(all.len())));
        }
    } else {
        eprintln!(
            "bench: go not on PATH: skipping the go build comparison (apt-get install golang-go)"
        );
    }
    let (files, dirs) = if quick { (2_000, 200) } else { (20_000, 200) };
    eprintln!("bench: hot · polling {files} files: the three kinds of edit, idle CPU");
    out.extend(polling(
        work,
        hot_bin,
        app,
        files,
        dirs,
        if quick { 2 } else { 7 },
    ));
    for (files, dirs) in if quick {
        vec![(2_000, 200)]
    } else {
        vec![(20_000, 2_000), (100_000, 10_000)]
    } {
        eprintln!("bench: hot · memory of all its processes, {files} files");
        out.extend(memory(work, hot_bin, app, files, dirs));
    }
    out
}

/// Polling latency of each kind of edit (median of `n`) and the idle CPU of the poll thread.
fn polling(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    files: usize,
    dirs: usize,
    n: usize,
) -> Vec<(String, Value)> {
    let (dir, running) = on_tree(work, hot_bin, app, (files, dirs), "poll = true");
    let idle = Duration::from_secs(if n > 2 { 10 } else { 2 });
    let cpu0 = thread_cpu(running.pid(), "poll");
    thread::sleep(idle);
    let cpu = thread_cpu(running.pid(), "poll") - cpu0;
    let mut out = vec![(
        format!("poll_idle_cpu_percent_{files}"),
        json!(round(cpu / idle.as_secs_f64() * 100.0)),
    )];
    let all = super::tree_files(&dir, files);
    let mut pick = all.iter().rev().step_by((all.len() / (3 * n + 3)).max(1));
    let mut kinds: Vec<(&str, Vec<Duration>)> = Vec::new();
    // The working set: the same file, edited again and again.
    let recent = dir.join("src/version.txt");
    let mut lat = Vec::new();
    for i in 0..n {
        std::fs::write(&recent, format!("r{i}")).expect("write");
        if let Some(d) = change_latency(&running, &recent, |p| std::fs::write(p, format!("r{i}!")))
        {
            lat.push(d);
        }
    }
    kinds.push(("recent", lat));
    let mut lat = Vec::new();
    for i in 0..n {
        let Some(target) = pick.next() else { break };
        if let Some(d) = change_latency(&running, target, |p| {
            let tmp = p.with_extension("go.tmp~");
            std::fs::write(&tmp, format!("package x // atomic {i}\n"))?;
            std::fs::rename(&tmp, p)
        }) {
            lat.push(d);
        }
    }
    kinds.push(("atomic", lat));
    let mut lat = Vec::new();
    for i in 0..n {
        let Some(target) = pick.next() else { break };
        if let Some(d) = change_latency(&running, target, |p| {
            std::fs::write(p, format!("package x // in place {i}\n"))
        }) {
            lat.push(d);
        }
    }
    kinds.push(("untouched", lat));
    for (kind, lat) in kinds {
        out.push((
            format!("poll_{kind}_median_ms_{files}"),
            json!(round(ms(percentile(lat.clone(), 0.5)))),
        ));
        out.push((
            format!("poll_{kind}_max_ms_{files}"),
            json!(round(ms(lat.iter().max().copied().unwrap_or_default()))),
        ));
    }
    running.stop();
    out
}

/// hot on a generated tree of (files, dirs) with `watch` added to its [watch] table, once its
/// startup work (first build, fingerprint pass) is over.
fn on_tree(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    (files, dirs): (usize, usize),
    watch: &str,
) -> (PathBuf, Running) {
    let dir = tree_project(work, app, files, dirs);
    let running = Running::start(
        super::Tool::Hot,
        &dir,
        hot_bin,
        Path::new("true"),
        free_port(),
        &format!("[watch]\npaths = [\"src\"]\n{watch}"),
    );
    running.wait("watching", Duration::from_secs(120));
    running.wait("build_ok", Duration::from_secs(120));
    super::startup_work_done(running.pid());
    (dir, running)
}

/// Edits `path` with `edit` and waits for hot's `change` event naming it.
fn change_latency(
    running: &Running,
    path: &Path,
    edit: impl Fn(&Path) -> std::io::Result<()>,
) -> Option<Duration> {
    // Let the previous edit's build finish, so events do not mix.
    thread::sleep(Duration::from_millis(400));
    while running.try_event().is_some() {}
    let t0 = Instant::now();
    edit(path).ok()?;
    let name = path.file_name()?.to_string_lossy().into_owned();
    let deadline = t0 + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (at, ev) = running.next_event(deadline - Instant::now())?;
        if ev["event"] == "change"
            && ev["paths"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p.as_str().is_some_and(|p| p.ends_with(&name)))
            })
        {
            return Some(at - t0);
        }
    }
    eprintln!("bench: no change event for {}", path.display());
    None
}

/// RSS and PSS of hot and its guard together, on an idle tree with inotify.
fn memory(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    files: usize,
    dirs: usize,
) -> Vec<(String, Value)> {
    let (_dir, running) = on_tree(work, hot_bin, app, (files, dirs), "");
    let pids = hot_processes(running.pid(), hot_bin);
    let (mut rss, mut pss, mut hwm) = (0.0, 0.0, 0.0);
    for pid in &pids {
        rss += status_kb(*pid, "VmRSS:");
        hwm += status_kb(*pid, "VmHWM:");
        pss += rollup_kb(*pid, "Pss:");
    }
    running.stop();
    vec![
        (format!("mem_processes_{files}"), json!(pids.len())),
        (
            format!("mem_rss_sum_mb_{files}"),
            json!(round(rss / 1024.0)),
        ),
        (
            format!("mem_peak_rss_sum_mb_{files}"),
            json!(round(hwm / 1024.0)),
        ),
        (
            format!("mem_pss_sum_mb_{files}"),
            json!(round(pss / 1024.0)),
        ),
    ]
}

/// hot and every process below it that runs hot's binary (the guard).
pub(crate) fn hot_processes(hot: u32, hot_bin: &Path) -> Vec<u32> {
    let mut out = vec![hot];
    let exe = std::fs::canonicalize(hot_bin).unwrap_or_else(|_| hot_bin.to_path_buf());
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok())
            });
        let same_exe = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == exe);
        if ppid == Some(hot) && same_exe {
            out.push(pid);
        }
    }
    out
}

pub(crate) fn status_kb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    field_kb(&status, key)
}

pub(crate) fn rollup_kb(pid: u32, key: &str) -> f64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    field_kb(&rollup, key)
}

fn field_kb(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// CPU seconds of the thread of `pid` named `name`.
fn thread_cpu(pid: u32, name: &str) -> f64 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path();
        if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == name) {
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            let f: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            let ticks: f64 = f.get(11..13).map_or(0.0, |t| {
                t.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
            });
            return ticks / 100.0;
        }
    }
    0.0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GoTool {
    Hot,
    Watchexec,
    SystemfdWatchexec,
}

impl GoTool {
    fn name(self) -> &'static str {
        match self {
            GoTool::Hot => "hot",
            GoTool::Watchexec => "watchexec",
            GoTool::SystemfdWatchexec => "systemfd + watchexec",
        }
    }

    fn key(self) -> &'static str {
        match self {
            GoTool::Hot => "hot",
            GoTool::Watchexec => "watchexec",
            GoTool::SystemfdWatchexec => "systemfd_watchexec",
        }
    }
}

/// A Go module in `work/go-NAME`, built once so the build cache is warm for every tool.
fn go_project(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(format!("go-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    std::fs::write(dir.join("go.mod"), "module benchapp\n\ngo 1.19\n").expect("go.mod");
    std::fs::write(dir.join("main.go"), GO_MAIN).expect("main.go");
    std::fs::write(dir.join("version.go"), go_version_file("v0")).expect("version.go");
    let ok = Command::new("go")
        .args(["build", "-o", "tmp/app", "."])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "the Go bench app does not build");
    dir
}

/// Save → first response from the new build, `saves` times after one warm-up save.
fn go_save(work: &Path, hot_bin: &Path, tool: GoTool, saves: usize) -> Vec<Duration> {
    let dir = go_project(work, tool.key());
    let port = free_port();
    let build = "go build -o tmp/app .";
    let mut cmd = match tool {
        GoTool::Hot => {
            std::fs::write(
                dir.join(".hot.toml"),
                format!(
                    "listen = [\"127.0.0.1:{port}\"]\n[watch]\ninclude_ext = [\"go\"]\n[build]\ncmd = {build:?}\n[run]\ncmd = \"./tmp/app\"\n"
                ),
            )
            .expect("config");
            let mut c = Command::new(hot_bin);
            c.arg("--json");
            c
        }
        GoTool::Watchexec | GoTool::SystemfdWatchexec => {
            let script = format!("{build} && exec ./tmp/app");
            let w = [
                "watchexec",
                "--shell=none",
                "-e",
                "go",
                "-r",
                "--",
                "sh",
                "-c",
                &script,
            ];
            let mut c = if tool == GoTool::SystemfdWatchexec {
                let mut c = Command::new("systemfd");
                c.args(["--no-pid", "-s", &format!("http::127.0.0.1:{port}"), "--"])
                    .args(w);
                c
            } else {
                let mut c = Command::new(w[0]);
                c.args(&w[1..]);
                c
            };
            c.env("APP_PORT", port.to_string());
            c
        }
    };
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return Vec::new();
    };
    let answers = |want: &str, timeout: Duration| -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if get(port).is_ok_and(|b| b == want) {
                return Some(Instant::now());
            }
            thread::sleep(Duration::from_millis(2));
        }
        None
    };
    let mut all = Vec::new();
    if answers("v0", Duration::from_secs(60)).is_some() {
        for i in 0..=saves {
            thread::sleep(Duration::from_millis(1500));
            let want = format!("v{}", i + 1);
            let t0 = Instant::now();
            std::fs::write(dir.join("version.go"), go_version_file(&want)).expect("save");
            match answers(&want, Duration::from_secs(60)) {
                Some(at) if i > 0 => all.push(at - t0),
                Some(_) => {}
                None => eprintln!("bench: {} never served {want}", tool.name()),
            }
        }
    } else {
        eprintln!("bench: {} did not start the Go app", tool.name());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    all
}
