//! `[run] stdin = "app"`: the app gets the terminal.
//!
//! Each app process gets a pseudo-terminal of its own: it leads a new session with the pty's
//! slave as its controlling terminal, so its group is that terminal's foreground group. It reads
//! what is typed, Ctrl-C is SIGINT from its own line discipline, and it may switch its terminal
//! to raw mode and the alternate screen. hot keeps the real terminal in raw mode and relays:
//! what is typed goes to the newest app's pty (hot's keys come after `keys::PREFIX`), and what
//! the app writes comes back through `ui::status::Terminal`, which holds hot's own output while
//! the app draws. A real terminal handed to the app with `tcsetpgrp` alone would leave hot in
//! the background, unable to read a prefix key (SIGTTIN), and blind to what the app left on.
//!
//! A fresh pty per process is what makes restarts clean: a killed TUI takes its raw mode with
//! its pty, the next app starts from the user's own settings, and `Screen::restore` undoes on
//! the real terminal what the dead app's output switched on there (the alternate screen, a
//! hidden cursor, mouse reporting...). The real terminal's settings never change while hot
//! runs; the user's are back when it exits.

pub mod screen;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::event::{AppId, Event, Key};
use crate::sys::tty;
use crate::ui::keys::{self, KeyboardGuard, Prefixed, Typed};
use crate::ui::status::{Drawn, Terminal};
use screen::Screen;

/// What is typed while no app runs waits for the next one, up to this much.
const MAX_TYPEAHEAD: usize = 64 << 10;
/// How long hot, exiting, waits for its apps' last output before it gives the terminal back.
const LAST_OUTPUT: Duration = Duration::from_secs(1);

/// The real terminal, relayed to the apps' pseudo-terminals.
#[derive(Debug)]
pub struct Console {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    terminal: Terminal,
    /// The settings each app's pty starts with: the user's terminal's, as hot found them.
    initial: libc::termios,
    _raw: KeyboardGuard,
}

#[derive(Debug, Default)]
struct Shared {
    /// The newest app's terminal: what is typed goes there.
    holder: Option<(AppId, Sender<Vec<u8>>)>,
    /// Typed while no app runs, for the next one.
    typeahead: Vec<u8>,
    /// Every app pty still open (an app being stopped may still be writing), for resizes.
    open: Vec<(AppId, Arc<OwnedFd>)>,
}

/// A pseudo-terminal for one app process.
pub struct Pty {
    pub master: OwnedFd,
    /// Becomes the app's stdin, stdout and stderr, and its controlling terminal.
    pub slave: OwnedFd,
}

impl Console {
    /// Takes the real terminal (stdin) in raw mode and starts reading it. None, with nothing
    /// changed, when stdin is not a terminal: then the app reads hot's stdin as it is.
    pub fn open(events: Sender<Event>, terminal: Terminal) -> io::Result<Option<Console>> {
        let Some(raw) = keys::take_terminal(make_raw) else {
            return Ok(None);
        };
        let Some(mut initial) = keys::original_terminal() else {
            return Ok(None);
        };
        // The app's session has no shell to resume a stopped job: Ctrl-Z (and BSD's delayed
        // suspend) would freeze it for good. Typed, they are plain characters for the app.
        initial.c_cc[libc::VSUSP] = libc::_POSIX_VDISABLE;
        #[cfg(any(target_os = "macos", target_os = "freebsd"))]
        {
            initial.c_cc[libc::VDSUSP] = libc::_POSIX_VDISABLE;
        }
        terminal.relay_begin();
        let console = Console {
            shared: Arc::default(),
            terminal,
            initial,
            _raw: raw,
        };
        console.read_keyboard(events)?;
        console.follow_resizes()?;
        Ok(Some(console))
    }

    /// A new pseudo-terminal for an app, the size of the real one, with the user's settings.
    pub fn open_pty(&self) -> io::Result<Pty> {
        let size = tty::window_size(std::io::stdin().as_fd());
        let settings = nix::sys::termios::Termios::from(self.initial);
        let pty = nix::pty::openpty(size.as_ref(), Some(&settings))?;
        for fd in [&pty.master, &pty.slave] {
            // Builds and other apps started meanwhile must not hold it: the app's end of it is
            // noticed by the last slave closing.
            nix::fcntl::fcntl(
                fd.as_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
        }
        // Non-blocking, so that typing at an app that reads nothing can never block hot.
        let flags = nix::fcntl::fcntl(pty.master.as_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
        nix::fcntl::fcntl(
            pty.master.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(
                nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK,
            ),
        )?;
        Ok(Pty {
            master: pty.master,
            slave: pty.slave,
        })
    }

    /// `app` started on the pty whose master this is: it gets what is typed from now on (and
    /// what was typed while no app ran), and its output is relayed until its terminal closes.
    pub fn attach(&self, app: AppId, master: OwnedFd) -> io::Result<()> {
        let master = Arc::new(master);
        let closed = Arc::new(AtomicBool::new(false));
        let (input, typed) = mpsc::channel::<Vec<u8>>();
        // Registered before the reader starts: an app that exits at once is unregistered by
        // it, never after it.
        {
            let mut shared = self.lock()?;
            let typeahead = std::mem::take(&mut shared.typeahead);
            if !typeahead.is_empty() {
                let _ = input.send(typeahead);
            }
            shared.open.push((app, Arc::clone(&master)));
            shared.holder = Some((app, input));
        }
        let writer = Arc::clone(&master);
        let writing = Arc::clone(&closed);
        let typist = Arc::clone(&self.shared);
        let typing = thread::Builder::new()
            .name("app-typing".into())
            .spawn(move || {
                for bytes in typed {
                    // A pty whose app is gone takes writes and drops them: what was typed
                    // for it goes to the next app instead.
                    if hung_up(&writer) || write_all(&writer, &bytes, &writing).is_err() {
                        exited(&typist, app);
                        type_in(&typist, bytes);
                    }
                }
            });
        let shared = Arc::clone(&self.shared);
        let terminal = self.terminal.clone();
        let relaying = typing.and_then(|_| {
            thread::Builder::new()
                .name("app-screen".into())
                .spawn(move || {
                    relay_output(&master, &terminal);
                    closed.store(true, Ordering::SeqCst);
                    detach(&shared, app);
                })
        });
        if let Err(e) = relaying {
            detach(&self.shared, app);
            return Err(e);
        }
        Ok(())
    }

    /// App `app`'s process exited: what is typed from now on is for the next app.
    pub fn exited(&self, app: AppId) {
        exited(&self.shared, app);
    }

    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Shared>> {
        self.shared
            .0
            .lock()
            .map_err(|_| io::Error::other("terminal state poisoned"))
    }

    /// The thread that reads the real terminal: the app's bytes to the app, hot's keys (after
    /// the prefix) and a double Ctrl-C to the app loop.
    fn read_keyboard(&self, events: Sender<Event>) -> io::Result<()> {
        let shared = Arc::clone(&self.shared);
        thread::Builder::new().name("keys".into()).spawn(move || {
            let mut prefixed = Prefixed::default();
            let mut buf = [0u8; 4096];
            loop {
                let n = match nix::unistd::read(std::io::stdin().as_fd(), &mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(Errno::EINTR | Errno::EAGAIN) => continue,
                    Err(_) => return,
                };
                for typed in prefixed.feed(&buf[..n], Instant::now()) {
                    let event = match typed {
                        Typed::App(bytes) => {
                            type_in(&shared, bytes);
                            continue;
                        }
                        // No app to interrupt: Ctrl-C is for hot, as when hot has the keys.
                        Typed::Interrupt { twice } => {
                            let delivered = interrupt(&shared);
                            if delivered && !twice {
                                continue;
                            }
                            Event::Signalled(Signal::SIGINT)
                        }
                        Typed::Key(key) => Event::Key(key),
                        Typed::Unknown(_) => Event::Key(Key::Help),
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        })?;
        Ok(())
    }

    /// Gives every open app pty the real terminal's size when it changes (the kernel then
    /// sends the app SIGWINCH).
    fn follow_resizes(&self) -> io::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])?;
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("resize".into())
            .spawn(move || {
                for _ in signals.forever() {
                    let Some(size) = tty::window_size(std::io::stdin().as_fd()) else {
                        continue;
                    };
                    let Ok(shared) = shared.0.lock() else {
                        return;
                    };
                    for (_, master) in &shared.open {
                        let _ = tty::set_window_size(master.as_fd(), &size);
                    }
                }
            })?;
        Ok(())
    }
}

impl Drop for Console {
    /// Waits (briefly) for the apps' terminals to close, so that what the last app left on is
    /// undone before the user's settings come back.
    fn drop(&mut self) {
        let (lock, ended) = &*self.shared;
        let deadline = Instant::now() + LAST_OUTPUT;
        let Ok(mut shared) = lock.lock() else {
            return;
        };
        while !shared.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match ended.wait_timeout(shared, left) {
                Ok((next, _)) => shared = next,
                Err(_) => return,
            }
        }
    }
}

/// The real terminal's settings while hot relays: every byte typed reaches hot as it is
/// (Ctrl-C, Ctrl-Z and the prefix included), and output is written untouched (the app's pty
/// already turned its newlines into what its settings ask for).
fn make_raw(t: &mut libc::termios) {
    t.c_iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IXON);
    t.c_oflag &= !libc::OPOST;
    t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
    t.c_cflag &= !(libc::CSIZE | libc::PARENB);
    t.c_cflag |= libc::CS8;
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
}

/// `app`'s terminal closed: it gets nothing more, and hot's exit need not wait for it.
fn detach(shared: &(Mutex<Shared>, Condvar), app: AppId) {
    exited(shared, app);
    let (lock, ended) = shared;
    if let Ok(mut shared) = lock.lock() {
        shared.open.retain(|(id, _)| *id != app);
    }
    ended.notify_all();
}

/// `app` no longer reads: what is typed from now on waits for the next app. (Its output may
/// still be coming: its terminal stays open until the last process holding it is gone.)
fn exited(shared: &(Mutex<Shared>, Condvar), app: AppId) {
    if let Ok(mut shared) = shared.0.lock() {
        if shared.holder.as_ref().is_some_and(|(id, _)| *id == app) {
            shared.holder = None;
        }
    }
}

/// Typed bytes to the app that has the terminal, or kept for the next one.
fn type_in(shared: &(Mutex<Shared>, Condvar), bytes: Vec<u8>) {
    let Ok(mut shared) = shared.0.lock() else {
        return;
    };
    let shared = &mut *shared;
    match &shared.holder {
        Some((_, input)) => {
            let _ = input.send(bytes);
        }
        None => {
            let room = MAX_TYPEAHEAD.saturating_sub(shared.typeahead.len());
            shared
                .typeahead
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

/// Ctrl-C to the app that has the terminal; false if none has.
fn interrupt(shared: &(Mutex<Shared>, Condvar)) -> bool {
    let Ok(shared) = shared.0.lock() else {
        return false;
    };
    match &shared.holder {
        Some((_, input)) => input.send(vec![0x03]).is_ok(),
        None => false,
    }
}

/// Copies the app's screen output to the real terminal until the last process holding its
/// pty is gone, then undoes what it left on.
fn relay_output(master: &OwnedFd, terminal: &Terminal) {
    let mut screen = Screen::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        wait_for(master.as_fd(), Ready::Readable, None);
        let n = match nix::unistd::read(master.as_fd(), &mut buf) {
            // EIO (Linux) or end of file (the BSDs): every slave descriptor is closed.
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(_) => break,
        };
        screen.feed(&buf[..n]);
        // A frame is the alternate screen, or a TUI drawing in place on the main one: keys
        // read one by one with the cursor hidden. A line editor at a prompt (readline, a REPL)
        // reads keys one by one too, but shows its cursor: hot's lines may go above it.
        let keys_one_by_one = nix::sys::termios::tcgetattr(master.as_fd()).is_ok_and(|t| {
            !t.local_flags
                .contains(nix::sys::termios::LocalFlags::ICANON)
        });
        terminal.app_output(
            &buf[..n],
            Drawn {
                framed: screen.full_screen() || (keys_one_by_one && screen.cursor_hidden()),
                boundary: screen.at_boundary(),
                line_start: screen.at_line_start(),
            },
        );
    }
    terminal.app_released(&screen.restore());
}

/// Writes all of `bytes` to the non-blocking `master`, waiting while the app's input is full,
/// and giving up once its terminal closed.
fn write_all(master: &OwnedFd, mut bytes: &[u8], closed: &AtomicBool) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(master, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EAGAIN) => {
                if closed.load(Ordering::SeqCst) {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                wait_for(
                    master.as_fd(),
                    Ready::Writable,
                    Some(Duration::from_millis(100)),
                );
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether every slave descriptor of the pty `master` is closed (its app and all it started
/// are gone). macOS cannot tell through poll(); there the app's exit event says it.
fn hung_up(master: &OwnedFd) -> bool {
    #[cfg(not(target_os = "macos"))]
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO).is_ok()
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    }
    #[cfg(target_os = "macos")]
    {
        let _ = master;
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    Readable,
    Writable,
}

/// Waits until `fd` (a pty master) is ready, or `timeout` passes; a wakeup for nothing is
/// harmless (the caller reads or writes and finds EAGAIN). macOS's poll() refuses terminals
/// (POLLNVAL), its select() serves them.
fn wait_for(fd: BorrowedFd, ready: Ready, timeout: Option<Duration>) {
    #[cfg(not(target_os = "macos"))]
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let flags = match ready {
            Ready::Readable => PollFlags::POLLIN,
            Ready::Writable => PollFlags::POLLOUT,
        };
        let timeout = timeout.map_or(PollTimeout::NONE, |t| {
            PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX)
        });
        let _ = poll(&mut [PollFd::new(fd, flags)], timeout);
    }
    #[cfg(target_os = "macos")]
    {
        use nix::sys::select::{FD_SETSIZE, FdSet, select};
        use nix::sys::time::{TimeVal, TimeValLike};
        use std::os::fd::AsRawFd;
        if usize::try_from(fd.as_raw_fd()).map_or(true, |raw| raw >= FD_SETSIZE) {
            // Beyond what select() can watch: look again shortly.
            thread::sleep(Duration::from_millis(5));
            return;
        }
        let mut set = FdSet::new();
        set.insert(fd);
        let mut limit = timeout
            .map(|t| TimeVal::microseconds(i64::try_from(t.as_micros()).unwrap_or(i64::MAX)));
        let _ = match ready {
            Ready::Readable => select(None, &mut set, None, None, limit.as_mut()),
            Ready::Writable => select(None, None, &mut set, None, limit.as_mut()),
        };
    }
}
