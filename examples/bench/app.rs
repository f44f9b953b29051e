//! The benchmark's app: serves the version in tmp/version.txt. Takes its socket from hot
//! (LISTEN_FDS) or binds 127.0.0.1:$APP_PORT itself; keeps connections alive (HTTP/1.1) unless
//! the client says `Connection: close`, a thread per connection as a plain threaded server does;
//! stops on SIGTERM without dropping a request it accepted. Built with plain rustc by the
//! benchmark.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static STOP_PIPE: AtomicI32 = AtomicI32::new(-1);
/// Requests read and not yet answered: the app answers them before it exits.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn pipe(fds: *mut i32) -> i32;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn poll(fds: *mut PollFd, nfds: std::ffi::c_ulong, timeout: i32) -> i32;
}

extern "C" fn on_stop(_: i32) {
    // SAFETY: write(2) is async-signal-safe.
    unsafe { write(STOP_PIPE.load(Ordering::SeqCst), [1u8].as_ptr(), 1) };
}

/// One request being handled; counted out when dropped, on every way out.
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    loop {
        let mut close = false;
        let mut first = true;
        let mut in_flight = None;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                // The client closed between requests (or before the first).
                return Ok(());
            }
            if line.len() <= 2 && !first {
                break;
            }
            if first {
                IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
                in_flight = Some(InFlight);
            }
            first = false;
            if line.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
        }
        let connection = if close { "close" } else { "keep-alive" };
        let written = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
            body.len()
        );
        drop(in_flight);
        written?;
        if close {
            return Ok(());
        }
    }
}

fn main() -> std::io::Result<()> {
    let file = std::env::var("APP_VERSION_FILE").unwrap_or_else(|_| "tmp/version.txt".into());
    let version = std::fs::read_to_string(file).unwrap_or_default().trim().to_owned();
    let mut stop = [-1i32; 2];
    // SAFETY: pipe fills the array; the handler only writes to it.
    unsafe {
        pipe(stop.as_mut_ptr());
        STOP_PIPE.store(stop[1], Ordering::SeqCst);
        signal(15, on_stop);
        signal(2, on_stop);
    }
    let listener = if std::env::var("LISTEN_FDS").is_ok() {
        // SAFETY: socket activation hands this process fd 3.
        unsafe { TcpListener::from_raw_fd(3) }
    } else {
        TcpListener::bind(("127.0.0.1", std::env::var("APP_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)))?
    };
    loop {
        let mut fds = [
            PollFd { fd: listener.as_raw_fd(), events: 1, revents: 0 },
            PollFd { fd: stop[0], events: 1, revents: 0 },
        ];
        // SAFETY: a valid array of two pollfds.
        if unsafe { poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[1].revents != 0 {
            // Answer what was accepted; idle kept-alive connections close with the process.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while IN_FLIGHT.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            return Ok(());
        }
        if let Ok((stream, _)) = listener.accept() {
            let version = version.clone();
            std::thread::spawn(move || serve(stream, &version));
        }
    }
}
