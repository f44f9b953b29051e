//! What relaying an interactive app's terminal costs (`[run] stdin = "app"`): the same app on a
//! pseudo-terminal of its own ("direct") and under hot, which relays its pty to the outer one.
//!
//! - output: the app writes 64 MB of 80-column lines; MB/s until the last line is on screen.
//! - keys: the app in raw mode echoes each key; the time from a key typed to its echo, 500 keys.
//!
//! `--terminal-only`: this alone, printed and written to target/bench-terminal.json.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Setup, finish, latency_figures, round};

const OUTPUT_BYTES: usize = 64 << 20;
const KEYS: usize = 500;
const DEADLINE: Duration = Duration::from_secs(120);

/// The app: `flood` writes OUTPUT_BYTES of lines then `END`; `echo` answers every key.
const APP_PY: &str = r#"
import os, sys, tty
if sys.argv[1] == "flood":
    line = b"x" * 79 + b"\n"
    os.write(1, b"START\n")
    left = int(sys.argv[2])
    block = line * 1024
    while left > 0:
        n = os.write(1, block[:left])
        left -= n
    os.write(1, b"END\n")
else:
    tty.setraw(0)
    os.write(1, b"READY")
    while True:
        os.write(1, os.read(0, 1))
"#;

pub fn only() {
    let Setup {
        root,
        hot_bin,
        work,
        ..
    } = Setup::new("hot-bench-terminal");
    std::fs::write(work.join("app.py"), APP_PY).expect("write app");
    let mut results = serde_json::Map::new();
    for via in [Via::Direct, Via::Hot] {
        for (k, v) in output(&work, &hot_bin, via)
            .into_iter()
            .chain(keys(&work, &hot_bin, via))
        {
            println!("{k:<40} {v}");
            results.insert(k, v);
        }
    }
    finish(&root, "bench-terminal.json", &results, &work);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Direct,
    Hot,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Hot => "hot",
        }
    }
}

/// A terminal (an outer pty, as a terminal emulator has) running the app `args`, on it
/// directly or under hot.
struct Screen {
    child: Child,
    master: File,
    received: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Screen {
    fn start(work: &Path, hot_bin: &Path, via: Via, args: &str) -> Screen {
        let size = nix::pty::Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = match via {
            Via::Direct => {
                let mut c = Command::new("python3");
                c.arg("app.py").args(args.split(' '));
                c
            }
            Via::Hot => {
                std::fs::write(
                    work.join(".hot.toml"),
                    format!(
                        "[run]\ncmd = \"python3 app.py {args}\"\nstdin = \"app\"\n\
                         [watch]\npaths = [\"app.py\"]\n"
                    ),
                )
                .expect("config");
                Command::new(hot_bin)
            }
        };
        cmd.current_dir(work)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe system calls on this child only: the
        // pty becomes its controlling terminal, as a terminal emulator's shell has it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn");
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("dup master");
        let (tx, received) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Screen {
            child,
            master,
            received,
            seen: Vec::new(),
        }
    }

    /// Reads until `marker` is on screen after byte `from`; returns where it ends. Only what
    /// arrived since the last look is searched (64 MB searched again per chunk would be the
    /// benchmark's own cost).
    fn until(&mut self, marker: &[u8], from: usize) -> usize {
        let start = Instant::now();
        let mut searched = from;
        loop {
            let begin = searched.min(self.seen.len());
            if let Some(at) = self.seen[begin..]
                .windows(marker.len())
                .position(|w| w == marker)
            {
                return begin + at + marker.len();
            }
            searched = self.seen.len().saturating_sub(marker.len() - 1).max(from);
            let left = DEADLINE.saturating_sub(start.elapsed());
            assert!(
                !left.is_zero(),
                "never saw {:?}",
                String::from_utf8_lossy(marker)
            );
            if let Ok(chunk) = self.received.recv_timeout(left) {
                self.seen.extend_from_slice(&chunk);
            }
        }
    }

    fn type_key(&mut self, key: u8) {
        self.master.write_all(&[key]).expect("type");
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // hot stops its app itself on SIGTERM; the direct app dies with it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn output(work: &Path, hot_bin: &Path, via: Via) -> Vec<(String, Value)> {
    let mut screen = Screen::start(work, hot_bin, via, &format!("flood {OUTPUT_BYTES}"));
    let started = screen.until(b"START", 0);
    let at = Instant::now();
    let ended = screen.until(b"END", started);
    let took = at.elapsed();
    let mb = (ended - started) as f64 / (1 << 20) as f64;
    vec![(
        format!("terminal_output_{}_mb_per_s", via.name()),
        json!(round(mb / took.as_secs_f64())),
    )]
}

fn keys(work: &Path, hot_bin: &Path, via: Via) -> Vec<(String, Value)> {
    let mut screen = Screen::start(work, hot_bin, via, "echo");
    let mut at = screen.until(b"READY", 0);
    let mut latencies = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        // Letters only: no key of hot's, no control character.
        let key = b'a' + (i % 26) as u8;
        let typed = Instant::now();
        screen.type_key(key);
        at = screen.until(&[key], at);
        latencies.push(typed.elapsed());
    }
    latency_figures(&format!("terminal_key_echo_{}", via.name()), &latencies, 0)
}
