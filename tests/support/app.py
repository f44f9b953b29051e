"""Test app for hot's integration tests: a small HTTP server that takes its socket the way
real servers do (systemd socket activation) and records what it was given.

Behaviour by environment variable (set in the test project's .hot.toml [run] env):
  APP_VERSION_FILE  file whose content is the version it serves (default tmp/version.txt)
  APP_INFO_DIR      directory where it writes <pid>.json describing its environment and fds
  APP_IGNORE_TERM   "1": ignore SIGTERM (hot must SIGKILL it after stop_timeout_ms)
  APP_SPAWN_CHILD   "1": start a `sleep` child in its process group and record its pid
  APP_ESCAPE        "1": start a grandchild that calls setsid and is orphaned
  APP_DRAIN_MS      on stop, close its listening sockets, then take this long to exit (a
                    server draining its requests)
  APP_SABOTAGE      "1": on stop, leave the inherited listener non-blocking and shut down, as
                    careless servers do; hot must hand the next app a clean one
Without LISTEN_FDS (or with a LISTEN_PID that is not its own) it serves nothing and sleeps.
"""
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

pid = os.getpid()
stop = False


def on_term(signum, frame):
    global stop
    stop = True


def fd_info(fd):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError as e:
        return {"fd": fd, "error": str(e)}
    try:
        name = s.getsockname()
        listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        nonblocking = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK != 0
        return {"fd": fd, "family": s.family.name, "addr": name if isinstance(name, str) else list(name),
                "listening": listening, "blocking": not nonblocking, "cloexec": not os.get_inheritable(fd)}
    finally:
        s.close()


def main():
    version_file = os.environ.get("APP_VERSION_FILE", "tmp/version.txt")
    try:
        version = open(version_file).read().strip()
    except OSError:
        version = "none"
    nfds = int(os.environ.get("LISTEN_FDS", "0") or 0)
    ours = os.environ.get("LISTEN_PID") == str(pid)
    info = {
        "pid": pid,
        "pgid": os.getpgid(0),
        "version": version,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("LISTEN_", "HOT_", "NOTIFY_"))},
        "fds": [fd_info(fd) for fd in range(3, 3 + nfds)] if ours else [],
        "child": None,
    }
    if os.environ.get("APP_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
    child = None
    if os.environ.get("APP_SPAWN_CHILD") == "1":
        child = subprocess.Popen(["sleep", "1000"])
        info["child"] = child.pid
    if os.environ.get("APP_ESCAPE") == "1":
        # A grandchild in its own session (setsid), whose parent exits at once: it leaves the
        # app's process group and is orphaned, like a daemonizing helper.
        middle = subprocess.Popen(["sh", "-c", "setsid sleep 1000 & echo $!; exit 0"], stdout=subprocess.PIPE, text=True)
        info["escaped"] = int(middle.stdout.readline().strip())
        middle.wait()
    info_dir = os.environ.get("APP_INFO_DIR")
    if info_dir:
        os.makedirs(info_dir, exist_ok=True)
        tmp = os.path.join(info_dir, f".{pid}.json")
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.rename(tmp, os.path.join(info_dir, f"{pid}.json"))

    if not (ours and nfds >= 1):
        while not stop:
            time.sleep(0.05)
        return

    listeners = [socket.socket(fileno=fd) for fd in range(3, 3 + nfds)]
    # The self-pipe wakes select() when a stop signal arrives, so the server stops at once
    # without accepting: connections still queued stay in the backlog for the next app.
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    body = f"version={version} pid={pid}\n".encode()
    reported_conn = False
    while not stop:
        ready, _, _ = select.select(listeners + [r], [], [])
        if stop:
            break
        for listener in [s for s in listeners if s in ready]:
            conn, _ = listener.accept()
            if info_dir and conn.family != socket.AF_UNIX and not reported_conn:
                # How hot's socket shapes the connections the app accepts.
                nodelay = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                path = os.path.join(info_dir, f"{pid}.conn.json")
                with open(path + ".tmp", "w") as f:
                    json.dump({"nodelay": nodelay != 0}, f)
                os.replace(path + ".tmp", path)
                reported_conn = True
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        if r in ready:
            os.read(r, 512)
    if os.environ.get("APP_SABOTAGE") == "1":
        os.set_blocking(3, False)
        listeners[0].shutdown(socket.SHUT_RDWR)
    drain_ms = int(os.environ.get("APP_DRAIN_MS", "0"))
    if drain_ms:
        for listener in listeners:
            listener.close()
        time.sleep(drain_ms / 1000)
        if child is not None and info_dir:
            # How the child is doing after the drain: None (running) or -SIGNAL.
            with open(os.path.join(info_dir, f"{pid}.child"), "w") as f:
                f.write(str(child.poll()))


if __name__ == "__main__":
    main()
    sys.exit(0)
