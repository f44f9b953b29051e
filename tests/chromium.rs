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
                    "--disable-component-update", "--disable-sync",
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
     var o = document.getElementById('__hot_overlay'); \
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
