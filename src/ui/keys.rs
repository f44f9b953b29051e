//! Single-key commands at a terminal: `r` rebuild, `1`–`9` rebuild one app of several, `c`
//! clear, `q` quit.
//!
//! The terminal is put in cbreak mode (no line buffering, no echo) rather than crossterm's raw
//! mode: raw mode also turns off output processing, and the app's own output, which shares the
//! terminal, would then print "\n" without a carriage return and be garbled.

use std::io::{IsTerminal, Read};
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::thread;

use crate::event::{Event, Key};

/// The terminal settings to restore, shared with the panic hook.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Restores the terminal when dropped (and from the panic hook).
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

/// When stdin is a terminal: switches it to cbreak mode and forwards key presses as events.
/// Returns `None` (and changes nothing) otherwise, as in CI.
pub fn listen(events: Sender<Event>) -> Option<KeyboardGuard> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut original: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut original) } != 0 {
        return None;
    }
    let mut cbreak = original;
    cbreak.c_lflag &= !(libc::ICANON | libc::ECHO);
    cbreak.c_cc[libc::VMIN] = 1;
    cbreak.c_cc[libc::VTIME] = 0;
    if let Ok(mut saved) = SAVED.lock() {
        *saved = Some(original);
    }
    // SAFETY: as above, with a modified copy.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &cbreak) } != 0 {
        return None;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    let spawned = thread::Builder::new().name("keys".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdin.read(&mut byte) {
            let key = match byte[0] {
                b'r' | b'R' => Key::Rebuild,
                digit @ b'1'..=b'9' => Key::RebuildApp(usize::from(digit - b'1')),
                b'c' | b'C' => Key::Clear,
                b'q' | b'Q' => Key::Quit,
                _ => continue,
            };
            if events.send(Event::Key(key)).is_err() {
                return;
            }
        }
    });
    match spawned {
        Ok(_) => Some(KeyboardGuard(())),
        Err(_) => {
            restore();
            None
        }
    }
}
