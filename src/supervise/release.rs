//! `restart_mode = "drain"`: noticing that a stopping app let go of its listening sockets.
//!
//! An app that closed its copies of the sockets has begun its graceful shutdown and accepts
//! nothing more; the next app can start then, while the old one finishes its requests. Linux
//! shows which process holds which socket in /proc; elsewhere nothing is reported and the next
//! app starts when the old one exits, as with "stop-then-start".

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use crate::event::{AppId, Event};

use super::process::ProcessGroup;

/// Watches, on a thread, until no process of `group` holds any of the sockets with `inodes`
/// (those the app was given), then sends `AppReleased`. Gives up quietly once `gone`.
#[cfg(target_os = "linux")]
pub fn watch(
    app: AppId,
    group: ProcessGroup,
    inodes: Vec<u64>,
    gone: Arc<AtomicBool>,
    events: Sender<Event>,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    if inodes.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("release".into())
        .spawn(move || {
            while !gone.load(Ordering::Relaxed) {
                if !holds_any(group.pid(), &inodes) {
                    let _ = events.send(Event::AppReleased { app });
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn watch(
    _app: AppId,
    _group: ProcessGroup,
    _inodes: Vec<u64>,
    _gone: Arc<AtomicBool>,
    _events: Sender<Event>,
) -> std::io::Result<()> {
    Ok(())
}

/// Whether a process of the group led by `leader` has a socket with one of `inodes` open.
/// Unreadable entries (a process that just exited) count as holding nothing.
#[cfg(target_os = "linux")]
fn holds_any(leader: u32, inodes: &[u64]) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid != leader && group_of(pid) != Some(leader) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            crate::listen::procfs::socket_inode(&fd.path()).is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            return true;
        }
    }
    false
}

/// The process group of `pid`, from /proc/PID/stat (the field after the state and the parent).
#[cfg(target_os = "linux")]
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_socket_held_by_this_process_is_seen_and_a_closed_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let inode = nix::sys::stat::fstat(&listener).expect("fstat").st_ino;
        let me = std::process::id();
        let group = u32::try_from(nix::unistd::getpgrp().as_raw()).expect("pgid");
        assert_eq!(group_of(me), Some(group));
        assert!(holds_any(group, &[inode]));
        drop(listener);
        assert!(!holds_any(group, &[inode]));
    }
}
