//! The browser side's figures: what hot's proxy costs against talking to the app directly, and
//! the slowest request while a slow-starting app is swapped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    BUILD, Running, Setup, cpu_seconds, finish, free_port, get, latency_figures, ms, on_path,
    percentile, ratio, round, version_project,
};

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
    finish(&root, "bench-browser.json", &results, &work);
}

/// How a load's clients connect.
#[derive(Clone, Copy)]
pub(super) enum Clients {
    /// A connection per request (`Connection: close`), as a script or a load test without
    /// keep-alive does.
    Fresh,
    /// One kept-alive connection per client, as browsers and most load tools do.
    KeepAlive,
}

/// Requests/s and latency with `CLIENTS` clients, straight to the app on hot's socket and
/// through hot's proxy (`[proxy] enabled = true`), for both kinds of client, side by side in
/// one run; and the ratios the proxy must meet (through / direct).
pub fn proxy_overhead(
    work: &Path,
    hot_bin: &Path,
    app: &Path,
    duration: Duration,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut rps = std::collections::BTreeMap::new();
    let mut p50 = std::collections::BTreeMap::new();
    for (label, extra) in [("direct", ""), ("proxy", "[proxy]\nenabled = true\n")] {
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
        for (kind, clients) in [("fresh", Clients::Fresh), ("keepalive", Clients::KeepAlive)] {
            // A short warm-up: the proxy's pool and the app's threads.
            let _ = load(port, Duration::from_millis(300), clients);
            let cpu_before = cpu_seconds(running.pid());
            let (latencies, failed) = load(port, duration, clients);
            let hot_cpu = cpu_seconds(running.pid()) - cpu_before;
            let key = format!("{label}_{kind}");
            if label == "proxy" && !latencies.is_empty() {
                // hot's own CPU per request: what the proxy costs, whatever the machine's load.
                out.push((
                    format!("{key}_hot_cpu_us_per_request"),
                    json!(round(hot_cpu * 1e6 / latencies.len() as f64)),
                ));
            }
            let r = latencies.len() as f64 / duration.as_secs_f64();
            let median = ms(percentile(latencies.clone(), 0.5));
            rps.insert(key.clone(), r);
            p50.insert(key.clone(), median);
            out.push((format!("{key}_requests_per_s"), json!(r.round())));
            out.push((format!("{key}_p50_ms"), json!(round(median))));
            out.push((
                format!("{key}_p99_ms"),
                json!(round(ms(percentile(latencies, 0.99)))),
            ));
            out.push((format!("{key}_failed"), json!(failed)));
        }
        running.stop();
    }
    // The same loads through well-known proxies in front of the same app, where installed:
    // what putting any proxy in the path costs on this machine.
    for reference in &REFERENCES {
        let Some(proxied) = Reference::start(reference, work, app) else {
            out.push((
                format!("{}_unavailable", reference.name),
                json!(format!(
                    "`{}` not found ({})",
                    reference.name, reference.install
                )),
            ));
            continue;
        };
        for (kind, clients) in [("fresh", Clients::Fresh), ("keepalive", Clients::KeepAlive)] {
            let _ = load(proxied.port, Duration::from_millis(300), clients);
            let (latencies, failed) = load(proxied.port, duration, clients);
            let key = format!("{}_{kind}", reference.name);
            let r = latencies.len() as f64 / duration.as_secs_f64();
            rps.insert(key.clone(), r);
            p50.insert(key.clone(), ms(percentile(latencies.clone(), 0.5)));
            out.push((format!("{key}_requests_per_s"), json!(r.round())));
            out.push((
                format!("{key}_p50_ms"),
                json!(round(ms(percentile(latencies, 0.5)))),
            ));
            out.push((format!("{key}_failed"), json!(failed)));
        }
    }
    for through in std::iter::once("proxy").chain(REFERENCES.iter().map(|r| r.name)) {
        for kind in ["fresh", "keepalive"] {
            let (Some(direct), Some(proxy)) = (
                rps.get(&format!("direct_{kind}")),
                rps.get(&format!("{through}_{kind}")),
            ) else {
                continue;
            };
            if *direct > 0.0 {
                out.push((
                    format!("{through}_{kind}_throughput_ratio"),
                    json!(ratio(*proxy, *direct)),
                ));
            }
            let added = p50
                .get(&format!("{through}_{kind}"))
                .copied()
                .unwrap_or(0.0)
                - p50.get(&format!("direct_{kind}")).copied().unwrap_or(0.0);
            out.push((
                format!("{through}_{kind}_added_p50_ms"),
                json!(round(added)),
            ));
        }
    }
    out
}

/// A reverse proxy to compare hot's with: one worker (as hot's one proxy thread) and
/// kept-alive connections to the app.
struct ReferenceProxy {
    name: &'static str,
    install: &'static str,
    /// The config for listening on the first port and proxying to the second.
    config: fn(&Path, u16, u16) -> String,
    /// The command line, given the config file.
    command: fn(&Path) -> Command,
}

const REFERENCES: [ReferenceProxy; 2] = [
    ReferenceProxy {
        name: "nginx",
        install: "apt-get install nginx",
        config: |dir, port, app_port| {
            let d = dir.display();
            format!(
                "worker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\n\
                 error_log {d}/nginx.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n\
                 access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
                 upstream app {{ server 127.0.0.1:{app_port}; keepalive 64; }}\n\
                 server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; \
                 proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n"
            )
        },
        command: |config| {
            let mut c = Command::new("nginx");
            c.arg("-c").arg(config);
            c
        },
    },
    ReferenceProxy {
        name: "haproxy",
        install: "apt-get install haproxy",
        config: |_, port, app_port| {
            format!(
                "global\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n\
                 timeout client 30s\n  timeout server 30s\n  http-reuse always\n\
                 frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n\
                 backend b\n  server app 127.0.0.1:{app_port}\n"
            )
        },
        command: |config| {
            let mut c = Command::new("haproxy");
            c.arg("-db").arg("-f").arg(config);
            c
        },
    },
];

/// A reference proxy and the app behind it, both killed when dropped.
struct Reference {
    port: u16,
    children: Vec<Child>,
}

impl Reference {
    /// `None` when the proxy is not installed.
    fn start(reference: &ReferenceProxy, work: &Path, app: &Path) -> Option<Reference> {
        if !on_path(reference.name) {
            return None;
        }
        let dir = version_project(work, reference.name);
        std::fs::write(dir.join("tmp/version.txt"), "0").expect("write");
        let (port, app_port) = (free_port(), free_port());
        let mut started = Reference {
            port,
            children: Vec::new(),
        };
        started.children.push(
            Command::new(app)
                .current_dir(&dir)
                .env("APP_PORT", app_port.to_string())
                .spawn()
                .expect("start the bench app"),
        );
        let config = dir.join(format!("{}.conf", reference.name));
        std::fs::write(&config, (reference.config)(&dir, port, app_port)).expect("config");
        started.children.push(
            (reference.command)(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the reference proxy"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(port).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not answer on {port} (see {})",
                reference.name,
                dir.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(started)
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(super) fn load(port: u16, duration: Duration, kind: Clients) -> (Vec<Duration>, usize) {
    let until = Instant::now() + duration;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                let mut kept: Option<KeptAlive> = None;
                while Instant::now() < until {
                    let t = Instant::now();
                    let answered = match kind {
                        Clients::Fresh => get(port).is_ok(),
                        Clients::KeepAlive => {
                            let conn = match kept.take() {
                                Some(c) => Some(c),
                                None => KeptAlive::open(port),
                            };
                            match conn.and_then(KeptAlive::get) {
                                Some(c) => {
                                    kept = Some(c);
                                    true
                                }
                                None => false,
                            }
                        }
                    };
                    if answered {
                        latencies.push(t.elapsed());
                    } else {
                        failed += 1;
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

/// A client's kept-alive connection: a request, then an answer of `Content-Length` bytes.
struct KeptAlive {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl KeptAlive {
    fn open(port: u16) -> Option<KeptAlive> {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        Some(KeptAlive {
            reader: std::io::BufReader::new(stream),
        })
    }

    /// One GET; the connection back if it can carry the next one.
    fn get(mut self) -> Option<KeptAlive> {
        use std::io::{BufRead, Read, Write};
        self.reader
            .get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
            .ok()?;
        let mut line = String::new();
        self.reader.read_line(&mut line).ok()?;
        if !line.starts_with("HTTP/1.1 200") {
            return None;
        }
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let lower = line.trim().to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().ok()?;
            }
            if lower == "connection: close" {
                close = true;
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).ok()?;
        if close {
            // Answered, but the server closed: the next request needs a new connection.
            return KeptAlive::reopen(&self);
        }
        Some(self)
    }

    fn reopen(old: &KeptAlive) -> Option<KeptAlive> {
        let port = old.reader.get_ref().peer_addr().ok()?.port();
        KeptAlive::open(port)
    }
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
        out.extend(latency_figures(label, &latencies, failed));
    }
    out
}
