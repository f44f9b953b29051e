//! Apps written the way their framework's README writes them: they bind their own, hard-coded
//! port and know nothing of fd 3. hot holds that port across restarts (Linux: it sees the
//! app's `bind()` through a seccomp filter), so clients making fresh connections without pause
//! are never refused while the app restarts; behind hot's proxy, no request fails at all.
//!
//! Under `--features portable` (the code paths of macOS and the BSDs) nothing can see an app's
//! binds: those runs check the one line that says so instead.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::support::*;

/// Whether this hot can see an app's binds (Linux, not the portable build).
fn holds() -> bool {
    !cfg!(feature = "portable")
}

/// Clients asking `addr` on fresh connections without pause, each answer sorted.
struct Clients {
    done: Arc<AtomicBool>,
    answered: Arc<Mutex<usize>>,
    /// The versions answered (`v3`), in the order first seen.
    versions: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<usize>>,
    failed: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    fn start(addr: &str, count: usize) -> Clients {
        let clients = Clients {
            done: Arc::default(),
            answered: Arc::default(),
            versions: Arc::default(),
            refused: Arc::default(),
            failed: Arc::default(),
            threads: Vec::new(),
        };
        let threads = (0..count)
            .map(|_| {
                let (done, answered, versions, refused, failed, addr) = (
                    clients.done.clone(),
                    clients.answered.clone(),
                    clients.versions.clone(),
                    clients.refused.clone(),
                    clients.failed.clone(),
                    addr.to_owned(),
                );
                thread::spawn(move || {
                    while !done.load(Ordering::SeqCst) {
                        match get(&addr) {
                            Reply::Ok(body) if body.starts_with("v") => {
                                *answered.lock().expect("lock") += 1;
                                let version = body.split(' ').next().unwrap_or("").to_owned();
                                let mut seen = versions.lock().expect("lock");
                                if !seen.contains(&version) {
                                    seen.push(version);
                                }
                                drop(seen);
                                // A few hundred connections a second find every restart; a
                                // thousand more would only use up the machine's ephemeral
                                // ports (TIME_WAIT) for the tests running beside this one.
                                thread::park_timeout(std::time::Duration::from_millis(10));
                            }
                            Reply::Refused => {
                                *refused.lock().expect("lock") += 1;
                                // Not a busy loop against a closed port.
                                thread::park_timeout(std::time::Duration::from_millis(5));
                            }
                            other => failed.lock().expect("lock").push(format!("{other:?}")),
                        }
                    }
                })
            })
            .collect();
        Clients { threads, ..clients }
    }

    fn have_seen(&self, version: &str) -> bool {
        self.versions
            .lock()
            .expect("lock")
            .iter()
            .any(|v| v == version)
    }

    /// Stops them: (answered, refused, other failures).
    fn stop(self) -> (usize, usize, Vec<String>) {
        self.done.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("client");
        }
        let answered = *self.answered.lock().expect("lock");
        let refused = *self.refused.lock().expect("lock");
        let failed = self.failed.lock().expect("lock").clone();
        (answered, refused, failed)
    }
}

/// How a test expects requests to fare across the saves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The app is killed at SIGTERM with requests in flight: those may fail, none is refused.
    NoneRefused,
    /// Behind hot's proxy, which sends an unanswered safe request again: nothing fails.
    NothingFails,
}

/// Starts hot in `project` (whose app answers `vN ...` on `port`, N from `source`'s
/// `VERSION` marker), saves a new version five times while clients keep asking, and checks
/// each save is served and how the requests fared.
fn five_saves(project: &Project, source: &str, port: u16, expect: Expect) {
    five_saves_held(project, source, port, expect, true);
}

/// `five_saves`, where `held` says whether hot holds the app's own binds (else it runs the app
/// on a port of its own behind the proxy: `[run] port_env`).
fn five_saves_held(project: &Project, source: &str, port: u16, expect: Expect, held: bool) {
    let mut hot = Hot::start(project, &[]);
    let addr = format!("127.0.0.1:{port}");
    if expect == Expect::NoneRefused {
        let held = hot.wait("port_held");
        assert_eq!(held["reused"], false, "{}", hot.transcript());
        assert!(
            held["addr"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!(":{port}"))),
            "{}",
            hot.transcript()
        );
    }
    get_until(&addr, |b| b.starts_with("v0 "));
    let clients = Clients::start(&addr, 2);
    let text = project.read(source);
    for v in 1..=5 {
        project.write(source, &text.replace("v0", &format!("v{v}")));
        // The clients themselves got the new version: they were asking across the restart.
        wait_until(&format!("the clients to be answered by v{v}"), || {
            clients.have_seen(&format!("v{v}"))
        });
    }
    let (answered, refused, failed) = clients.stop();
    let transcript = hot.transcript();
    assert_eq!(refused, 0, "{refused} connections refused\n{transcript}");
    if expect == Expect::NothingFails {
        assert!(
            failed.is_empty(),
            "{} of {} requests failed: {:?}\n{transcript}",
            failed.len(),
            failed.len() + answered,
            &failed[..failed.len().min(5)]
        );
    }
    assert!(answered >= 6, "only {answered} answers\n{transcript}");
    if held {
        // Every start bound the port again and got the held socket.
        wait_until("a port_held event for each of the six starts", || {
            hot.count("port_held") >= 6
        });
    } else {
        assert_eq!(hot.count("port_held"), 0, "{transcript}");
    }
}

fn go_project(port: u16) -> Project {
    let project = Project::new();
    project.write("go.mod", "module example.com/plain\n\ngo 1.19\n");
    // As net/http's documentation writes it: the port in the code, no fd 3, no signal handling.
    project.write(
        "main.go",
        &format!(
            "package main\n\nimport (\n\t\"fmt\"\n\t\"net/http\"\n\t\"os\"\n)\n\n\
             func main() {{\n\thttp.HandleFunc(\"/\", func(w http.ResponseWriter, r *http.Request) {{\n\
             \t\tfmt.Fprintf(w, \"v0 %d\\n\", os.Getpid())\n\t}})\n\
             \tpanic(http.ListenAndServe(\":{port}\", nil))\n}}\n"
        ),
    );
    project
}

const GO_CONFIG: &str = "[watch]\ninclude_ext = [\"go\"]\n[build]\ncmd = \"go build -o ./tmp/app .\"\n\
                         [run]\ncmd = \"./tmp/app\"\n";

#[test]
fn go_listen_and_serve_on_a_hard_coded_port_is_never_refused() {
    if !holds() || !have("go", "apt-get install golang-go") {
        return;
    }
    let port = free_port();
    let project = go_project(port);
    project.write(".hot.toml", GO_CONFIG);
    five_saves(&project, "main.go", port, Expect::NoneRefused);
}

#[test]
fn go_listen_and_serve_behind_the_proxy_fails_nothing() {
    if !holds() || !have("go", "apt-get install golang-go") {
        return;
    }
    let port = free_port();
    let project = go_project(port);
    // What `hot init` writes for a Go server: the app's port, and the proxy in front of it.
    project.write(
        ".hot.toml",
        &format!("listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n{GO_CONFIG}"),
    );
    five_saves(&project, "main.go", port, Expect::NothingFails);
}

#[test]
fn node_listening_on_its_own_port_fails_nothing_behind_the_proxy() {
    if !holds() || !have("node", "apt-get install nodejs") {
        return;
    }
    let port = free_port();
    let project = Project::new();
    // Node's own "getting started" server: no fd 3, no SIGTERM handler.
    project.write(
        "server.js",
        &format!(
            "const http = require('http');\n\
             const server = http.createServer((req, res) => {{\n\
             \x20 res.end('v0 ' + process.pid + '\\n');\n}});\n\
             server.listen(process.env.PORT || {port}, () => console.log('listening'));\n"
        ),
    );
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n\
             [watch]\ninclude_ext = [\"js\"]\n[run]\ncmd = \"node server.js\"\n"
        ),
    );
    five_saves(&project, "server.js", port, Expect::NothingFails);
}

fn python_project(port: u16) -> Project {
    let project = Project::new();
    project.write(
        "app.py",
        &format!(
            "import http.server, os\n\n\
             class Handler(http.server.BaseHTTPRequestHandler):\n\
             \x20   def log_message(self, *args):\n\
             \x20       pass\n\
             \x20   def do_GET(self):\n\
             \x20       body = ('v0 %d\\n' % os.getpid()).encode()\n\
             \x20       self.send_response(200)\n\
             \x20       self.send_header('Content-Length', str(len(body)))\n\
             \x20       self.end_headers()\n\
             \x20       self.wfile.write(body)\n\n\
             http.server.HTTPServer(('127.0.0.1', {port}), Handler).serve_forever()\n"
        ),
    );
    project
}

#[test]
fn python_http_server_on_its_own_port_is_never_refused_and_fails_nothing_behind_the_proxy() {
    if !holds() {
        return;
    }
    let port = free_port();
    let project = python_project(port);
    project.write(
        ".hot.toml",
        "[watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\n",
    );
    five_saves(&project, "app.py", port, Expect::NoneRefused);

    let port = free_port();
    let project = python_project(port);
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n\
             [watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\n"
        ),
    );
    five_saves(&project, "app.py", port, Expect::NothingFails);
}

#[test]
fn the_rust_books_tcp_listener_on_a_hard_coded_port_is_never_refused() {
    if !holds() {
        return;
    }
    let port = free_port();
    let project = Project::new();
    // The Rust book's chapter 20 server, answering one request per connection.
    project.write(
        "src/main.rs",
        &format!(
            "use std::io::{{Read, Write}};\nuse std::net::TcpListener;\n\n\
             fn main() {{\n\
             \x20   let listener = TcpListener::bind(\"127.0.0.1:{port}\").unwrap();\n\
             \x20   for stream in listener.incoming() {{\n\
             \x20       let mut stream = stream.unwrap();\n\
             \x20       let mut buf = [0u8; 1024];\n\
             \x20       let _ = stream.read(&mut buf);\n\
             \x20       let body = format!(\"v0 {{}}\\n\", std::process::id());\n\
             \x20       let _ = write!(stream, \"HTTP/1.1 200 OK\\r\\nContent-Length: {{}}\\r\\nConnection: close\\r\\n\\r\\n{{}}\", body.len(), body);\n\
             \x20   }}\n}}\n"
        ),
    );
    project.write(
        ".hot.toml",
        "[watch]\ninclude_ext = [\"rs\"]\n[build]\ncmd = \"rustc -o tmp/app src/main.rs\"\n\
         [run]\ncmd = \"./tmp/app\"\n",
    );
    five_saves(&project, "src/main.rs", port, Expect::NoneRefused);
}

/// A port some other process listens on: the app's bind fails, and hot names the port and the
/// process, rather than an app that "exited; waiting for a change".
#[test]
fn a_port_in_use_by_another_process_is_named_with_its_holder() {
    if !holds() {
        return;
    }
    let squatter = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = squatter.local_addr().expect("addr").port();
    let project = python_project(port);
    project.write(
        ".hot.toml",
        "[watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    let in_use = hot.wait("port_in_use");
    assert_eq!(in_use["addr"], format!("127.0.0.1:{port}"));
    let holder = in_use["holder"].as_str().unwrap_or_default();
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "the holder is this test: {holder}\n{}",
        hot.transcript()
    );
    hot.wait("exit");
}

/// A stopping app that shuts its listener down (`shutdown(SHUT_RDWR)` stops a listening
/// socket for every holder) must not refuse the connections meant for the next app.
#[test]
fn a_stopping_app_that_shuts_its_listener_down_refuses_nothing() {
    if !holds() {
        return;
    }
    let port = free_port();
    let project = Project::new();
    let marker = project.path("shut-down");
    project.write(
        "app.py",
        &format!(
            "import http.server, os, signal, socket, sys, threading, time\n\n\
             class Handler(http.server.BaseHTTPRequestHandler):\n\
             \x20   def log_message(self, *args):\n\
             \x20       pass\n\
             \x20   def do_GET(self):\n\
             \x20       body = ('v0 %d\\n' % os.getpid()).encode()\n\
             \x20       self.send_response(200)\n\
             \x20       self.send_header('Content-Length', str(len(body)))\n\
             \x20       self.end_headers()\n\
             \x20       self.wfile.write(body)\n\n\
             server = http.server.HTTPServer(('127.0.0.1', {port}), Handler)\n\
             def stop(*_):\n\
             \x20   server.socket.shutdown(socket.SHUT_RDWR)\n\
             \x20   open({marker:?}, 'w').write(str(os.getpid()))\n\
             \x20   time.sleep(1)\n\
             \x20   os._exit(0)\n\
             signal.signal(signal.SIGTERM, stop)\n\
             server.serve_forever()\n"
        ),
    );
    project.write(
        ".hot.toml",
        "[watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\n",
    );
    let mut hot = Hot::start(&project, &[]);
    let addr = format!("127.0.0.1:{port}");
    get_until(&addr, |b| b.starts_with("v0 "));
    let text = project.read("app.py");
    project.write("app.py", &text.replace("v0", "v1"));
    wait_until("the stopping app shut its listener down", || {
        marker.exists()
    });
    // Between the old app's shutdown() and the new app: the connection waits, then v1 answers.
    let stream = TcpStream::connect(&addr).expect("a connection after shutdown() is not refused");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    match http_exchange(stream) {
        Reply::Ok(body) => assert!(body.starts_with("v1 "), "{body}\n{}", hot.transcript()),
        other => panic!("{other:?}\n{}", hot.transcript()),
    }
    hot.wait("port_held");
}

/// `node --inspect=PORT`: the debugger's port is held like the app's, so an IDE attached to it
/// reconnects to the next app instead of being refused.
#[test]
fn a_debuggers_port_is_held_too() {
    if !holds() || !have("node", "apt-get install nodejs") {
        return;
    }
    let (port, inspect) = (free_port(), free_port());
    let project = Project::new();
    project.write(
        "server.js",
        &format!("require('http').createServer((req, res) => res.end('v0\\n')).listen({port});\n"),
    );
    project.write(
        ".hot.toml",
        &format!(
            "[watch]\ninclude_ext = [\"js\"]\n\
             [run]\ncmd = \"node --inspect=127.0.0.1:{inspect} server.js\"\n"
        ),
    );
    let mut hot = Hot::start(&project, &[]);
    let inspector = format!("127.0.0.1:{inspect}");
    hot.wait_for("port_held", |e| e["addr"] == inspector.as_str());
    get_until(&format!("127.0.0.1:{port}"), |b| b.starts_with("v0"));
    project.write("server.js", &project.read("server.js").replace("v0", "v1"));
    hot.wait_for("port_held", |e| {
        e["addr"] == inspector.as_str() && e["reused"] == true
    });
    get_until(&format!("127.0.0.1:{port}"), |b| b.starts_with("v1"));
    // The inspector of the new app answers on the held port.
    let stream = TcpStream::connect(&inspector).expect("the inspector's port is not refused");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut stream = stream;
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.contains("200"), "{answer}\n{}", hot.transcript());
}

/// `[run] hold_ports = false`: the app binds as if hot were not there; hot holds nothing.
/// The portable build (macOS, the BSDs) holds nothing either, and says so once.
#[test]
fn without_holding_the_app_binds_its_port_itself() {
    let port = free_port();
    let project = python_project(port);
    let off = if holds() { "hold_ports = false\n" } else { "" };
    project.write(
        ".hot.toml",
        &format!("[watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\n{off}"),
    );
    let hot = Hot::start(&project, &[]);
    let addr = format!("127.0.0.1:{port}");
    let served = |version: &str| get_until_or(&addr, DEADLINE, |b| b.starts_with(version));
    assert!(served("v0 "), "{}", hot.transcript());
    let text = project.read("app.py");
    project.write("app.py", &text.replace("v0", "v1"));
    assert!(served("v1 "), "{}", hot.transcript());
    assert_eq!(hot.count("port_held"), 0, "{}", hot.transcript());
    let said = noted(&hot, "not held across restarts");
    assert_eq!(said, !holds(), "{}", hot.transcript());
}

/// `hot init && hot --once` on Node's getting-started server, unchanged: the config keeps the
/// app's own port (read from its code), and the app answers there through hot.
#[test]
fn init_keeps_the_apps_own_port_and_once_passes_with_the_app_unchanged() {
    if !holds() || !have("node", "apt-get install nodejs") {
        return;
    }
    let port = free_port();
    let project = Project::new();
    project.write(
        "package.json",
        "{\"name\": \"plain\", \"main\": \"server.js\"}\n",
    );
    project.write(
        "server.js",
        &format!(
            "const http = require('http');\n\
             http.createServer((req, res) => res.end('v0\\n')).listen({port});\n"
        ),
    );
    let (status, output) = run_to_exit(&project.dir, &["init"]);
    assert!(status.success(), "{output}");
    let config = project.read(".hot.toml");
    assert!(
        config.contains(&format!("listen = [\"127.0.0.1:{port}\"]")),
        "{config}"
    );
    assert!(output.contains("Nothing to change in the app"), "{output}");
    let (status, output) = run_to_exit(&project.dir, &["--once"]);
    assert!(status.success(), "{output}");
}

/// Behind the proxy without holding (`hold_ports = false`, or an OS that cannot): an app that
/// binds the proxy's port itself cannot work, and hot says so at start, naming the port.
#[test]
fn without_holding_an_app_behind_the_proxy_is_told_what_will_fail() {
    let port = free_port();
    let project = python_project(port);
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n\
             [watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py\"\nhold_ports = false\n"
        ),
    );
    let mut hot = Hot::start(&project, &[]);
    let note = hot.wait_for("note", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("address already in use"))
    });
    let message = note["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")),
        "{message}\n{}",
        hot.transcript()
    );
}

/// `listen` names one port and the app serves on another: hot says so within seconds, and a
/// client waiting on hot's port gets a 503 that explains it instead of waiting for ever.
#[test]
fn a_listen_port_the_app_does_not_serve_is_reported_and_answered_503() {
    if !holds() {
        return;
    }
    for proxy in [false, true] {
        let (public, own) = (free_port(), free_port());
        let project = python_project(own);
        let front = if proxy {
            "[proxy]\nenabled = true\n"
        } else {
            ""
        };
        project.write(
            ".hot.toml",
            &format!(
                "listen = [\"127.0.0.1:{public}\"]\n{front}[watch]\ninclude_ext = [\"py\"]\n\
                 [run]\ncmd = \"python3 app.py\"\n"
            ),
        );
        let mut hot = Hot::start(&project, &[]);
        hot.wait("port_held");
        // A client that came too early: it waits, then gets the explanation.
        let waiting = std::thread::spawn(move || get(&format!("127.0.0.1:{public}")));
        let unserved = hot.wait("port_unserved");
        assert_eq!(unserved["addr"], format!("127.0.0.1:{public}"));
        assert_eq!(
            unserved["listens"],
            serde_json::json!([format!("127.0.0.1:{own}")])
        );
        let answer = waiting.join().expect("client");
        match answer {
            Reply::Other(text) => {
                assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                assert!(text.contains(&format!("127.0.0.1:{own}")), "{text}");
            }
            other => panic!("proxy {proxy}: {other:?}\n{}", hot.transcript()),
        }
        // The app itself still answers on its own port.
        get_until(&format!("127.0.0.1:{own}"), |b| b.starts_with("v0 "));
    }
}

/// Where hot cannot hold the app's binds (`hold_ports = false` here; macOS, the BSDs and the
/// portable build always), an app that reads its port from `PORT` runs on a private port behind
/// hot's proxy: it answers on the `listen` port, and nothing fails across saves.
#[test]
fn without_holding_an_app_that_reads_port_runs_behind_the_proxy_on_a_private_port() {
    if !have("node", "apt-get install nodejs") {
        return;
    }
    let port = free_port();
    let project = Project::new();
    project.write(
        "server.js",
        &format!(
            "const http = require('http');\n\
             const port = process.env.PORT || {port};\n\
             http.createServer((req, res) => res.end('v0 ' + port + '\\n')).listen(port);\n"
        ),
    );
    project.write(
        ".hot.toml",
        &format!(
            "listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n\
             [watch]\ninclude_ext = [\"js\"]\n[run]\ncmd = \"node server.js\"\n\
             port_env = \"PORT\"\nhold_ports = false\n"
        ),
    );
    let body = {
        let hot = Hot::start(&project, &[]);
        let body = get_until(&format!("127.0.0.1:{port}"), |b| b.starts_with("v0 "));
        assert!(noted(&hot, "it gets PORT="), "{}", hot.transcript());
        body
    };
    let private: u16 = body
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("the app says its port");
    assert_ne!(private, port, "the app runs on a private port: {body}");
    five_saves_held(&project, "server.js", port, Expect::NothingFails, false);
}

/// `$PORT` in `cmd`'s arguments (`flask run --port $PORT`, `runserver 127.0.0.1:$PORT`) is the
/// port hot gives the app: with holding, the `listen` port itself; without, a private one.
#[test]
fn dollar_port_in_the_command_is_the_port_hot_gives() {
    for hold in [true, false] {
        if hold && !holds() {
            continue;
        }
        let port = free_port();
        let project = Project::new();
        project.write(
            "app.py",
            "import http.server, os, sys\n\n\
             port = int(sys.argv[1])\n\
             class Handler(http.server.BaseHTTPRequestHandler):\n\
             \x20   def log_message(self, *args):\n\
             \x20       pass\n\
             \x20   def do_GET(self):\n\
             \x20       body = ('v0 %d %s\\n' % (port, os.environ.get('PORT'))).encode()\n\
             \x20       self.send_response(200)\n\
             \x20       self.send_header('Content-Length', str(len(body)))\n\
             \x20       self.end_headers()\n\
             \x20       self.wfile.write(body)\n\n\
             http.server.HTTPServer(('127.0.0.1', port), Handler).serve_forever()\n",
        );
        project.write(
            ".hot.toml",
            &format!(
                "listen = [\"127.0.0.1:{port}\"]\n[proxy]\nenabled = true\n\
                 [watch]\ninclude_ext = [\"py\"]\n[run]\ncmd = \"python3 app.py ${{PORT}}\"\n\
                 port_env = \"PORT\"\nhold_ports = {hold}\n"
            ),
        );
        let hot = Hot::start(&project, &[]);
        let body = get_until(&format!("127.0.0.1:{port}"), |b| b.starts_with("v0 "));
        let words: Vec<&str> = body.split_whitespace().collect();
        assert_eq!(
            words.get(1),
            words.get(2),
            "argument and PORT agree: {body}"
        );
        let given: u16 = words[1].parse().expect("a port");
        assert_eq!(
            given == port,
            hold,
            "hold {hold}: {body}\n{}",
            hot.transcript()
        );
    }
}
