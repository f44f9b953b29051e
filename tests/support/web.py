"""Web test app for the browser-side tests: a threaded HTTP server with HTML pages (plain, gzip,
brotli), a WebSocket echo, a large download, readiness over NOTIFY_SOCKET, and /connections,
the number of connections it accepted so far, and /nodelay, whether its connection has Nagle off
(it does not set TCP_NODELAY itself, as BaseHTTPRequestHandler does not).

It takes its socket the way real servers do (fd 3 with LISTEN_FDS / LISTEN_PID), or, with
APP_PORT set, binds 127.0.0.1:APP_PORT itself as an unmodified app would.

Environment:
  APP_VERSION_FILE  file whose content is the version it serves (default tmp/version.txt)
  APP_PORT          bind this port itself instead of taking fd 3
  APP_START_DELAY   seconds to wait before serving (a slow start)
  APP_NOTIFY        "1": send READY=1 to $NOTIFY_SOCKET once serving
  APP_HANDLER_MS    milliseconds every page request takes (the app's own handler time)
  APP_FAIL          "1": exit with status 3 at once (a crash before ready); so does the
                    version "crash"
On SIGTERM it stops accepting, finishes the requests in flight and exits.
"""
import base64
import gzip
import hashlib
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION_FILE = os.environ.get("APP_VERSION_FILE", "tmp/version.txt")
try:
    VERSION = open(VERSION_FILE).read().strip()
except OSError:
    VERSION = "none"
HANDLER_S = int(os.environ.get("APP_HANDLER_MS", "0")) / 1000.0
PAGE = (
    "<!doctype html><html><head><title>v%s</title><link rel=\"stylesheet\" href=\"/style.css\">"
    "</head><body><h1 id=\"version\">version=%s</h1></body></html>" % (VERSION, VERSION)
).encode()
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


CONNECTIONS = [0]
CONNECTIONS_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        with CONNECTIONS_LOCK:
            CONNECTIONS[0] += 1
        super().setup()

    def log_message(self, *args):
        pass

    def send_body(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/ws":
            return self.websocket()
        if HANDLER_S:
            time.sleep(HANDLER_S)
        if path == "/":
            self.send_body(200, "text/html; charset=utf-8", PAGE)
        elif path == "/gz":
            self.send_body(200, "text/html", gzip.compress(PAGE), [("Content-Encoding", "gzip")])
        elif path == "/br":
            with open("page.br", "rb") as f:
                self.send_body(200, "text/html", f.read(), [("Content-Encoding", "br")])
        elif path == "/style.css":
            self.send_body(200, "text/css", b"h1 { color: green }")
        elif path == "/connections":
            self.send_body(200, "text/plain", ("%d\n" % CONNECTIONS[0]).encode())
        elif path == "/nodelay":
            # Whether the connection this answer goes out on has Nagle off.
            on = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            self.send_body(200, "text/plain", b"1\n" if on else b"0\n")
        elif path == "/version":
            self.send_body(200, "text/plain", ("version=%s pid=%d\n" % (VERSION, os.getpid())).encode())
        elif path == "/big":
            size = 50 * 1024 * 1024
            chunk = b"x" * 65536
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        else:
            self.send_body(404, "text/plain", b"not found\n")

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        while True:
            head = recv_exact(sock, 2)
            if head is None:
                return
            opcode = head[0] & 0x0F
            length = head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", recv_exact(sock, 2))[0]
            elif length == 127:
                length = struct.unpack(">Q", recv_exact(sock, 8))[0]
            mask = recv_exact(sock, 4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(recv_exact(sock, length) or b"")
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if opcode == 8:
                sock.sendall(b"\x88\x02\x03\xe8")
                return
            reply = bytes(data)
            header = bytes([0x80 | opcode])
            if len(reply) < 126:
                header += bytes([len(reply)])
            else:
                header += bytes([126]) + struct.pack(">H", len(reply))
            sock.sendall(header + reply)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def notify_ready():
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(path)
    s.send(b"READY=1\nSTATUS=serving version %s" % VERSION.encode())
    s.close()


def main():
    if os.environ.get("APP_FAIL") == "1" or VERSION == "crash":
        sys.exit(3)
    time.sleep(float(os.environ.get("APP_START_DELAY", "0")))
    port = os.environ.get("APP_PORT")
    if port:
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    else:
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
            print("web.py: no socket from hot (LISTEN_FDS/LISTEN_PID)", file=sys.stderr)
            sys.exit(4)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=3)
    server.daemon_threads = False
    server.block_on_close = True

    def on_term(signum, frame):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if os.environ.get("APP_NOTIFY") == "1":
        notify_ready()
    server.serve_forever(poll_interval=0.05)
    server.server_close()


if __name__ == "__main__":
    main()
