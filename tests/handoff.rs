//! The socket handoff: the systemd socket-activation protocol, as strict consumers check it.

use std::os::unix::net::UnixStream;
use std::process::Command;

use crate::support::*;

#[test]
fn app_gets_tcp_and_unix_sockets_in_order_with_its_own_pid_and_builds_get_none() {
    let project = Project::python_app(AppOpts {
        listen: vec!["127.0.0.1:0", "unix:tmp/app.sock"],
        build: "cp src/version.txt tmp/version.txt && (env | grep ^LISTEN_ || true) > tmp/build-env.txt \
                && ls -l /proc/$$/fd > tmp/build-fds.txt",
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let watching = hot.wait("watching");
    let tcp_addr = Hot::addr(&watching, 0);
    let sock_path = project.path("tmp/app.sock");
    assert_eq!(
        Hot::addr(&watching, 1),
        format!("unix:{}", sock_path.display())
    );
    let start = hot.wait("start");
    let pid = start["pid"].as_u64().expect("pid");
    let info = project.app_info(pid);

    let env = env_map(&info);
    assert_eq!(env.get("LISTEN_FDS").map(String::as_str), Some("2"));
    assert_eq!(
        env.get("LISTEN_PID"),
        Some(&pid.to_string()),
        "LISTEN_PID must be the app's own pid"
    );
    assert_eq!(info["pid"], pid, "the pid hot reports is the app's");
    assert_eq!(
        env.get("LISTEN_FDNAMES").map(String::as_str),
        Some("http:unix1")
    );

    let fds = info["fds"].as_array().expect("fds");
    assert_eq!(fds[0]["family"], "AF_INET");
    assert_eq!(
        fds[0]["addr"][1].as_u64(),
        Some(u64::from(tcp(&tcp_addr).port()))
    );
    assert_eq!(fds[1]["family"], "AF_UNIX");
    assert_eq!(fds[1]["addr"], sock_path.display().to_string());
    for fd in fds {
        assert_eq!(fd["listening"], true, "{fd}");
        assert_eq!(fd["blocking"], true, "{fd}");
        assert_eq!(fd["cloexec"], false, "fds 3.. must survive exec: {fd}");
    }

    // Both sockets are served by the app.
    assert_eq!(version_of(&get_until(&tcp_addr, |_| true)), "1");
    // hot's listening socket gives the connections the app accepts TCP_NODELAY, so a server
    // that leaves Nagle on does not wait for the client's delayed ACKs.
    assert_eq!(project.app_connection(pid)["nodelay"], true);
    let unix = UnixStream::connect(&sock_path).expect("connect unix");
    unix.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let unix_reply = http_exchange(unix);
    assert!(
        matches!(&unix_reply, Reply::Ok(b) if version_of(b) == "1"),
        "{unix_reply:?}"
    );
    let mode = std::fs::metadata(&sock_path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600));

    // The build saw no LISTEN_* variable and holds no socket.
    assert_eq!(project.read("tmp/build-env.txt"), "");
    let build_fds = project.read("tmp/build-fds.txt");
    assert!(
        !build_fds.contains("socket:"),
        "the build inherited a socket:\n{build_fds}"
    );

    // The socket file is removed when hot exits.
    hot.signal(libc::SIGTERM);
    hot.wait_exit();
    assert!(!sock_path.exists(), "hot left its unix socket file behind");
}

#[test]
fn next_app_gets_a_blocking_listening_socket_after_a_careless_one() {
    let project = Project::python_app(AppOpts {
        listen: vec!["127.0.0.1:0"],
        env: vec![("APP_SABOTAGE", "1")],
        ..AppOpts::default()
    });
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    for version in 2..=3 {
        project.write("src/version.txt", &format!("{version}\n"));
        let start = hot.wait("start");
        let info = project.app_info(start["pid"].as_u64().expect("pid"));
        assert_eq!(
            info["fds"][0]["blocking"], true,
            "O_NONBLOCK leaked to the next app"
        );
        assert_eq!(
            info["fds"][0]["listening"], true,
            "the shut-down listener was not restored"
        );
        get_until(&addr, |b| version_of(b) == version.to_string());
    }
    // The announced address still holds.
    assert_eq!(Hot::addr(&hot.events()[0], 0), addr);
}

const GO_MAIN: &str = r#"package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

const version = "1"

func main() {
	// The check strict consumers (sd_listen_fds, go-systemd) make.
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") != "1" {
		fmt.Fprintln(os.Stderr, "not socket-activated")
		os.Exit(3)
	}
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "version=%s pid=%d\n", version, os.Getpid())
	})}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		panic(err)
	}
}
"#;

#[test]
fn go_net_file_listener_server() {
    if skip_without(
        Command::new("go").arg("version").output().is_ok(),
        "`go`",
        "apt-get install golang-go",
    ) {
        return;
    }
    let project = Project::new();
    project.write("go.mod", "module example.com/app\n\ngo 1.19\n");
    project.write("main.go", GO_MAIN);
    project.write(
        ".hot.toml",
        r#"listen = ["127.0.0.1:0"]
[watch]
include_ext = ["go"]
[build]
cmd = "go build -o ./tmp/app ."
env = { GOFLAGS = "-mod=mod", GOPROXY = "off", GOTOOLCHAIN = "local" }
[run]
cmd = "./tmp/app"
"#,
    );
    let mut hot = Hot::start(&project, &[]);
    let addr = Hot::addr(&hot.wait("watching"), 0);
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "1");
    project.write(
        "main.go",
        &GO_MAIN.replace("version = \"1\"", "version = \"2\""),
    );
    hot.wait("build_ok");
    hot.wait("start");
    get_until(&addr, |b| version_of(b) == "2");
    assert_eq!(hot.count("build_failed"), 0);
}
