//! The machine as it is: inotify limits, polling, sockets left behind by a crash, listen errors.

use std::fs;

use crate::support::*;

/// Sets a sysctl for the life of the guard. A watchdog process restores it when the guard
/// drops its pipe, or when this test process dies in any way (a SIGKILL included: the pipe
/// closes with it), so a killed run never leaves the machine's watchers broken.
struct Sysctl {
    path: &'static str,
    original: String,
    watchdog: Option<std::process::ChildStdin>,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Option<Sysctl> {
        let original = fs::read_to_string(path).ok()?.trim().to_owned();
        let mut watchdog = std::process::Command::new("sh")
            .args(["-c", "read _; printf '%s' \"$1\" > \"$0\"", path, &original])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let pipe = watchdog.stdin.take()?;
        // Reap it in the background once it has restored the value.
        std::thread::spawn(move || watchdog.wait());
        fs::write(path, value).ok()?;
        Some(Sysctl {
            path,
            original,
            watchdog: Some(pipe),
        })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        self.watchdog = None;
        wait_until("the sysctl to be restored", || {
            fs::read_to_string(self.path).is_ok_and(|v| v.trim() == self.original)
        });
    }
}

#[test]
fn inotify_watch_limit_says_so_and_falls_back_to_polling() {
    let project = Project::exclusive();
    project.write("src/version.txt", "1\n");
    for i in 0..40 {
        project.write(&format!("src/d{i}/f.txt"), "x");
    }
    project.write(".hot.toml", &AppOpts::default().toml());
    let Some(_limit) = Sysctl::set("/proc/sys/fs/inotify/max_user_watches", "8") else {
        eprintln!(
            "\n\n*** SKIPPED inotify limit test: cannot write fs.inotify.max_user_watches (needs root) ***\n"
        );
        return;
    };
    let mut hot = Hot::start(&project, &[]);
    let warning = hot.wait("warning");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(message.contains("inotify watch limit"), "{message}");
    assert!(
        message.contains("sudo sysctl fs.inotify.max_user_watches=524288"),
        "{message}"
    );
    assert!(message.contains("polling instead"), "{message}");
    drop(_limit);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    project.write("src/version.txt", "2\n");
    hot.wait("build_ok");
    get_until(&addr, |b| version_of(b) == "2");
}

/// CPU time (user + system, in seconds) of the thread of `pid` named `name`.
fn thread_cpu(pid: u32, name: &str) -> Option<f64> {
    let tick = 100.0; // USER_HZ
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let path = task.path();
        if fs::read_to_string(path.join("comm")).ok()?.trim() != name {
            continue;
        }
        let stat = fs::read_to_string(path.join("stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        return Some((utime + stime) / tick);
    }
    None
}

#[test]
fn polling_a_20k_file_tree_stays_cheap() {
    let project = Project::python_app(AppOpts {
        watch: "paths = [\"src\"]\npoll = true",
        ..AppOpts::default()
    });
    for d in 0..200 {
        for f in 0..100 {
            project.write(&format!("src/d{d}/f{f}.go"), "package x\n");
        }
    }
    let mut hot = Hot::start(&project, &[]);
    let note = hot.wait("note");
    let message = note["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("polling 20001 files: "), "{message}");
    hot.wait("start");
    let pid = hot.pid();
    let cpu = || thread_cpu(pid, "poll").expect("hot's poll thread");
    let (t0, c0) = (std::time::Instant::now(), cpu());
    // The three kinds of edit: a recently edited file, an atomic save, an in-place edit of a
    // file nobody touched since startup. Each is seen (how fast is the benchmark's business).
    for v in 2..=3 {
        project.write("src/version.txt", &format!("{v}\n"));
        hot.wait("build_ok");
    }
    let tmp = project.path("src/d10/.f3.go.tmp");
    fs::write(&tmp, "package x // atomic\n").expect("write");
    fs::rename(&tmp, project.path("src/d10/f3.go")).expect("rename");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["src/d10/f3.go"]),
        "{}",
        hot.transcript()
    );
    hot.wait("build_ok");
    project.write("src/d150/f50.go", "package x // in place\n");
    let change = hot.wait("change");
    assert_eq!(
        change["paths"],
        serde_json::json!(["src/d150/f50.go"]),
        "{}",
        hot.transcript()
    );
    hot.wait("build_ok");
    // The poll thread's own CPU time: the budget is 2 % of a core, counted in that same
    // clock, so a busy machine does not change it (allow 5 % for the clock's 10 ms ticks).
    let used = cpu() - c0;
    let share = used / t0.elapsed().as_secs_f64();
    eprintln!(
        "polling 20k files: {message}; {:.2} % of a core",
        share * 100.0
    );
    assert!(
        share < 0.05,
        "polling used {:.1} % of a core ({used:.2} s in {:.1} s)",
        share * 100.0,
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn stale_unix_socket_from_a_crash_is_replaced_but_a_live_one_is_not_touched() {
    let project = Project::python_app(AppOpts {
        listen: vec!["unix:tmp/app.sock"],
        ..AppOpts::default()
    });
    fs::create_dir_all(project.path("tmp")).expect("tmp");
    // A socket file nobody listens on: what a crashed run leaves.
    let stale = std::os::unix::net::UnixListener::bind(project.path("tmp/app.sock")).expect("bind");
    drop(stale);
    let mut hot = Hot::start(&project, &[]);
    hot.wait("watching");
    hot.wait("start");
    hot.signal(libc::SIGTERM);
    hot.wait_exit();
    assert!(
        !project.path("tmp/app.sock").exists(),
        "socket file removed at exit"
    );

    let live = std::os::unix::net::UnixListener::bind(project.path("tmp/app.sock")).expect("bind");
    let (status, output) = run_to_exit(&project.dir, &[]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("in use by a running process"), "{output}");
    assert!(
        project.path("tmp/app.sock").exists(),
        "a live socket must not be removed"
    );
    drop(live);
}

#[test]
fn listen_errors_have_their_own_messages() {
    let cases = [
        (
            "listen = [\"10.255.255.1:8080\"]",
            "is not an address of this machine",
        ),
        ("listen = [\"unix:missing/dir/app.sock\"]", "does not exist"),
        (
            "listen = [\"unix:src/version.txt\"]",
            "exists and is not a socket",
        ),
    ];
    for (listen, expected) in cases {
        let project = Project::new();
        project.write("src/version.txt", "1\n");
        project.write(".hot.toml", &format!("{listen}\n[run]\ncmd = \"true\"\n"));
        let (status, output) = run_to_exit(&project.dir, &[]);
        assert_eq!(status.code(), Some(2), "{listen}: {output}");
        assert!(
            output.contains(expected),
            "{listen}: expected {expected:?} in {output}"
        );
    }
}

/// Runs hot as the unprivileged user `nobody` (util-linux `setpriv`), for the errors root never
/// sees. None when that is impossible (not root, no setpriv).
fn hot_as_nobody(project: &Project) -> Option<(i32, String)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok();
    if !root || !setpriv {
        eprintln!(
            "\n\n*** SKIPPED unprivileged listen errors: needs root and util-linux setpriv ***\n"
        );
        return None;
    }
    // nobody must reach the project and its tmp dir.
    for dir in [project.dir.clone(), project.path("tmp")] {
        fs::create_dir_all(&dir).expect("mkdir");
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod");
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_hot"))
        .current_dir(&project.dir);
    let mut hot = Hot::spawn(cmd);
    let status = hot.wait_exit();
    Some((status.code().unwrap_or(-1), hot.transcript()))
}

#[test]
fn privileged_port_and_unwritable_socket_directory_have_their_own_messages() {
    let privileged = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .unwrap_or(1024);
    if privileged > 80 {
        let project = Project::new();
        project.write(
            ".hot.toml",
            "listen = [\"127.0.0.1:80\"]\n[run]\ncmd = \"true\"\n",
        );
        let Some((code, output)) = hot_as_nobody(&project) else {
            return;
        };
        assert_eq!(code, 2, "{output}");
        assert!(output.contains("port 80 is privileged"), "{output}");
    } else {
        eprintln!(
            "\n\n*** SKIPPED privileged port case: ports below 1024 are open to everyone here ***\n"
        );
    }

    let project = Project::new();
    project.write(
        ".hot.toml",
        "listen = [\"unix:locked/app.sock\"]\n[run]\ncmd = \"true\"\n",
    );
    fs::create_dir_all(project.path("locked")).expect("mkdir");
    fs::set_permissions(
        project.path("locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .expect("chmod");
    let Some((code, output)) = hot_as_nobody(&project) else {
        return;
    };
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("permission denied: cannot create a socket in"),
        "{output}"
    );
}
