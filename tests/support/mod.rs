//! Test harness: a temp project, the real `hot` binary with `--json`, and waits on its events.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod tty;

/// One generous deadline for anything a test waits on: a noisy 2-core CI machine can be slow,
/// but a correct hot never gets near it.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub const APP_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/app.py");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Tests share the machine; the few that change something machine-wide (a sysctl) run alone:
/// every project holds this lock shared, and those tests hold it exclusively.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

enum MachineLock {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

/// A fresh project directory, removed on drop.
pub struct Project {
    pub dir: PathBuf,
    _machine: MachineLock,
}

impl Project {
    pub fn new() -> Project {
        let lock = MachineLock::Shared(MACHINE.read().unwrap_or_else(|e| e.into_inner()));
        Project::with_lock(lock)
    }

    /// A project for a test that must be alone on the machine while it runs.
    pub fn exclusive() -> Project {
        let lock = MachineLock::Exclusive(MACHINE.write().unwrap_or_else(|e| e.into_inner()));
        Project::with_lock(lock)
    }

    fn with_lock(machine: MachineLock) -> Project {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("hot-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create project dir");
        // Canonical, so paths hot reports compare equal to ours.
        let dir = dir.canonicalize().expect("canonical");
        Project {
            dir,
            _machine: machine,
        }
    }

    /// A project served by tests/support/app.py: the build copies `src/version.txt` to
    /// `tmp/version.txt`, which the app serves.
    pub fn python_app(opts: AppOpts) -> Project {
        let p = Project::new();
        p.write("src/version.txt", "1\n");
        p.write(".hot.toml", &opts.toml());
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).expect("read")
    }

    /// The info file app.py wrote for `pid`.
    pub fn app_info(&self, pid: u64) -> Value {
        let path = self.dir.join(format!("tmp/info/{pid}.json"));
        wait_until("app info file", || path.exists());
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read info"))
            .expect("info json")
    }

    /// What app `pid` saw of the first TCP connection it accepted.
    pub fn app_connection(&self, pid: u64) -> Value {
        let path = self.dir.join(format!("tmp/info/{pid}.conn.json"));
        wait_until("app connection file", || path.exists());
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read conn"))
            .expect("conn json")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The knobs of a python_app project's .hot.toml.
pub struct AppOpts {
    pub listen: Vec<&'static str>,
    pub watch: &'static str,
    pub build: &'static str,
    pub env: Vec<(&'static str, &'static str)>,
    /// Extra `[run]` lines.
    pub run: &'static str,
}

impl Default for AppOpts {
    fn default() -> Self {
        AppOpts {
            listen: vec!["127.0.0.1:0"],
            watch: "paths = [\"src\"]",
            build: "cp src/version.txt tmp/version.txt",
            env: Vec::new(),
            run: "",
        }
    }
}

impl AppOpts {
    pub fn toml(&self) -> String {
        let listen: Vec<String> = self.listen.iter().map(|a| format!("{a:?}")).collect();
        let mut env = vec![("APP_INFO_DIR", "tmp/info")];
        env.extend(self.env.iter().copied());
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        format!(
            "listen = [{}]\n[watch]\n{}\n[build]\ncmd = {:?}\n[run]\ncmd = \"python3 {APP_PY}\"\nenv = {{ {} }}\n{}\n",
            listen.join(", "),
            self.watch,
            self.build,
            env.join(", "),
            self.run
        )
    }
}

/// Polls `cond` until it holds, or panics at the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[derive(Default)]
pub struct Transcript {
    events: Vec<Value>,
    /// A terminal merges stdout and stderr: then events come on stdout too.
    events_on_stdout: bool,
    lines: Vec<String>,
    /// How many of stdout and stderr have ended.
    ended: usize,
    closed: bool,
}

/// The running `hot`, killed (with its whole group) on drop.
pub struct Hot {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    shared: Arc<(Mutex<Transcript>, Condvar)>,
    /// Index of the next event `wait` looks at.
    cursor: usize,
    pub exit: Option<ExitStatus>,
}

impl Hot {
    pub fn start(project: &Project, args: &[&str]) -> Hot {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
        cmd.arg("--json").args(args).current_dir(&project.dir);
        Hot::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Hot {
        cmd.stdin(Stdio::null());
        Hot::spawn_clean(cmd)
    }

    /// Spawns `cmd` with a pipe as its stdin (see `take_stdin`).
    pub fn spawn_with_stdin(mut cmd: Command) -> Hot {
        cmd.stdin(Stdio::piped());
        Hot::spawn_clean(cmd)
    }

    fn spawn_clean(mut cmd: Command) -> Hot {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        clean_env(&mut cmd);
        // Start hot as a clean parent would: with only stdio open, whatever the test runner
        // inherited. Then any other fd its children hold is one hot leaked.
        // SAFETY: close_range and prctl are async-signal-safe system calls that touch only this
        // child; nothing is allocated and no lock is taken between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::close_range(3, libc::c_uint::MAX, 0);
                // A test run that is killed (Ctrl-C, a CI timeout) takes its hot with it, and
                // hot's guard takes the apps: nothing is left on the machine.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Hot::attach(cmd.spawn().expect("spawn hot"), Transcript::default())
    }

    /// Spawns `cmd`, whose stderr is its stdout (`2>&1`): events arrive on stdout.
    pub fn spawn_merged(mut cmd: Command) -> Hot {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        clean_env(&mut cmd);
        let transcript = Transcript {
            events_on_stdout: true,
            ..Transcript::default()
        };
        Hot::attach(cmd.spawn().expect("spawn hot"), transcript)
    }

    /// Starts collecting a spawned child's output: its stdout and stderr, those that are piped
    /// (one on a terminal is the terminal's to show).
    pub fn attach(mut child: Child, mut transcript: Transcript) -> Hot {
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        transcript.ended = usize::from(stderr.is_none()) + usize::from(stdout.is_none());
        transcript.closed = transcript.ended == 2;
        let shared = Arc::new((Mutex::new(transcript), Condvar::new()));
        if let Some(stderr) = stderr {
            let s = shared.clone();
            thread::spawn(move || collect(stderr, s, true));
        }
        if let Some(stdout) = stdout {
            let s = shared.clone();
            thread::spawn(move || collect(stdout, s, false));
        }
        let stdin = child.stdin.take();
        Hot {
            child,
            stdin,
            shared,
            cursor: 0,
            exit: None,
        }
    }

    /// Runs `hot --json ARGS` on a pseudo-terminal (util-linux `script`), then `stty -a`, so a
    /// test can press keys and see that the terminal was restored. None without `script`.
    pub fn start_on_tty(project: &Project, args: &str) -> Option<Hot> {
        if skip_without(
            Command::new("script").arg("--version").output().is_ok(),
            "util-linux `script` (the keyboard test needs a pseudo-terminal)",
            "apt-get install util-linux",
        ) {
            return None;
        }
        let inner = format!(
            "{} --json {args}; echo hot-exit=$?; stty -a",
            env!("CARGO_BIN_EXE_hot")
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &inner, "/dev/null"])
            .current_dir(&project.dir);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let transcript = Transcript {
            events_on_stdout: true,
            ..Transcript::default()
        };
        Some(Hot::attach(cmd.spawn().expect("spawn script"), transcript))
    }

    /// Types `keys` at the terminal.
    pub fn press(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("a tty session");
        stdin.write_all(keys.as_bytes()).expect("write keys");
        stdin.flush().expect("flush keys");
    }

    /// hot's stdin, when it was spawned with a pipe there: dropping it closes it.
    pub fn take_stdin(&mut self) -> std::process::ChildStdin {
        self.stdin.take().expect("spawned with a piped stdin")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next event named `name` (after the ones already waited for).
    pub fn wait(&mut self, name: &str) -> Value {
        self.wait_for(name, |_| true)
    }

    /// Waits for the next event named `name` that satisfies `pred`.
    pub fn wait_for(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        let (lock, cvar) = &*self.shared;
        let mut t = lock.lock().expect("lock");
        loop {
            while self.cursor < t.events.len() {
                let ev = &t.events[self.cursor];
                self.cursor += 1;
                if ev["event"] == name && pred(ev) {
                    return ev.clone();
                }
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            if left.is_zero() || t.closed {
                let why = if t.closed {
                    "hot's output ended"
                } else {
                    "timed out"
                };
                let transcript = t.lines.join("\n");
                drop(t);
                panic!("{why} waiting for event {name:?}\n--- transcript ---\n{transcript}\n---");
            }
            t = cvar.wait_timeout(t, left).expect("wait").0;
        }
    }

    /// Makes the next `wait` look only at events after those seen so far (once a test has
    /// checked what it needed among them another way).
    pub fn skip_seen(&mut self) {
        self.cursor = self.shared.0.lock().expect("lock").events.len();
    }

    /// All events seen so far.
    pub fn events(&self) -> Vec<Value> {
        self.shared.0.lock().expect("lock").events.clone()
    }

    pub fn count(&self, name: &str) -> usize {
        self.events().iter().filter(|e| e["event"] == name).count()
    }

    pub fn transcript(&self) -> String {
        self.shared.0.lock().expect("lock").lines.join("\n")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for hot to exit (under the deadline) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                // Let the readers drain what hot printed last.
                let (lock, cvar) = &*self.shared;
                let mut t = lock.lock().expect("lock");
                while !t.closed && start.elapsed() < DEADLINE {
                    t = cvar
                        .wait_timeout(t, Duration::from_millis(100))
                        .expect("wait")
                        .0;
                }
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "hot did not exit\n{}",
                self.transcript()
            );
            thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// The address from the `watching` event (index `i`).
    pub fn addr(watching: &Value, i: usize) -> String {
        watching["addrs"][i]
            .as_str()
            .expect("addr string")
            .to_owned()
    }
}

impl Drop for Hot {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // SIGKILL: hot's guard and parent-death signals must clean up after it.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(stream: impl Read, shared: Arc<(Mutex<Transcript>, Condvar)>, is_stderr: bool) {
    let reader = BufReader::new(stream);
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches('\r')
            .to_owned();
        let (lock, cvar) = &*shared;
        let mut t = lock.lock().expect("lock");
        let json_at = line.find("{\"event\"");
        if let (true, Some(at)) = (is_stderr || t.events_on_stdout, json_at) {
            let line = &line[at..];
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                t.events.push(v);
            }
        }
        t.lines.push(if is_stderr {
            line
        } else {
            format!("[stdout] {line}")
        });
        cvar.notify_all();
    }
    let (lock, cvar) = &*shared;
    let mut t = lock.lock().expect("lock");
    // Closed once both stdout and stderr have ended, so nothing printed last is missed.
    t.ended += 1;
    if t.ended == 2 {
        t.closed = true;
        cvar.notify_all();
    }
}

/// How one HTTP request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Refused,
    Reset,
    Other(String),
}

/// One GET on a fresh connection; the body on a 200.
pub fn get(addr: &str) -> Reply {
    let stream = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Reply::Refused,
        Err(e) => return Reply::Other(e.to_string()),
    };
    let _ = stream.set_read_timeout(Some(DEADLINE));
    http_exchange(stream)
}

pub fn http_exchange<S: Read + Write>(mut stream: S) -> Reply {
    if let Err(e) =
        stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    {
        return classify(e);
    }
    let mut response = Vec::new();
    if let Err(e) = stream.read_to_end(&mut response) {
        return classify(e);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    match text.split_once("\r\n\r\n") {
        // HTTP/1.0: Python's http.server as its documentation writes it.
        Some((head, body))
            if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
        {
            Reply::Ok(body.to_owned())
        }
        _ if text.is_empty() => Reply::Reset,
        _ => Reply::Other(text),
    }
}

fn classify(e: std::io::Error) -> Reply {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => Reply::Reset,
        std::io::ErrorKind::ConnectionRefused => Reply::Refused,
        _ => Reply::Other(e.to_string()),
    }
}

/// Polls GET until the body satisfies `pred`; returns it.
pub fn get_until(addr: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Reply::Ok(body) = get(addr) {
            if pred(&body) {
                return body;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no matching response from {addr}"
        );
        thread::park_timeout(Duration::from_millis(20));
    }
}

/// The `version=N` a body reports.
pub fn version_of(body: &str) -> String {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix("version="))
        .unwrap_or("")
        .to_owned()
}

/// Whether a process is gone (or a zombie nobody reaped yet, which holds no resources).
pub fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Every live process whose process group is `pgid`.
pub fn group_members(pgid: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] = state, [1] = ppid, [2] = pgrp
        if fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<u64>().ok() == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Runs `hot` to completion (for error cases) with a deadline; returns (status, stderr).
pub fn run_to_exit(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
    cmd.args(args).current_dir(dir).process_group(0);
    let mut hot = Hot::spawn(cmd);
    let status = hot.wait_exit();
    (status, hot.transcript())
}

pub fn env_map(info: &Value) -> BTreeMap<String, String> {
    info["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn tcp(addr: &str) -> SocketAddr {
    addr.parse().expect("socket addr")
}

/// Polls GET until the body satisfies `pred` or `deadline` passes; whether it did.
pub fn get_until_or(addr: &str, deadline: Duration, pred: impl Fn(&str) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Reply::Ok(body) = get(addr) {
            if pred(&body) {
                return true;
            }
        }
        thread::park_timeout(Duration::from_millis(20));
    }
    false
}

/// Whether `tool` is on PATH; if not, the test skips loudly (or fails under `CI=true`: see
/// `skip_without`). `how`: how to install it.
pub fn have(tool: &str, how: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    !skip_without(found, &format!("`{tool}`"), how)
}

/// Whether `hot` printed a note containing `text`.
pub fn noted(hot: &Hot, text: &str) -> bool {
    hot.events()
        .iter()
        .any(|e| e["event"] == "note" && e["message"].as_str().is_some_and(|m| m.contains(text)))
}

/// Whether a test may go on without a tool it needs: it prints a loud SKIPPED line and returns
/// false, except under `CI=true`, where a missing tool is a failure (`.ci/run` installs them
/// all, so a missing one means the set-up broke).
pub fn skip_without(found: bool, what: &str, how: &str) -> bool {
    if found {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{what} is missing under CI=true ({how}); .ci/run installs it"
    );
    eprintln!("\n\n*** SKIPPED: {what} is missing ({how}) ***\n");
    true
}

/// The environment of every hot a test starts: none of the developer's own `HOT_*` settings
/// (a `HOT_BUILD_CMD` or `HOT_WATCH_DEBOUNCE_MS` would change what the test sees), plain output.
/// A test's own settings on `cmd` stay. `CARGO_TARGET_DIR` goes too: a shared target directory
/// (common among Rust developers) would move the samples' binaries away from their projects.
pub fn clean_env(cmd: &mut Command) {
    let own: Vec<std::ffi::OsString> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
    for (key, _) in std::env::vars_os() {
        let developers = key.to_string_lossy().starts_with("HOT_") || key == "CARGO_TARGET_DIR";
        if developers && !own.contains(&key) {
            cmd.env_remove(&key);
        }
    }
    if !own.iter().any(|k| k == "NO_COLOR") {
        cmd.env_remove("NO_COLOR");
    }
    cmd.env("CI", "true");
}

/// Asserts the next change event lists exactly `paths`, then waits for its build.
pub fn one_change(hot: &mut Hot, paths: &[&str]) {
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(paths),
        "{}",
        hot.transcript()
    );
    hot.wait("build_ok");
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
