//! Real servers through real restarts: each common server takes hot's socket the standard way
//! for its ecosystem, a client makes fresh connections without pause, and hot restarts the
//! server five times; every request that did not get its whole answer is counted by how it
//! failed. Run in each mode: direct (the defaults), direct with `kill_mode = "group"`, direct
//! with `restart_mode = "drain"`, and through hot's proxy; then with clients POSTing a small
//! form, direct and through the proxy. Before the restarts, direct and
//! through the proxy, the server's throughput with fresh and with kept-alive connections: what
//! the proxy costs in front of each.
//!
//! `--servers-only [NAME…]`: this alone (or only the servers whose name contains a NAME),
//! printed as a table and written to target/bench-servers.json.
//! Servers whose toolchain is missing are listed as unavailable with what to install.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::browser::{Clients, load};
use super::{Running, Setup, finish, free_port, on_path, ratio};

/// Restarts per server and mode.
const RESTARTS: usize = 5;
/// Concurrent clients, each making fresh connections one after another.
const CLIENTS: usize = 4;
/// A request without its whole answer after this long counts as timed out.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each throughput load runs (direct and through the proxy, before the restarts).
const THROUGHPUT_LOAD: Duration = Duration::from_secs(3);

/// What the clients send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    /// A small form (hot's proxy may send a GET again, never a POST the app may have read).
    Post,
}

/// A way of running hot: its name, the config it adds, what the clients send, and whether the
/// server's throughput is measured in it (before the restarts).
struct Mode {
    name: &'static str,
    extra: &'static str,
    method: Method,
    throughput: bool,
}

const PROXY: &str = "[proxy]\nenabled = true\n";

const MODES: [Mode; 6] = [
    Mode {
        name: "direct",
        extra: "",
        method: Method::Get,
        throughput: true,
    },
    Mode {
        name: "direct, kill_mode = group",
        extra: "kill_mode = \"group\"\n",
        method: Method::Get,
        throughput: false,
    },
    Mode {
        name: "direct, restart_mode = drain",
        extra: "restart_mode = \"drain\"\n",
        method: Method::Get,
        throughput: false,
    },
    Mode {
        name: "proxy",
        extra: PROXY,
        method: Method::Get,
        throughput: true,
    },
    Mode {
        name: "direct, POST",
        extra: "",
        method: Method::Post,
        throughput: false,
    },
    Mode {
        name: "proxy, POST",
        extra: PROXY,
        method: Method::Post,
        throughput: false,
    },
];

/// A server: how to prepare it in `dir` (build, if it needs one), and the command hot runs.
struct Server {
    name: &'static str,
    prepare: fn(&Path) -> Result<String, String>,
}

const SERVERS: [Server; 9] = [
    Server {
        name: "Go net/http + go-systemd",
        prepare: |dir| go(dir, include_str!("servers/go_systemd.go")),
    },
    Server {
        name: "Gin",
        prepare: |dir| go(dir, include_str!("servers/gin.go")),
    },
    Server {
        name: "axum 0.8 + listenfd",
        prepare: |dir| {
            rust(
                dir,
                include_str!("servers/axum.toml"),
                include_str!("servers/axum.rs"),
                "bench-axum",
            )
        },
    },
    Server {
        name: "actix-web 4 + listenfd",
        prepare: |dir| {
            rust(
                dir,
                include_str!("servers/actix.toml"),
                include_str!("servers/actix.rs"),
                "bench-actix",
            )
        },
    },
    Server {
        name: "gunicorn (2 workers)",
        prepare: |dir| python(dir, "gunicorn", "gunicorn -w 2 wsgi_asgi:app"),
    },
    Server {
        name: "uvicorn --fd 3",
        prepare: |dir| python(dir, "uvicorn", "uvicorn --fd 3 wsgi_asgi:asgi"),
    },
    Server {
        name: "hypercorn --bind fd://3",
        prepare: |dir| python(dir, "hypercorn", "hypercorn --bind fd://3 wsgi_asgi:asgi"),
    },
    Server {
        name: "puma --bind-to-activated-sockets only",
        prepare: |dir| {
            have("puma", "apt-get install puma")?;
            write(dir, "config.ru", include_str!("servers/config.ru"))?;
            Ok("puma --bind-to-activated-sockets only -t 2:4 config.ru".into())
        },
    },
    Server {
        name: "Node http listen({fd: 3})",
        prepare: |dir| {
            have("node", "apt-get install nodejs")?;
            write(dir, "server.js", include_str!("servers/node.js"))?;
            Ok("node server.js".into())
        },
    },
];

/// Gin as its README writes it (`r.Run()`, its own port, no fd 3, no signal handling) beside
/// the same Gin taking fd 3, in one run: with hot holding the port it binds (Linux), with hot's
/// proxy in front as well (what `hot init` writes), and with holding switched off (what a
/// restart-only tool gives: the app's port is closed while it restarts).
fn unmodified_gin(work: &Path, hot_bin: &Path, results: &mut serde_json::Map<String, Value>) {
    let name = "Gin r.Run(), unmodified";
    let fd3 = work.join("gin-fd3");
    let plain = work.join("gin-plain");
    for dir in [&fd3, &plain] {
        let _ = std::fs::create_dir_all(dir.join("src"));
        let _ = std::fs::create_dir_all(dir.join("tmp"));
    }
    let built = go(&fd3, include_str!("servers/gin.go"))
        .and_then(|_| go(&plain, include_str!("servers/gin_plain.go")));
    if let Err(why) = built {
        println!("{name:<38} unavailable: {why}");
        results.insert(name.into(), json!({ "unavailable": why }));
        return;
    }
    let get = |name| Mode {
        name,
        extra: "",
        method: Method::Get,
        throughput: false,
    };
    /// What every run shares: the "build" the saves trigger.
    const COMMON: &str =
        "[watch]\npaths = [\"src\"]\n[build]\ncmd = \"cp src/version.txt tmp/version.txt\"\n";
    /// A row of the table: its name, the server's directory, and its config for a port.
    type Run<'p> = (&'static str, &'p Path, fn(u16) -> String);
    let mut rows = serde_json::Map::new();
    let runs: [Run; 5] = [
        ("fd 3 (go-systemd), direct", &fd3, |port| {
            format!(
                "listen = [\"127.0.0.1:{port}\"]\n{COMMON}[run]\ncmd = \"./server\"\n\
                     ready = \"http:/\"\nstop_timeout_ms = 10000\n"
            )
        }),
        ("r.Run(), port held", &plain, |port| {
            format!(
                "{COMMON}[run]\ncmd = \"./server\"\nenv = {{ PORT = \"{port}\" }}\n\
                     stop_timeout_ms = 10000\n"
            )
        }),
        ("r.Run(), port held + proxy", &plain, |port| {
            format!(
                "listen = [\"127.0.0.1:{port}\"]\n{COMMON}[run]\ncmd = \"./server\"\n\
                     env = {{ PORT = \"{port}\" }}\nready = \"http:/\"\nstop_timeout_ms = 10000\n\
                     [proxy]\nenabled = true\n"
            )
        }),
        ("r.Run(), PORT behind proxy, no hold", &plain, |port| {
            format!(
                "listen = [\"127.0.0.1:{port}\"]\n{COMMON}[run]\ncmd = \"./server\"\n\
                 port_env = \"PORT\"\nhold_ports = false\nready = \"http:/\"\n\
                 stop_timeout_ms = 10000\n[proxy]\nenabled = true\n"
            )
        }),
        ("r.Run(), hold_ports = false", &plain, |port| {
            format!(
                "{COMMON}[run]\ncmd = \"./server\"\nenv = {{ PORT = \"{port}\" }}\n\
                     stop_timeout_ms = 10000\nhold_ports = false\n"
            )
        }),
    ];
    for (mode, dir, config) in runs {
        let port = free_port();
        let tally = restarts_with(dir, hot_bin, &config(port), port, &get(mode));
        tally.print(name, mode);
        rows.insert(mode.into(), tally.json());
    }
    results.insert(name.into(), Value::Object(rows));
}

pub fn only() {
    let Setup {
        root,
        hot_bin,
        work,
        ..
    } = Setup::new("hot-bench-servers");
    let mut results = serde_json::Map::new();
    println!(
        "{:<38} {:<30} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9}",
        "server",
        "mode",
        "requests",
        "refused",
        "reset",
        "empty",
        "short",
        "t/out",
        "other",
        "worst ms",
        "gap ms"
    );
    // `--servers-only NAME…`: only the servers whose name contains one of the words.
    let wanted: Vec<String> = std::env::args()
        .skip_while(|a| a != "--servers-only")
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.to_lowercase())
        .collect();
    for server in SERVERS
        .iter()
        .filter(|s| wanted.is_empty() || wanted.iter().any(|w| s.name.to_lowercase().contains(w)))
    {
        let dir = work.join(server.name.replace(|c: char| !c.is_alphanumeric(), "-"));
        let _ = std::fs::create_dir_all(dir.join("src"));
        let _ = std::fs::create_dir_all(dir.join("tmp"));
        let cmd = match (server.prepare)(&dir) {
            Ok(cmd) => cmd,
            Err(why) => {
                println!("{:<38} unavailable: {why}", server.name);
                results.insert(server.name.into(), json!({ "unavailable": why }));
                continue;
            }
        };
        let mut modes = serde_json::Map::new();
        let mut rates = Vec::new();
        for mode in &MODES {
            let tally = restarts(&dir, &hot_bin, &cmd, mode);
            rates.extend(tally.throughput);
            tally.print(server.name, mode.name);
            modes.insert(mode.name.into(), tally.json());
        }
        if let [direct, proxy] = rates[..] {
            let line = format!(
                "fresh connections {:.0} → {:.0} req/s ({:.2}×), kept-alive {:.0} → {:.0} req/s ({:.2}×)",
                direct.fresh,
                proxy.fresh,
                ratio(proxy.fresh, direct.fresh),
                direct.keepalive,
                proxy.keepalive,
                ratio(proxy.keepalive, direct.keepalive),
            );
            println!("{:<38} throughput direct → proxy: {line}", server.name);
            modes.insert(
                "proxy_throughput_ratio".into(),
                json!({
                    "fresh": ratio(proxy.fresh, direct.fresh),
                    "keepalive": ratio(proxy.keepalive, direct.keepalive),
                }),
            );
        }
        results.insert(server.name.into(), Value::Object(modes));
    }
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|w| "gin r.run(), unmodified".contains(w.as_str()))
    {
        unmodified_gin(&work, &hot_bin, &mut results);
    }
    finish(&root, "bench-servers.json", &results, &work);
}

/// How the requests of one run ended.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    refused: usize,
    reset: usize,
    /// Closed without a byte of answer.
    empty: usize,
    /// An answer cut short of its Content-Length.
    short: usize,
    timeout: usize,
    /// Any other failure (a status other than 200, a malformed answer).
    other: usize,
    worst: Duration,
    /// The longest time from hot stopping the old app to starting the new one.
    gap: Duration,
    /// Restarts that were seen through (the new app ready).
    restarts: usize,
    /// Requests/s before the restarts, with fresh and with kept-alive connections (direct and
    /// proxy modes only).
    throughput: Option<Throughput>,
}

#[derive(Debug, Clone, Copy)]
struct Throughput {
    fresh: f64,
    keepalive: f64,
}

impl Tally {
    fn failed(&self) -> usize {
        self.refused + self.reset + self.empty + self.short + self.timeout + self.other
    }

    fn add(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.reset += other.reset;
        self.empty += other.empty;
        self.short += other.short;
        self.timeout += other.timeout;
        self.other += other.other;
        self.worst = self.worst.max(other.worst);
    }

    /// One row of the table `only` prints.
    fn print(&self, server: &str, mode: &str) {
        println!(
            "{:<38} {:<30} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9}",
            server,
            mode,
            self.ok + self.failed(),
            self.refused,
            self.reset,
            self.empty,
            self.short,
            self.timeout,
            self.other,
            self.worst.as_millis(),
            self.gap.as_millis(),
        );
    }

    fn json(&self) -> Value {
        json!({
            "restarts": self.restarts,
            "requests": self.ok + self.failed(),
            "refused": self.refused,
            "reset": self.reset,
            "empty": self.empty,
            "short": self.short,
            "timeout": self.timeout,
            "other": self.other,
            "worst_ms": self.worst.as_millis() as u64,
            "stop_to_start_gap_ms": self.gap.as_millis() as u64,
            "fresh_requests_per_s": self.throughput.map(|t| t.fresh.round()),
            "keepalive_requests_per_s": self.throughput.map(|t| t.keepalive.round()),
        })
    }
}

/// hot running `cmd` in `dir` in `mode`, restarted `RESTARTS` times under load.
fn restarts(dir: &Path, hot_bin: &Path, cmd: &str, mode: &Mode) -> Tally {
    let port = free_port();
    let extra = mode.extra;
    let (run_extra, top_extra) = match extra.strip_prefix("[proxy]") {
        Some(_) => ("", extra),
        None => (extra, ""),
    };
    let config = format!(
        "listen = [\"127.0.0.1:{port}\"]\n[watch]\npaths = [\"src\"]\n[build]\n\
         cmd = \"cp src/version.txt tmp/version.txt\"\n[run]\ncmd = {cmd:?}\nready = \"http:/\"\n\
         stop_timeout_ms = 10000\n{run_extra}{top_extra}"
    );
    restarts_with(dir, hot_bin, &config, port, mode)
}

/// hot running with `config` (the app answering on `port`) in `dir`, restarted `RESTARTS`
/// times under load.
fn restarts_with(dir: &Path, hot_bin: &Path, config: &str, port: u16, mode: &Mode) -> Tally {
    let _ = std::fs::write(dir.join("src/version.txt"), "0\n");
    let _ = std::fs::write(dir.join(".hot.toml"), config);
    let running = Running::hot(dir, hot_bin);
    let mut tally = Tally::default();
    if running.wait("ready", Duration::from_secs(60)).is_none() {
        tally.other = 1;
        running.stop();
        return tally;
    }
    // An app that binds its own port counts as ready when started: the load begins once it
    // answers, so that only restarts are measured.
    let answering = Instant::now() + Duration::from_secs(30);
    while Instant::now() < answering {
        let mut probe = Tally::default();
        request(port, Method::Get, &mut probe);
        if probe.ok == 1 {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    if mode.throughput {
        let rate = |clients| {
            let _ = load(port, Duration::from_millis(300), clients);
            let (answered, failed) = load(port, THROUGHPUT_LOAD, clients);
            if failed > 0 {
                println!("  ({failed} requests of the throughput load failed)");
            }
            answered.len() as f64 / THROUGHPUT_LOAD.as_secs_f64()
        };
        tally.throughput = Some(Throughput {
            fresh: rate(Clients::Fresh),
            keepalive: rate(Clients::KeepAlive),
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let method = mode.method;
            thread::spawn(move || {
                let mut tally = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    request(port, method, &mut tally);
                }
                tally
            })
        })
        .collect();
    for v in 1..=RESTARTS {
        let _ = std::fs::write(dir.join("src/version.txt"), format!("{v}\n"));
        let (mut stopped, mut started, mut ready) = (None, None, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready && Instant::now() < deadline {
            let Some((at, event)) = running.next_event(Duration::from_secs(1)) else {
                continue;
            };
            match event["event"].as_str() {
                Some("stop") => stopped = stopped.or(Some(at)),
                Some("start") => started = Some((at, event["pid"].clone())),
                Some("ready") => {
                    ready = started
                        .as_ref()
                        .is_some_and(|(_, pid)| *pid == event["pid"]);
                }
                _ => {}
            }
        }
        if let (Some(stop_at), Some((start_at, _))) = (stopped, &started) {
            tally.gap = tally.gap.max(start_at.saturating_duration_since(stop_at));
        }
        if ready {
            tally.restarts += 1;
        }
        // Load the new app a little before the next restart.
        thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        if let Ok(t) = client.join() {
            tally.add(&t);
        }
    }
    running.stop();
    tally
}

/// The form a POST client sends.
const FORM: &str = "item=pancakes&count=2&note=with+syrup+please";

/// One request on a fresh connection, counted by how it ended.
fn request(port: u16, method: Method, tally: &mut Tally) {
    let t = Instant::now();
    let outcome = (|| {
        let mut s = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(Failure::Refused),
            Err(_) => return Err(Failure::Other),
        };
        let _ = s.set_read_timeout(Some(REQUEST_TIMEOUT));
        let sent = match method {
            Method::Get => {
                s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            }
            Method::Post => write!(
                s,
                "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{FORM}",
                FORM.len()
            ),
        };
        if sent.is_err() {
            return Err(Failure::Reset);
        }
        let mut buf = Vec::new();
        let read = s.read_to_end(&mut buf);
        match read {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Failure::Timeout);
            }
            Err(e) if buf.is_empty() && e.kind() == ErrorKind::ConnectionReset => {
                return Err(Failure::Reset);
            }
            Err(_) if !buf.is_empty() => return Err(Failure::Short),
            Err(_) => return Err(Failure::Other),
            Ok(_) if buf.is_empty() => return Err(Failure::Empty),
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Err(Failure::Short);
        };
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(Failure::Other);
        }
        let length = head.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower
                .strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        match length {
            Some(n) if body.len() < n => Err(Failure::Short),
            _ => Ok(()),
        }
    })();
    tally.worst = tally.worst.max(t.elapsed());
    match outcome {
        Ok(()) => tally.ok += 1,
        Err(Failure::Refused) => tally.refused += 1,
        Err(Failure::Reset) => tally.reset += 1,
        Err(Failure::Empty) => tally.empty += 1,
        Err(Failure::Short) => tally.short += 1,
        Err(Failure::Timeout) => tally.timeout += 1,
        Err(Failure::Other) => tally.other += 1,
    }
}

enum Failure {
    Refused,
    Reset,
    Empty,
    Short,
    Timeout,
    Other,
}

fn have(bin: &str, install: &str) -> Result<(), String> {
    if on_path(bin) {
        Ok(())
    } else {
        Err(format!("`{bin}` not found ({install})"))
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"))
}

/// Builds a Go program against Debian's packaged go-systemd and Gin (GOPATH mode: the module
/// proxy is not needed).
fn go(dir: &Path, source: &str) -> Result<String, String> {
    have("go", "apt-get install golang-go")?;
    let gocode = Path::new("/usr/share/gocode");
    if !gocode.join("src/github.com/coreos/go-systemd").is_dir() {
        return Err(
            "go-systemd not found (apt-get install golang-github-coreos-go-systemd-dev \
                    golang-github-gin-gonic-gin-dev)"
                .into(),
        );
    }
    write(dir, "main.go", source)?;
    let out = Command::new("go")
        .args(["build", "-o", "server", "main.go"])
        .current_dir(dir)
        .env("GO111MODULE", "off")
        .env("GOPATH", gocode)
        .output()
        .map_err(|e| format!("go build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    Ok("./server".into())
}

/// Builds a Rust server from crates.io (release; the first run downloads and compiles its
/// dependencies, a few minutes).
fn rust(dir: &Path, manifest: &str, source: &str, bin: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    write(dir, "Cargo.toml", manifest)?;
    write(dir, "src/main.rs", source)?;
    // A target dir that outlives the work dir, so that a second run does not compile again.
    let target: PathBuf = std::env::temp_dir().join(format!("hot-bench-target-{bin}"));
    let out = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(target.join("release").join(bin).display().to_string())
}

fn python(dir: &Path, server: &str, cmd: &str) -> Result<String, String> {
    have(server, &format!("pip install {server}"))?;
    write(dir, "wsgi_asgi.py", include_str!("servers/wsgi_asgi.py"))?;
    Ok(cmd.into())
}
