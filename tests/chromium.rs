//! Live reload in a real browser: headless Chromium, driven over WebDriver by chromedriver.
//! Skips loudly when Chromium or chromedriver is missing (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::web_project;
use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver with one headless Chromium session; both are killed on drop.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: Project,
}

impl Browser {
    fn start() -> Option<Browser> {
        if skip_without(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            &format!("{CHROMIUM} or {CHROMEDRIVER}"),
            "Debian: apt-get install chromium chromium-driver",
        ) {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = Project::new();
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        wait_until("chromedriver", || {
            browser
                .call("GET", "/status", None)
                .is_ok_and(|v| v["value"]["ready"] == true)
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1100,600",
                    format!("--user-data-dir={}", browser._profile.dir.display()),
                ],
            },
        }}});
        let created = browser
            .call("POST", "/session", Some(caps))
            .expect("new session");
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Some(browser)
    }

    /// One WebDriver command.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(DEADLINE))
            .map_err(|e| e.to_string())?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).map_err(|e| e.to_string())?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("no Content-Length")?;
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).map_err(|e| e.to_string())?;
        serde_json::from_slice(&body)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    fn session_call(&self, method: &str, what: &str, body: Value) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let answer = self
            .call(method, &path, Some(body))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        answer["value"].clone()
    }

    /// Clicks the element `css` selects, as a user would (WebDriver's element click).
    fn click(&self, css: &str) {
        let found = self.session_call(
            "POST",
            "element",
            json!({ "using": "css selector", "value": css }),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        self.session_call("POST", &format!("element/{id}/click"), json!({}));
    }

    /// A PNG of the viewport.
    fn screenshot(&self) -> Vec<u8> {
        let path = format!("/session/{}/screenshot", self.session);
        let answer = self.call("GET", &path, None).expect("screenshot");
        let b64 = answer["value"].as_str().expect("base64 PNG");
        base64_decode(b64)
    }

    fn open(&self, url: &str) {
        self.session_call("POST", "url", json!({ "url": url }));
    }

    fn run(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Runs `script` until its result satisfies `pred`; returns that result.
    fn run_until(&self, what: &str, script: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let value = self.run(script);
            if pred(&value) {
                return value;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; last: {value}"
            );
            thread::park_timeout(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        // SAFETY: kill(2) on the process group chromedriver leads (Chromium is in it).
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

const PAGE_STATE: &str = "var v = document.getElementById('version'); \
     var o = document.getElementById('__hot_failure'); \
     return { version: v ? v.textContent : null, marked: window.__marked === true, \
              overlay: o ? o.textContent : null };";

#[test]
fn a_real_browser_reloads_by_itself_and_shows_the_build_error() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let project = web_project(
        "grep -qx ok src/status || { echo 'templates/index.tmpl:4: unexpected \"}\" in operand' >&2; exit 1; }; cp src/version.txt tmp/version.txt",
        &[("APP_NOTIFY", "1"), ("APP_START_DELAY", "0.3")],
        "ready = \"notify\"",
        "[browser]\nreload = true",
    );
    project.write("src/status", "ok\n");
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("ready");

    browser.open(&format!("http://{addr}/"));
    let state = browser.run_until("the page", PAGE_STATE, |s| s["version"] == "version=1");
    assert_eq!(state["overlay"], Value::Null);
    // Marks this page load: a reload forgets it.
    browser.run("window.__marked = true; return true;");
    // Wait until the page's event stream is connected before editing.
    browser.run_until(
        "the live-reload script",
        "return window.__hot === true;",
        |v| v == &Value::Bool(true),
    );

    // A template edit: rebuild, and the page reloads itself with the new content.
    project.write("src/version.txt", "2\n");
    let state = browser.run_until("the reload", PAGE_STATE, |s| s["version"] == "version=2");
    assert_eq!(state["marked"], false, "the page was reloaded, not patched");

    // A broken build: the overlay shows the compiler output over the page.
    browser.run_until(
        "the live-reload script",
        "return window.__hot === true;",
        |v| v == &Value::Bool(true),
    );
    project.write("src/status", "broken\n");
    hot.wait("build_failed");
    let state = browser.run_until("the overlay", PAGE_STATE, |s| s["overlay"].is_string());
    assert!(
        state["overlay"]
            .as_str()
            .is_some_and(|o| o.contains("templates/index.tmpl:4")),
        "{state}"
    );
    assert_eq!(
        state["version"], "version=2",
        "the page is still there under it"
    );

    // The fix clears it, and the page reloads into the new version.
    project.write("src/version.txt", "3\n");
    project.write("src/status", "ok\n");
    let state = browser.run_until("the fixed page", PAGE_STATE, |s| {
        s["version"] == "version=3" && s["overlay"].is_null()
    });
    assert_eq!(state["marked"], false);
}

/// Standard base64 (the screenshot WebDriver sends).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().fold(0u32, |n, d| n << 6 | d) << (6 * (4 - chunk.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// What the failure view looks like from inside the page: which element is on top at several
/// points, its background, the colour of the compiler's "error", the links.
const VIEW_STATE: &str = "var v = document.getElementById('__hot_failure'); \
     if (!v) return null; \
     var w = window.innerWidth, h = window.innerHeight; \
     var points = [[5, 5], [w / 2, h / 2], [w - 5, h - 5], [60, 40], [200, 120], [5, h - 5]]; \
     var covered = points.every(function (p) { \
         var e = document.elementFromPoint(p[0], p[1]); return !!e && v.contains(e); }); \
     var red = Array.prototype.filter.call(v.querySelectorAll('pre span'), function (s) { \
         return s.textContent.indexOf('error') === 0; })[0]; \
     var link = v.querySelector('a[data-hot-open]'); \
     return { covered: covered, background: getComputedStyle(v).backgroundColor, \
              views: document.querySelectorAll('#__hot_failure').length, \
              red: red ? getComputedStyle(red).color : null, \
              link: link ? link.dataset.hotOpen : null, text: v.innerText };";

/// `rgb(r, g, b)` (no alpha: opaque) as numbers.
fn rgb(css: &Value) -> Option<(u32, u32, u32)> {
    let inner = css.as_str()?.strip_prefix("rgb(")?.strip_suffix(')')?;
    let n: Vec<u32> = inner
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    match n[..] {
        [r, g, b] => Some((r, g, b)),
        _ => None,
    }
}

/// A build that fails the way rustc does with colour: red "error", a location in the project.
const RUSTC_LIKE: &str = "grep -qx ok src/status || { printf '\\033[0m\\033[1m\\033[38;5;9merror[E0308]\\033[0m\\033[1m: mismatched types\\033[0m\\n \\033[1m\\033[38;5;12m--> \\033[0msrc/main.rs:3:5\\n' >&2; exit 1; }; cp src/version.txt tmp/version.txt";

fn check_view(browser: &Browser, project: &Project, what: &str) -> Value {
    let state = browser.run_until(what, VIEW_STATE, |s| !s.is_null());
    assert_eq!(
        state["covered"], true,
        "{what}: the page shows through: {state}"
    );
    assert_eq!(
        state["views"], 1,
        "{what}: one view, not two layers: {state}"
    );
    assert_eq!(
        rgb(&state["background"]),
        Some((24, 24, 27)),
        "{what}: an opaque background: {state}"
    );
    let (r, g, b) =
        rgb(&state["red"]).unwrap_or_else(|| panic!("{what}: no coloured error: {state}"));
    assert!(
        r > 200 && g < 140 && b < 140,
        "{what}: error is not red: {state}"
    );
    assert_eq!(state["link"], "src/main.rs:3:5", "{what}: {state}");
    let text = state["text"].as_str().unwrap_or_default();
    assert!(text.contains("reloads by itself"), "{what}: {text}");
    assert!(!project.path("opened.txt").exists());
    state
}

#[test]
fn the_failure_view_is_one_opaque_layer_with_colours_and_links_that_open_the_editor() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let project = web_project(
        RUSTC_LIKE,
        &[],
        "",
        "[browser]\nreload = true\neditor = \"sh editor.sh {file} {line} {col}\"",
    );
    project.write("src/status", "broken\n");
    project.write("src/main.rs", "fn main() {\n\n    let x: u32 = \"\";\n}\n");
    // The stand-in editor records what it was asked to open.
    project.write(
        "editor.sh",
        "echo \"$@\" > opened.tmp && mv opened.tmp opened.txt\n",
    );
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    let failed = hot.wait("build_failed");
    assert_eq!(failed["first_error"], "src/main.rs:3:5", "{failed}");

    // No app runs: hot's own 503 page is the view.
    browser.open(&format!("http://{addr}/"));
    check_view(&browser, &project, "the 503 page");
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let artefact = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/failure-view.png");
    std::fs::write(&artefact, &png).expect("write the screenshot");

    // A click on the location opens the editor there.
    browser.click("#__hot_failure a[data-hot-open]");
    wait_until("the editor to be started", || {
        project.path("opened.txt").exists()
    });
    let opened = project.read("opened.txt");
    let file = project
        .path("src/main.rs")
        .canonicalize()
        .expect("canonical");
    assert_eq!(opened.trim(), format!("{} 3 5", file.display()));
    std::fs::remove_file(project.path("opened.txt")).expect("rm");

    // Fixed: the app's page. Broken again while it runs: the same view over the app's page.
    project.write("src/status", "ok\n");
    browser.run_until("the app's page", PAGE_STATE, |s| {
        s["version"] == "version=1"
    });
    browser.run_until(
        "the live-reload script",
        "return window.__hot === true;",
        |v| v == &Value::Bool(true),
    );
    project.write("src/status", "broken\n");
    let state = check_view(&browser, &project, "the view over the app's page");
    let artefact =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/failure-view-over-app.png");
    std::fs::write(&artefact, browser.screenshot()).expect("write the screenshot");
    assert!(
        state["text"]
            .as_str()
            .is_some_and(|t| t.contains("src/status changed")),
        "the view names the change: {state}"
    );
}
