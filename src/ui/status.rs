//! The live status line shown on a terminal while a build runs: a spinner, the elapsed time and
//! what triggered it. Every other line hot prints, and the build's output, goes through
//! `Terminal::print`, which first wipes the status line so nothing is drawn over.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Status {
    started: Instant,
    what: String,
    /// Bumped each time a status is set, so an old spinner thread knows to stop.
    generation: u64,
}

/// Output to the terminal, shared by hot's lines, the build's output and the spinner.
#[derive(Debug, Clone, Default)]
pub struct Terminal {
    status: Arc<Mutex<(Option<Status>, u64)>>,
}

impl Terminal {
    /// Writes bytes to stderr below any status line, which is redrawn on the next tick.
    pub fn print(&self, bytes: &[u8]) {
        let Ok(state) = self.status.lock() else { return };
        let mut err = std::io::stderr().lock();
        if state.0.is_some() {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        let _ = err.write_all(bytes);
        let _ = err.flush();
    }

    /// Shows "⠋ building · src/main.go changed · 1.2 s" until `clear`.
    pub fn show(&self, what: String) {
        let generation = {
            let Ok(mut state) = self.status.lock() else { return };
            state.1 += 1;
            let generation = state.1;
            state.0 = Some(Status {
                started: Instant::now(),
                what,
                generation,
            });
            generation
        };
        let terminal = self.clone();
        let _ = thread::Builder::new().name("status".into()).spawn(move || {
            let mut frame = 0;
            while terminal.draw(generation, FRAMES[frame % FRAMES.len()]) {
                frame += 1;
                thread::sleep(TICK);
            }
        });
    }

    /// Removes the status line.
    pub fn clear(&self) {
        let Ok(mut state) = self.status.lock() else { return };
        if state.0.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[2K");
            let _ = err.flush();
        }
    }

    /// Draws the status of `generation`; false once it is gone or replaced.
    fn draw(&self, generation: u64, frame: char) -> bool {
        let Ok(state) = self.status.lock() else { return false };
        match &state.0 {
            Some(status) if status.generation == generation => {
                let secs = status.started.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{frame} {} · {secs:.1} s", status.what);
                let _ = err.flush();
                true
            }
            _ => false,
        }
    }
}
