"""An app for the proxy's retries, on hot's socket (fd 3). Every request it reads is logged to
tmp/requests.log as "PID METHOD PATH BODY-LENGTH".

The first app of a project (tmp/first-done absent) takes one connection and then waits for its
stop signal: with APP_FIRST=unread it never reads the request and closes the connection on stop,
as a server stopping gracefully does with a connection it accepted and had not read (the
connection is reset, the request still in it); with APP_FIRST=read it reads (and logs) the
request, then closes without answering on stop. It writes tmp/accepted once it has the
connection. Every later app answers each request with "pid=PID len=N"."""
import os
import signal
import socket
import sys

stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    with open("tmp/requests.log", "a") as log:
        log.write(f"{os.getpid()} {method} {path} {len(body)}\n")
    return body


def main():
    listener = socket.socket(fileno=3)
    listener.setblocking(True)
    if not os.path.exists("tmp/first-done"):
        open("tmp/first-done", "w").close()
        conn, _ = listener.accept()
        if os.environ.get("APP_FIRST") == "read":
            read_request(conn)
        open("tmp/accepted", "w").close()
        while not stopped:
            signal.pause()
        conn.close()
        return
    while True:
        conn, _ = listener.accept()
        with conn:
            body = read_request(conn)
            if body is None:
                continue
            answer = f"pid={os.getpid()} len={len(body)}\n".encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(answer)
                + answer
            )


if __name__ == "__main__":
    main()
    sys.exit(0)
