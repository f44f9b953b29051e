//! Single-key commands at a terminal: `r` rebuild, `1`–`9` rebuild one app of several, `c`
//! clear, `q` quit. With `[run] stdin = "app"` the same keys come after a prefix (`Prefixed`),
//! and everything else typed is the app's.
//!
//! The terminal is put in cbreak mode (no line buffering, no echo) rather than crossterm's raw
//! mode: raw mode also turns off output processing, and the app's own output, which shares the
//! terminal, would then print "\n" without a carriage return and be garbled.

use std::io::{IsTerminal, Read};
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use crate::event::{Event, Key};

/// The terminal settings to restore, shared with the panic hook.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Restores the terminal when dropped (and from the panic hook).
#[derive(Debug)]
pub struct KeyboardGuard(());

impl Drop for KeyboardGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    if let Ok(mut saved) = SAVED.lock() {
        if let Some(original) = saved.take() {
            // SAFETY: tcsetattr on stdin with a termios struct read from it earlier.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &original) };
        }
    }
}

/// Saves stdin's terminal settings and applies `change` to a copy of them, until the guard is
/// dropped (or hot panics). None, with nothing changed, when stdin is not a terminal.
pub fn take_terminal(change: impl FnOnce(&mut libc::termios)) -> Option<KeyboardGuard> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut original: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut original) } != 0 {
        return None;
    }
    let mut changed = original;
    change(&mut changed);
    if let Ok(mut saved) = SAVED.lock() {
        *saved = Some(original);
    }
    // SAFETY: as above, with a modified copy.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &changed) } != 0 {
        return None;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    Some(KeyboardGuard(()))
}

/// The settings stdin's terminal had before hot changed them (the user's shell's).
pub fn original_terminal() -> Option<libc::termios> {
    SAVED.lock().ok().and_then(|saved| *saved)
}

/// When stdin is a terminal: switches it to cbreak mode and forwards key presses as events.
/// Returns `None` (and changes nothing) otherwise, as in CI.
pub fn listen(events: Sender<Event>) -> Option<KeyboardGuard> {
    let guard = take_terminal(|t| {
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
    })?;
    let spawned = thread::Builder::new().name("keys".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdin.read(&mut byte) {
            let Some(key) = key_of(byte[0]) else {
                continue;
            };
            if events.send(Event::Key(key)).is_err() {
                return;
            }
        }
    });
    spawned.ok().map(|_| guard)
}

/// hot's command for a key.
fn key_of(byte: u8) -> Option<Key> {
    match byte {
        b'r' | b'R' => Some(Key::Rebuild),
        digit @ b'1'..=b'9' => Some(Key::RebuildApp(usize::from(digit - b'1'))),
        b'c' | b'C' => Some(Key::Clear),
        b'q' | b'Q' => Some(Key::Quit),
        _ => None,
    }
}

/// The prefix before hot's keys while the app reads the terminal: Ctrl-T, which shells and
/// full-screen apps rarely bind (readline's transpose-chars; BSD's status key is switched off
/// while hot relays).
pub const PREFIX: u8 = 0x14;
/// How the prefix is written in hints.
pub const PREFIX_NAME: &str = "Ctrl-T";
const INTERRUPT: u8 = 0x03;
/// Two Ctrl-C this close together stop hot, whatever the app does with them.
pub const DOUBLE_INTERRUPT: Duration = Duration::from_secs(1);

/// What typing means while the app reads the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Bytes for the app.
    App(Vec<u8>),
    /// Ctrl-C: the app's (its terminal makes it SIGINT); `twice` when it is the second within
    /// `DOUBLE_INTERRUPT`, which stops hot.
    Interrupt { twice: bool },
    /// One of hot's keys, after the prefix.
    Key(Key),
    /// The prefix and then a key that means nothing to hot (dropped; hot rings the bell).
    Unknown(u8),
}

/// Splits what is typed into the app's bytes and hot's prefixed keys.
#[derive(Debug, Default)]
pub struct Prefixed {
    after_prefix: bool,
    last_interrupt: Option<Instant>,
}

impl Prefixed {
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Typed> {
        let mut out = Vec::new();
        let mut app = Vec::new();
        for &byte in bytes {
            if std::mem::take(&mut self.after_prefix) {
                match byte {
                    // Twice: the app gets one.
                    PREFIX => app.push(PREFIX),
                    other => {
                        flush(&mut app, &mut out);
                        out.push(key_of(other).map_or(Typed::Unknown(other), Typed::Key));
                    }
                }
                continue;
            }
            match byte {
                PREFIX => self.after_prefix = true,
                INTERRUPT => {
                    flush(&mut app, &mut out);
                    let twice = self
                        .last_interrupt
                        .is_some_and(|at| now.saturating_duration_since(at) < DOUBLE_INTERRUPT);
                    self.last_interrupt = Some(now);
                    out.push(Typed::Interrupt { twice });
                }
                other => app.push(other),
            }
        }
        flush(&mut app, &mut out);
        out
    }
}

fn flush(app: &mut Vec<u8>, out: &mut Vec<Typed>) {
    if !app.is_empty() {
        out.push(Typed::App(std::mem::take(app)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_picks_hots_keys_out_of_what_the_app_gets() {
        let t = Instant::now();
        let mut p = Prefixed::default();
        assert_eq!(
            p.feed(b"ls\x14r-la\x14\x14\x14z", t),
            [
                Typed::App(b"ls".to_vec()),
                Typed::Key(Key::Rebuild),
                Typed::App(b"-la\x14".to_vec()),
                Typed::Unknown(b'z'),
            ]
        );
        // The prefix may end one read and its key begin the next.
        assert_eq!(p.feed(b"\x14", t), []);
        assert_eq!(p.feed(b"q", t), [Typed::Key(Key::Quit)]);
    }

    #[test]
    fn a_second_ctrl_c_within_a_second_stops_hot() {
        let t = Instant::now();
        let mut p = Prefixed::default();
        assert_eq!(p.feed(b"\x03", t), [Typed::Interrupt { twice: false }]);
        let later = t + DOUBLE_INTERRUPT + Duration::from_millis(1);
        assert_eq!(p.feed(b"\x03", later), [Typed::Interrupt { twice: false }]);
        assert_eq!(
            p.feed(b"\x03", later + Duration::from_millis(900)),
            [Typed::Interrupt { twice: true }]
        );
    }
}
