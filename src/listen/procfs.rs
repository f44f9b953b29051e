//! What /proc says about sockets (Linux): which sockets listen on which port, how many
//! connections wait in each, and which process holds a socket (what `ss -ltnp` reads).

use std::io::Read;
use std::path::Path;

/// A listening TCP socket, from /proc/net/tcp and tcp6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub port: u16,
    pub inode: u64,
    /// Connections waiting to be accepted (`rx_queue` of a LISTEN line).
    pub queued: u64,
}

/// Every listening TCP socket of this network namespace.
pub fn listening() -> Vec<Listening> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        found.extend(text.lines().skip(1).filter_map(parse_line));
    }
    found
}

/// One line of /proc/net/tcp: `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout
/// inode ...`, kept if its state is LISTEN (0A).
fn parse_line(line: &str) -> Option<Listening> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
    let queued = u64::from_str_radix(fields.get(4)?.split_once(':')?.1, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some(Listening {
        port,
        inode,
        queued,
    })
}

/// The inode of the socket an fd link (`/proc/PID/fd/N`) points at.
pub fn socket_inode(link: &Path) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Who listens on TCP `port`, other than this process: "pid 4242 (python3 app.py)".
pub fn holder_of(port: u16) -> Option<String> {
    let inodes: Vec<u64> = listening()
        .into_iter()
        .filter(|l| l.port == port)
        .map(|l| l.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let me = std::process::id();
    let mut mine = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| socket_inode(&fd.path()).is_some_and(|i| inodes.contains(&i)));
        if holds && pid == me {
            mine = true;
            continue;
        }
        if holds {
            let mut cmdline = String::new();
            let _ = std::fs::File::open(entry.path().join("cmdline"))
                .and_then(|mut f| f.read_to_string(&mut cmdline));
            let command = cmdline.replace('\0', " ").trim().to_owned();
            return Some(if command.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid} ({command})")
            });
        }
    }
    Some(if mine {
        "this hot itself (is the address listed twice?)".into()
    } else {
        "a process hot cannot see (another user's, or in another container)".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_lines_parse_and_others_do_not() {
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 \
                      00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_line(listen),
            Some(Listening {
                port: 8080,
                inode: 123456,
                queued: 3
            })
        );
        let established = listen.replace(" 0A ", " 01 ");
        assert_eq!(parse_line(&established), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn this_process_is_not_its_own_holder_and_sees_its_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inode = nix::sys::stat::fstat(&listener).expect("fstat").st_ino;
        assert!(
            listening()
                .iter()
                .any(|l| l.port == port && l.inode == inode)
        );
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        assert_eq!(
            socket_inode(Path::new(&format!("/proc/self/fd/{fd}"))),
            Some(inode)
        );
        // Only this process holds it: it says so rather than naming a stranger.
        assert_eq!(
            holder_of(port).as_deref(),
            Some("this hot itself (is the address listed twice?)")
        );
    }
}
