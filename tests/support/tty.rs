//! hot on a pseudo-terminal it has as its controlling terminal, as in a terminal emulator: what
//! it wrote there, keys typed at it, resizes, and the terminal's settings as `stty` reports them.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};

use super::*;

/// Where hot's own output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Text mode, on the terminal like everything else.
    OnTheTerminal,
    /// `--json` events on a pipe (stderr), which `hot` waits on; stdin and stdout stay the
    /// terminal.
    Piped,
}

pub struct Tty {
    /// hot itself; under `Events::Piped` its events.
    pub hot: Hot,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// The terminal's slave side, kept open so `stty` can read its settings.
    slave: OwnedFd,
    /// Its settings before hot started (`stty -g`).
    pub before: String,
}

impl Tty {
    /// hot in text mode on a terminal `columns` wide.
    pub fn start(project: &Project, columns: u16) -> Tty {
        Tty::start_with(project, columns, &[], Events::OnTheTerminal)
    }

    pub fn start_with(project: &Project, columns: u16, args: &[&str], events: Events) -> Tty {
        let size = Winsize {
            ws_row: 40,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let before = stty(&slave);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hot"));
        cmd.current_dir(project.path(""))
            .args(args)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")));
        match events {
            Events::OnTheTerminal => cmd.stderr(Stdio::from(slave.try_clone().expect("dup"))),
            Events::Piped => cmd.arg("--json").stderr(Stdio::piped()),
        };
        clean_env(&mut cmd);
        // SAFETY: setsid, ioctl, close_range and prctl are async-signal-safe system calls on
        // this child only. They make the pty (stdin) hot's controlling terminal, so that
        // /dev/tty is this terminal and not the test runner's; hot starts with only its stdio
        // open; and a killed test run takes hot with it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close_range(3, libc::c_uint::MAX, 0);
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
            // Ends with EIO once everything holding the terminal is gone (the test's own copy
            // of the slave included).
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Tty {
            hot: Hot::attach(child, Transcript::default()),
            master,
            output,
            slave,
            before,
        }
    }

    /// Everything written to the terminal so far, as it came.
    pub fn raw(&self) -> Vec<u8> {
        self.output.lock().expect("lock").clone()
    }

    /// Everything written so far, escape sequences removed except that every redraw of the
    /// status line (`\r` + erase line) starts a new line: one line of text per line or frame.
    pub fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.raw()).replace("\r\x1b[2K", "\n");
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
    pub fn wait_line(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> usize {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if let Some(i) = lines.iter().skip(from).position(|l| pred(l)) {
                return from + i;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no line: {what}\n{}\n--- hot ---\n{}",
                lines.join("\n"),
                self.hot.transcript()
            );
            thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// Waits until the terminal shows `text` after byte `from` of its raw output; returns
    /// where it ends.
    pub fn wait_text(&self, from: usize, text: &str) -> usize {
        let start = Instant::now();
        loop {
            let raw = self.raw();
            if let Some(at) = raw
                .get(from..)
                .and_then(|tail| tail.windows(text.len()).position(|w| w == text.as_bytes()))
            {
                return from + at + text.len();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the terminal never showed {text:?}; it shows:\n{}\n--- hot ---\n{}",
                String::from_utf8_lossy(&raw[from.min(raw.len())..]),
                self.hot.transcript()
            );
            thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// Types `keys` at the terminal.
    pub fn press(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
    }

    pub fn resize(&self, columns: u16) {
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

    /// The terminal's settings, as `stty -g` prints them.
    pub fn stty(&self) -> String {
        stty(&self.slave)
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        self.hot.wait_exit()
    }
}

/// The settings of the terminal `slave`, as `stty -g` prints them.
fn stty(slave: &OwnedFd) -> String {
    let out = Command::new("stty")
        .arg("-g")
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .output()
        .expect("stty");
    assert!(out.status.success(), "stty -g: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
