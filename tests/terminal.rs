//! hot on a terminal of its own (a pseudo-terminal it has as its controlling terminal, as in a
//! terminal emulator): the live status line of a session of several apps.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use nix::pty::{Winsize, openpty};

use crate::support::*;

/// The spinner's frames: a status line starts with one.
const FRAMES: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/// hot (text mode) on a pseudo-terminal, and everything it wrote there.
struct Tty {
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Tty {
    fn start(project: &Project, columns: u16) -> Tty {
        let size = Winsize {
            ws_row: 40,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
        cmd.current_dir(project.path(""))
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        clean_env(&mut cmd);
        // SAFETY: setsid, ioctl and prctl are async-signal-safe system calls on this child
        // only. They make the pty (stdin) hot's controlling terminal, so that /dev/tty is this
        // terminal and not the test runner's; and a killed test run takes hot with it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn hot");
        let master = File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once hot and everything holding the terminal are gone.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Tty {
            child,
            master,
            output,
        }
    }

    /// Everything written so far, escape sequences removed except that every redraw of the
    /// status line (`\r` + erase line) starts a new line: one line of text per line or frame.
    fn lines(&self) -> Vec<String> {
        let raw = self.output.lock().expect("lock").clone();
        let text = String::from_utf8_lossy(&raw).replace("\r\x1b[2K", "\n");
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => {
                    // CSI: ESC [ parameters final-byte.
                    if chars.next_if_eq(&'[').is_some() {
                        while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
                    }
                }
                '\r' => {}
                c => out.push(c),
            }
        }
        out.lines().map(str::to_owned).collect()
    }

    /// The index of the first line from `from` on that `pred` accepts, waiting for it.
    fn wait_line(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> usize {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if let Some(i) = lines.iter().skip(from).position(|l| pred(l)) {
                return from + i;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no line: {what}\n{}",
                lines.join("\n")
            );
            thread::park_timeout(std::time::Duration::from_millis(20));
        }
    }

    fn press(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
    }

    fn resize(&self, columns: u16) {
        let size = Winsize {
            ws_row: 40,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a pointer that lives across the call.
        let set =
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &raw const size) };
        assert_eq!(set, 0, "resize the terminal");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "hot did not exit");
            thread::park_timeout(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_frame(line: &str) -> bool {
    line.chars().next().is_some_and(|c| FRAMES.contains(c))
}

/// Two apps build at once: the status line shows both, and when one build ends it goes on
/// showing the other's (it used to vanish with the first build to end). On a narrow terminal
/// the line is cut to its width instead of wrapping (a wrapped line cannot be erased). `1`
/// rebuilds the first app alone; `q` quits cleanly.
#[test]
fn the_status_line_shows_every_build_in_progress_until_its_own_end() {
    let project = Project::new();
    // Each build waits for a token file the test hands it, and uses it up.
    let build = |app: &str| {
        format!(
            "while [ ! -e tmp/go-{app} ]; do sleep 0.02; done; rm tmp/go-{app}; echo built {app}"
        )
    };
    project.write("src/api/a.txt", "1");
    project.write("src/web/w.txt", "1");
    project.write("tmp/.keep", "");
    project.write(
        ".hot.toml",
        &format!(
            "[run]\ncmd = \"sleep 1000\"\nstop_timeout_ms = 5000\n\
             [apps.api]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"src/api\"]\nbuild.cmd = {:?}\n\
             [apps.web]\nlisten = [\"127.0.0.1:0\"]\nwatch.paths = [\"src/web\"]\nbuild.cmd = {:?}\n",
            build("api"),
            build("web")
        ),
    );
    let mut tty = Tty::start(&project, 200);
    let both = tty.wait_line(0, "a status line with both builds", |l| {
        is_frame(l) && l.contains("api: building") && l.contains("web: building")
    });
    project.write("tmp/go-api", "");
    let api_up = tty.wait_line(both, "api started", |l| {
        l.starts_with("hot: api") && l.contains("app started")
    });
    // After api's build ended, the line is web's alone, and still drawn.
    let after = tty.wait_line(api_up, "web's status after api's build ended", is_frame);
    let lines = tty.lines();
    assert!(
        lines[after].contains("web: building") && !lines[after].contains("api:"),
        "{}",
        lines[after]
    );
    project.write("tmp/go-web", "");
    let web_up = tty.wait_line(after, "web started", |l| {
        l.starts_with("hot: web") && l.contains("app started")
    });

    // A narrow terminal: the line is cut to fit.
    tty.resize(30);
    project.write("src/web/w.txt", "2");
    let narrow = tty.wait_line(web_up, "web's status on a narrow terminal", is_frame);
    project.write("tmp/go-web", "");
    let restarted = tty.wait_line(narrow, "web restarted", |l| {
        l.starts_with("hot: web") && l.contains("restarted")
    });
    for line in &tty.lines()[narrow..restarted] {
        if is_frame(line) {
            assert!(
                line.chars().count() <= 29,
                "a status line wider than the terminal: {line:?}"
            );
        }
    }

    // `1` rebuilds the first app alone (numbered in the file's order, as the hint says).
    assert!(
        tty.lines()
            .iter()
            .any(|l| l == "hot: keys: r rebuild all · 1 api · 2 web · c clear · q quit"),
        "{}",
        tty.lines().join("\n")
    );
    tty.resize(200);
    tty.press("1");
    let asked = tty.wait_line(restarted, "api's rebuild", |l| {
        is_frame(l) && l.contains("api: building · rebuild requested")
    });
    project.write("tmp/go-api", "");
    let api_again = tty.wait_line(asked, "api restarted", |l| {
        l.starts_with("hot: api") && l.contains("restarted")
    });
    for line in &tty.lines()[restarted + 1..api_again] {
        assert!(!line.contains("web"), "web rebuilt too: {line:?}");
    }

    // A number no app has: said so, nothing rebuilt.
    tty.press("7");
    tty.wait_line(api_again, "the answer to key 7", |l| {
        l.contains("key 7: no such app; 1–2 rebuild the apps")
    });

    tty.press("q");
    let status = tty.wait_exit();
    assert!(status.success(), "{status:?}\n{}", tty.lines().join("\n"));
}
